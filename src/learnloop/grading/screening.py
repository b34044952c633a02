"""What in an answer can earn credit: the learner's own claims, and nothing else.

Before any rubric point is judged, each sentence of the answer is sorted into one of:
- ``claim``: a statement in the learner's words; only these are judged against the rubric;
- ``instruction``: text addressed to the grader ("ignore the rubric", "score: 100");
- ``markup``: JSON, tags, fake system blocks, or lines naming the rubric's point ids;
- ``copied``: text lifted from the rubric, the model answer or the prompt;
- ``keywords``: a list of terms, or a fragment, that states nothing;
- ``judgement``: a sentence that only calls its subject good ("immutable images are great"),
  which says nothing a teacher could credit.

And the answer as a whole is checked for its language: an answer in another language than the
course's gets a message saying so rather than a silent 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from learnloop.ai.guard import is_instruction_like, is_markup, plain
from learnloop.content.model import WrittenExercise
from learnloop.grading.features import NOT_A_LONE_DOT

SegmentKind = Literal["claim", "instruction", "markup", "copied", "keywords", "judgement"]

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Closed-class English words. A statement is held together by them; a keyword list is not.
_FUNCTION_TEXT = """
a an the this that these those some any each every no all both either neither another such
i you he she it we they me him her us them my your his its our their mine yours
is are was were be been being am isnt arent wasnt werent
do does did doesnt dont didnt have has had havent hasnt
can could will would shall should may might must cannot cant wont wouldnt shouldnt couldnt
not never also only just even still already yet then than so too very
of to in on at by for from with without into onto over under about after before between
through during against among up down out off per via
and or but nor if because since while when where whereas although though unless until so
which who whom whose what how why there here as like
"""
FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
_LIST_SEPARATORS = re.compile(r"\s*(?:[,;|•·/]|\s-\s|\s\u2013\s)\s*")

# Function words of other languages, for the language check. An English answer uses almost
# none of them; each list is the language's most frequent closed-class words.
_LANGUAGES: dict[str, frozenset[str]] = {
    "French": frozenset(
        [
            "le",
            "la",
            "les",
            "un",
            "une",
            "des",
            "du",
            "de",
            "et",
            "est",
            "sont",
            "pour",
            "pas",
            "que",
            "qui",
            "dans",
            "avec",
            "sur",
            "au",
            "aux",
            "ce",
            "cette",
            "ces",
            "il",
            "elle",
            "ils",
            "nous",
            "vous",
            "on",
            "ne",
            "plus",
            "mais",
            "ou",
            "donc",
            "car",
            "leur",
            "leurs",
            "sa",
            "son",
            "ses",
            "être",
        ]
    ),
    "German": frozenset(
        [
            "der",
            "die",
            "das",
            "ein",
            "eine",
            "einen",
            "dem",
            "den",
            "des",
            "und",
            "ist",
            "sind",
            "nicht",
            "mit",
            "auf",
            "für",
            "von",
            "zu",
            "im",
            "ins",
            "auch",
            "wird",
            "werden",
            "kann",
            "können",
            "dass",
            "wenn",
            "weil",
            "oder",
            "aber",
            "sich",
            "es",
            "sie",
            "wir",
            "ihr",
        ]
    ),
    "Spanish": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "un",
            "una",
            "unos",
            "unas",
            "y",
            "es",
            "son",
            "para",
            "por",
            "con",
            "que",
            "del",
            "al",
            "se",
            "no",
            "lo",
            "como",
            "pero",
            "más",
            "porque",
            "cuando",
            "también",
            "puede",
            "pueden",
            "está",
            "están",
        ]
    ),
    "Italian": frozenset(
        [
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "un",
            "una",
            "uno",
            "e",
            "è",
            "sono",
            "per",
            "con",
            "che",
            "del",
            "della",
            "dei",
            "non",
            "si",
            "come",
            "ma",
            "più",
            "perché",
            "quando",
            "anche",
            "può",
            "possono",
            "questo",
            "questa",
        ]
    ),
    "Portuguese": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "um",
            "uma",
            "e",
            "é",
            "são",
            "para",
            "por",
            "com",
            "que",
            "do",
            "da",
            "dos",
            "das",
            "não",
            "se",
            "como",
            "mas",
            "mais",
            "porque",
            "quando",
            "também",
            "pode",
            "podem",
            "está",
            "estão",
            "isso",
        ]
    ),
    "Dutch": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "is",
            "zijn",
            "voor",
            "met",
            "dat",
            "die",
            "niet",
            "van",
            "op",
            "te",
            "ook",
            "als",
            "maar",
            "omdat",
            "wordt",
            "worden",
            "kan",
            "kunnen",
            "er",
            "wij",
            "zij",
        ]
    ),
}
_ENGLISH_MARKERS = frozenset(
    [
        "the",
        "is",
        "are",
        "and",
        "of",
        "to",
        "in",
        "that",
        "it",
        "for",
        "with",
        "as",
        "this",
        "be",
        "by",
        "not",
        "on",
        "can",
        "because",
        "which",
    ]
)
# Copying: a run of this many words taken verbatim from the exercise's texts, or most of the
# sentence's word triples found there, is the author's wording, not the learner's.
# (Measured on the dev set: pasted rubric text shares >= 0.63 of its triples and a run of >= 11
# words; the learners' own sentences at most 0.47 and 11.)
COPIED_RUN_WORDS = 12
COPIED_TRIGRAM_SHARE = 0.6
COPIED_MIN_WORDS = 8


@dataclass(frozen=True)
class Segment:
    text: str
    kind: SegmentKind
    copied_from: str | None = None  # "rubric", "model answer" or "question" for copied text


@dataclass(frozen=True)
class Screening:
    segments: tuple[Segment, ...]
    language: str | None  # the answer's language when it is clearly not the course's

    @property
    def claims(self) -> tuple[str, ...]:
        return tuple(s.text for s in self.segments if s.kind == "claim")

    def count(self, kind: SegmentKind) -> int:
        return sum(1 for s in self.segments if s.kind == kind)

    def share(self, kind: SegmentKind) -> float:
        """Share of the answer's words in segments of this kind."""
        total = sum(len(tokens(s.text)) for s in self.segments)
        part = sum(len(tokens(s.text)) for s in self.segments if s.kind == kind)
        return part / total if total else 0.0


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(plain(text).lower().replace("\u2019", "'"))


