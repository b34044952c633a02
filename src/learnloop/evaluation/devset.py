"""The grader against a teacher: our own labelled dev set of realistic answers (`bench/grader-dev`).

Each file holds answers to one written exercise of the sample course, each with a category
(strong, partial, misconception, keywords, pasted-rubric, off-topic, vague, injection,
precise), the teacher's status for every rubric point and the teacher's score. The answers are
graded by the serving code (`learnloop.grading.grader.grade`), and compared:

- per-point agreement: the grader's status equals the teacher's (4 ways: covered, partial,
  missing, contradicted);
- contradicted points marked covered: the teacher says the learner stated the opposite;
- Spearman's rho between the grader's and the teacher's scores;
- the mean score of each category, teacher and grader;
- gamed below honest: every pasted-rubric, keyword-list and injection answer scores below
  every honest partial answer of the same exercise.

The set is disjoint from the exercises' `examples:` (which the grader uses), so the figures
measure judgement, not memory; `check_disjoint` enforces it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from learnloop.content.model import Course, Lesson, WrittenExercise
from learnloop.grading.screening import tokens

CATEGORIES = (
    "strong",
    "partial",
    "misconception",
    "keywords",
    "pasted-rubric",
    "off-topic",
    "vague",
    "injection",
    "precise",
)
GAMED = ("pasted-rubric", "keywords", "injection")
DEFAULT_DIR = Path("bench/grader-dev")


@dataclass(frozen=True)
class DevAnswer:
    id: str
    category: str
    text: str
    points: dict[str, str]
    score: int
    lesson: Lesson
    exercise: WrittenExercise


@dataclass(frozen=True)
class Graded:
    answer: DevAnswer
    statuses: Mapping[str, str]
    score: int
    feedback: Any


def load(folder: Path, course: Course) -> list[DevAnswer]:
    lessons = {lesson.number: lesson for lesson in course.lessons}
    out: list[DevAnswer] = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        lesson = lessons[int(data["lesson"])]
        (exercise,) = [e for e in lesson.written if e.id == data["exercise"]]
        ids = {p.id for p in exercise.rubric}
        for item in data["answers"]:
            if set(item["points"]) != ids:
                raise ValueError(f"{path}: {item['id']} does not label every rubric point")
            if item["category"] not in CATEGORIES:
                raise ValueError(f"{path}: {item['id']} has unknown category {item['category']}")
            out.append(
                DevAnswer(
                    item["id"],
                    item["category"],
                    item["text"],
                    dict(item["points"]),
                    int(item["score"]),
                    lesson,
                    exercise,
                )
            )
    return out


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = tokens(text)
    return {tuple(words[i : i + 6]) for i in range(max(0, len(words) - 5))}


# Share of a dev answer's six-word runs found in one example above which the two are the same
# answer reworded. Shared phrases of the lesson's own vocabulary ("the same image in every
# environment") are expected and stay well below it.
NEAR_DUPLICATE = 0.25


def check_disjoint(answers: Sequence[DevAnswer]) -> list[str]:
    """Dev answers that are near-duplicates of an example of their exercise."""
    clashes = []
    for answer in answers:
        mine = _shingles(answer.text)
        for example in answer.exercise.examples:
            shared = len(mine & _shingles(example.answer)) / max(1, len(mine))
            if mine and shared >= NEAR_DUPLICATE:
                clashes.append(f"{answer.id} ({shared:.0%} of its six-word runs)")
    return clashes


def grade_all(answers: Sequence[DevAnswer]) -> list[Graded]:
    from learnloop.grading.grader import grade

    graded = []
    for answer in answers:
        feedback = grade(answer.exercise, answer.text, lesson=answer.lesson)
        statuses = {p.id: p.status for p in feedback.points}
        graded.append(Graded(answer, statuses, feedback.score, feedback))
    return graded


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: Pearson's correlation of the ranks."""
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5 if va and vb else 0.0


