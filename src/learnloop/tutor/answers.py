"""How the tutor answers: whole passages offline, grounded and verified text with an LLM.

Nothing here touches the database: the routes load the learner's thread and charge the quota
in one short transaction, call `plan` / `generate` / `finish` with no transaction open, and
store the exchange in another (`tutor.service`).

- **Offline** (the default): one or two whole passages, the sentence that answers highlighted,
  each cited as a link to its section. A passage from another lesson says so. When nothing
  scores well enough the tutor declines and names the closest sections, never a near miss.
- **Author questions** keep the author's text and cite the sections it draws on.
- **With an LLM**: the model writes from the retrieved passages only, citing them as [n]; after
  generation each sentence is checked against the passages it cites with the grader's
  entailment cross-encoder (`tutor.verify`), and unsupported sentences are dropped.
- **Refusals**, in both modes: the model answer of the lesson's written exercise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from learnloop.ai.guard import is_instruction_like, split_sentences
from learnloop.ai.llm import LLMClient, LLMError
from learnloop.content.model import (
    Course,
    GoDeeperQuestion,
    Lesson,
    OutOfScope,
    WrittenExercise,
)
from learnloop.settings import Settings
from learnloop.tutor.passages import Passage
from learnloop.tutor.prompts import tutor_messages
from learnloop.tutor.retrieval import CourseIndex, Hit, prepare, tokens

log = logging.getLogger(__name__)

# Thresholds on the topic gate (`retrieval.gate_score`: the mean of the passage's and its best
# sentence's cosine, plus a quarter of the lexical coverage). DECLINE_BELOW is the midpoint
# between the best off-topic and the worst on-topic score on the dev split of bench/tutor-eval
# (a quarter of the questions), not on the whole set; see bench/tutor.md.
DECLINE_BELOW = 0.29  # no candidate reaches this: the tutor declines
SUGGEST_ABOVE = 0.24  # a declined question names the closest sections above this
# A second passage is shown when the reranker finds it at least this share as likely to answer.
SECOND_SHARE = 0.5
# Without embeddings (BM25 only): the share of the question's rare words a passage must hold.
MIN_COVERAGE = 0.5
PASSAGES_FOR_LLM = 4
AUTHOR_CITATIONS = 2

NOT_COVERED = "The course does not cover this question."
NOT_COVERED_HINT = "Try asking with the words the lesson uses, or about something in this lesson."
REFUSED_WRITTEN = (
    "That is the lesson's written exercise, so I won't write its answer for you: writing it "
    "yourself is the exercise. Ask me about any idea it needs, then submit your answer for "
    "feedback."
)


class UnknownQuestion(LookupError):  # noqa: N818 - named like the service's other lookups
    def __init__(self, question_id: str) -> None:
        super().__init__(f"This lesson has no go-deeper question {question_id!r}.")


@dataclass(frozen=True)
class Citation:
    section_id: str
    title: str
    url: str
    lesson_number: int = 0


@dataclass(frozen=True)
class ShownPassage:
    citation: Citation
    kind: str  # paragraph, item, code, table, quote
    text: str
    highlight: str = ""  # the sentence of `text` that answers; "" for none
    lesson_title: str = ""
    other_lesson: bool = False


@dataclass(frozen=True)
class TutorAnswer:
    answer: str  # plain text: the passages, the author's answer, the model's text or a decline
    citations: tuple[Citation, ...]
    engine: str  # "embedded" or "llm"
    outcome: str = "answered"  # "answered", "author", "declined" or "refused"
    passages: tuple[ShownPassage, ...] = ()
    note: str = ""  # e.g. that the answer comes from another lesson
    flagged: tuple[str, ...] = ()  # generated sentences dropped as unsupported

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> TutorAnswer:
        citations = tuple(Citation(**c) for c in data.get("citations", ()))
        passages = tuple(
            ShownPassage(**{**p, "citation": Citation(**p["citation"])})
            for p in data.get("passages", ())
        )
        return cls(
            answer=str(data.get("answer", "")),
            citations=citations,
            engine=str(data.get("engine", "embedded")),
            outcome=str(data.get("outcome", "answered")),
            passages=passages,
            note=str(data.get("note", "")),
            flagged=tuple(data.get("flagged", ())),
        )


@dataclass(frozen=True)
class Turn:
    """A past exchange of the thread, oldest first: what follow-ups are read against."""

    question: str
    answer: str


@dataclass
class Plan:
    """What `plan` decided before any model call."""

    question: str
    final: TutorAnswer | None  # answered without the LLM (offline, author, decline, refusal)
    fallback: TutorAnswer  # the offline answer, given when the LLM fails
    hits: list[Hit] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)  # numbered as in the prompt


def find_question(lesson: Lesson, question_id: str) -> GoDeeperQuestion:
    block = lesson.go_deeper
    for q in block.questions if block else ():
        if q.id == question_id:
            return q
    raise UnknownQuestion(question_id)


def citation_for(course: Course, passage: Passage) -> Citation:
    url = f"/courses/{course.slug}/lessons/{passage.lesson_number}#{passage.section_id}"
    return Citation(passage.section_id, passage.section_title, url, passage.lesson_number)


def index_of(course: Course, settings: Settings) -> CourseIndex:
    return prepare(course, settings.tutor_index_dir)


def _clean(question: str) -> str:
    # Sentences aimed at the tutor ("ignore the passages above") are neither searched for nor
    # sent to the model; the rest of the question is.
    kept = [s for s in split_sentences(question) if not is_instruction_like(s)]
    return (" ".join(kept) or question).strip()


# -- refusals ---------------------------------------------------------------------------------

_MODEL_ANSWER_RE = re.compile(
    r"\b(model|sample|example|ideal|perfect|full|complete|correct|right|best)\s+(answer|solution)"
    r"|\b(write|give|do|answer|solve|complete|finish)\b[^.?!]{0,40}\b(written|exercise|"
    r"assignment|homework|check your understanding)\b"
    r"|\bwhat\s+(should|do)\s+i\s+(write|put|answer)\b"
    r"|\b(write|answer)\s+(it|this|that)\s+for\s+me\b",
    re.IGNORECASE,
)


def asks_for_written_answer(lesson: Lesson, question: str) -> bool:
    """A request for the model answer of the lesson's written exercise: asked for by name, or
    the exercise's own prompt pasted in (most of its words)."""
    if not lesson.written:
        return False
    if _MODEL_ANSWER_RE.search(question):
        return True
    asked = set(tokens(question))
    for exercise in lesson.written:
        wanted = set(tokens(exercise.prompt))
        if len(wanted) >= 6 and len(asked & wanted) >= 0.6 * len(wanted):
            return True
    return False