def function_word_ratio(text: str) -> float:
    words = [t.replace("'", "") for t in tokens(text)]
    return sum(1 for w in words if w in FUNCTION_WORDS) / len(words) if words else 0.0


def detect_language(text: str) -> str | None:
    """The answer's language when it is clearly one of a few others than English, else None."""
    words = tokens(text)
    if len(words) < 6:
        return None
    english = sum(1 for w in words if w in _ENGLISH_MARKERS)
    best, hits = None, 0
    for language, markers in _LANGUAGES.items():
        count = sum(1 for w in words if w in markers and w not in _ENGLISH_MARKERS)
        if count > hits:
            best, hits = language, count
    if best is not None and hits >= 3 and hits >= 0.15 * len(words) and hits > 2 * english:
        return best
    return None


@lru_cache(maxsize=1)
def verbs() -> frozenset[str]:
    text = resources.files("learnloop.grading").joinpath("verbs.txt").read_text()
    return frozenset(w for w in text.split() if not w.startswith("#") and w.isalpha())


_FINITE = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "am",
        "be",
        "been",
        "being",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "has",
        "have",
        "had",
        "does",
        "do",
        "did",
        "doesnt",
        "dont",
        "didnt",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "cannot",
        "cant",
        "wont",
        "i",
        "we",
        "they",
        "he",
        "she",
        "it",
        "you",
    ]
)
# "Packaging: multi-stage build, distroless" - a topic label makes the list a statement about it.
_LABELLED = re.compile(r"^\s*[\w/ -]{2,30}?(:|\s[-\u2013]\s)\s*\S")
# ... but "Answer: metrics, logs and traces" names no topic: the label says nothing.
_EMPTY_LABEL = re.compile(
    r"^\s*(?:my\s+|the\s+)?(?:answer|response|summary|in short|tl;?dr|keywords|key words|"
    r"key terms|terms|topics|notes)\s*:",
    re.IGNORECASE,
)
_RELATION = re.compile(r"->|=>|→|\s=\s")
# The list separators, and the "and" / "or" before a list's last item.
_LIST_OR_JOIN = re.compile(rf"{_LIST_SEPARATORS.pattern}|\s+(?:and|or)\s+", re.IGNORECASE)


