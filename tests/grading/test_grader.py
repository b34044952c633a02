"""The embedded grader on a lesson-9-like rubric."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from learnloop.content.model import RubricPoint, WrittenExercise
from learnloop.grading.grader import Feedback, calibration, grade

from .grading_fixtures import (
    EXERCISE,
    GOOD_ANSWER,
    OFF_TOPIC_ANSWER,
    WEAK_ANSWER,
    make_lesson,
)

LESSON = make_lesson()
IMAGES_SECTION = "containers-versus-vms-immutability-and-minimal-images"


def test_good_answer_scores_high_and_cites_evidence() -> None:
    feedback = grade(EXERCISE, GOOD_ANSWER, lesson=LESSON)
    assert feedback.score >= 75, feedback
    covered = [p for p in feedback.points if p.status == "covered"]
    assert len(covered) >= 4, feedback.points
    for point in covered:
        assert point.evidence is not None
        assert point.evidence in GOOD_ANSWER
        assert 0.0 < point.similarity <= 1.0
    assert feedback.misconceptions == ()
    assert [p.id for p in feedback.points] == [p.id for p in EXERCISE.rubric]


def test_off_topic_and_weak_answers_score_low() -> None:
    off_topic = grade(EXERCISE, OFF_TOPIC_ANSWER, lesson=LESSON)
    weak = grade(EXERCISE, WEAK_ANSWER, lesson=LESSON)
    good = grade(EXERCISE, GOOD_ANSWER, lesson=LESSON)
    assert off_topic.score <= 15, off_topic
    assert weak.score <= 20, weak
    assert good.score >= off_topic.score + 50
    assert all(p.status == "missing" for p in off_topic.points)
    assert all(p.evidence is None for p in off_topic.points)


def test_partial_answer_lands_in_between_and_names_what_to_add() -> None:
    partial = (
        "Images are immutable, so they are never changed after they are built; to change "
        "anything you build a new image. The same tested image then runs in every environment."
    )
    feedback = grade(EXERCISE, partial, lesson=LESSON)
    full = grade(EXERCISE, GOOD_ANSWER, lesson=LESSON)
    assert 15 <= feedback.score < full.score, feedback
    statuses = {p.id: p.status for p in feedback.points}
    assert statuses["never-modified"] == "covered"
    assert statuses["smaller-attack-surface"] == "missing"
    # The summary names what is missing and where to re-read it.
    assert "To strengthen it, add that" in feedback.summary
    assert "that minimal base images leave out shells" in feedback.summary
    assert "re-read" in feedback.summary


def test_contradiction_is_flagged_and_earns_nothing() -> None:
    contradicting = (
        "Immutable images are changed in place after they are built; you patch the running "
        "image instead of building a new one. Minimal base images leave out shells, package "
        "managers and unused libraries, which reduces the attack surface."
    )
    feedback = grade(EXERCISE, contradicting, lesson=LESSON)
    assert feedback.misconceptions, feedback
    assert any("changed in place" in m for m in feedback.misconceptions)
    statuses = {p.id: p.status for p in feedback.points}
    assert statuses["never-modified"] == "missing"
    assert statuses["smaller-attack-surface"] == "covered"


def test_negated_statement_is_a_misconception() -> None:
    exercise = WrittenExercise(
        id="kernel",
        prompt="How do containers differ from virtual machines?",
        model_answer="Containers share the host kernel instead of emulating hardware.",
        rubric=(RubricPoint("p1", "Containers share the host's kernel."),),
    )
    right = grade(exercise, "All containers on a host share its kernel.")
    wrong = grade(exercise, "Containers do not share the host's kernel.")
    assert right.points[0].status == "covered"
    assert right.misconceptions == ()
    assert wrong.points[0].status == "missing"
    assert wrong.misconceptions
    assert wrong.score < right.score


def test_virtualising_the_hardware_contradicts_a_shared_kernel() -> None:
    exercise = WrittenExercise(
        id="lightweight-vm",
        prompt="Is a container just a lightweight VM?",
        model_answer="Containers share the host kernel, while each VM runs its own guest kernel.",
        rubric=(
            RubricPoint(
                "shared-kernel",
                "Containers share the host kernel, while each VM runs its own guest kernel.",
                2,
            ),
            RubricPoint("namespaces-cgroups", "Containers are built from namespaces and cgroups."),
        ),
    )
    feedback = grade(
        exercise,
        "Containers virtualise the hardware, just like a VM does. They are built from "
        "namespaces and cgroups.",
    )
    statuses = {p.id: p.status for p in feedback.points}
    assert statuses == {"shared-kernel": "missing", "namespaces-cgroups": "covered"}
    assert any("virtualise the hardware" in m for m in feedback.misconceptions)
    assert "says the opposite" in feedback.summary


def test_missing_points_link_to_the_section_that_teaches_them() -> None:
    feedback = grade(EXERCISE, WEAK_ANSWER, lesson=LESSON)
    by_id = {p.id: p for p in feedback.points}
    assert by_id["never-modified"].section_id == IMAGES_SECTION
    assert by_id["smaller-attack-surface"].section_id == IMAGES_SECTION
    assert {p.section_id for p in feedback.points} <= {s.id for s in LESSON.sections}
    # Without a lesson there is nothing to link to.
    assert all(p.section_id is None for p in grade(EXERCISE, WEAK_ANSWER).points)


def test_feedback_serialises_to_json() -> None:
    feedback = grade(EXERCISE, GOOD_ANSWER, lesson=LESSON)
    data = json.loads(feedback.to_json())
    assert set(data) >= {"score", "points", "misconceptions", "summary", "engine"}
    assert data["engine"] == "embedded"
    assert 0 <= data["score"] <= 100
    assert set(data["points"][0]) == {
        "id",
        "text",
        "status",
        "evidence",
        "similarity",
        "section_id",
    }
    assert Feedback.model_validate_json(feedback.to_json()) == feedback
    assert feedback.summary.endswith(".")


def test_empty_and_whitespace_answers() -> None:
    for answer in ("", "   \n\n ", "...", "\u200b\u200b"):
        feedback = grade(EXERCISE, answer)
        assert feedback.score == 0
        assert all(p.status == "missing" for p in feedback.points)


def test_grading_is_deterministic_and_order_of_sentences_does_not_matter_much() -> None:
    first = grade(EXERCISE, GOOD_ANSWER)
    assert grade(EXERCISE, GOOD_ANSWER) == first
    sentences = GOOD_ANSWER.split(". ")
    reordered = ". ".join(reversed(sentences))
    assert abs(grade(EXERCISE, reordered).score - first.score) <= 25


def test_calibration_is_plain_json_without_scikit_learn() -> None:
    cal = calibration()
    assert cal.weights.shape == (len(cal.features),)
    assert 0.0 < cal.partial_at <= cal.covered_at < 1.0
    code = textwrap.dedent(
        """
        import sys
        from grading.grading_fixtures import EXERCISE, GOOD_ANSWER
        from learnloop.grading.grader import grade
        grade(EXERCISE, GOOD_ANSWER)
        banned = {"sklearn", "scipy", "torch", "sentence_transformers"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in banned))
        """
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("limit", [50, 60])
def test_words_past_the_limit_are_not_graded(limit: int) -> None:
    exercise = WrittenExercise(
        id="limit",
        prompt=EXERCISE.prompt,
        model_answer=EXERCISE.model_answer,
        rubric=EXERCISE.rubric,
        max_words=limit,
    )
    padding = " ".join(["filler"] * 200) + ". "
    feedback = grade(exercise, padding + GOOD_ANSWER)
    assert feedback.score == 0
