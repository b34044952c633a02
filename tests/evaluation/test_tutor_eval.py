"""`learnloop eval-tutor`'s report: a later batch of held-out questions gets its own column."""

from __future__ import annotations

from pathlib import Path

from learnloop.evaluation.tutor_eval import Outcome, Question, load_questions, report
from learnloop.tutor.answers import Citation, TutorAnswer


def _outcome(qid: str, *, split: str, batch: str = "", hit: bool = True) -> Outcome:
    question = Question(qid, 1, "why?", ("1#a",), ("kernel",), False, split, batch)
    section = "a" if hit else "b"
    answer = TutorAnswer(
        "the host kernel", (Citation(section, "A", f"/x#{section}", 1),), "embedded"
    )
    return Outcome(question, answer, 0.01, True)


def test_a_later_batch_is_reported_in_its_own_column_and_named_in_the_misses() -> None:
    outcomes = [
        _outcome("dev-1", split="dev"),
        _outcome("old-1", split="held-out"),
        _outcome("new-1", split="held-out", batch="b", hit=False),
        _outcome("new-2", split="held-out", batch="b"),
    ]
    text = report(outcomes, outcomes, 1.0, "abc1234")
    header = next(line for line in text.splitlines() if line.startswith("| figure"))
    assert header.split(" | ")[1:] == [
        "whole set",
        "dev split",
        "held out",
        "held out, batch b only",
        "whole set, no reranker |",
    ]
    citation = next(line for line in text.splitlines() if line.startswith("| citation hit"))
    assert citation.split(" | ")[3:5] == ["0.67 (2/3)", "0.50 (1/2)"]
    assert "- `new-1` (held-out, batch b): cited ['1#b']" in text


def test_the_repository_set_marks_its_batch_as_held_out() -> None:
    _, questions = load_questions(Path("bench/tutor-eval/questions.yaml"))
    batch = [q for q in questions if q.batch == "b"]
    assert len(batch) == 40
    assert {q.split for q in batch} == {"held-out"}
    assert len({q.id for q in questions}) == len(questions)