def _verb_cue(words: Sequence[str]) -> bool:
    """Something that makes a statement: an auxiliary, a subject pronoun, a past form, or a
    verb in -s followed by a function word ("runs the", "fails on")."""
    lexicon = verbs()
    for i, word in enumerate(words):
        plain_word = word.replace("'", "")
        if plain_word in _FINITE or word.endswith("n't"):
            return True
        following = words[i + 1] if i + 1 < len(words) else ""
        # A past form ends a clause or takes a complement ("flagged that", "signed by"); as an
        # adjective it comes before its noun ("shared kernel").
        if (
            word.endswith("ed")
            and (following in FUNCTION_WORDS or not following)
            and (word in lexicon or word[:-1] in lexicon or word[:-2] in lexicon)
        ):
            return True
        if (
            word.endswith("s")
            and following in FUNCTION_WORDS
            and (word[:-1] in lexicon or word[:-2] in lexicon)
        ):
            return True
    return False


def _is_keyword_list(segment: str) -> bool:
    """A list of terms, or a fragment, with no statement holding it together."""
    words = tokens(segment)
    if not words:
        return True
    if _is_labelled_list(segment):
        return True
    ratio = function_word_ratio(segment)
    items = [i for i in _LIST_SEPARATORS.split(segment) if i.strip()]
    if len(items) >= 3:
        mean_words = sum(len(tokens(i)) for i in items) / len(items)
        if (
            mean_words <= 3.5
            and ratio < 0.2
            and not _verb_cue(words)
            and not _LABELLED.match(segment)
            and not _RELATION.search(segment)
        ):
            return True
    # A short fragment with no function word and no verb ("immutable image", "Deployment.").
    return len(words) <= 4 and ratio == 0.0 and not _verb_cue(words)


def _is_labelled_list(segment: str) -> bool:
    """Terms after a label that names no topic: "Answer: metrics, logs and traces." """
    label = _EMPTY_LABEL.match(segment)
    if label is None:
        return False
    rest = segment[label.end() :]
    items = [i for i in _LIST_OR_JOIN.split(rest) if tokens(i)]
    return (
        len(items) >= 2
        and all(len(tokens(i)) <= 3 for i in items)
        and not any(w.replace("'", "") in _FINITE or w.endswith("n't") for w in tokens(rest))
    )


@dataclass(frozen=True)
class _Source:
    name: str
    words: tuple[str, ...]
    trigrams: frozenset[tuple[str, str, str]]


def _trigrams(words: Sequence[str]) -> set[tuple[str, str, str]]:
    return {(words[i], words[i + 1], words[i + 2]) for i in range(len(words) - 2)}


@lru_cache(maxsize=512)
def _sources(exercise: WrittenExercise) -> tuple[_Source, ...]:
    texts = [
        ("rubric", " . ".join(p.text for p in exercise.rubric)),
        ("model answer", exercise.model_answer),
        ("question", exercise.prompt),
    ]
    out = []
    for name, text in texts:
        words = tuple(tokens(text))
        out.append(_Source(name, words, frozenset(_trigrams(words))))
    return tuple(out)


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def copied_from(segment: str, exercise: WrittenExercise) -> str | None:
    words = tokens(segment)
    if len(words) < 4:
        return None
    grams = _trigrams(words)
    for source in _sources(exercise):
        if not source.words:
            continue
        shared = len(grams & source.trigrams) / len(grams) if grams else 0.0
        if shared < 0.5 and len(grams & source.trigrams) < COPIED_RUN_WORDS - 2:
            continue
        run = _longest_common_run(words, source.words)
        if (
            (shared >= COPIED_TRIGRAM_SHARE and len(words) >= COPIED_MIN_WORDS)
            or run >= COPIED_RUN_WORDS
            or (shared >= 0.5 and run >= 9)
        ):
            return source.name
    return None


@lru_cache(maxsize=512)
def _point_id_pattern(exercise: WrittenExercise) -> re.Pattern[str] | None:
    # Point ids that look like ids ("shared-kernel", "p3"), not ordinary words.
    ids = [p.id for p in exercise.rubric if re.search(r"[-_\d]", p.id)]
    if not ids:
        return None
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])", re.I)


_STATUS_WORDS = re.compile(r"\b(covered|missing|partial|contradicted|satisfied|met|pass)\b", re.I)


def _names_point_ids(segment: str, exercise: WrittenExercise) -> bool:
    """Talks about the rubric's point ids: two of them, or one with a status word. (One id
    alone may be an ordinary word: "non-root", "pod-security".)"""
    pattern = _point_id_pattern(exercise)
    if pattern is None:
        return False
    named = {m.group(0).lower() for m in pattern.finditer(segment)}
    return len(named) >= 2 or (len(named) == 1 and _STATUS_WORDS.search(segment) is not None)


