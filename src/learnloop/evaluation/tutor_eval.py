"""`learnloop eval-tutor`: the offline tutor scored on a set of learner questions.

The set (`bench/tutor-eval/questions.yaml`) gives each question the lesson it is asked from,
the sections that answer it and 1-3 key facts; off-topic questions must be declined. For each
question the tutor answers twice:

- **cold**: right after a simulated restart (every in-memory index dropped, then the start-up
  preparation the server runs before it reports ready: load from disk or build);
- **warm**: after every other question has been asked.

A cold answer that differs from the warm one is a cold-start failure. The very first cold
start of a run uses an empty index folder, so it measures a first deployment's full build.

Figures:
- citation hit: an expected section is among the answer's citations (on-topic questions);
- key facts: every key fact appears in the answer's text (on-topic questions);
- declined: off-topic questions the tutor declined;
- fragments: shown passages that are not exactly one block the author wrote in the cited
  section (checked against the section's HTML, independently of the tutor's own splitter),
  prose that stops mid-thought, and highlights that are not one whole sentence of the passage;
- latency: per warm answer, wall clock, in this process.

Reported for the whole set, the dev split (where the thresholds were chosen) and the held-out
rest; and with the reranker off (fused BM25 + embedding ranks alone), to measure it.
"""

from __future__ import annotations

import html as html_module
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from learnloop.content.loader import load_course
from learnloop.content.model import Course, ProseBlock
from learnloop.settings import Settings
from learnloop.tutor import retrieval
from learnloop.tutor.answers import TutorAnswer, answer_question, warm

DEFAULT_SET = Path("bench/tutor-eval/questions.yaml")
_WORD = re.compile(r"[a-z0-9]+")
_BLOCK = re.compile(r"<(p|li|pre|td|th|blockquote)\b[^>]*>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_END = (".", "!", "?", '"', "'", ")", "\u201d")


@dataclass(frozen=True)
class Question:
    id: str
    lesson: int
    text: str
    expected: tuple[str, ...]
    facts: tuple[str, ...]
    off_topic: bool
    split: str  # "dev" or "held-out"
    batch: str = ""  # questions added later carry a batch letter and are reported on their own


@dataclass
class Outcome:
    question: Question
    answer: TutorAnswer
    seconds: float
    cold_same: bool
    fragments: list[str] = field(default_factory=list)

    @property
    def cited(self) -> set[str]:
        return {f"{c.lesson_number}#{c.section_id}" for c in self.answer.citations}

    @property
    def citation_hit(self) -> bool:
        return self.answer.outcome != "declined" and bool(self.cited & set(self.question.expected))

    @property
    def facts_hit(self) -> bool:
        if self.answer.outcome == "declined":
            return False
        return all(fact_in(fact, self.answer.answer) for fact in self.question.facts)

    @property
    def declined(self) -> bool:
        return self.answer.outcome == "declined"


def load_questions(path: Path) -> tuple[str, list[Question]]:
    data = yaml.safe_load(path.read_text())
    out = []
    for item in data["questions"]:
        out.append(
            Question(
                id=str(item["id"]),
                lesson=int(item["lesson"]),
                text=str(item["q"]),
                expected=tuple(item.get("expected", ())),
                facts=tuple(item.get("facts", ())),
                off_topic=bool(item.get("off_topic", False)),
                split="dev" if item.get("split") == "dev" else "held-out",
                batch=str(item.get("batch", "")),
            )
        )
    return str(data["course"]), out


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _same_word(fact: str, said: str) -> bool:
    # Plural and verb endings are ignored: "volume" matches "volumes", "revert" "reverting".
    if fact == said:
        return True
    short, long_ = sorted((fact, said), key=len)
    return len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 3


def fact_in(fact: str, text: str) -> bool:
    """A key fact ("a | b": either) is in ``text`` when its words appear there in order."""
    said = _words(text)
    for alternative in fact.split("|"):
        wanted = _words(alternative)
        if not wanted:
            continue
        for start in range(len(said) - len(wanted) + 1):
            if all(_same_word(w, said[start + k]) for k, w in enumerate(wanted)):
                return True
    return False


_BLOCK_TAG = re.compile(r"</?(p|li|ul|ol|br|tr|td|th|div|blockquote)\b[^>]*>")


def _fold(text: str) -> str:
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", text))  # inline tags (code, em) leave no space
    return " ".join(html_module.unescape(text).split())


def section_blocks(course: Course) -> dict[str, dict[str, str]]:
    """Every authored block of every section, folded text to its HTML, by "LESSON#SECTION"."""
    out: dict[str, dict[str, str]] = {}
    for lesson in course.lessons:
        for section in lesson.sections:
            markup = "".join(b.html for b in section.blocks if isinstance(b, ProseBlock))
            out[f"{lesson.number}#{section.id}"] = {
                _fold(m.group(2)): m.group(2).strip() for m in _BLOCK.finditer(markup)
            }
    return out