def _refused(lesson: Lesson, course: Course, engine: str) -> TutorAnswer:
    exercise: WrittenExercise = lesson.written[0]
    del exercise  # the refusal names no part of the exercise's answer
    return TutorAnswer(REFUSED_WRITTEN, (), engine, outcome="refused")


# -- offline answers --------------------------------------------------------------------------


def _relevant(hit: Hit) -> bool:
    if hit.cosine is None:
        return hit.coverage >= MIN_COVERAGE
    return hit.gate >= DECLINE_BELOW


def _on_topic(hits: Sequence[Hit]) -> bool:
    return any(_relevant(h) for h in hits)


# What the learner sets aside ("a database password instead of the Deployment env list") is
# not what they ask about: searched for, its words found the ConfigMap section, not Secrets.
_SET_ASIDE_RE = re.compile(r"\s*\b(?:instead of|rather than)\b[^,;.?!]*", re.IGNORECASE)


def without_set_aside(question: str) -> str:
    """The question without what it sets aside, when enough of it remains to search for."""
    kept = _SET_ASIDE_RE.sub("", question).strip()
    return kept if len(kept.split()) >= 3 else question


def search(index: CourseIndex, lesson: Lesson, question: str, history: Sequence[Turn]) -> Any:
    """The hits for a question, the text searched for and its embedding (None without an
    encoder): read with the thread's last question when it is a follow-up that alone finds
    less ("what do you mean by eviction?")."""
    question = without_set_aside(question)
    vector = index.encode_query(question)
    hits = index.search(question, lesson_number=lesson.number, k=8, query_vector=vector)
    if history:
        joined = f"{history[-1].question} {question}"
        joined_vector = index.encode_query(joined)
        with_context = index.search(
            joined, lesson_number=lesson.number, k=8, query_vector=joined_vector
        )
        gate = max((h.gate for h in hits), default=0.0)
        if with_context and max(h.gate for h in with_context) > gate:
            return with_context, joined, joined_vector
    return hits, question, vector