_SENTENCE_END = re.compile(rf"(?<=[.!?]){NOT_A_LONE_DOT}\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=;)\s+(?=\S)")
# In a long sentence, statements joined by ", and" (", but", ", so", ", then") with a new
# subject are judged one by one. The cross-encoder read the 45 words of "I'd count requests and
# errors ... in a histogram, and I'd trace every order with OpenTelemetry ..." as stating
# neither point; each half, read alone, states its own. Shorter sentences it reads whole, and
# splitting them gave vague ones credit ("... it's reliable and secure, and we have
# observability so we know what's going on").
_JOINED_STATEMENT = re.compile(
    r",\s+(?:and|but|so|then|and then)\s+"
    r"(?=(?:I|I'd|I'll|I'm|I've|we|we'd|we'll|we're|we've|you|you'd|you'll)\s)",
    re.IGNORECASE,
)
LONG_SENTENCE_WORDS = 28


def _statements(piece: str) -> list[str]:
    clauses = _CLAUSE_END.split(piece)
    return [
        part
        for clause in clauses
        for part in (
            _JOINED_STATEMENT.split(clause)
            if len(clause.split()) >= LONG_SENTENCE_WORDS
            else [clause]
        )
    ]


# A subject of a few words, "is/are", and a judgement with no content of its own, perhaps "for"
# a few words more: "Immutable images are great", "Security is really important for us",
# "Digests are a best practice." A reason ("... because it never changes") or any other
# predicate makes it a claim. Comparatives ("more secure", "better") say something, so they
# are not judgements here.
_JUDGEMENT = re.compile(
    r"^(?:[\w'/.:-]+\s+){1,6}(?:is|are|was|were)\s+"
    r"(?:(?:really|very|so|super|quite|extremely|pretty|truly|definitely|just|also|all|both|"
    r"absolutely|incredibly|generally)\s+)*"
    r"(?:(?:a|an|the)\s+)?(?:(?:really|very|super)\s+)?"
    r"(?:great|good|important|useful|nice|cool|awesome|amazing|excellent|fantastic|key|"
    r"essential|crucial|helpful|beneficial|valuable|vital|powerful|ideal|"
    r"(?:[\w-]+\s+)?(?:best|good) practice|good idea|big deal|must|way to go)"
    r"(?:\s+(?:thing|things|idea|ideas|practice|practices|feature|features|concept|concepts|"
    r"tool|tools|to have|to know|to use))?"
    r"(?:\s+(?:for|in|to)(?:\s+[\w'-]+){1,3})?\s*[.!]*$",
    re.IGNORECASE,
)


# Judgements joined into one sentence: "Immutability is key for reliability and minimal images
# are a security best practice."
_COORDINATED = re.compile(r"\s*(?:,\s*(?:and|but)|\band\b|\bbut\b)\s+", re.IGNORECASE)


def is_judgement(clause: str) -> bool:
    """The clause only calls its subject good, important or useful, or each of the clauses
    joined in it does."""
    text = " ".join(clause.split())
    if _JUDGEMENT.match(text):
        return True
    parts = _COORDINATED.split(text)
    return len(parts) > 1 and all(_JUDGEMENT.match(part) for part in parts)


_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def segments_of(text: str) -> list[str]:
    """Lines, then sentences within them; list markers dropped; pieces without letters dropped."""
    out = []
    for line in plain(text).splitlines():
        for piece in _SENTENCE_END.split(_LIST_ITEM.sub("", line)):
            cleaned = " ".join(piece.split())
            if any(ch.isalpha() for ch in cleaned):
                out.append(cleaned)
    return out


def screen(exercise: WrittenExercise, answer: str) -> Screening:
    segments: list[Segment] = []
    for piece in segments_of(answer):
        if is_instruction_like(piece):
            segments.append(Segment(piece, "instruction"))
        elif is_markup(piece) or _names_point_ids(piece, exercise):
            segments.append(Segment(piece, "markup"))
        elif (source := copied_from(piece, exercise)) is not None:
            segments.append(Segment(piece, "copied", source))
        elif _is_keyword_list(piece):
            segments.append(Segment(piece, "keywords"))
        else:
            # Judged clause by clause where the learner joined statements with semicolons, or
            # with ", and I'd" in a long sentence; copying and keyword lists are judged on the
            # whole sentence above.
            for clause in _statements(piece):
                if any(ch.isalpha() for ch in clause):
                    segments.append(
                        Segment(clause, "judgement" if is_judgement(clause) else "claim")
                    )
    return Screening(tuple(segments), detect_language(answer))
