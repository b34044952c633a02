"""Stance pairs made from the public training answers: what the entailment model learns from
besides the graded answers themselves.

A correct answer (or a reference answer) entails its reference. Made from it:
- **negation**: add or remove a negation, in the informal forms learners type ("doesnt",
  "isnt", "cant", "no longer", "never"), which contradicts the reference;
- **opposites**: swap a word for its antonym ("more" for "fewer", "open" for "closed"), which
  contradicts it;
- **keyword lists**: the answer's content words with no sentence around them, which state
  nothing and so do not entail it.

Only the training splits are used; nothing here sees a test split.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from importlib import resources

from learnloop.evaluation.lexicons import WORDNET_DIR

AUXILIARIES = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "can",
        "could",
        "will",
        "would",
        "should",
        "must",
        "may",
        "might",
        "has",
        "have",
        "had",
        "does",
        "do",
        "did",
        "shall",
    ]
)
# Negated forms of each auxiliary, as learners write them.
NEGATED: dict[str, tuple[str, ...]] = {
    "is": ("isn't", "isnt", "is not"),
    "are": ("aren't", "arent", "are not"),
    "was": ("wasn't", "was not"),
    "were": ("weren't", "were not"),
    "can": ("can't", "cant", "cannot"),
    "will": ("won't", "wont", "will not"),
    "does": ("doesn't", "doesnt", "does not"),
    "do": ("don't", "dont", "do not"),
    "did": ("didn't", "didnt", "did not"),
    "has": ("hasn't", "has not"),
    "have": ("haven't", "have not"),
    "should": ("shouldn't", "should not"),
    "could": ("couldn't", "could not"),
    "would": ("wouldn't", "would not"),
    "must": ("must not", "mustn't"),
    "may": ("may not",),
    "might": ("might not",),
    "had": ("hadn't", "had not"),
    "shall": ("shall not",),
}
_NEGATED_CONTRACTION = re.compile(
    r"\b(is|are|was|were|ca|wo|does|do|did|has|have|had|should|could|would|must)n'?t\b", re.I
)
_REMOVALS = (
    (r"\bcannot\b", "can"),
    (r"\b(is|are|was|were|does|do|did|can|will|should|could|would|must|has|have)\s+not\b", r"\1"),
    (r"\bnever\b", "always"),
    (r"\bno longer\b", "still"),
)
STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "if",
        "then",
        "than",
        "so",
        "as",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "their",
        "his",
        "her",
        "our",
        "your",
        "my",
        "be",
        "been",
        "being",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "also",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "there",
        "here",
        "very",
        "just",
        "only",
    ]
)
_PRONOUNS = frozenset(["they", "we", "you", "i", "it", "he", "she", "that", "which", "who"])
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*")


@lru_cache(maxsize=1)
def _lexicon(name: str) -> frozenset[str]:
    path = WORDNET_DIR / f"index.{name}"
    words = {
        line.split(" ", 1)[0]
        for line in path.read_text(encoding="latin-1").splitlines()
        if not line.startswith(" ")
    }
    if name == "noun":
        words |= {w + "s" for w in words}
    return frozenset(words)


def _lemma(word: str) -> str | None:
    verbs = _lexicon("verb")
    candidates = [word]
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s"):
        candidates.append(word[:-1])
    if word.endswith("ed"):
        candidates += [word[:-2], word[:-1]]
    return next((c for c in candidates if c in verbs), None)


def _clean(token: str) -> str:
    return re.sub(r"[^a-z']", "", token.lower())


def negate(sentence: str, rng: random.Random) -> str | None:
    """The sentence with its first negation removed, or one added; None when no verb is found."""
    match = _NEGATED_CONTRACTION.search(sentence)
    if match:
        base = {"ca": "can", "wo": "will"}.get(match.group(1).lower(), match.group(1))
        return sentence[: match.start()] + base + sentence[match.end() :]
    for pattern, replacement in _REMOVALS:
        if re.search(pattern, sentence, re.I):
            return re.sub(pattern, replacement, sentence, count=1, flags=re.I)
    tokens = sentence.split(" ")
    for i, token in enumerate(tokens):
        word = _clean(token)
        if word in AUXILIARIES and i > 0:
            tokens[i] = token.replace(word, rng.choice(NEGATED[word]), 1)
            return " ".join(tokens)
    nouns, adjectives = _lexicon("noun"), _lexicon("adj")
    for i, token in enumerate(tokens):
        word = _clean(token)
        if i == 0 or word in STOP or len(word) < 3:
            continue
        previous = _clean(tokens[i - 1])
        lemma = _lemma(word)
        if lemma is None:
            continue
        after_subject = previous in _PRONOUNS or (
            previous in nouns and previous not in STOP and previous not in adjectives
        )
        plural_subject = previous.endswith("s") and previous in nouns and word == lemma
        inflected = word.endswith(("s", "ed"))
        if after_subject and (
            inflected or previous in {"they", "we", "you", "i"} or plural_subject
        ):
            auxiliary = (
                "did"
                if word.endswith("ed")
                else ("does" if word.endswith("s") and not word.endswith("ss") else "do")
            )
            tokens[i] = f"{rng.choice(NEGATED[auxiliary])} {lemma}"
            return " ".join(tokens)
    return None


@lru_cache(maxsize=1)
def _antonyms() -> dict[str, tuple[str, ...]]:
    text = resources.files("learnloop.grading").joinpath("antonyms.txt").read_text()
    pairs: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or ":" not in line:
            continue
        first, second = line.split(":")
        pairs.setdefault(first, set()).add(second)
        pairs.setdefault(second, set()).add(first)
    return {k: tuple(sorted(v)) for k, v in pairs.items()}


def swap_antonym(sentence: str, rng: random.Random) -> str | None:
    antonyms = _antonyms()
    tokens = sentence.split(" ")
    order = list(range(len(tokens)))
    rng.shuffle(order)
    for i in order:
        word = re.sub(r"[^a-z]", "", tokens[i].lower())
        if word in STOP or len(word) < 3:
            continue
        for form, suffix in ((word, ""), (word[:-1], "s"), (word[:-2], "ed")):
            if form in antonyms and (suffix == "" or word.endswith(suffix)):
                tokens[i] = tokens[i].lower().replace(word, rng.choice(antonyms[form]) + suffix)
                return " ".join(tokens)
    return None


_COPULA = re.compile(r"\b(is|are|was|were|be|stays|remains|becomes)\s+([a-z]+)\b", re.I)


def not_opposite(sentence: str) -> str | None:
    """ "is small" as "is not large": the same claim, with a negation that must not read as
    a contradiction. None when no adjective with a one-word opposite follows a copula."""
    antonyms = _antonyms()
    for match in _COPULA.finditer(sentence):
        word = match.group(2).lower()
        if word in antonyms and word not in STOP:
            opposite = sorted(antonyms[word])[0]
            return sentence[: match.start(2)] + "not " + opposite + sentence[match.end(2) :]
    return None


def keyword_list(sentence: str, rng: random.Random) -> str | None:
    words = [
        w.lower()
        for w in _WORD.findall(sentence)
        if w.lower() not in STOP
        and w.lower() not in AUXILIARIES
        and len(w) > 2
        and "'" not in w
        and w.lower() not in {"not", "never", "cannot"}
    ]
    unique = list(dict.fromkeys(words))
    if len(unique) < 2:
        return None
    rng.shuffle(unique)
    return rng.choice([", ", ", ", " - ", "; "]).join(unique)