def _highlight(
    index: CourseIndex, query: str, vector: Any, passages: Sequence[Passage]
) -> dict[int, str]:
    """The one sentence among the shown prose passages that answers best, by position."""
    wanted = set(tokens(query))
    best: tuple[float, int, str] | None = None
    for n, passage in enumerate(passages):
        if passage.kind in {"code", "table"} or len(passage.sentences) < 2:
            continue
        cosines = index.sentence_cosines(passage, vector)
        for i, sentence in enumerate(passage.sentences):
            overlap = len(wanted & set(tokens(sentence))) / (len(wanted) or 1)
            score = (cosines[i] if cosines else 0.0) + 0.2 * overlap
            if best is None or score > best[0]:
                best = (score, n, sentence)
    return {} if best is None else {best[1]: best[2]}


# Setting up the learner's own computer ("install python on windows 11") is outside any course
# here: a passage that merely shares "install" and "python" is a near miss, and the topic gate,
# which reads words and meaning, cannot tell. Such a question is answered only when the shown
# passages name the same system, or share with it a concept the course names in a section
# title ("set up a postgres volume on my mac" is about volumes).
_SETUP_RE = re.compile(
    r"\b(install(ing)?|download(ing)?|set(ting)?\s*up|setup|uninstall|reinstall|upgrade)\b",
    re.IGNORECASE,
)
_DESKTOP_RE = re.compile(
    r"\b(windows|win\s?1[01]|mac|macos|os\s?x|macbook|imac|ubuntu|fedora|mint|chromebook)\b",
    re.IGNORECASE,
)


def _desktop_setup_elsewhere(
    index: CourseIndex, question: str, passages: Sequence[Passage]
) -> bool:
    """A question about setting up the learner's own computer that the shown passages answer
    neither for its system nor through one of the course's concepts."""
    systems = {m.group(0).lower() for m in _DESKTOP_RE.finditer(question)}
    if not systems or not _SETUP_RE.search(question):
        return False
    shown = " ".join(p.text for p in passages)
    if systems & {m.group(0).lower() for m in _DESKTOP_RE.finditer(shown)}:
        return False
    shared = _roots(tokens(question)) & _roots(tokens(shown)) & _roots(index.concepts)
    return not shared


def _roots(words: Iterable[str]) -> set[str]:
    # The stemmer leaves "volume" but makes "volumes" "volum": compare without a final e.
    return {w[:-1] if w.endswith("e") and len(w) > 4 else w for w in words}


def _decline(course: Course, hits: Sequence[Hit], engine: str) -> TutorAnswer:
    seen: dict[str, Citation] = {}
    for hit in hits:
        if (hit.cosine is not None and hit.gate >= SUGGEST_ABOVE) or (
            hit.cosine is None and hit.coverage >= MIN_COVERAGE / 2
        ):
            seen.setdefault(hit.passage.key, citation_for(course, hit.passage))
    suggestions = tuple(seen.values())[:2]
    text = NOT_COVERED + " " + NOT_COVERED_HINT
    if suggestions:
        text = NOT_COVERED + " The closest sections are linked below."
    return TutorAnswer(text, suggestions, engine, outcome="declined")


