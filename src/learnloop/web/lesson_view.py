"""The lesson page's view models: what the template shows for each exercise, written answer,
tutor answer and completion, built from the course model and the learner's own rows.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from jinja2 import Template
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.model import (
    AutoCheckedExercise,
    ChoiceExercise,
    ChoiceOption,
    Course,
    Exercise,
    FillBlankExercise,
    Lesson,
    RegisteredExercise,
    TrueFalseExercise,
)
from learnloop.db import Db
from learnloop.exercises import service as exercises
from learnloop.exercises.checking import AnswerError, Verdict, check
from learnloop.exercises.kinds import REGISTRY
from learnloop.feedback import reviews
from learnloop.feedback import service as feedback
from learnloop.feedback.models import AnswerReview, RegradeRequest
from learnloop.progress import service as progress
from learnloop.review import service as review
from learnloop.settings import Settings
from learnloop.web import csrf
from learnloop.web.rendering import (
    MAX_FIELD_CHARS,
    form_list,
    fragment,
    render,
    secret_of,
    settings_of,
    templates,
)

MAX_ANSWER_VALUES = 50
# The go-deeper slot for the learner's own question (pro), next to the author's question ids.
OWN_QUESTION_ID = "own"

KIND_LABELS = {
    "choice": "Multiple choice",
    "true-false": "True or false",
    "fill-blank": "Fill in the blank",
}
VERDICT_TITLES = {
    "correct": "Correct!",
    "incorrect": "Not quite.",
    "close": "Close: check your spelling.",
}
POINT_STATUS = {
    "covered": "covered",
    "partly": "partly",
    "partial": "partly",
    "partly_covered": "partly",
    "partly-covered": "partly",
    "missing": "missing",
    "not_covered": "missing",
    "contradicted": "contradicted",
}
POINT_LABELS = {
    "covered": "Covered",
    "partly": "Partly covered",
    "missing": "Missing",
    "contradicted": "Misconception",
}
BLANK_RE = re.compile(r"_{3,}")


# ---------------------------------------------------------------------------------- lesson views


@dataclass(frozen=True)
class VerdictView:
    status: str
    title: str
    feedback: list[str]
    explanation: str


@dataclass(frozen=True)
class BlankPart:
    text: str
    blank: int | None


@dataclass
class ExerciseView:
    exercise: AutoCheckedExercise
    number: int
    kind_label: str
    options: list[ChoiceOption] = field(default_factory=list)
    chosen: set[str] = field(default_factory=set)
    parts: list[BlankPart] = field(default_factory=list)
    blank_count: int = 0
    blank_values: list[str] = field(default_factory=list)
    attempts: int = 0
    solved: bool = False
    verdict: VerdictView | None = None
    kind_fields: Markup | None = None  # a registered kind's fields, from its own card template


@dataclass(frozen=True)
class PointView:
    status: str
    status_label: str
    text: str
    evidence: str
    section_url: str
    section_title: str


@dataclass(frozen=True)
class FeedbackView:
    score: int | None
    summary: str
    points: list[PointView]
    misconceptions: list[str]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseView:
    id: int
    status: str
    text: str
    word_count: int
    submitted_label: str
    status_url: str
    feedback: FeedbackView | None
    # A `failed` response: why, in words for the learner, and where its retry button posts.
    failure_reason: str = ""
    retry_url: str = ""
    # An instructor's review wins over the AI's grade (learnloop.feedback.reviews).
    reviewed: bool = False
    review_comment: str = ""
    regrade: str = ""  # "" (none asked), "open" or "resolved"
    csrf_token: str = ""  # for the retry and regrade forms; empty leaves them out

    @property
    def regrade_url(self) -> str:
        return f"/me/responses/{self.id}/regrade"


@dataclass
class WrittenView:
    locked: bool
    response: ResponseView | None
    draft: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Citation:
    url: str
    title: str


@dataclass(frozen=True)
class TutorAnswerView:
    answer: str
    citations: list[Citation]


@dataclass(frozen=True)
class CompletionView:
    xp_awarded: int
    total_xp: int
    level: int
    streak_days: int


def lesson_url(course: Course, lesson: Lesson) -> str:
    return f"/courses/{quote(course.slug)}/lessons/{lesson.number}"


def record_lesson_attempt(
    db: Db,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise: AutoCheckedExercise,
    answer: object,
    idempotency_key: str | None,
    now: Callable[[], datetime],
) -> exercises.AttemptOutcome:
    """A lesson page's attempt, as the full route and the lean path (web/attempt_path.py) both
    record it: the attempt, then what it earns (exercise XP, a review card). `now` is the
    learning clock, read after the attempt is stored. Raises `AnswerError` before any write."""
    outcome = exercises.record_attempt(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise=exercise,
        answer=answer,
        idempotency_key=idempotency_key,
    )
    review.record_learning(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise_id=exercise.id,
        correct=outcome.verdict.correct,
        first_attempt=outcome.first_attempt,
        replayed=outcome.replayed,
        idempotency_key=idempotency_key,
        now=now(),
    )
    return outcome


def attempt_json(outcome: exercises.AttemptOutcome, exercise: AutoCheckedExercise) -> JSONResponse:
    """The lesson page's JSON answer to an attempt (the same bytes from either path)."""
    view = verdict_view(outcome.verdict, exercise)
    return JSONResponse(
        {
            "verdict": outcome.verdict.verdict,
            "correct": outcome.verdict.correct,
            "feedback": outcome.verdict.feedback,
            "explanation": outcome.verdict.explanation,
            "first_attempt": outcome.first_attempt,
            "html": fragment("verdict", view),
        }
    )


