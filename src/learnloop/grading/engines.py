"""Engine selection: the embedded grader by default, the LLM when configured, with fallback.

Whatever happens to the LLM endpoint (down, hanging, garbage, a refused key), a learner still
gets feedback: the embedded engine grades instead, and the fallback is counted and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from learnloop.ai.llm import LLMClient
from learnloop.content.model import Lesson, WrittenExercise
from learnloop.grading.llm_grader import LLMGrading, grade_with_llm
from learnloop.observability.metrics import (
    AI_CALL_DURATION_SECONDS,
    AI_CALLS_TOTAL,
    AI_TOKENS_TOTAL,
    GRADING_DURATION_SECONDS,
    GRADING_JOBS_TOTAL,
)
from learnloop.settings import Settings

if TYPE_CHECKING:
    from learnloop.grading.schemas import Feedback

log = logging.getLogger(__name__)


def grade_embedded(
    exercise: WrittenExercise,
    text: str,
    lesson: Lesson | None,
    reviewed: Sequence[tuple[str, tuple[tuple[str, str], ...]]] = (),
) -> Feedback:
    """``reviewed``: (answer, ((point id, status), ...)) graded by an instructor, used as
    examples next to the author's."""
    # Imported on first use: numpy and the model weights load only in processes that grade.
    from learnloop.grading import examples
    from learnloop.grading.grader import grade

    if not reviewed:
        return grade(exercise, text, lesson=lesson)
    answers = [examples.GradedAnswer(answer, statuses) for answer, statuses in reviewed]
    return grade(
        exercise, text, lesson=lesson, evidence=examples.evidence_with_reviewed(exercise, answers)
    )


def feedback_from_llm(
    exercise: WrittenExercise, grading: LLMGrading, text: str, lesson: Lesson | None
) -> Feedback:
    from learnloop.grading.grader import feedback_from_points, sections_for
    from learnloop.grading.schemas import PointFeedback

    texts = {point.id: point.text for point in exercise.rubric}
    sections = sections_for(lesson, [p.text for p in exercise.rubric])
    points = [
        PointFeedback(
            id=point.id,
            text=texts[point.id],
            status=point.status,
            evidence=point.evidence or None,
            similarity=0.0,
            section_id=section,
        )
        for point, section in zip(grading.points, sections, strict=True)
    ]
    # The paragraph is written from the clamped statuses, as for the embedded engine, so the
    # model's own prose can never praise what the clamp refused.
    return feedback_from_points(exercise, text, points, lesson, "llm")


def grade_response(
    exercise: WrittenExercise,
    text: str,
    lesson: Lesson | None,
    settings: Settings,
    reviewed: Sequence[tuple[str, tuple[tuple[str, str], ...]]] = (),
) -> tuple[Feedback, str]:
    """Feedback on one answer and the engine that produced it ("embedded" or "llm").
    ``reviewed`` are the exercise's instructor-reviewed answers (embedded engine only)."""
    if settings.grader_engine == "llm":
        started = time.monotonic()
        try:
            with LLMClient.from_settings(settings) as client:
                grading = grade_with_llm(client, exercise, text)
            feedback = feedback_from_llm(exercise, grading, text, lesson)
        except Exception as error:
            # Any failure on the LLM path (LLMError for the endpoint, or a bug in turning its
            # reply into feedback) must still end in feedback for the learner.
            GRADING_JOBS_TOTAL.labels("llm", "fallback").inc()
            log.warning(
                "llm grading failed, falling back to the embedded engine: %s",
                error,
                extra={"engine": "llm", "fallback": "embedded"},
            )
        else:
            GRADING_DURATION_SECONDS.labels("llm").observe(time.monotonic() - started)
            return feedback, "llm"
    started = time.monotonic()
    try:
        feedback = grade_embedded(exercise, text, lesson, reviewed)
    except Exception:
        AI_CALLS_TOTAL.labels("embedded", "grading", "error").inc()
        raise
    elapsed = time.monotonic() - started
    GRADING_DURATION_SECONDS.labels("embedded").observe(elapsed)
    # The same call, token and latency metrics as the LLM engine, so the two compare.
    AI_CALLS_TOTAL.labels("embedded", "grading", "ok").inc()
    AI_CALL_DURATION_SECONDS.labels("embedded", "grading").observe(elapsed)
    _count_embedded_tokens(text)
    return feedback, "embedded"


def _count_embedded_tokens(text: str) -> None:
    try:
        from learnloop.ai.embedding import get_encoder

        AI_TOKENS_TOTAL.labels("embedded", "prompt").inc(get_encoder().count_tokens(text))
    except Exception:  # a metric must never fail a grading that has succeeded
        log.debug("could not count tokens for the embedded engine", exc_info=True)