def _decline_outside(topic: OutOfScope, engine: str) -> TutorAnswer:
    """A question about a neighbouring topic the course says it does not teach: no near-miss
    passages, and the learner learns why."""
    text = (
        f"{NOT_COVERED} It looks like a question about {topic.topic}, which this course does "
        "not teach. " + NOT_COVERED_HINT
    )
    return TutorAnswer(text, (), engine, outcome="declined")


def _answer_score(hit: Hit, wanted: set[str]) -> float:
    """How well a passage's best sentence answers: its cosine plus a fifth of the share of the
    question's words it holds (as the highlight is chosen)."""
    best = 0.0
    for i, sentence in enumerate(hit.passage.sentences):
        cosine = hit.sentence_cosines[i] if i < len(hit.sentence_cosines) else 0.0
        overlap = len(wanted & set(tokens(sentence))) / (len(wanted) or 1)
        best = max(best, cosine + 0.2 * overlap)
    return best


def _answering_first(hits: list[Hit], query: str) -> list[Hit]:
    """The reranker picks the section; within it, the prose passage whose sentence answers
    best leads: not the section's general opening, nor a code block because its section
    matched (a lead-in that wins still brings its code along)."""
    if not hits or hits[0].cosine is None:
        return hits
    # A lesson's introduction previews it and answers nothing: any other relevant passage goes
    # first.
    hits = sorted(hits, key=lambda h: h.passage.section_id == "introduction")
    key = hits[0].passage.key
    wanted = set(tokens(query))
    prose = [h for h in hits if h.passage.key == key and h.passage.kind not in {"code", "table"}]
    if not prose:
        return hits
    # ...among the prose the reranker finds nearly as likely to answer as the section's best:
    # "can a hacker in one pod reach our postgres pod by default" had its answer (the flat
    # network, NetworkPolicy) ranked first, and lost the lead to the securityContext lead-in,
    # whose "refusing root" sentence sits closer to "hacker" in meaning.
    likeliest = max(h.relevance for h in prose)
    prose = [h for h in prose if h.relevance >= SECOND_SHARE * likeliest]
    lead = max(prose, key=lambda h: _answer_score(h, wanted))
    return [lead, *[h for h in hits if h is not lead]]


# "how do I install my packages so the cache works": the lesson's worked example answers a
# how-to question better than the prose around it.
_HOW_TO_RE = re.compile(
    r"^\W*(?:so\s+)?how\s+(?:do|can|should|would)\s+(?:i|we|you)\b|^\W*how\s+to\b", re.I
)


def _worked_example(index: CourseIndex, question: str, hits: list[Hit]) -> list[Hit] | None:
    """For a how-to question whose likeliest passage is code with a lead-in ("copy the
    dependency manifest on its own first:"), the hits with that lead-in first, so the
    lead-in and its code are shown together; None otherwise."""
    if not hits or hits[0].cosine is None or not _HOW_TO_RE.search(question):
        return None
    top = hits[0]
    if top.passage.kind != "code" or top.passage.section_id == "introduction":
        return None
    lead_in = index.neighbour(top.passage, -1)
    if lead_in is None or lead_in.kind == "code" or not lead_in.text.endswith(":"):
        return None
    # A lead-in outside the candidates is ranked as its code is (its own sentences unread).
    first = next(
        (h for h in hits if h.passage == lead_in),
        replace(top, passage=lead_in, sentence_cosines=()),
    )
    return [first, *[h for h in hits if h is not first]]


# A lead-in is shown with at most this many of the list items that follow it.
LIST_ITEMS_SHOWN = 5


def _list_after(index: CourseIndex, lead_in: Passage) -> list[Passage]:
    """The list items right after a lead-in, in the author's order."""
    items: list[Passage] = []
    after = index.neighbour(lead_in, 1)
    while after is not None and after.kind == "item" and len(items) < LIST_ITEMS_SHOWN:
        items.append(after)
        after = index.neighbour(after, 1)
    return items


