"""Misconceptions the author anticipates: wrong beliefs that a learner states in the lesson's
own vocabulary, which neither similarity nor the small cross-encoder can tell from the truth.

"namespaces put a cap on cpu, cgroups give the process its own view" uses exactly the words of
the point it swaps, and "if readiness keeps failing the kubelet restarts the container" is
as close to the readiness point as a correct answer. A teacher knows these beliefs in advance,
so the author writes them beside the rubric point they deny, with the words that give them
away (see docs/authoring.md):

    misconceptions:
      - says: A failing readiness probe makes the kubelet restart the container.
        when: [readiness, restart*|kill*]
        unless: [liveness]

A sentence states the belief when, within one stretch of it (contrasts such as "while",
"but" or ";" end a stretch):
- one alternative of every group occurs, consecutive matches at most `within` words apart;
- with `ordered`, the groups occur in the order written;
- none of the matched words is in a clause that denies something ("readiness doesnt restart
  it", "without a restart"): a denial may well be the lesson's own point, so it never counts.
  A negation inside the matched words is part of the belief ("distroless isnt more secure");
- no `unless` word stands within `within` words of the matched ones ("namespaces and cgroups
  limit cpu" names both features, it does not swap them), or anywhere in the sentence with
  `unless_anywhere` (a wrong reason beside the right one);
- the sentence does not report the belief as someone else's or as a myth, is no question,
  and the stretch does not reason about what would happen if.

This errs towards missing a belief rather than accusing a learner of one: a false accusation
costs more trust than a miss, and the cross-encoder still reads every sentence.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from learnloop.content.model import AnticipatedMisconception, RubricPoint
from learnloop.grading.features import (
    CLAUSE_BREAK,
    NEGATIONS,
    REJECTED_ALTERNATIVE,
    normalise,
    words,
)

# One alternative: words of letters and digits (with . _ / : - ' inside, split as answers are),
# each optionally ending in * (a prefix).
_ALTERNATIVE = re.compile(r"^[a-z0-9][a-z0-9'._/:-]*\*?(?: [a-z0-9][a-z0-9'._/:-]*\*?)*$")
# Where one stretch of a sentence ends and a contrasting one begins: "readiness removes it
# from traffic, while liveness restarts it" pairs readiness with nothing.
_CONTRAST = re.compile(
    r";|\s[-\u2013\u2014]\s|\(|\)|,\s*and\b|\b(?:but|while|whereas|unlike|however|instead|"
    r"versus|vs|compared to|as opposed to)\b",
    re.IGNORECASE,
)
# The learner names the belief to reject it: "people often think readiness restarts the pod".
_REPORTED = re.compile(
    r"\b(?:myths?|misconceptions?|mistakes?|misunderstandings?|misleading|contrary to|"
    r"(?:people|many|some|others|folks|beginners|everyone)\b[\w\s]{0,20}?"
    r"\b(?:think|thinks|believe|believes|assume|assumes|say|says|claim|claims)\b|"
    r"(?:wrong|false|untrue|not true) (?:that|to)\b|"
    # An incident told in the past: "our api had liveness = SELECT 1 against Postgres" is
    # what went wrong, which the story goes on to fix, not what the learner believes.
    r"\b(?:we|they|(?:our|their)(?:\s+\w+){1,3})\s+"
    r"(?:had(?!\s+to\b)|used to|was using|were using)\b)",
    re.IGNORECASE,
)
# "if liveness checked the database, every replica would restart": reasoning about what would
# happen, not a belief about what does.
_HYPOTHETICAL = re.compile(r"\bif\b.*\b(?:would|could|might)\b", re.IGNORECASE)
MAX_COMBINATIONS = 512


def term_problem(text: str) -> str | None:
    """Why a group of alternatives ("restart*|kill*") is not valid, or None."""
    for alternative in (a.strip() for a in text.lower().split("|")):
        if not alternative:
            return f"'{text}' has an empty alternative (two | in a row, or one at an end)"
        if not _ALTERNATIVE.match(alternative):
            return (
                f"'{alternative}' is not words of letters and digits, each optionally ending "
                "in * for any ending"
            )
        # A sentence is cut into clauses at these words and they are dropped, so a phrase
        # that holds one ("so that", "decides which node") could never match an answer.
        breaks = [w for w in alternative.split() if CLAUSE_BREAK.fullmatch(w.rstrip("*"))]
        if breaks:
            kept = " ".join(w for w in alternative.split() if w not in breaks)
            return (
                f"'{alternative}' holds '{breaks[0]}', where an answer is cut into clauses, so "
                "it can never match; "
                + (f"leave the word out ('{kept}')" if kept else "drop this alternative")
            )
    return None


@dataclass(frozen=True)
class _Word:
    text: str
    prefix: bool

    def matches(self, token: str) -> bool:
        return token.startswith(self.text) if self.prefix else token == self.text


@lru_cache(maxsize=1024)
def _compile(group: str) -> tuple[tuple[_Word, ...], ...]:
    """A group as alternatives, each a phrase of words, tokenised as answers are."""
    out = []
    for alternative in group.lower().split("|"):
        phrase: list[_Word] = []
        for raw in alternative.split():
            tokens = words(raw.rstrip("*"))
            phrase.extend(_Word(t, False) for t in tokens[:-1])
            if tokens:
                phrase.append(_Word(tokens[-1], raw.endswith("*")))
        if phrase:
            out.append(tuple(phrase))
    return tuple(out)


@dataclass(frozen=True)
class _Stretch:
    tokens: list[str]
    clause: list[int]  # the clause each token is in
    negations: dict[int, list[int]]  # clause -> positions of its negations


def _stretch(text: str) -> _Stretch:
    tokens: list[str] = []
    clause_of: list[int] = []
    negations: dict[int, list[int]] = {}
    pieces = [c for c in CLAUSE_BREAK.split(text) if c and c.strip()]
    for number, clause in enumerate(p for p in pieces if not CLAUSE_BREAK.fullmatch(p.strip())):
        for token in words(clause):
            if token in NEGATIONS:
                negations.setdefault(number, []).append(len(tokens))
            tokens.append(token)
            clause_of.append(number)
    return _Stretch(tokens, clause_of, negations)


def _occurrences(group: tuple[tuple[_Word, ...], ...], tokens: list[str]) -> list[tuple[int, int]]:
    """(start, end) of every match of the group's alternatives, the longest at a position
    ("maxunavailable to" before "maxunavailable")."""
    found = []
    for start in range(len(tokens)):
        ends = [
            start + len(phrase)
            for phrase in group
            if start + len(phrase) <= len(tokens)
            and all(w.matches(tokens[start + k]) for k, w in enumerate(phrase))
        ]
        if ends:
            found.append((start, max(ends)))
    return found


# A negation's reach over "and": "doesnt restart and kill it" denies both verbs, but in "cant
# write to it anyway and keeps everything in memory" the second verb phrase is asserted.
_REACH_PAST_AND = 3


def _reaches(stretch: _Stretch, negation: int, start: int) -> bool:
    if negation > start or start - negation <= _REACH_PAST_AND:
        return True
    return "and" not in stretch.tokens[negation + 1 : start]


def _denied(stretch: _Stretch, spans: Sequence[tuple[int, int]]) -> bool:
    """Some matched word is in a clause with a negation that is not itself part of a match
    and reaches it ("isnt more secure" may be the belief; "readiness doesnt restart it"
    denies it)."""
    for start, _ in spans:
        for at in stretch.negations.get(stretch.clause[start], []):
            if not any(s <= at < e for s, e in spans) and _reaches(stretch, at, start):
                return True
    return False


def _fits(
    misconception: AnticipatedMisconception,
    stretch: _Stretch,
    combination: tuple[tuple[int, int], ...],
    blockers: Sequence[tuple[int, int]],
) -> bool:
    ordered = sorted(combination)
    if misconception.ordered and list(combination) != ordered:
        return False
    pairs = list(itertools.pairwise(ordered))
    if any(a[1] > b[0] for a, b in pairs):
        return False  # two groups matched the same words
    if any(b[0] - a[1] > misconception.within for a, b in pairs):
        return False
    low = ordered[0][0] - misconception.within
    high = ordered[-1][1] + misconception.within
    if any(low <= s and e <= high for s, e in blockers if (s, e) not in combination):
        return False
    return not _denied(stretch, combination)


_REASON = re.compile(r"\b(?:because|since)\b", re.IGNORECASE)


def _own_words(text: str) -> str:
    """The sentence without the parts that report a belief to reject it. The learner's reason
    after "because" is their own: in "what is misleading is the word just, because a
    container is isolated every bit as strongly as a VM" the second part is a belief."""
    if not _REPORTED.search(text):
        return text
    return "; ".join(part for part in _REASON.split(text) if not _REPORTED.search(part))