def verdict_view(verdict: Verdict, exercise: Exercise) -> VerdictView:
    lines = []
    if verdict.feedback and verdict.feedback not in (
        "Correct.",
        "Not quite.",
    ):
        lines.append(verdict.feedback)
    if isinstance(exercise, FillBlankExercise) and len(exercise.blanks) > 1 and verdict.blanks:
        wrong = [str(i + 1) for i, v in enumerate(verdict.blanks) if v != "correct"]
        if wrong and verdict.verdict != "correct":
            lines.append(f"Check blank {', '.join(wrong)}.")
    if verdict.score is not None and verdict.verdict != "correct":
        lines.append(f"Partial credit: {round(verdict.score * 100)}%.")
    return VerdictView(
        verdict.verdict,
        VERDICT_TITLES.get(verdict.verdict, verdict.verdict),
        lines,
        verdict.explanation,
    )


def _shuffled(exercise: ChoiceExercise, seed: str) -> list[ChoiceOption]:
    options = list(exercise.options)
    if exercise.shuffle:
        # Not security: a stable per-learner order, so a reload does not move the options.
        random.Random(seed).shuffle(options)  # noqa: S311
    return options


def _chosen(answer: object) -> set[str]:
    if isinstance(answer, bool):
        return {"true" if answer else "false"}
    if isinstance(answer, str):
        return {answer}
    if isinstance(answer, list):
        return {item for item in answer if isinstance(item, str)}
    return set()


def option_order(exercise: ChoiceExercise, user_id: int) -> list[ChoiceOption]:
    """The options as this learner sees them (shuffled per learner when the author asks)."""
    return _shuffled(exercise, f"{user_id}:{exercise.id}")


def exercise_view(
    exercise: AutoCheckedExercise,
    number: int,
    user_id: int,
    state: exercises.ExerciseState | None,
    *,
    options: list[ChoiceOption] | None = None,
) -> ExerciseView:
    """`options`: the learner's option order when the caller has it already."""
    spec = REGISTRY.get(exercise.kind) if isinstance(exercise, RegisteredExercise) else None
    view = ExerciseView(exercise, number, spec.label if spec else KIND_LABELS[exercise.kind])
    if isinstance(exercise, ChoiceExercise):
        view.options = options if options is not None else option_order(exercise, user_id)
    if isinstance(exercise, FillBlankExercise):
        pieces = BLANK_RE.split(exercise.prompt)
        for index, text in enumerate(pieces):
            if text:
                view.parts.append(BlankPart(text, None))
            if index < len(pieces) - 1:
                view.parts.append(BlankPart("", index))
        view.blank_count = len(pieces) - 1
        view.blank_values = [""] * view.blank_count
    if spec is not None:
        fields = spec.view(exercise, state.last_answer if state is not None else None)
        view.kind_fields = Markup(_kind_card(spec.name, spec.card).render(ex=exercise, v=fields))  # noqa: S704  # an autoescaping template
    if state is not None:
        view.attempts = state.attempts
        view.solved = state.solved
        view.chosen = _chosen(state.last_answer)
        if isinstance(exercise, FillBlankExercise) and isinstance(state.last_answer, list):
            values = [str(v) for v in state.last_answer][: view.blank_count]
            view.blank_values = values + [""] * (view.blank_count - len(values))
        try:
            # Checking is pure, so re-checking the stored answer shows the same verdict again.
            view.verdict = verdict_view(check(exercise, state.last_answer), exercise)
        except AnswerError:
            view.verdict = None
    return view