def _passages_to_show(index: CourseIndex, hits: Sequence[Hit]) -> list[Passage]:
    """One or two whole passages. Prose answers; code comes with the sentence leading into it,
    and a lead-in to a list that nothing else answers with its items.
    A second passage is the next relevant one of the same section when there is one (two
    paragraphs of one section read as one answer), else the next relevant one anywhere."""
    top = hits[0]
    if top.passage.kind in {"code", "table"}:
        prose = [
            h
            for h in hits[1:]
            if h.passage.key == top.passage.key and h.passage.kind not in {"code", "table"}
        ]
        if prose:
            return _passages_to_show(index, [prose[0], *[h for h in hits if h is not prose[0]]])
        before = index.neighbour(top.passage, -1)
        if before is not None and before.kind not in {"code", "table"}:
            return [before, top.passage]
        return [top.passage]
    if top.passage.text.endswith(":"):
        # "Watch rollouts with:" leads into the code block that follows; show both. A lead-in
        # to a list is no answer by itself: the best-scoring passage after it is.
        after = index.neighbour(top.passage, 1)
        if after is not None and after.kind in {"code", "table"}:
            return [top.passage, after]
        if len(hits) > 1 and _relevant(hits[1]):
            return _passages_to_show(index, hits[1:])
        items = _list_after(index, top.passage)
        if items:
            # Nothing else answers: the lead-in with its list, never the lead-in alone ("Two
            # Service types open a path from the outside world:" and no types).
            return [top.passage, *items]
    candidates = [
        h
        for h in hits[1:]
        if _relevant(h)
        and h.passage != top.passage
        and h.passage.kind not in {"code", "table"}
        and not h.passage.text.endswith(":")
    ]
    # Another paragraph of the same section completes the answer (the section is the author's
    # unit of thought: "five minutes" sits in the paragraph after the one naming the dead
    # node); a passage from elsewhere must be nearly as likely to answer as the first.
    same = sorted(
        (h for h in candidates if h.passage.key == top.passage.key),
        key=lambda h: -max(h.sentence_cosines, default=0.0),
    )
    candidates = [
        h
        for h in candidates
        if h.passage.key == top.passage.key
        or h.cosine is None
        or h.relevance >= SECOND_SHARE * top.relevance
    ]
    shown = [top.passage]
    second = (same or candidates)[0] if same or candidates else None
    # ...unless the learner's lesson put the first passage ahead of one elsewhere that is
    # clearly likelier to answer (the dead node's "five minutes" for a learner asking from the
    # Pods lesson, whose section only says that Pods die with their node).
    elsewhere = [h for h in candidates if h.passage.key != top.passage.key]
    if (
        second is not None
        and elsewhere
        and second.cosine is not None
        and second.relevance < SECOND_SHARE * elsewhere[0].relevance
        and top.relevance < elsewhere[0].relevance
    ):
        second = elsewhere[0]
    if second is not None:
        shown.append(second.passage)
    if len(shown) == 2 and shown[0].key == shown[1].key and shown[1].position < shown[0].position:
        shown.reverse()  # two passages of one section read in the author's order
    return shown


# A question that compares two things ("the difference between readiness and liveness",
# "counter vs gauge") is answered by a passage on each: two paragraphs on one side, however
# relevant, leave half of it unanswered.
# Sides are plain words: a comparison of two commands ('CMD ["python", "app.py"] vs CMD
# python app.py') has no words to tell the sides apart.
_SIDE = r"[^?.!,;\"'\[\]`]+"
_BETWEEN_RE = re.compile(rf"\bbetween\s+(?P<a>{_SIDE}?)\s+and\s+(?P<b>{_SIDE})", re.I)
_VERSUS_RE = re.compile(
    rf"(?P<a>{_SIDE}?)\s+(?:vs\.?|versus|compared (?:to|with)|different from)\s+(?P<b>{_SIDE})",
    re.I,
)


