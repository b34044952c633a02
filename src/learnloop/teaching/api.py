"""JSON API of the instructor workspace, under /api/v1/teach, plus the learner's two calls
(join a class, request a regrade).

Access: every /teach route needs an instructor or admin (403 for a learner); a class, learner,
answer or course outside the instructor's classes is 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from learnloop.accounts.access import is_instructor
from learnloop.accounts.models import User
from learnloop.feedback import reviews
from learnloop.feedback import service as feedback
from learnloop.teaching import items as item_stats
from learnloop.teaching import progress as class_progress
from learnloop.teaching import queue as review_queue
from learnloop.teaching import service
from learnloop.teaching.models import Cohort
from learnloop.teaching.schemas import (
    ClassArchive,
    ClassCreate,
    ClassOut,
    ClassProgressOut,
    InvitationsIn,
    InvitationsOut,
    ItemOut,
    JoinedOut,
    JoinIn,
    LearnerRowOut,
    LearnerTimelineOut,
    LessonColumnOut,
    OptionOut,
    PointAgreementOut,
    PointOut,
    QueueItemOut,
    QueueOut,
    RegradeIn,
    RegradeOut,
    RemovedOut,
    ResponseReviewOut,
    ReviewEventOut,
    ReviewIn,
    TimelineEntryOut,
)
from learnloop.web.deps import ApiUser, DbSession, Library
from learnloop.web.errors import error_responses

INSTRUCTOR = {"x-access": "instructor"}
LEARNER = {"x-access": "learner"}

router = APIRouter(tags=["teaching"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _invalid(field: str, error: Exception) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the body field."""
    return HTTPException(
        422, detail=[{"loc": ["body", field], "msg": str(error), "type": "value_error"}]
    )


def _instructor(user: User) -> User:
    if not is_instructor(user):
        raise HTTPException(403, "Only instructors and admins have a teaching workspace.")
    return user


def _class(db: Any, user: User, class_id: int) -> Cohort:
    _instructor(user)
    try:
        return service.class_for(db, user, class_id)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error


def class_out(db: Any, cohort: Cohort) -> ClassOut:
    return ClassOut(
        id=cohort.id,
        name=cohort.name,
        courses=list(cohort.course_slugs or []),
        join_code=cohort.join_code,
        join_url=f"/join?code={cohort.join_code}",
        archived=cohort.archived_at is not None,
        members=len(service.member_ids(db, cohort)),
        created_at=cohort.created_at,
    )


@router.get(
    "/teach/classes",
    response_model=list[ClassOut],
    responses=error_responses(401, 403),
    openapi_extra=INSTRUCTOR,
)
def list_classes(user: ApiUser, db: DbSession) -> list[ClassOut]:
    _instructor(user)
    return [class_out(db, c) for c in service.classes_for(db, user)]


@router.post(
    "/teach/classes",
    status_code=201,
    response_model=ClassOut,
    responses=error_responses(401, 403, 413),
    openapi_extra=INSTRUCTOR,
)
def create_class(body: ClassCreate, user: ApiUser, db: DbSession, library: Library) -> ClassOut:
    _instructor(user)
    try:
        cohort = service.create_class(
            db, owner=user, name=body.name, course_slugs=body.courses, library=library
        )
    except service.ClassError as error:
        raise _invalid("courses" if "course" in str(error) else "name", error) from error
    return class_out(db, cohort)