def fragments_of(answer: TutorAnswer, blocks: dict[str, dict[str, str]]) -> list[str]:
    problems: list[str] = []
    shown = answer.passages
    for n, passage in enumerate(shown):
        key = f"{passage.citation.lesson_number}#{passage.citation.section_id}"
        text = _fold(passage.text)
        markup = blocks.get(key, {}).get(text)
        if markup is None:
            problems.append(f"not one whole block of {key}: {text[:60]!r}")
        if passage.kind in {"paragraph", "quote"}:
            # A lead-in ("...with:") is whole when what it leads into follows it: the code, table
            # or list of its own section, not a passage from elsewhere.
            leads_in = (
                n + 1 < len(shown)
                and shown[n + 1].kind in {"code", "table", "item"}
                and shown[n + 1].citation == passage.citation
            )
            if not (text.endswith(_END) or (text.endswith(":") and leads_in)):
                problems.append(f"stops mid-thought: ...{text[-40:]!r}")
            if text[:1].islower() and not (markup or "").startswith("<code>"):
                problems.append(f"starts mid-sentence: {text[:40]!r}")
        if passage.highlight:
            sentence = _fold(passage.highlight)
            if sentence not in text or not sentence.endswith((*_END, ":")):
                problems.append(f"highlight is not a whole sentence: {sentence[:60]!r}")
    return problems


def _answers_equal(a: TutorAnswer, b: TutorAnswer) -> bool:
    return (a.answer, a.citations, a.outcome) == (b.answer, b.citations, b.outcome)


def run(
    course: Course, questions: Sequence[Question], settings: Settings, *, rerank: bool = True
) -> list[Outcome]:
    retrieval.RERANK = rerank
    blocks = section_blocks(course)
    cold: list[TutorAnswer] = []
    for q in questions:
        retrieval.forget_indexes()  # a restart: nothing in memory, the disk cache kept
        warm(course, settings.tutor_index_dir)
        lesson = course.lesson(q.lesson)
        assert lesson is not None, q.id
        cold.append(answer_question(course, lesson, question=q.text, settings=settings))
    outcomes = []
    for q, first in zip(questions, cold, strict=True):
        lesson = course.lesson(q.lesson)
        assert lesson is not None
        started = time.perf_counter()
        answer = answer_question(course, lesson, question=q.text, settings=settings)
        seconds = time.perf_counter() - started
        outcomes.append(
            Outcome(q, answer, seconds, _answers_equal(first, answer), fragments_of(answer, blocks))
        )
    retrieval.RERANK = True
    return outcomes


def _rate(hits: Sequence[bool]) -> str:
    return f"{sum(hits) / len(hits):.2f} ({sum(hits)}/{len(hits)})" if hits else "n/a"


def figures(outcomes: Sequence[Outcome]) -> dict[str, str]:
    on = [o for o in outcomes if not o.question.off_topic]
    off = [o for o in outcomes if o.question.off_topic]
    seconds = sorted(o.seconds for o in outcomes)
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))] if seconds else 0.0
    return {
        "questions": f"{len(outcomes)} ({len(on)} on topic, {len(off)} off topic)",
        "citation hit": _rate([o.citation_hit for o in on]),
        "key-fact rate": _rate([o.facts_hit for o in on]),
        "off-topic declined": _rate([o.declined for o in off]),
        "on-topic declined": _rate([o.declined for o in on]),
        "cold-start failures": str(sum(not o.cold_same for o in outcomes)),
        "fragments": str(sum(len(o.fragments) for o in outcomes)),
        "latency p50": f"{statistics.median(seconds) * 1000:.0f} ms" if seconds else "n/a",
        "latency p95": f"{p95 * 1000:.0f} ms",
    }


def table(columns: dict[str, dict[str, str]]) -> str:
    names = list(columns)
    rows = list(next(iter(columns.values())))
    lines = ["| figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(columns[n].get(row, "") for n in names) + " |")
    return "\n".join(lines)


def misses(outcomes: Sequence[Outcome]) -> list[str]:
    out = []
    for o in outcomes:
        q = o.question
        problems = []
        if q.off_topic and not o.declined:
            problems.append(f"answered an off-topic question from {sorted(o.cited)}")
        if not q.off_topic and not o.citation_hit:
            problems.append(f"cited {sorted(o.cited) or 'nothing'} ({o.answer.outcome})")
        elif not q.off_topic and not o.facts_hit:
            missing = [f for f in q.facts if not fact_in(f, o.answer.answer)]
            problems.append(f"missing key facts {missing}")
        if not o.cold_same:
            problems.append("cold answer differs from warm")
        problems += o.fragments
        if problems:
            where = f"{q.split}, batch {q.batch}" if q.batch else q.split
            out.append(f"- `{q.id}` ({where}): " + "; ".join(problems))
    return out


def report(
    outcomes: list[Outcome], baseline: list[Outcome], first_build: float, commit: str
) -> str:
    dev = [o for o in outcomes if o.question.split == "dev"]
    held = [o for o in outcomes if o.question.split != "dev"]
    columns = {
        "whole set": figures(outcomes),
        "dev split": figures(dev),
        "held out": figures(held),
    }
    # A later batch of held-out questions, written before the changes it measures: the one
    # column no tuning has seen.
    for batch in sorted({o.question.batch for o in held} - {""}):
        columns[f"held out, batch {batch} only"] = figures(
            [o for o in held if o.question.batch == batch]
        )
    columns["whole set, no reranker"] = figures(baseline)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Run {stamp} at {commit}, offline engine, one process on this machine. "
        f"First cold start (empty index folder, full build): {first_build:.1f} s.",
        "",
        table(columns),
        "",
        "What the tutor got wrong (whole set, with the reranker):",
        "",
        *(misses(outcomes) or ["- nothing"]),
    ]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    import subprocess

    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - a developer command
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return found.stdout.strip() or "unknown"