def compared_sides(question: str) -> tuple[set[str], set[str]] | None:
    """The two things a question compares, each as the word nearest the comparison that the
    other side lacks ("cpu limit vs memory limit" compares cpu with memory, "between readiness
    and liveness probes" readiness with liveness); None for no comparison."""
    match = _BETWEEN_RE.search(question) or _VERSUS_RE.search(question)
    if match is None:
        return None
    before, after = tokens(match.group("a")), tokens(match.group("b"))
    a = [w for w in before if w not in after]
    b = [w for w in after if w not in before]
    return ({a[-1]}, {b[0]}) if a and b else None


def _names(passage: Passage, side: set[str]) -> bool:
    return bool(_roots(side) & _roots(tokens(passage.text)))


def _complete_comparison(question: str, hits: Sequence[Hit], shown: list[Passage]) -> list[Passage]:
    """When the first passage is about one side of a comparison only, the second is the
    likeliest passage about the other side (rather than about both, or the same side)."""
    sides = compared_sides(question)
    if sides is None:
        return shown
    first = shown[0]
    if first.text.endswith(":"):
        return shown  # a lead-in is shown with what it leads into, or not at all
    named = [_names(first, side) for side in sides]
    if named.count(True) != 1:
        return shown
    other, same = (sides[1], sides[0]) if named[0] else sides
    prose = [
        h.passage
        for h in hits
        if h.passage != first
        and h.passage.kind not in {"code", "table"}
        and not h.passage.text.endswith(":")
        and _names(h.passage, other)
    ]
    if not prose:
        return shown
    second = next((p for p in prose if not _names(p, same)), prose[0])
    pair = [first, second]
    if first.key == second.key and second.position < first.position:
        pair.reverse()  # two passages of one section read in the author's order
    return pair


def offline_answer(
    course: Course,
    lesson: Lesson,
    index: CourseIndex,
    question: str,
    history: Sequence[Turn] = (),
    engine: str = "embedded",
) -> TutorAnswer:
    if asks_for_written_answer(lesson, question):
        return _refused(lesson, course, engine)
    hits, query, vector = search(index, lesson, question, history)
    topic = index.outside(vector, max((h.cosine or 0.0 for h in hits), default=0.0))
    if topic is not None:
        return _decline_outside(topic, engine)
    if not _on_topic(hits):
        return _decline(course, hits, engine)
    hits = [h for h in hits if _relevant(h)]
    hits = _worked_example(index, question, hits) or _answering_first(hits, query)
    if hits[0].passage.section_id == "introduction":
        # Only a lesson's introduction is near: it previews the lesson and answers nothing.
        return _decline(course, hits, engine)
    passages = _complete_comparison(question, hits, _passages_to_show(index, hits))
    if _desktop_setup_elsewhere(index, question, passages):
        return _decline(course, hits, engine)
    highlights = _highlight(index, query, vector, passages)
    shown = tuple(
        ShownPassage(
            citation=citation_for(course, p),
            kind=p.kind,
            text=p.text,
            highlight=highlights.get(n, ""),
            lesson_title=p.lesson_title,
            other_lesson=p.lesson_number != lesson.number,
        )
        for n, p in enumerate(passages)
    )
    others = sorted({(p.lesson_number, p.lesson_title) for p in passages} - {(0, "")})
    others = [(n, t) for n, t in others if n != lesson.number]
    note = "; ".join(f"From lesson {n}, \u201c{t}\u201d." for n, t in others)
    citations = tuple(dict.fromkeys(p.citation for p in shown))
    text = "\n\n".join(p.text for p in shown)
    return TutorAnswer(text, citations, engine, outcome="answered", passages=shown, note=note)