@cache
def _kind_card(name: str, source: str) -> Template:
    """A registered kind's card template, compiled once (autoescaped like every template)."""
    return templates.from_string(source)


def exercise_card(view: ExerciseView, url: str, csrf_token: str) -> Markup:
    """One exercise's card, as lesson.html shows it (the same macro for both lesson paths)."""
    card: Markup = templates.get_template("_lesson_parts.html").module.exercise_card(  # type: ignore[attr-defined]  # Jinja macros are dynamic attributes
        view, url, csrf_token
    )
    return card


def _word_count(text: str) -> int:
    return len(text.split())


def _local_time(user: User, moment: datetime | None) -> str:
    if moment is None:
        return ""
    try:
        zone = ZoneInfo(user.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("submitted %d %b %Y, %H:%M")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("text", "message", "description", "claim", "summary"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return ""


def feedback_view(
    raw: object, score: int | None, course: Course, lesson: Lesson
) -> FeedbackView | None:
    """Whatever the grader stored, as something safe to render; unknown shapes are ignored."""
    if not isinstance(raw, Mapping):
        return None
    raw_score = raw.get("score", score)
    shown_score = (
        max(0, min(100, round(raw_score)))
        if isinstance(raw_score, int | float) and not isinstance(raw_score, bool)
        else None
    )
    sections = {section.id: section.title for section in lesson.sections}
    points = []
    raw_points = raw.get("points")
    for item in raw_points if isinstance(raw_points, list) else []:
        if not isinstance(item, Mapping):
            continue
        status = POINT_STATUS.get(str(item.get("status", "")).lower(), "missing")
        section_id = item.get("section_id")
        has_section = isinstance(section_id, str) and section_id in sections
        points.append(
            PointView(
                status=status,
                status_label=POINT_LABELS[status],
                text=_text(item.get("text")) or _text(item.get("point")),
                evidence=_text(item.get("evidence")),
                section_url=f"{lesson_url(course, lesson)}#{section_id}" if has_section else "",
                section_title=sections[str(section_id)] if has_section else "",
            )
        )
    raw_misconceptions = raw.get("misconceptions")
    misconceptions = [
        text
        for text in (
            _text(m) for m in (raw_misconceptions if isinstance(raw_misconceptions, list) else [])
        )
        if text
    ]
    summary = _text(raw.get("summary")) or _text(raw.get("feedback"))
    return FeedbackView(shown_score, summary, points, misconceptions)


def response_view(
    response: feedback.WrittenResponse,
    user: User,
    course: Course,
    lesson: Lesson,
    *,
    review: AnswerReview | None = None,
    regrade: RegradeRequest | None = None,
    csrf_token: str = "",
) -> ResponseView:
    shown, score = reviews.effective_feedback(response, review)
    return ResponseView(
        id=response.id,
        status=response.status if response.status in ("pending", "graded", "failed") else "pending",
        text=response.text,
        word_count=_word_count(response.text),
        submitted_label=_local_time(user, response.created_at),
        status_url=f"/me/responses/{response.id}",
        feedback=feedback_view(shown, score, course, lesson)
        if response.status == "graded"
        else None,
        failure_reason=(response.failure_reason or "") if response.status == "failed" else "",
        retry_url=f"/me/responses/{response.id}/retry" if response.status == "failed" else "",
        reviewed=review is not None,
        review_comment=review.comment if review is not None else "",
        regrade="" if regrade is None else ("open" if regrade.resolved_at is None else "resolved"),
        csrf_token=csrf_token,
    )


def _completion_view(db: Session, user: User) -> CompletionView:
    xp = progress.total_xp(db, user=user)
    return CompletionView(0, xp, progress.level_for(xp), progress.streak_days(db, user=user))


def render_lesson(
    request: Request,
    db: Session,
    user: User,
    course: Course,
    lesson: Lesson,
    *,
    status_code: int = 200,
    tutor_answers: Mapping[str, TutorAnswerView] | None = None,
    own_question: str = "",
    tutor_thread: Sequence[Any] = (),
    exercise_errors: Mapping[str, str] | None = None,
    written_errors: Mapping[str, tuple[str, str]] | None = None,
) -> Response:
    settings = settings_of(request)
    states = exercises.exercise_states(
        db, user=user, course_slug=course.slug, lesson_number=lesson.number
    )
    url = lesson_url(course, lesson)
    token = csrf.token_for(request, secret_of(request))
    exercise_cards = {}
    for number, exercise in enumerate(lesson.auto_checked, start=1):
        view = exercise_view(exercise, number, user.id, states.get(exercise.id))
        if exercise_errors and exercise.id in exercise_errors:
            view.verdict = VerdictView("incorrect", exercise_errors[exercise.id], [], "")
        exercise_cards[exercise.id] = exercise_card(view, url, token)
    written_locked = not accounts.has_feature(settings, user, "written_feedback")
    written_views = {}
    for written in lesson.written:
        # A locked exercise shows only the upgrade prompt: its responses are not looked up
        # (one query per written exercise on every page view of a free learner).
        latest = (
            None
            if written_locked
            else feedback.latest_response(
                db,
                user=user,
                course_slug=course.slug,
                lesson_number=lesson.number,
                exercise_id=written.id,
            )
        )
        view_w = WrittenView(
            written_locked,
            response_view(
                latest,
                user,
                course,
                lesson,
                review=reviews.review_for(db, latest.id),
                regrade=reviews.regrade_for(db, latest.id),
                csrf_token=token,
            )
            if latest
            else None,
        )
        if written_errors and written.id in written_errors:
            view_w.error, view_w.draft = written_errors[written.id]
        written_views[written.id] = view_w
    completed = lesson.number in progress.completed_numbers(db, user=user, course_slug=course.slug)
    return render(
        request,
        "lesson.html",
        user=user,
        nav="courses",
        status_code=status_code,
        **lesson_context(
            settings,
            course,
            lesson,
            user.plan,
            exercise_cards=exercise_cards,
            written_views=written_views,
            completed=completed,
            completion_view=_completion_view(db, user) if completed else None,
            tutor_answers=tutor_answers or {},
            own_question=own_question,
            tutor_thread=tutor_thread,
        ),
    )


def lesson_context(
    settings: Settings,
    course: Course,
    lesson: Lesson,
    plan: str,
    *,
    exercise_cards: Mapping[str, Markup],
    written_views: Mapping[str, WrittenView],
    completed: bool,
    completion_view: object,
    tutor_answers: Mapping[str, TutorAnswerView],
    own_question: str,
    tutor_thread: Sequence[Any] = (),
) -> dict[str, Any]:
    """lesson.html's context besides the page basics; the lesson hot path renders with it too."""
    return {
        "course": course,
        "lesson": lesson,
        "lesson_url": lesson_url(course, lesson),
        "exercise_cards": exercise_cards,
        "written_views": written_views,
        "go_deeper_locked": not accounts.plan_has_feature(settings, plan, "go_deeper"),
        "own_question_allowed": accounts.plan_has_feature(settings, plan, "own_question"),
        "own_question": own_question,
        "own_question_id": OWN_QUESTION_ID,
        "tutor_answers": tutor_answers,
        "tutor_thread": tutor_thread,  # tutor.service.Exchange, oldest first
        "completed": completed,
        "completion_view": completion_view,
        "next_lesson": course.next_lesson(lesson.number),
        "max_answer_chars": settings.max_answer_chars,
    }


def answer_from_form(exercise: AutoCheckedExercise, form: FormData) -> object:
    """The form's fields as the answer shape `record_attempt` takes (see docs/architecture.md)."""
    if isinstance(exercise, RegisteredExercise):

        def field(name: str) -> list[str]:
            found = form_list(form, name)
            if len(found) > MAX_ANSWER_VALUES or any(len(v) > MAX_FIELD_CHARS for v in found):
                raise AnswerError("That answer is too long.")
            return found

        return REGISTRY[exercise.kind].answer_from_form(exercise, field)
    values = form_list(form, "blank" if isinstance(exercise, FillBlankExercise) else "answer")
    if len(values) > MAX_ANSWER_VALUES or any(len(v) > MAX_FIELD_CHARS for v in values):
        raise AnswerError("That answer is too long.")
    if isinstance(exercise, ChoiceExercise):
        if not values:
            raise AnswerError("Choose an option first.")
        return values if exercise.multiple else values[0]
    if isinstance(exercise, TrueFalseExercise):
        if not values or values[0] not in ("true", "false"):
            raise AnswerError("Choose true or false first.")
        return values[0] == "true"
    if not any(value.strip() for value in values):
        raise AnswerError("Fill in the blank first.")
    return values