MARK_BEGIN = "<!-- eval-tutor:begin -->"
MARK_END = "<!-- eval-tutor:end -->"


def write_into(path: Path, text: str) -> None:
    """Replace the figures between the markers of ``path`` (appended when missing)."""
    body = path.read_text() if path.exists() else ""
    block = f"{MARK_BEGIN}\n{text}{MARK_END}"
    if MARK_BEGIN in body and MARK_END in body:
        head, rest = body.split(MARK_BEGIN, 1)
        body = head + block + rest.split(MARK_END, 1)[1]
    else:
        body = body + ("\n" if body else "") + block + "\n"
    path.write_text(body)


@click.command("eval-tutor")
@click.option(
    "--questions",
    "questions_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SET,
    show_default=True,
    help="The question set (YAML).",
)
@click.option(
    "--courses-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of course folders (default: the bundled courses).",
)
@click.option(
    "--write",
    "write_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures into this Markdown file (e.g. bench/tutor.md).",
)
@click.option(
    "--fit-reranker",
    is_flag=True,
    help="Fit the reranker's weights on the dev split and print them (needs scikit-learn).",
)
def eval_tutor(
    questions_path: Path, courses_dir: Path | None, write_path: Path | None, fit_reranker: bool
) -> None:
    """Score the offline tutor: citations, key facts, declines, cold starts, fragments, p95."""
    slug, questions = load_questions(questions_path)
    base = Settings(env="development")
    root = courses_dir or base.courses_dir
    course = load_course(root / slug)
    if fit_reranker:
        click.echo(fit(course, questions, base))
        return
    with tempfile.TemporaryDirectory(prefix="learnloop-eval-tutor-") as folder:
        settings = base.model_copy(
            update={"grader_engine": "embedded", "tutor_index_dir": Path(folder)}
        )
        retrieval.forget_indexes()
        started = time.perf_counter()
        warm(course, settings.tutor_index_dir)
        first_build = time.perf_counter() - started
        outcomes = run(course, questions, settings)
        baseline = run(course, questions, settings, rerank=False)
    text = report(outcomes, baseline, first_build, _commit())
    click.echo(text)
    if write_path is not None:
        write_into(write_path, text)
        click.echo(f"written to {write_path}")


def fit(course: Course, questions: Sequence[Question], settings: Settings) -> str:
    """Logistic regression (C=1) over the candidates of the dev questions: label 1 for a
    passage of an expected section. Held-out questions are never read."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    index = retrieval.prepare(course, settings.tutor_index_dir)
    rows, labels = [], []
    for q in questions:
        if q.split != "dev" or q.off_topic:
            continue
        for hit in index.search(q.text, lesson_number=q.lesson, k=retrieval.CANDIDATES):
            rows.append([*hit.features, float(hit.same_lesson)])
            labels.append(hit.passage.key in q.expected)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(np.array(rows), np.array(labels))
    # The decline threshold: midway between the best off-topic and the worst on-topic gate.
    gates: dict[bool, list[float]] = {True: [], False: []}
    for q in questions:
        if q.split == "dev":
            found = index.search(q.text, lesson_number=q.lesson, k=8)
            gates[q.off_topic].append(max((h.gate for h in found), default=0.0))
    weights = [round(float(w), 2) for w in model.coef_[0]]
    return (
        f"RERANKER_WEIGHTS = {tuple(weights[:-1])}\n"
        f"RERANKER_BIAS = {round(float(model.intercept_[0]), 2)}\n"
        f"SAME_LESSON_WEIGHT = {weights[-1]}\n"
        f"DECLINE_BELOW = {(max(gates[True]) + min(gates[False])) / 2:.2f} (off-topic gates up "
        f"to {max(gates[True]):.3f}, on-topic from {min(gates[False]):.3f})\n"
        f"({len(rows)} candidates of {sum(q.split == 'dev' and not q.off_topic for q in questions)}"
        " dev questions)"
    )


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures as numbers, for tests."""
    on = [o for o in outcomes if not o.question.off_topic]
    off = [o for o in outcomes if o.question.off_topic]
    return {
        "citation_hit": sum(o.citation_hit for o in on) / max(1, len(on)),
        "key_facts": sum(o.facts_hit for o in on) / max(1, len(on)),
        "declined_off_topic": sum(o.declined for o in off) / max(1, len(off)),
        "cold_start_failures": sum(not o.cold_same for o in outcomes),
        "fragments": sum(len(o.fragments) for o in outcomes),
    }
