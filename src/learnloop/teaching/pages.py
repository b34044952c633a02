"""Server-rendered pages of the instructor workspace (/teach), and the learner's join and
regrade forms. Access rules are those of `learnloop.teaching.service`: a learner gets 403 on
/teach, and anything outside an instructor's classes is 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from learnloop.accounts.access import is_instructor
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.feedback import reviews
from learnloop.feedback import service as feedback
from learnloop.teaching import items as item_stats
from learnloop.teaching import progress as class_progress
from learnloop.teaching import queue as review_queue
from learnloop.teaching import service
from learnloop.teaching.models import Cohort
from learnloop.web.deps import DbSession, Library, PageUser
from learnloop.web.lesson_view import lesson_url
from learnloop.web.pages import CsrfProtectedRoute, PostedForm
from learnloop.web.rendering import error_page, form_list, form_text, redirect, render

router = APIRouter(route_class=CsrfProtectedRoute, include_in_schema=False)

MAX_CSV_CHARS = 200_000
CSV_HEADERS = {"cache-control": "no-store"}


def _forbidden(request: Request, user: User) -> Response:
    return error_page(
        request,
        user,
        403,
        "Instructors only",
        "This page is for instructors. Ask an admin to give your account the instructor role.",
    )


def _not_found(request: Request, user: User, what: str = "There is no such class.") -> Response:
    return error_page(request, user, 404, "Not found", what, back_url="/teach", back_label="Back")


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 9 else None


def _class_or_none(db: Session, user: User, class_id: str) -> Cohort | None:
    number = _int(class_id)
    if number is None:
        return None
    try:
        return service.class_for(db, user, number)
    except service.NotFound:
        return None


# ------------------------------------------------------------------------------ classes


def _classes_page(
    request: Request,
    db: Session,
    library: CourseLibrary,
    user: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    cohorts = service.classes_for(db, user)
    return render(
        request,
        "teach/classes.html",
        user=user,
        nav="teach",
        classes=[(c, len(service.member_ids(db, c))) for c in cohorts],
        courses=library.courses(),
        taught=sorted({s for c in cohorts for s in (c.course_slugs or [])}),
        error=error,
        status_code=status_code,
    )


@router.get("/teach")
def teach_home(request: Request, db: DbSession, library: Library, user: PageUser) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    return _classes_page(request, db, library, user)


@router.post("/teach/classes")
def teach_create_class(
    request: Request, db: DbSession, library: Library, user: PageUser, form: PostedForm
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    try:
        cohort = service.create_class(
            db,
            owner=user,
            name=form_text(form, "name", limit=service.MAX_NAME_CHARS + 1),
            course_slugs=form_list(form, "courses")[:50],
            library=library,
        )
    except service.ClassError as error:
        return _classes_page(request, db, library, user, error=str(error), status_code=400)
    return redirect(f"/teach/classes/{cohort.id}")


@router.get("/teach/classes/{class_id}")
def teach_class(
    class_id: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    if cohort is None:
        return _not_found(request, user)
    params = request.query_params
    sort = params.get("sort", "name")
    if sort not in class_progress.SORT_KEYS:
        sort = "name"
    descending = params.get("dir") == "desc"
    attention = params.get("attention") == "1"
    table = class_progress.class_progress(db, cohort, library)
    rows = class_progress.sorted_rows(
        table.rows, sort=sort, descending=descending, attention_only=attention
    )
    notice = {
        "invited": "Invitations saved. Send the join link to the invited learners.",
        "removed": "Learner removed from the class.",
        "archived": "Class archived: the join code no longer works.",
        "restored": "Class restored: the join code works again.",
    }.get(params.get("done") or "", "")
    return render(
        request,
        "teach/class.html",
        user=user,
        nav="teach",
        cohort=cohort,
        lessons=table.lessons,
        rows=rows,
        total=len(table.rows),
        sort=sort,
        descending=descending,
        attention=attention,
        invitations=service.invitations(db, cohort),
        join_url=str(request.base_url).rstrip("/") + f"/join?code={cohort.join_code}",
        notice=notice,
        error=None,
        headers={"cache-control": "no-store"},
    )


@router.get("/teach/classes/{class_id}/progress.csv")
def teach_class_csv(
    class_id: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    if cohort is None:
        return _not_found(request, user)
    table = class_progress.class_progress(db, cohort, library)
    return Response(
        class_progress.to_csv(table, class_progress.sorted_rows(table.rows)),
        media_type="text/csv; charset=utf-8",
        headers={
            **CSV_HEADERS,
            "content-disposition": f'attachment; filename="class-{cohort.id}-progress.csv"',
        },
    )


@router.post("/teach/classes/{class_id}/archive")
def teach_archive(
    class_id: str, request: Request, db: DbSession, user: PageUser, form: PostedForm
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    if cohort is None:
        return _not_found(request, user)
    archived = form_text(form, "archived") != "0"
    service.archive_class(db, cohort=cohort, archived=archived)
    return redirect(f"/teach/classes/{cohort.id}?done={'archived' if archived else 'restored'}")


@router.post("/teach/classes/{class_id}/members/{member_id}/remove")
def teach_remove_member(
    class_id: str, member_id: str, request: Request, db: DbSession, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    learner_id = _int(member_id)
    if cohort is None or learner_id is None:
        return _not_found(request, user)
    try:
        service.remove_member(db, cohort=cohort, user_id=learner_id)
    except service.NotFound:
        return _not_found(request, user, "There is no such learner in this class.")
    return redirect(f"/teach/classes/{cohort.id}?done=removed")


@router.post("/teach/classes/{class_id}/invitations")
async def teach_invite(
    class_id: str, request: Request, db: DbSession, user: PageUser, form: PostedForm
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    if cohort is None:
        return _not_found(request, user)
    upload = form.get("file")
    text = form_text(form, "emails", limit=MAX_CSV_CHARS)
    if upload is not None and not isinstance(upload, str):
        raw = await upload.read(MAX_CSV_CHARS + 1)
        try:
            text = raw.decode("utf-8-sig") + "\n" + text
        except UnicodeDecodeError:
            return error_page(
                request,
                user,
                400,
                "Could not read the file",
                "The CSV is not UTF-8 text. Save it as CSV (UTF-8) and upload it again.",
                back_url=f"/teach/classes/{cohort.id}",
                back_label="Back to the class",
            )
    try:
        result = service.invite(db, cohort=cohort, csv_text=text)
    except service.ClassError as error:
        return error_page(
            request,
            user,
            400,
            "No invitations made",
            str(error),
            back_url=f"/teach/classes/{cohort.id}",
            back_label="Back to the class",
        )
    if result.rejected:
        lines = "; ".join(f"line {n}: {reason}" for n, reason in result.rejected[:20])
        return error_page(
            request,
            user,
            400,
            f"{len(result.invited)} invited, {len(result.rejected)} lines not used",
            f"These lines are not email addresses: {lines}",
            back_url=f"/teach/classes/{cohort.id}",
            back_label="Back to the class",
        )
    return redirect(f"/teach/classes/{cohort.id}?done=invited")


@router.get("/teach/classes/{class_id}/learners/{member_id}")
def teach_learner(
    class_id: str,
    member_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    cohort = _class_or_none(db, user, class_id)
    learner_id = _int(member_id)
    if cohort is None or learner_id is None:
        return _not_found(request, user)
    try:
        learner, entries = class_progress.learner_timeline(db, cohort, learner_id)
    except service.NotFound:
        return _not_found(request, user, "There is no such learner in this class.")
    return render(
        request,
        "teach/learner.html",
        user=user,
        nav="teach",
        cohort=cohort,
        learner=learner,
        entries=entries,
        headers={"cache-control": "no-store"},
    )


# ------------------------------------------------------------------------------ reviews


def _queue_filter(request: Request) -> tuple[review_queue.QueueFilter, int | None, str]:
    params = request.query_params
    lesson = _int(params.get("lesson", ""))
    confidence = params.get("confidence", "")
    try:
        below = float(confidence) if confidence else None
    except ValueError:
        below = None
    if below is not None and not 0 <= below <= 1:
        below = None
    status = params.get("status", "")
    filters = review_queue.QueueFilter(
        lesson=lesson,
        exercise=params.get("exercise", "")[:100] or None,
        status=status if status in review_queue.QUEUE_STATUSES else None,
        confidence_below=below,
        course=params.get("course", "")[:100] or None,
        disagree=params.get("disagree", "")[:201] or None,
    )
    return filters, _int(params.get("page", "") or "1"), params.get("class", "")


@router.get("/teach/reviews")
def teach_reviews(request: Request, db: DbSession, library: Library, user: PageUser) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    filters, page, class_param = _queue_filter(request)
    class_id = _int(class_param) if class_param else None
    try:
        scope = service.scope_for(db, user, class_id)
    except service.NotFound:
        return _not_found(request, user)
    page = max(1, page or 1)
    items, total = review_queue.queue(
        db, scope, filters, offset=(page - 1) * review_queue.PAGE_SIZE
    )
    return render(
        request,
        "teach/reviews.html",
        user=user,
        nav="reviews",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // review_queue.PAGE_SIZE)),
        filters=filters,
        classes=service.classes_for(db, user),
        class_id=class_id,
        query=str(request.url.query),
        headers={"cache-control": "no-store"},
    )


@router.get("/teach/reviews/agreement")
def teach_agreement(request: Request, db: DbSession, library: Library, user: PageUser) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    rows = review_queue.agreement(db, service.scope_for(db, user), library)
    return render(
        request,
        "teach/agreement.html",
        user=user,
        nav="reviews",
        rows=rows,
        headers={"cache-control": "no-store"},
    )


def _review_page(
    request: Request,
    db: Session,
    library: CourseLibrary,
    user: User,
    response_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    number = _int(response_id)
    try:
        if number is None:
            raise service.NotFound(response_id)
        response = service.response_for_instructor(db, user, number)
        detail = review_queue.review_detail(db, response, library)
    except (service.NotFound, LookupError):
        return _not_found(request, user, "There is no such answer in your classes.")
    course = library.get(response.course_slug)
    lesson = course.lesson(response.lesson_number) if course else None
    # The next answer in the queue, for the "next" shortcut: the next older unreviewed one.
    scope = service.scope_for(db, user)
    waiting, _ = review_queue.queue(
        db, scope, review_queue.QueueFilter(status="unreviewed"), limit=200
    )
    later = [i.response.id for i in waiting if i.response.id != response.id]
    older = [i for i in later if i < response.id]
    next_id = older[0] if older else (later[0] if later else None)
    return render(
        request,
        "teach/review.html",
        user=user,
        nav="reviews",
        d=detail,
        lesson_title=lesson.title if lesson else "",
        lesson_link=lesson_url(course, lesson) if course and lesson else "",
        statuses=reviews.STATUSES,
        next_id=next_id,
        done=request.query_params.get("done") == "1",
        error=error,
        status_code=status_code,
        headers={"cache-control": "no-store"},
    )


@router.get("/teach/responses/{response_id}")
def teach_response(
    response_id: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    return _review_page(request, db, library, user, response_id)


@router.post("/teach/responses/{response_id}")
def teach_save_review(
    response_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
    form: PostedForm,
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    number = _int(response_id)
    try:
        if number is None:
            raise service.NotFound(response_id)
        response = service.response_for_instructor(db, user, number)
        detail = review_queue.review_detail(db, response, library)
    except (service.NotFound, LookupError):
        return _not_found(request, user, "There is no such answer in your classes.")
    statuses = {
        p.id: form_text(form, f"point-{p.id}", limit=20)
        for p in detail.points
        if form_text(form, f"point-{p.id}", limit=20)
    }
    raw_score = form_text(form, "score", limit=10).strip()
    version = _int(form_text(form, "version", limit=10))
    try:
        score = int(raw_score) if raw_score else None
    except ValueError:
        score = -1
    try:
        if version is None:
            raise reviews.ReviewError("The form carries no version; reload the page.")
        reviews.save_review(
            db,
            reviewer=user,
            response=response,
            exercise=detail.exercise,
            statuses=statuses,
            score=score,
            comment=form_text(form, "comment", limit=reviews.MAX_COMMENT_CHARS + 1),
            expected_version=version,
        )
    except reviews.ReviewConflict as error:
        db.rollback()
        return _review_page(
            request, db, library, user, response_id, error=str(error), status_code=409
        )
    except (reviews.ReviewError, reviews.NotGraded) as error:
        db.rollback()
        return _review_page(
            request, db, library, user, response_id, error=str(error), status_code=400
        )
    after = form_text(form, "then", limit=20)
    if after == "next":
        next_id = _int(form_text(form, "next_id", limit=12))
        if next_id is not None:
            return redirect(f"/teach/responses/{next_id}")
        return redirect("/teach/reviews")
    return redirect(f"/teach/responses/{response.id}?done=1")


# ------------------------------------------------------------------------------ items


@router.get("/teach/courses/{slug}/items")
def teach_items(
    slug: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    course = library.get(slug)
    if course is None or not service.teaches_course(db, user, slug):
        return _not_found(request, user, "None of your classes follows this course.")
    stats = item_stats.item_analysis(db, course, service.scope_for(db, user))
    return render(
        request,
        "teach/items.html",
        user=user,
        nav="teach",
        course=course,
        items=stats,
        headers={"cache-control": "no-store"},
    )


@router.get("/teach/courses/{slug}/items.csv")
def teach_items_csv(
    slug: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    if not is_instructor(user):
        return _forbidden(request, user)
    course = library.get(slug)
    if course is None or not service.teaches_course(db, user, slug):
        return _not_found(request, user, "None of your classes follows this course.")
    stats = item_stats.item_analysis(db, course, service.scope_for(db, user))
    return Response(
        item_stats.to_csv(stats),
        media_type="text/csv; charset=utf-8",
        headers={**CSV_HEADERS, "content-disposition": f'attachment; filename="{slug}-items.csv"'},
    )


# ------------------------------------------------------------------------------ learners


def _join_page(
    request: Request,
    db: Session,
    user: User,
    *,
    code: str = "",
    error: str | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "join.html",
        user=user,
        nav="classes",
        code=code,
        error=error,
        notice=notice,
        classes=service.learner_classes(db, user),
        status_code=status_code,
    )


@router.get("/join")
def join_form(request: Request, db: DbSession, user: PageUser) -> Response:
    code = request.query_params.get("code", "")[:32]
    joined = request.query_params.get("joined", "")
    return _join_page(
        request, db, user, code=code, notice="You joined the class." if joined else ""
    )


@router.post("/join")
def join(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    code = form_text(form, "code", limit=32)
    try:
        service.join_class(db, user=user, code=code)
    except service.NotFound as error:
        return _join_page(request, db, user, code=code, error=str(error), status_code=404)
    return redirect("/join?joined=1")


@router.post("/me/responses/{response_id}/regrade")
def request_regrade(
    response_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
    form: PostedForm,
) -> Response:
    number = _int(response_id)
    try:
        if number is None:
            raise feedback.NotFound(response_id)
        response = feedback.response_for(db, user=user, response_id=number)
    except feedback.NotFound:
        return error_page(request, user, 404, "Not found", "There is no such answer.")
    course = library.get(response.course_slug)
    lesson = course.lesson(response.lesson_number) if course else None
    back = (
        f"{lesson_url(course, lesson)}#ex-{response.exercise_id}"
        if course and lesson
        else "/dashboard"
    )
    try:
        reviews.request_regrade(
            db, user=user, response=response, reason=form_text(form, "reason", limit=2001)
        )
    except reviews.AlreadyRequested as error:
        return error_page(request, user, 409, "Already requested", str(error), back_url=back)
    except (reviews.ReviewError, reviews.NotGraded) as error:
        return error_page(request, user, 400, "Regrade not requested", str(error), back_url=back)
    return redirect(back)
