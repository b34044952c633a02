"""Hybrid retrieval over a course's passages: BM25 and MiniLM embeddings, then a reranker.

- **Units.** Passages are whole paragraphs, list items, code blocks and tables, each with its
  section (`tutor.passages`); the tutor shows them whole.
- **First stage.** BM25 and the passage embeddings each rank every passage; reciprocal rank
  fusion keeps the best `CANDIDATES` without calibrating one score against the other. Lexical
  and semantic search fail differently: BM25 misses paraphrases ("eats too much ram" for
  "exceeds its memory limit"), embeddings blur exact terms ("etcd").
- **Reranking.** Each candidate is scored by its passage cosine, its best sentence's cosine
  (a long paragraph that answers in one sentence is not diluted) and the share of the
  question's rare words it holds. `bench/tutor.md` measures the reranker against the fused
  order alone.
- **Readiness.** `prepare` builds an index (or loads it from disk, keyed by the course content
  hash) before the server reports ready; a search never runs on a half-built index, so the
  first question after a start gets the same answer as the hundredth.

BM25 is written here (about thirty lines) rather than taken from `rank-bm25` or `bm25s`: both
need numpy, and the web image runs the tutor without numpy (BM25 only) when the grader extra
is not installed. Its scoring is Lucene's (idf with the +1 inside the log, never negative).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnloop.content.model import Course, OutOfScope
from learnloop.tutor.passages import Passage, course_passages

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

# Bump when passages or their embedded text change: old files on disk are then ignored.
INDEX_VERSION = "tutor-index-5"
RRF_K = 60
CANDIDATES = 24
# The reranker: a logistic model over each candidate's features, fitted on the dev split of
# bench/tutor-eval (`learnloop eval-tutor --fit-reranker`, never on the held-out questions).
# Order: passage cosine, best sentence cosine, idf coverage, BM25 score / best BM25 score,
# "is an introduction", "is a code block", the best sentence cosine of any candidate of the
# passage's section (the section answers as a whole), "is a lead-in" (ends with a colon).
# Relevance is P(answers) from these. Whether to answer at all is a separate gate
# (`gate_score`): the ranker orders, the gate declines.
RERANKER_WEIGHTS = (0.25, -0.06, 0.99, 2.07, -1.61, 0.48, 3.04, 0.27)
RERANKER_BIAS = -5.6
# Added to the logit of passages of the learner's own lesson, which come first; fitted with
# the others. Not part of relevance: a passage must answer on its own to be shown.
SAME_LESSON_WEIGHT = 2.4
_MAX_INDEXES = 8
# A question is about a topic the course lists as out of scope when it is at least this close to
# one of the topic's phrases and this much closer to it than to any passage. Chosen on the tutor
# set and its batch c (bench/tutor.md): on-topic questions come as near as 0.46 to a phrase ("can
# i run my unit tests inside the docker build"), but never more than 0.11 closer to one than to
# their best passage.
OUT_OF_SCOPE_COSINE = 0.42
OUT_OF_SCOPE_MARGIN = 0.15
# The evaluation turns the reranker off to measure what it adds; the server never does.
RERANK = True

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
            "im dont doesnt cant wont whats thats even actually really get got gets",
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
        self.postings: dict[str, list[int]] = {}
        for i, doc in enumerate(documents):
            for term in set(doc):
                self.postings.setdefault(term, []).append(i)

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
            for i in self.postings[term]:
                tf = self.freqs[i][term]
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg_length or 1))
                out[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


@dataclass(frozen=True)
class Hit:
    passage: Passage
    # The order: the reranker's score plus the learner's-lesson bonus (without embeddings,
    # the fused rank score).
    score: float
    # Share of the query's weight (idf) whose terms occur in the passage: 0 none, 1 all.
    coverage: float
    cosine: float | None  # passage cosine; None without embeddings
    sentence_cosines: tuple[float, ...] = ()  # per sentence of the passage, same order
    relevance: float = 0.0  # P(answers) by the reranker, lesson aside: what thresholds read
    features: tuple[float, ...] = ()  # the reranker's inputs, lesson aside
    same_lesson: bool = False
    # Is the passage on the question's topic at all: the mean of the passage's and its best
    # sentence's cosine plus a quarter of the coverage. The tutor declines below a threshold.
    gate: float = 0.0

    @property
    def best_sentence(self) -> int:
        if not self.sentence_cosines:
            return 0
        return max(range(len(self.sentence_cosines)), key=lambda i: self.sentence_cosines[i])


def _context(passages: Sequence[Passage]) -> list[str]:
    """What each passage is read with besides its own text: its section's title, and for a list
    item or a code block the sentence that leads into it ("Each node runs three pieces:")."""
    out = []
    lead = ""
    for i, p in enumerate(passages):
        if i and passages[i - 1].key != p.key:
            lead = ""
        if p.kind not in {"item", "code", "table"}:
            lead = p.sentences[-1] if p.sentences and p.text.endswith(":") else ""
        prefix = f"{p.section_title}. {lead}" if p.kind in {"item", "code", "table"} else ""
        out.append(prefix or f"{p.section_title}.")
    return out


# Learners write in chat shorthand; the course spells words out. Expanded in queries only.
_SHORTHAND = {
    "k8s": "kubernetes",
    "ram": "memory",
    "db": "database",
    "dbs": "databases",
    "prod": "production",
    "vm": "virtual machine",
    "vms": "virtual machines",
    "pw": "password",
    "ppl": "people",
    "u": "you",
    "ur": "your",
    "cuz": "because",
    "diff": "difference",
    "img": "image",
    "env": "environment",
    "config": "configuration",
    "app": "application",
    "oomkilled": "OOM-killed",
}
_SHORTHAND_RE = re.compile(r"\b(" + "|".join(map(re.escape, _SHORTHAND)) + r")\b", re.IGNORECASE)


def expand_shorthand(query: str) -> str:
    return _SHORTHAND_RE.sub(lambda m: _SHORTHAND[m.group(1).lower()], query)


def _digest(passages: Sequence[Passage]) -> str:
    h = hashlib.sha256(INDEX_VERSION.encode())
    for p in passages:
        h.update(f"{p.key}\0{p.kind}\0{p.text}\0{len(p.sentences)}\n".encode())
    return h.hexdigest()[:24]


class CourseIndex:
    def __init__(self, course: Course) -> None:
        self.course_slug = course.slug
        self.course_hash = course.content_hash
        self.passages: tuple[Passage, ...] = course_passages(course)
        self.context = _context(self.passages)
        self.bm25 = BM25(
            [tokens(f"{c}\n{p.text}") for c, p in zip(self.context, self.passages, strict=True)]
        )
        # Sentence i of passage p is row sentence_start[p] + i of `sentence_embeddings`.
        starts, n = [], 0
        for p in self.passages:
            starts.append(n)
            n += len(p.sentences)
        self.sentence_start = tuple(starts)
        self.sentence_count = n
        self.embeddings: npt.NDArray[np.float32] | None = None
        self.sentence_embeddings: npt.NDArray[np.float32] | None = None
        self.digest = _digest(self.passages)
        self.out_of_scope = course.out_of_scope
        self.scope_embeddings: npt.NDArray[np.float32] | None = None
        self._scope_of_row: tuple[OutOfScope, ...] = ()  # the topic of each embedded phrase
        # The words of the course's lesson and section titles: what it is about.
        self.concepts = frozenset(
            t for p in self.passages for t in tokens(f"{p.lesson_title} {p.section_title}")
        )
        self._number = {p: i for i, p in enumerate(self.passages)}

    def neighbour(self, passage: Passage, step: int) -> Passage | None:
        """The passage ``step`` places away in the same section, if any."""
        i = self._number.get(passage)
        if i is None or not 0 <= i + step < len(self.passages):
            return None
        other = self.passages[i + step]
        return other if other.key == passage.key else None

    def sentence_cosines(self, passage: Passage, vector: Any) -> list[float]:
        i = self._number.get(passage)
        if i is None or vector is None or self.sentence_embeddings is None:
            return []
        start = self.sentence_start[i]
        rows = self.sentence_embeddings[start : start + len(passage.sentences)]
        return [float(c) for c in rows @ vector]

    # -- building ------------------------------------------------------------------------------
    def build(self, cache_dir: Path | None) -> None:
        """Load the embeddings from ``cache_dir`` or compute (and save) them. Without the
        encoder (the grader extra not installed) the index stays BM25 only."""
        encoder = _encoder()
        if encoder is None or not self.passages:
            return
        import numpy as np

        path = cache_dir / f"{self.course_slug}-{self.digest}.npz" if cache_dir else None
        if path is not None and path.exists():
            try:
                with np.load(path) as data:
                    passages, sentences = data["passages"], data["sentences"]
                if passages.shape[0] == len(self.passages) and (
                    sentences.shape[0] == self.sentence_count
                ):
                    self.embeddings, self.sentence_embeddings = passages, sentences
                    self._embed_scope(encoder)
                    log.info("tutor index loaded from %s", path)
                    return
            except (OSError, ValueError, KeyError) as error:
                log.warning("tutor index at %s unreadable, rebuilding: %s", path, error)
        texts = [f"{c} {p.text}" for c, p in zip(self.context, self.passages, strict=True)]
        sentences = [s for p in self.passages for s in p.sentences]
        with one_blas_thread():
            self.embeddings = encoder.encode(texts).astype(np.float32)
            self.sentence_embeddings = encoder.encode(sentences).astype(np.float32)
        self._embed_scope(encoder)
        log.info("tutor index built: %d passages, %d sentences", len(texts), len(sentences))
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial.npz")
                np.savez(partial, passages=self.embeddings, sentences=self.sentence_embeddings)
                partial.replace(path)  # atomic: another process never reads half a file
            except OSError as error:  # a read-only disk only costs the next start a rebuild
                log.warning("tutor index not saved to %s: %s", path, error)

    def _embed_scope(self, encoder: Any) -> None:
        phrases = [(s, p) for s in self.out_of_scope for p in s.phrases()]
        if phrases:
            with one_blas_thread():
                self.scope_embeddings = encoder.encode([p for _, p in phrases])
            self._scope_of_row = tuple(s for s, _ in phrases)

    def outside(self, query_vector: Any, best_cosine: float) -> OutOfScope | None:
        """The neighbouring topic the course does not teach that the question is about, if it
        is clearly closer to that topic than to any passage."""
        if query_vector is None or self.scope_embeddings is None:
            return None
        cosines = self.scope_embeddings @ query_vector
        k = int(cosines.argmax())
        near = float(cosines[k])
        if near >= OUT_OF_SCOPE_COSINE and near - best_cosine >= OUT_OF_SCOPE_MARGIN:
            return self._scope_of_row[k]
        return None

    # -- searching -----------------------------------------------------------------------------
    def encode_query(self, query: str) -> Any:
        encoder = _encoder() if self.embeddings is not None else None
        if encoder is None:
            return None
        with one_blas_thread():
            return encoder.encode([expand_shorthand(query)])[0]

    def search(
        self,
        query: str,
        *,
        lesson_number: int | None = None,
        k: int = 4,
        rerank: bool | None = None,
        query_vector: Any = None,
    ) -> list[Hit]:
        rerank = RERANK if rerank is None else rerank
        if not self.passages:
            return []
        query = expand_shorthand(query)
        query_terms = set(tokens(query))
        lexical = self.bm25.scores(list(query_terms))
        n = len(self.passages)
        fused = [0.0] * n
        for rank, i in enumerate(sorted(range(n), key=lambda i: -lexical[i])):
            if lexical[i] > 0:
                fused[i] += 1 / (RRF_K + rank + 1)
        cosines: list[float] | None = None
        sentence_cos: Any = None
        if self.embeddings is not None and self.sentence_embeddings is not None:
            q = query_vector if query_vector is not None else self.encode_query(query)
            if q is not None:
                cosines = [float(c) for c in self.embeddings @ q]
                sentence_cos = self.sentence_embeddings @ q
                ranked = cosines
                for rank, i in enumerate(sorted(range(n), key=lambda i: -ranked[i])):
                    fused[i] += 1 / (RRF_K + rank + 1)
        ranked_by_fusion = sorted(range(n), key=lambda i: -fused[i])[:CANDIDATES]
        candidates = [i for i in ranked_by_fusion if fused[i] > 0]
        best_lexical = max(lexical) or 1.0
        if cosines is None:
            hits = [
                Hit(self.passages[i], fused[i], self.bm25.coverage(query_terms, i), None)
                for i in candidates
            ]
            hits.sort(key=lambda h: -h.score)
            return hits[:k]
        per_sentence: dict[int, tuple[float, ...]] = {}
        for i in candidates:
            start = self.sentence_start[i]
            count = len(self.passages[i].sentences)
            per_sentence[i] = tuple(float(c) for c in sentence_cos[start : start + count])
        # A section answers as a whole: the best sentence of any of its candidate passages
        # speaks for its other passages too ("five minutes" is in the paragraph after the one
        # that names the dead node).
        section_best: dict[str, float] = {}
        for i in candidates:
            key = self.passages[i].key
            section_best[key] = max(section_best.get(key, -1.0), max(per_sentence[i], default=0.0))
        hits = []
        for i in candidates:
            coverage = self.bm25.coverage(query_terms, i)
            passage = self.passages[i]
            best_sentence = max(per_sentence[i], default=0.0)
            features = (
                cosines[i],
                best_sentence,
                coverage,
                lexical[i] / best_lexical,
                float(passage.section_id == "introduction"),
                float(passage.kind == "code"),
                section_best[passage.key],
                float(passage.text.endswith(":")),
            )
            logit = RERANKER_BIAS + sum(
                w * f for w, f in zip(RERANKER_WEIGHTS, features, strict=True)
            )
            relevance = 1 / (1 + math.exp(-logit))
            if lesson_number is not None and passage.lesson_number == lesson_number:
                logit += SAME_LESSON_WEIGHT
            score = logit if rerank else fused[i]
            hits.append(
                Hit(
                    passage,
                    score,
                    coverage,
                    cosines[i],
                    per_sentence[i],
                    relevance,
                    features,
                    passage.lesson_number == lesson_number,
                    gate_score(cosines[i], best_sentence, coverage),
                )
            )
        hits.sort(key=lambda h: -h.score)
        return hits[:k]


def gate_score(passage_cosine: float, sentence_cosine: float, coverage: float) -> float:
    return 0.5 * passage_cosine + 0.5 * sentence_cosine + 0.25 * coverage


_indexes: dict[str, CourseIndex] = {}
_building: dict[str, threading.Event] = {}
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


_controller: dict[str, Any] = {}


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run numpy's matrix products on one thread: the tutor's are small, and on a shared
    two-core machine OpenBLAS's thread hand-offs cost fifty times the work (bench/tutor.md)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # the grader extra is not installed: no numpy either
        yield
        return
    with _encoder_lock:
        controller = _controller.get("c")
        if controller is None:
            controller = _controller["c"] = ThreadpoolController()
    with controller.limit(limits=1, user_api="blas"):
        yield


def _key(course: Course) -> str:
    return f"{course.slug}:{course.content_hash}"


def prepare(course: Course, cache_dir: Path | None = None) -> CourseIndex:
    """The course's index, complete (embeddings in); built once per content hash per process.

    Concurrent callers for the same course wait for the one build rather than start their own.
    """
    key = _key(course)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is not None:
            return index
        event = _building.get(key)
        owner = event is None
        if owner:
            event = _building[key] = threading.Event()
    assert event is not None
    if not owner:
        event.wait()
        with _indexes_lock:
            found = _indexes.get(key)
        return found if found is not None else prepare(course, cache_dir)
    try:
        index = CourseIndex(course)
        try:
            index.build(cache_dir)
        except Exception:  # a broken encoder must not take the tutor down: BM25 still works
            log.exception("embedding the course passages failed; retrieval stays BM25 only")
            index.embeddings = index.sentence_embeddings = None
        with _indexes_lock:
            if len(_indexes) >= _MAX_INDEXES:
                _indexes.pop(next(iter(_indexes)))  # old versions of edited courses
            _indexes[key] = index
        return index
    finally:
        with _indexes_lock:
            _building.pop(key, None)
        event.set()


def is_prepared(course: Course) -> bool:
    with _indexes_lock:
        return _key(course) in _indexes


def forget_indexes() -> None:
    """Drop every in-memory index, as a restart would (the evaluation's cold starts)."""
    with _indexes_lock:
        _indexes.clear()