def states(misconception: AnticipatedMisconception, sentence: str) -> bool:
    """Whether the sentence asserts the anticipated belief."""
    text = normalise(sentence).strip()
    if not text or text.endswith("?"):
        return False
    groups = [_compile(g) for g in misconception.when]
    unless = [_compile(g) for g in misconception.unless]
    text = REJECTED_ALTERNATIVE.sub(", not", text)
    if misconception.unless_anywhere and any(_occurrences(g, words(text)) for g in unless):
        return False
    for piece in _CONTRAST.split(_own_words(text)):
        if not piece or _HYPOTHETICAL.search(piece):
            continue
        stretch = _stretch(piece)
        spots = [_occurrences(g, stretch.tokens) for g in groups]
        if not all(spots):
            continue
        blockers = [s for g in unless for s in _occurrences(g, stretch.tokens)]
        combinations = itertools.islice(itertools.product(*spots), MAX_COMBINATIONS)
        if any(_fits(misconception, stretch, c, blockers) for c in combinations):
            return True
    return False


def anticipated(
    point: RubricPoint, sentences: Sequence[str]
) -> tuple[int, AnticipatedMisconception] | None:
    """The first sentence that states one of the point's anticipated misconceptions."""
    for index, sentence in enumerate(sentences):
        for misconception in point.misconceptions:
            if states(misconception, sentence):
                return index, misconception
    return None
