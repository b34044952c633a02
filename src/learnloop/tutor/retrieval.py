"""Hybrid retrieval over a course's sections: BM25 plus MiniLM embeddings, fused by rank.

Lexical and semantic search fail differently: BM25 misses paraphrases ("attack surface" for
"what can an intruder use"), embeddings blur exact terms ("cgroups"). Reciprocal rank fusion
combines their rankings without having to calibrate one score against the other.

An index is built once per course content hash and kept for the life of the process. Where
the MiniLM weights are not installed (the web image ships without them) retrieval is BM25 only.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learnloop.content.model import Course, Lesson, Section

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

# Passages are sections, cut at paragraph ends into pieces of about this many words so that a
# long section does not win on length alone and the tutor's prompt stays short.
PASSAGE_WORDS = 90
RRF_K = 60
# A tie-breaker only: the course section that answers best wins even in another lesson.
SAME_LESSON_BONUS = 1e-6
_MAX_INDEXES = 8

_TOKEN_RE = re.compile(r"[a-z0-9]+")
# One string, split once at import: a list literal of 80 words would be 80 lines.
_STOPWORDS = frozenset(
    " ".join(
        [
            "a an the and or but if then than so of to in on at by for with from into onto",
            "is are was were be been being it its this that these those there here as not no",
            "can could will would should may might must do does did have has had i you we they",
            "what when where why how which who whom whose my your our their me us them",
            "about also just very only some any all each more most other such",
        ]
    ).split()
)


def stem(word: str) -> str:
    """A deliberately crude suffix stripper: enough to meet "containers"/"container"."""
    for suffix, keep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _TOKEN_RE.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class Passage:
    lesson_number: int
    section_id: str
    section_title: str
    text: str


class BM25:
    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.4, b: float = 0.75):
        self.k1, self.b = k1, b
        self.freqs = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if documents else 0.0
        df: Counter[str] = Counter()
        for doc in documents:
            df.update(set(doc))
        n = len(documents)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def coverage(self, query: set[str], doc: int) -> float:
        """Share of the query's idf mass present in document ``doc``; unknown terms weigh most."""
        unknown = math.log(1 + (len(self.freqs) + 0.5) / 0.5)
        total = sum(self.idf.get(term, unknown) for term in query)
        if total <= 0:
            return 0.0
        found = sum(self.idf[term] for term in query if self.freqs[doc].get(term))
        return found / total

    def scores(self, query: Sequence[str]) -> list[float]:
        out = [0.0] * len(self.freqs)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i, freqs in enumerate(self.freqs):
                tf = freqs.get(term, 0)
                if tf:
                    norm = self.k1 * (
                        1 - self.b + self.b * self.lengths[i] / (self.avg_length or 1)
                    )
                    out[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


def _passages_of(lesson: Lesson, section: Section) -> list[Passage]:
    paragraphs = [p.strip() for p in section.text.split("\n\n") if p.strip()]
    passages: list[Passage] = []
    current: list[str] = []
    words = 0
    for paragraph in paragraphs:
        n = len(paragraph.split())
        if current and words + n > PASSAGE_WORDS:
            passages.append(Passage(lesson.number, section.id, section.title, "\n\n".join(current)))
            current, words = [], 0
        current.append(paragraph)
        words += n
    if current:
        passages.append(Passage(lesson.number, section.id, section.title, "\n\n".join(current)))
    return passages


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # fused score, only meaningful for ordering
    # Share of the query's weight (idf) whose terms occur in the passage: 0 none, 1 all.
    coverage: float
    cosine: float | None  # None while embeddings are not available

    @property
    def relevant(self) -> bool:
        """Either ranking found it on topic; a shared common word alone is not enough."""
        return self.coverage >= MIN_COVERAGE or (
            self.cosine is not None and self.cosine >= MIN_COSINE
        )


MIN_COVERAGE = 0.5
MIN_COSINE = 0.3
# Passages embedded per call, so a request that needs the encoder waits for one small batch
# at most while an index is being built in the background.
_EMBED_BATCH = 16


class CourseIndex:
    """BM25 is ready at once; embeddings are computed in a background thread (tens of seconds
    of CPU for a whole course) and used by searches as soon as they are complete."""

    def __init__(self, course: Course) -> None:
        self.course_hash = course.content_hash
        self.passages: tuple[Passage, ...] = tuple(
            passage
            for lesson in course.lessons
            for section in lesson.sections
            for passage in _passages_of(lesson, section)
        )
        self.bm25 = BM25([tokens(f"{p.section_title}\n{p.text}") for p in self.passages])
        self.embeddings: npt.NDArray[np.float32] | None = None
        self.ready = threading.Event()

    def build_embeddings(self) -> None:
        try:
            encoder = _encoder()
            if encoder is None or not self.passages:
                return
            import numpy as np

            texts = [f"{p.section_title}. {p.text}" for p in self.passages]
            parts = [
                encoder.encode(texts[i : i + _EMBED_BATCH])
                for i in range(0, len(texts), _EMBED_BATCH)
            ]
            self.embeddings = np.concatenate(parts)
            log.info("tutor index embedded: %d passages", len(texts))
        except Exception:  # a broken encoder must not take the tutor down: BM25 still works
            log.exception("embedding the course passages failed; retrieval stays BM25 only")
        finally:
            self.ready.set()

    def search(self, query: str, *, lesson_number: int | None = None, k: int = 4) -> list[Hit]:
        if not self.passages:
            return []
        query_terms = set(tokens(query))
        lexical = self.bm25.scores(list(query_terms))
        coverage = [self.bm25.coverage(query_terms, i) for i in range(len(self.passages))]
        fused = [0.0] * len(self.passages)
        by_bm25 = sorted(range(len(fused)), key=lambda i: -lexical[i])
        for rank, i in enumerate(by_bm25):
            if lexical[i] > 0:
                fused[i] += 1 / (RRF_K + rank + 1)
        cosines: list[float] | None = None
        embeddings = self.embeddings
        encoder = _encoder() if embeddings is not None else None
        if encoder is not None and embeddings is not None:
            q = encoder.encode([query])[0]
            cosines = [float(c) for c in embeddings @ q]
            ranked = cosines
            for rank, i in enumerate(sorted(range(len(fused)), key=lambda i: -ranked[i])):
                fused[i] += 1 / (RRF_K + rank + 1)
        if lesson_number is not None:
            for i, passage in enumerate(self.passages):
                if passage.lesson_number == lesson_number and fused[i] > 0:
                    fused[i] += SAME_LESSON_BONUS
        order = sorted(range(len(fused)), key=lambda i: -fused[i])
        return [
            Hit(self.passages[i], fused[i], coverage[i], cosines[i] if cosines else None)
            for i in order[:k]
            if fused[i] > 0
        ]


_indexes: dict[str, CourseIndex] = {}
_indexes_lock = threading.Lock()
_encoder_state: dict[str, Any] = {}
_encoder_lock = threading.Lock()


def _encoder() -> Any:
    """The MiniLM encoder, or None where the grader extra or its weights are not installed."""
    with _encoder_lock:
        if "encoder" not in _encoder_state:
            try:
                from learnloop.ai.embedding import get_encoder

                _encoder_state["encoder"] = get_encoder()
            except Exception as error:  # ImportError, missing weights: degrade, never crash
                log.warning("retrieval without embeddings (BM25 only): %s", error)
                _encoder_state["encoder"] = None
        return _encoder_state["encoder"]


def index_for(course: Course, *, wait: bool = False) -> CourseIndex:
    """The course's index, built on first use and reused while its content hash holds.

    ``wait`` blocks until the embeddings are in (the first call builds them in this thread).
    """
    with _indexes_lock:
        index = _indexes.get(course.content_hash)
        fresh = index is None
        if index is None:
            index = CourseIndex(course)
            if len(_indexes) >= _MAX_INDEXES:
                # Old versions of edited courses: drop the oldest entry.
                _indexes.pop(next(iter(_indexes)))
            _indexes[course.content_hash] = index
    if fresh:
        if wait:
            index.build_embeddings()
        else:
            threading.Thread(target=index.build_embeddings, name="tutor-index", daemon=True).start()
    if wait:
        index.ready.wait()
    return index


def best_sections(lesson: Lesson, texts: Sequence[str]) -> list[str | None]:
    """For each text (a rubric point), the lesson section that best covers it, by BM25."""
    sections = [s for s in lesson.sections if s.text.strip()]
    if not sections:
        return [None] * len(texts)
    bm25 = BM25([tokens(f"{s.title}\n{s.text}") for s in sections])
    out: list[str | None] = []
    for text in texts:
        scores = bm25.scores(tokens(text))
        best = max(range(len(sections)), key=lambda i: scores[i])
        out.append(sections[best].id if scores[best] > 0 else None)
    return out


def _is_prose(sentence: str) -> bool:
    """A sentence a reader can take on its own: not a code block, a table row or a fragment."""
    words = sentence.split()
    if len(words) < 4 or sentence.count("|") > 1 or sentence.endswith(":"):
        return False
    plain = sum(1 for w in words if w.strip(".,;:!?()\"'").isalpha())
    return plain >= 0.7 * len(words)


def sentences_for(query: str, hits: Sequence[Hit], limit: int = 3) -> list[tuple[Hit, str]]:
    """The passages' sentences that share most terms with the query (an extractive summary)."""
    wanted = set(tokens(query))
    scored: list[tuple[float, int, int, Hit, str]] = []
    for h, hit in enumerate(hits):
        # Colons split too: "run this:" is usually followed by a command, not prose.
        for s, sentence in enumerate(re.split(r"(?<=[.!?:])\s+", hit.passage.text)):
            # Source lines wrap inside paragraphs; the answer reads as one line.
            sentence = " ".join(sentence.split())
            if not _is_prose(sentence):
                continue
            overlap = len(wanted & set(tokens(sentence)))
            if overlap:
                # Earlier (better-ranked) passages win ties.
                scored.append((overlap - 0.1 * h, h, s, hit, sentence))
    best = sorted(scored, key=lambda t: -t[0])[:limit]
    best.sort(key=lambda t: (t[1], t[2]))  # read in passage order
    return [(hit, sentence) for _, _, _, hit, sentence in best]