@router.get(
    "/teach/classes/{class_id}",
    response_model=ClassProgressOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def get_class_progress(
    class_id: Id,
    user: ApiUser,
    db: DbSession,
    library: Library,
    sort: Annotated[str, Query(pattern="^(" + "|".join(class_progress.SORT_KEYS) + ")$")] = "name",
    descending: bool = False,
    attention: bool = False,
) -> ClassProgressOut:
    cohort = _class(db, user, class_id)
    table = class_progress.class_progress(db, cohort, library)
    rows = class_progress.sorted_rows(
        table.rows, sort=sort, descending=descending, attention_only=attention
    )
    return ClassProgressOut(
        class_=class_out(db, cohort),
        lessons=[
            LessonColumnOut(key=c.key, course=c.course_slug, number=c.number, title=c.title)
            for c in table.lessons
        ],
        learners=[
            LearnerRowOut(
                user_id=r.user_id,
                name=r.name,
                email=r.email,
                lessons_completed=r.lessons_completed,
                xp=r.xp,
                first_try_accuracy=r.accuracy,
                written_answers=r.written,
                mean_written_score=r.mean_score,
                focus_minutes_this_week=r.focus_minutes_week,
                last_active=r.last_active,
                needs_attention=r.attention,
                lessons={c.key: r.states.get(c.key, "not started") for c in table.lessons},
            )
            for r in rows
        ],
    )


@router.post(
    "/teach/classes/{class_id}/archive",
    response_model=ClassOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def archive_class(class_id: Id, body: ClassArchive, user: ApiUser, db: DbSession) -> ClassOut:
    cohort = _class(db, user, class_id)
    return class_out(db, service.archive_class(db, cohort=cohort, archived=body.archived))


@router.delete(
    "/teach/classes/{class_id}/members/{member_id}",
    response_model=RemovedOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def remove_member(class_id: Id, member_id: Id, user: ApiUser, db: DbSession) -> RemovedOut:
    cohort = _class(db, user, class_id)
    try:
        service.remove_member(db, cohort=cohort, user_id=member_id)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error
    return RemovedOut(class_id=cohort.id, user_id=member_id)


@router.post(
    "/teach/classes/{class_id}/invitations",
    response_model=InvitationsOut,
    responses=error_responses(401, 403, 404, 413),
    openapi_extra=INSTRUCTOR,
)
def invite(class_id: Id, body: InvitationsIn, user: ApiUser, db: DbSession) -> InvitationsOut:
    cohort = _class(db, user, class_id)
    try:
        result = service.invite(db, cohort=cohort, csv_text=body.csv)
    except service.ClassError as error:
        raise _invalid("csv", error) from error
    return InvitationsOut(
        invited=result.invited,
        already_invited=result.already,
        rejected=[f"line {n}: {reason}" for n, reason in result.rejected],
    )


@router.get(
    "/teach/classes/{class_id}/learners/{member_id}",
    response_model=LearnerTimelineOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def learner_timeline(
    class_id: Id, member_id: Id, user: ApiUser, db: DbSession
) -> LearnerTimelineOut:
    cohort = _class(db, user, class_id)
    try:
        learner, entries = class_progress.learner_timeline(db, cohort, member_id)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error
    return LearnerTimelineOut(
        user_id=learner.id,
        name=learner.name,
        entries=[
            TimelineEntryOut(
                at=e.at,
                kind=e.kind,
                course=e.course_slug,
                lesson=e.lesson_number,
                exercise_id=e.exercise_id,
                detail=e.detail,
                correct=e.correct,
                response_id=e.response_id,
                score=e.score,
                reviewed=e.reviewed,
            )
            for e in entries
        ],
    )


def queue_filter(
    lesson: int | None,
    exercise: str | None,
    status: str | None,
    confidence_below: float | None,
    course: str | None,
    disagree: str | None,
) -> review_queue.QueueFilter:
    return review_queue.QueueFilter(
        lesson=lesson,
        exercise=exercise or None,
        status=status or None,
        confidence_below=confidence_below,
        course=course or None,
        disagree=disagree or None,
    )


@router.get(
    "/teach/reviews",
    response_model=QueueOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def review_queue_api(
    user: ApiUser,
    db: DbSession,
    lesson: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    exercise: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(pattern="^(unreviewed|reviewed|regrade)$")] = None,
    confidence_below: Annotated[float | None, Query(ge=0, le=1)] = None,
    course: Annotated[str | None, Query(max_length=100)] = None,
    disagree: Annotated[str | None, Query(max_length=201)] = None,
    class_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueueOut:
    _instructor(user)
    try:
        scope = service.scope_for(db, user, class_id)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error
    page, total = review_queue.queue(
        db,
        scope,
        queue_filter(lesson, exercise, status, confidence_below, course, disagree),
        offset=offset,
        limit=limit,
    )
    return QueueOut(
        total=total,
        items=[
            QueueItemOut(
                response_id=i.response.id,
                learner=i.learner_name,
                course=i.response.course_slug,
                lesson=i.response.lesson_number,
                exercise_id=i.response.exercise_id,
                submitted_at=i.response.created_at,
                status=i.status,
                score=i.score,
                ai_score=i.response.score,
                ai_confidence=i.confidence,
            )
            for i in page
        ],
    )


@router.get(
    "/teach/reviews/agreement",
    response_model=list[PointAgreementOut],
    responses=error_responses(401, 403),
    openapi_extra=INSTRUCTOR,
)
def agreement(user: ApiUser, db: DbSession, library: Library) -> list[PointAgreementOut]:
    _instructor(user)
    rows = review_queue.agreement(db, service.scope_for(db, user), library)
    return [
        PointAgreementOut(
            course=r.course_slug,
            lesson=r.lesson_number,
            exercise_id=r.exercise_id,
            point_id=r.point_id,
            point=r.point_text,
            reviewed=r.reviewed,
            agreed=r.agreed,
            agreement=r.rate,
            disagreements_url=f"/api/v1/teach/reviews?disagree={r.disagree_key}",
        )
        for r in rows
    ]


def _detail(db: Any, user: User, response_id: int, library: Any) -> review_queue.ReviewDetail:
    _instructor(user)
    try:
        response = service.response_for_instructor(db, user, response_id)
        return review_queue.review_detail(db, response, library)
    except (service.NotFound, LookupError) as error:
        raise HTTPException(404, str(error)) from error


def detail_out(detail: review_queue.ReviewDetail) -> ResponseReviewOut:
    r = detail.response
    return ResponseReviewOut(
        response_id=r.id,
        learner=detail.learner.name,
        course=r.course_slug,
        lesson=r.lesson_number,
        exercise_id=r.exercise_id,
        prompt=detail.exercise.prompt,
        text=r.text,
        submitted_at=r.created_at,
        ai_score=r.score,
        score=detail.review.score if detail.review else r.score,
        comment=detail.review.comment if detail.review else "",
        version=detail.version,
        points=[
            PointOut(
                id=p.id,
                text=p.text,
                ai_status=p.ai_status,
                ai_evidence=p.ai_evidence,
                ai_confidence=p.ai_confidence,
                human_status=p.human_status,
            )
            for p in detail.points
        ],
        regrade_reason=detail.regrade.reason if detail.regrade else None,
        regrade_open=detail.regrade is not None and detail.regrade.resolved_at is None,
        history=[
            ReviewEventOut(
                at=e.created_at,
                actor_id=e.actor_id,
                action=e.action,
                before=e.before,
                after=e.after,
            )
            for e in detail.events
        ],
    )


@router.get(
    "/teach/responses/{response_id}",
    response_model=ResponseReviewOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def get_review(
    response_id: Id, user: ApiUser, db: DbSession, library: Library
) -> ResponseReviewOut:
    return detail_out(_detail(db, user, response_id, library))


@router.put(
    "/teach/responses/{response_id}/review",
    response_model=ResponseReviewOut,
    responses=error_responses(401, 403, 404, 409),
    openapi_extra=INSTRUCTOR,
)
def put_review(
    response_id: Id, body: ReviewIn, user: ApiUser, db: DbSession, library: Library
) -> ResponseReviewOut:
    detail = _detail(db, user, response_id, library)
    try:
        reviews.save_review(
            db,
            reviewer=user,
            response=detail.response,
            exercise=detail.exercise,
            statuses=dict(body.points),
            score=body.score,
            comment=body.comment,
            expected_version=body.version,
        )
    except reviews.ReviewConflict as error:
        raise HTTPException(409, str(error)) from error
    except (reviews.ReviewError, reviews.NotGraded) as error:
        raise _invalid("points", error) from error
    return detail_out(review_queue.review_detail(db, detail.response, library))


@router.get(
    "/teach/courses/{slug}/items",
    response_model=list[ItemOut],
    responses=error_responses(401, 403, 404),
    openapi_extra=INSTRUCTOR,
)
def items(
    slug: Annotated[str, Path(max_length=100)],
    user: ApiUser,
    db: DbSession,
    library: Library,
    class_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[ItemOut]:
    course, scope = course_scope(db, user, slug, library, class_id)
    return [item_out(i) for i in item_stats.item_analysis(db, course, scope)]


def course_scope(
    db: Any, user: User, slug: str, library: Any, class_id: int | None
) -> tuple[Any, service.Scope]:
    _instructor(user)
    course = library.get(slug)
    if course is None or not service.teaches_course(db, user, slug):
        raise HTTPException(404, f"No course {slug!r} in your classes.")
    try:
        return course, service.scope_for(db, user, class_id)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error


def item_out(i: item_stats.ItemStats) -> ItemOut:
    return ItemOut(
        lesson=i.lesson_number,
        exercise_id=i.exercise_id,
        kind=i.kind,
        attempts=i.attempts,
        learners=i.learners,
        facility=i.facility,
        discrimination=i.discrimination,
        flags=i.flags,
        options=[
            OptionOut(
                id=o.id,
                text=o.text,
                correct=o.correct,
                picked=o.picked,
                share=o.share,
                top_third_share=o.top_share,
                bottom_third_share=o.bottom_share,
            )
            for o in i.options
        ],
        wrong_answers=i.wrong_answers,
    )


# ------------------------------------------------------------------ the learner's side


@router.post(
    "/classes/join",
    response_model=JoinedOut,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def join(body: JoinIn, user: ApiUser, db: DbSession) -> JoinedOut:
    try:
        cohort = service.join_class(db, user=user, code=body.code)
    except service.NotFound as error:
        raise HTTPException(404, str(error)) from error
    return JoinedOut(class_id=cohort.id, name=cohort.name, courses=list(cohort.course_slugs))


@router.post(
    "/responses/{response_id}/regrade",
    status_code=201,
    response_model=RegradeOut,
    responses=error_responses(401, 404, 409),
    openapi_extra=LEARNER,
)
def regrade(response_id: Id, body: RegradeIn, user: ApiUser, db: DbSession) -> RegradeOut:
    response = feedback.response_for(db, user=user, response_id=response_id)
    try:
        request = reviews.request_regrade(db, user=user, response=response, reason=body.reason)
    except reviews.AlreadyRequested as error:
        raise HTTPException(409, str(error)) from error
    except (reviews.ReviewError, reviews.NotGraded) as error:
        raise _invalid("reason", error) from error
    return RegradeOut(response_id=response.id, reason=request.reason, created_at=request.created_at)