def author_answer(
    course: Course, lesson: Lesson, index: CourseIndex, found: GoDeeperQuestion
) -> TutorAnswer:
    """The author's own answer, citing the sections it draws on (found by what it says)."""
    text = (found.answer or "").strip()
    query = f"{found.question} {text}"
    # What the answer says decides what it draws on, wherever that is: no lesson prior here.
    hits = index.search(query, k=8)
    cited: dict[str, Citation] = {}
    for hit in hits:
        if _relevant(hit) or not cited:
            cited.setdefault(hit.passage.key, citation_for(course, hit.passage))
        if len(cited) == AUTHOR_CITATIONS:
            break
    if not text:
        return offline_answer(course, lesson, index, found.question)
    return TutorAnswer(text, tuple(cited.values()), "embedded", outcome="author")


# -- the plan, the model call, the check ------------------------------------------------------


def plan(
    course: Course,
    lesson: Lesson,
    *,
    question_id: str | None = None,
    question: str | None = None,
    history: Sequence[Turn] = (),
    settings: Settings,
) -> Plan:
    """Raises `UnknownQuestion` for a question id the lesson does not have. CPU only."""
    index = index_of(course, settings)
    llm = settings.grader_engine == "llm"
    if question_id is not None:
        found = find_question(lesson, question_id)
        if found.answer:
            answer = author_answer(course, lesson, index, found)
            return Plan(found.question, answer, answer)
        question = found.question
    if not question or not question.strip():
        raise ValueError("Give a question_id or a question.")
    text = _clean(question)
    offline = offline_answer(course, lesson, index, text, history)
    if not llm or offline.outcome in {"declined", "refused"}:
        return Plan(text, offline, offline)
    hits, _query, _vector = search(index, lesson, text, history)
    hits = [h for h in hits if _relevant(h)][:PASSAGES_FOR_LLM]
    citations = [citation_for(course, h.passage) for h in hits]
    messages = tutor_messages(
        text,
        [(h.passage.section_title, h.passage.text) for h in hits],
        [(t.question, t.answer) for t in history[-3:]],
    )
    return Plan(text, None, offline, hits, messages, citations)


def generate(plan: Plan, settings: Settings) -> Iterator[str]:
    """The model's text as it arrives. Yields nothing when the plan needs no model; raises
    `LLMError` when the endpoint fails (the caller gives `plan.fallback`). No database."""
    if plan.final is not None:
        return
    with LLMClient.from_settings(settings) as client:
        yield from client.stream_text(plan.messages, purpose="tutor")


def finish(plan: Plan, text: str | None) -> TutorAnswer:
    """The answer to show: the plan's own, the fallback (``text`` None: the model failed), or
    the model's text with every sentence checked against the passages it cites."""
    if plan.final is not None:
        return plan.final
    if text is None or not text.strip():
        return plan.fallback
    from learnloop.tutor.verify import verify

    checked = verify(text, [h.passage for h in plan.hits])
    if not checked.kept:
        return plan.fallback
    citations = tuple(plan.citations[n - 1] for n in checked.cited)
    return TutorAnswer(
        checked.text,
        citations or tuple(plan.citations[:1]),
        "llm",
        outcome="answered",
        flagged=tuple(checked.dropped),
    )


def answer_question(
    course: Course,
    lesson: Lesson,
    *,
    question_id: str | None = None,
    question: str | None = None,
    history: Sequence[Turn] = (),
    settings: Settings,
) -> TutorAnswer:
    """The whole answer at once (no streaming). No database."""
    decided = plan(
        course,
        lesson,
        question_id=question_id,
        question=question,
        history=history,
        settings=settings,
    )
    if decided.final is not None:
        return decided.final
    try:
        text = "".join(generate(decided, settings))
    except LLMError as error:
        log.warning("tutor: llm failed, answering offline: %s", error)
        return decided.fallback
    return finish(decided, text)


def warm(course: Course, cache_dir: Path | None) -> None:
    """Build (or load) the course's index: called at start-up, before readiness."""
    prepare(course, cache_dir)