@dataclass(frozen=True)
class DevFigures:
    answers: int
    exercises: int
    points: int
    agreement: float
    agreement_by_status: dict[str, tuple[int, int]]  # teacher status -> (agreed, total)
    contradicted_marked_covered: tuple[int, int]
    spearman: float
    category_means: dict[str, tuple[float, float, int]]  # teacher, grader, n
    gamed_violations: list[str]
    confusion: dict[tuple[str, str], int]  # (teacher, grader) -> count


def figures(graded: Sequence[Graded]) -> DevFigures:
    agreed = total = 0
    by_status: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    confusion: dict[tuple[str, str], int] = defaultdict(int)
    contra_covered = contra_total = 0
    for g in graded:
        for point_id, teacher in g.answer.points.items():
            mine = g.statuses[point_id]
            total += 1
            agreed += mine == teacher
            by_status[teacher][0] += mine == teacher
            by_status[teacher][1] += 1
            confusion[(teacher, mine)] += 1
            if teacher == "contradicted":
                contra_total += 1
                contra_covered += mine == "covered"
    means: dict[str, tuple[float, float, int]] = {}
    for category in CATEGORIES:
        rows = [g for g in graded if g.answer.category == category]
        if rows:
            means[category] = (
                statistics.mean(g.answer.score for g in rows),
                statistics.mean(g.score for g in rows),
                len(rows),
            )
    violations = []
    by_exercise: dict[str, list[Graded]] = defaultdict(list)
    for g in graded:
        by_exercise[g.answer.exercise.id + str(g.answer.lesson.number)].append(g)
    for rows in by_exercise.values():
        honest = [g for g in rows if g.answer.category == "partial"]
        for g in rows:
            if g.answer.category in GAMED and honest and g.score >= min(h.score for h in honest):
                lowest = min(honest, key=lambda h: h.score)
                violations.append(
                    f"{g.answer.id} ({g.score}) >= {lowest.answer.id} ({lowest.score})"
                )
    return DevFigures(
        answers=len(graded),
        exercises=len({(g.answer.lesson.number, g.answer.exercise.id) for g in graded}),
        points=total,
        agreement=agreed / total if total else 0.0,
        agreement_by_status={k: (v[0], v[1]) for k, v in by_status.items()},
        contradicted_marked_covered=(contra_covered, contra_total),
        spearman=spearman([g.answer.score for g in graded], [g.score for g in graded]),
        category_means=means,
        gamed_violations=violations,
        confusion=dict(confusion),
    )


STATUSES = ("covered", "partial", "missing", "contradicted")


def render(f: DevFigures) -> str:
    c, n = f.contradicted_marked_covered
    lines = [
        f"{f.answers} answers to {f.exercises} written exercises, {f.points} "
        "(answer, rubric point) labels by a teacher.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| per-point agreement with the teacher (4 statuses) | {f.agreement:.3f} | >= 0.85 |",
        f"| contradicted points marked covered | {c} of {n} | 0 |",
        f"| Spearman's rho, grader vs teacher scores | {f.spearman:.3f} | >= 0.8 |",
        "| pasted-rubric, keyword-list and injection answers scoring at or above an honest "
        f"partial answer of the same exercise | {len(f.gamed_violations)} | 0 |",
        "",
        "Agreement by the teacher's status:",
        "",
        "| teacher says | grader agrees | " + " | ".join(f"grader: {s}" for s in STATUSES) + " |",
        "|---|---|" + "---|" * len(STATUSES),
    ]
    for status in STATUSES:
        agreed, total = f.agreement_by_status.get(status, (0, 0))
        share = f"{agreed / total:.2f} ({agreed}/{total})" if total else "-"
        cells = " | ".join(str(f.confusion.get((status, s), 0)) for s in STATUSES)
        lines.append(f"| {status} | {share} | {cells} |")
    lines += [
        "",
        "Mean score per kind of answer:",
        "",
        "| kind of answer | n | teacher | grader |",
        "|---|---|---|---|",
    ]
    for category, (teacher, grader, count) in f.category_means.items():
        lines.append(f"| {category} | {count} | {teacher:.0f} | {grader:.0f} |")
    if f.gamed_violations:
        lines += ["", "Gamed answers not below every honest partial answer:", ""]
        lines += [f"- {v}" for v in f.gamed_violations]
    return "\n".join(lines) + "\n"
