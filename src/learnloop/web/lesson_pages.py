"""The lesson page's hot path: a signed-in learner's `GET /courses/{slug}/lessons/{number}`.

The page is almost all course content, which never changes for a given course version. So:

- the page is rendered from lesson.html once per (course content hash, lesson, plan, completed),
  with markers where the per-learner parts go, and kept as byte segments (`Skeleton`);
- per request, one lean statement checks the session cookie and reads the learner's plan, time
  zone, XP, whether the lesson is completed, the learner's attempts in this lesson and (when the
  lesson is completed) the activity days for the streak; on a raw DBAPI connection, with no ORM
  objects, no SQLAlchemy events and no thread hand-off;
- the exercise cards come from the same macro the full route uses, cached by everything they
  depend on (exercise, the learner's option order, attempts, solved, last answer), so a card is
  a pure function of its key and one learner's card can never show another learner's data;
- the CSRF token, XP, level and streak are spliced in as text.

Nothing is cached about a learner: the session is checked against the database on every
request, so a sign-out, a rotated session or a plan change shows on the next request in every
process. Whatever this path does not cover (no valid session, an unknown lesson, a learner with
written answers in the lesson, a database error, a database that is not SQLite in WAL mode or
PostgreSQL) is passed to the full FastAPI route, which answers as it always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import Engine
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from learnloop.accounts.service import plan_has_feature
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import (
    AutoCheckedExercise,
    ChoiceExercise,
    ChoiceOption,
    Course,
    Lesson,
)
from learnloop.exercises.service import ExerciseState
from learnloop.observability.metrics import LESSON_PAGES_HOT
from learnloop.progress.service import STREAK_DAYS_LIMIT, level_for, streak_from_days
from learnloop.settings import Settings
from learnloop.web import csrf
from learnloop.web.attempt_path import ATTEMPT_PATH, LeanAttempts
from learnloop.web.deps import SESSION_COOKIE, cookies_of
from learnloop.web.lesson_view import (
    WrittenView,
    exercise_card,
    exercise_view,
    lesson_context,
    lesson_url,
    option_order,
)
from learnloop.web.rendering import page_context, templates
from learnloop.web.security_headers import raw_headers as raw_security_headers

logger = logging.getLogger(__name__)

LESSON_ROUTE = "/courses/{slug}/lessons/{number}"
_LESSON_PATH = re.compile(r"/courses/([^/]+)/lessons/([^/]+)")

# Markers for the per-learner parts, random per process so course text cannot contain one.
_MARK = "ll" + secrets.token_hex(8)
_SLOT = re.compile(re.escape(_MARK) + r":(\w+):")
# Exercise cards kept per process; a card is 1-3 KB, so this bounds the cache to 20-50 MB.
CARD_CACHE_SIZE = 16384
# Option orders of shuffled exercises per (learner, exercise): a few hundred bytes each.
ORDER_CACHE_SIZE = 32768
CONNECT_TIMEOUT_SECONDS = 5
# The page cache of the hot path's SQLite connection, at most (its own; other connections keep
# SQLite's default).
PAGE_CACHE_KIB = 65536


def _mark(name: str) -> str:
    return f"{_MARK}:{name}:"


# ---------------------------------------------------------------------------------- queries

# The session check and everything the page needs of the learner, in one statement (one round
# trip on PostgreSQL). `expires_at >` and the join are the rule of accounts.user_for_session.
# The attempts column holds every attempt in the lesson, as exercises.exercise_states reads
# them, aggregated to JSON: [exercise id, answer as JSON text, correct, is_first, id].
# The last column, only for a completed lesson (whose page shows the streak), holds the
# learner's most recent activity days, as progress.streak_days reads them, up to a bound that
# is no earlier than the learner's today in any time zone (the time zone is read by this very
# statement); the days after the learner's today, two at most, are dropped in Python, so the
# limit is streak_days' plus two.
_LEARNER_SQL = """
SELECT u.id, u.plan, u.timezone,
       EXISTS (SELECT 1 FROM lesson_completions c
               WHERE c.user_id = u.id AND c.course_slug = ? AND c.lesson_number = ?),
       (SELECT COALESCE(SUM(x.amount), 0) FROM xp_events x WHERE x.user_id = u.id),
       EXISTS (SELECT 1 FROM written_responses w
               WHERE w.user_id = u.id AND w.course_slug = ? AND w.lesson_number = ?),
       (SELECT {aggregate} FROM exercise_attempts a
        WHERE a.user_id = u.id AND a.course_slug = ? AND a.lesson_number = ?),
       CASE WHEN EXISTS (SELECT 1 FROM lesson_completions c
                         WHERE c.user_id = u.id AND c.course_slug = ? AND c.lesson_number = ?)
       THEN (SELECT {days_aggregate} FROM (
               SELECT d.local_date FROM activity_days d
               WHERE d.user_id = u.id AND d.local_date <= ?
               ORDER BY d.local_date DESC LIMIT {days_limit}) recent)
       END
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ? AND s.expires_at > ?
"""
_SQLITE_ATTEMPTS = (
    "json_group_array(json_array(a.exercise_id, a.answer, a.correct, a.is_first, a.id))"
)
_POSTGRES_ATTEMPTS = (
    "json_agg(json_build_array(a.exercise_id, a.answer::text, a.correct, a.is_first, a.id))"
)
_SQLITE_DAYS = "json_group_array(recent.local_date)"
_POSTGRES_DAYS = "json_agg(recent.local_date)"
# Local dates run from UTC-12 to UTC+14: any learner's today is on or before (now + 14 h)'s
# UTC date, and at most two days before it.
_LATEST_OFFSET = timedelta(hours=14)


def _learner_sql(attempts: str, days: str) -> str:
    return _LEARNER_SQL.format(
        aggregate=attempts, days_aggregate=days, days_limit=STREAK_DAYS_LIMIT + 2
    )


def _to_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class SqliteQueries:
    """One connection of the engine's pool, used only from the event loop.

    In WAL mode a read never waits for a writer and takes microseconds, so it runs right on
    the event loop; a thread hand-off would cost far more than the query. The connection is in
    autocommit mode (learnloop.db), so each statement reads the latest committed data.
    """

    def __init__(self, engine: Engine) -> None:
        self._pooled = engine.raw_connection()
        connection = self._pooled.driver_connection
        assert connection is not None  # a freshly checked-out connection is always open
        self._connection: Any = connection
        mode = self._connection.execute("PRAGMA journal_mode").fetchone()[0]
        self.usable = str(mode).lower() == "wal"
        # Every page reads a learner's rows from a few indexes spread over the whole file;
        # SQLite's default 2 MB page cache misses often, and each miss is a read() from the OS
        # (measured: the learner statement takes 20% less time). Grows only as pages are read.
        self._pool_cache_size = self._connection.execute("PRAGMA cache_size").fetchone()[0]
        self._connection.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        self.learner_sql = _learner_sql(_SQLITE_ATTEMPTS, _SQLITE_DAYS)

    async def fetch(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._connection.execute(sql, params).fetchall()
        return rows

    def timestamp(self, moment: datetime) -> object:
        # How SQLAlchemy stores DATETIME on SQLite (learnloop.db.UTCDateTime), so the text
        # comparison in SQL orders like the times do.
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def day(self, value: date) -> object:
        return value.isoformat()

    def release(self) -> None:
        # Back to the engine's pool, with the cache size the pool's connections have.
        self._connection.execute(f"PRAGMA cache_size={int(self._pool_cache_size)}")
        self._pooled.close()

    async def close(self) -> None:
        self.release()


class PostgresQueries:
    """A few psycopg async connections in autocommit mode, awaited on the event loop (the
    round trip does not block other requests, and no thread hand-off is paid)."""

    def __init__(self, engine: Engine, size: int) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self.usable = True
        # psycopg's placeholders
        self.learner_sql = _learner_sql(_POSTGRES_ATTEMPTS, _POSTGRES_DAYS).replace("?", "%s")

    async def fetch(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        import psycopg  # only PostgreSQL deployments need the driver

        async with self._slots:
            connection = (
                self._idle.pop()
                if self._idle
                else await psycopg.AsyncConnection.connect(
                    # Bounded: an unreachable server must not hold the request for minutes.
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
            )
            try:
                cursor = await connection.execute(sql, params)
                rows: list[tuple[Any, ...]] = await cursor.fetchall()
            except BaseException:
                # A broken connection (server restart) is dropped; the next request opens one.
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            self._idle.append(connection)
            return rows

    def timestamp(self, moment: datetime) -> object:
        return moment

    def day(self, value: date) -> object:
        return value

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


def queries_for(engine: Engine, settings: Settings) -> SqliteQueries | PostgresQueries | None:
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        if engine.url.database in (None, "", ":memory:"):
            return None  # an in-memory database is private to each connection
        sqlite = SqliteQueries(engine)
        if not sqlite.usable:
            # Outside WAL a reader can wait for a writer, which must not stall the event loop.
            logger.info("lesson hot path off: SQLite is not in WAL mode")
            sqlite.release()
            return None
        return sqlite
    if backend == "postgresql":
        return PostgresQueries(engine, size=max(1, min(4, settings.db_pool_size)))
    return None


# ---------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Plan:
    """What base.html and the lesson variant read of the user: the plan."""

    plan: str


@dataclass(frozen=True)
class _CompletionSlots:
    """Stands in for a CompletionView while the skeleton is rendered."""

    xp_awarded: int
    total_xp: str
    level: str
    streak_days: str


Segment = bytes | str  # bytes: page text; str: the name of a per-learner slot


def _segments(html: str) -> list[Segment]:
    pieces = _SLOT.split(html)
    # re.split with one group alternates text and slot names: text, name, text, ...
    return [piece.encode() if index % 2 == 0 else piece for index, piece in enumerate(pieces)]


@dataclass
class LearnerLesson:
    user_id: int
    plan: str
    timezone: str
    completed: bool
    total_xp: int


class LessonPages:
    """Builds lesson pages for signed-in learners; owned by the app's lifespan."""

    def __init__(
        self, settings: Settings, library: CourseLibrary, queries: SqliteQueries | PostgresQueries
    ) -> None:
        self.settings = settings
        self.library = library
        self.queries = queries
        self._secret = settings.secret_key.get_secret_value()
        self._skeletons: dict[tuple[str, int, str, bool], list[Segment]] = {}
        self._auto_checked: dict[tuple[str, int], tuple[AutoCheckedExercise, ...]] = {}
        self._orders: dict[tuple[int, str, int, int], list[ChoiceOption]] = {}
        self._cards: OrderedDict[tuple[object, ...], list[Segment]] = OrderedDict()

    def _skeleton(
        self, course: Course, lesson: Lesson, plan: str, completed: bool
    ) -> list[Segment]:
        key = (course.content_hash, lesson.number, plan, completed)
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            settings = self.settings
            written_locked = not plan_has_feature(settings, plan, "written_feedback")
            html = templates.get_template("lesson.html").render(
                **page_context(_mark("csrf"), _Plan(plan), "courses"),
                **lesson_context(
                    settings,
                    course,
                    lesson,
                    plan,
                    exercise_cards={
                        # A marker of our own (hex and colons), not content: nothing to escape.
                        exercise.id: Markup(_mark(f"ex{index}"))  # noqa: S704
                        for index, exercise in enumerate(lesson.auto_checked)
                    },
                    # A learner with written answers here is served by the full route.
                    written_views={w.id: WrittenView(written_locked, None) for w in lesson.written},
                    completed=completed,
                    completion_view=_CompletionSlots(
                        0, _mark("xp"), _mark("level"), _mark("streak")
                    )
                    if completed
                    else None,
                    tutor_answers={},
                    own_question="",
                ),
            )
            skeleton = self._skeletons[key] = _segments(html)
        return skeleton

    def _card(
        self,
        course: Course,
        lesson: Lesson,
        index: int,
        exercise: AutoCheckedExercise,
        user_id: int,
        attempts: list[tuple[Any, ...]] | None,
    ) -> list[Segment]:
        options = self._options(course, lesson, index, exercise, user_id)
        order = tuple(option.id for option in options) if options is not None else ()
        if attempts:
            # As exercises.exercise_states: the view shows the count, solved, the last answer.
            # Counts from 2 up differ only in the number, which is a slot: one card for all.
            solved = any(row[2] for row in attempts)
            count = min(len(attempts), 2)
            key: tuple[object, ...] = (
                course.content_hash,
                lesson.number,
                index,
                order,
                count,
                solved,
                attempts[-1][1],
            )
        else:
            key = (course.content_hash, lesson.number, index, order)
        card = self._cards.get(key)
        if card is not None:
            self._cards.move_to_end(key)
            return card
        state = None
        if attempts:
            first = next((row for row in attempts if row[3]), attempts[0])
            state = ExerciseState(
                attempts=len(attempts),
                first_correct=bool(first[2]),
                solved=solved,
                last_answer=json.loads(attempts[-1][1]),
                last_verdict=None,
            )
        view = exercise_view(exercise, index + 1, user_id, state, options=options)
        if view.attempts >= 2:
            # The template only prints the count and tests it for truth and `!= 1`, which a
            # marker passes like any count from 2 up.
            view.attempts = cast(int, _mark("attempts"))
        card = _segments(str(exercise_card(view, lesson_url(course, lesson), _mark("csrf"))))
        self._cards[key] = card
        if len(self._cards) > CARD_CACHE_SIZE:
            self._cards.popitem(last=False)
        return card

    def _options(
        self,
        course: Course,
        lesson: Lesson,
        index: int,
        exercise: AutoCheckedExercise,
        user_id: int,
    ) -> list[ChoiceOption] | None:
        if not isinstance(exercise, ChoiceExercise):
            return None
        if not exercise.shuffle:
            return list(exercise.options)
        # Seeding a generator per learner and exercise is the costliest step of a card hit.
        key = (user_id, course.content_hash, lesson.number, index)
        options = self._orders.get(key)
        if options is None:
            options = self._orders[key] = option_order(exercise, user_id)
            if len(self._orders) > ORDER_CACHE_SIZE:
                del self._orders[next(iter(self._orders))]  # the oldest entry
        return options

    def _exercises(self, course: Course, lesson: Lesson) -> tuple[AutoCheckedExercise, ...]:
        # Lesson.auto_checked is computed on each access; the hot path asks several times.
        key = (course.content_hash, lesson.number)
        found = self._auto_checked.get(key)
        if found is None:
            found = self._auto_checked[key] = lesson.auto_checked
        return found

    def _streak(self, learner: LearnerLesson, now: datetime, recent_days: object) -> int:
        # As progress.streak_days: live while today or yesterday (learner's time) was active.
        today = now.astimezone(ZoneInfo(learner.timezone)).date()
        if isinstance(recent_days, str | bytes):
            recent_days = json.loads(recent_days)
        # Newest first; days after the learner's today are not counted (see _LEARNER_SQL).
        days = sorted(
            (day for day in map(_to_date, cast(list[object], recent_days or [])) if day <= today),
            reverse=True,
        )[:STREAK_DAYS_LIMIT]
        return streak_from_days(days, today)

    async def page(
        self, course: Course, lesson: Lesson, session_token: str, csrf_seed: str | None
    ) -> tuple[bytes, str | None] | None:
        """The page and the new CSRF seed to set (if any); None: let the full route answer."""
        queries = self.queries
        now = datetime.now(UTC)
        token_hash = hashlib.sha256(session_token.encode()).hexdigest()
        slug, number = course.slug, lesson.number
        rows = await queries.fetch(
            queries.learner_sql,
            (
                *(slug, number, slug, number, slug, number, slug, number),
                queries.day((now + _LATEST_OFFSET).date()),
                token_hash,
                queries.timestamp(now),
            ),
        )
        if not rows:
            return None  # no such session, or expired: the full route redirects to sign-in
        user_id, plan, timezone, completed, total_xp, has_written, attempt_rows, days = rows[0]
        learner = LearnerLesson(int(user_id), str(plan), str(timezone), bool(completed), total_xp)
        if has_written and plan_has_feature(self.settings, learner.plan, "written_feedback"):
            return None  # written answers and their feedback: the full route shows them
        if isinstance(attempt_rows, str | bytes):
            attempt_rows = json.loads(attempt_rows)
        attempts: dict[str, list[tuple[Any, ...]]] = {}
        # Oldest first per exercise, as exercises.exercise_states orders them (by id).
        for row in sorted(attempt_rows or (), key=lambda row: row[4]):
            attempts.setdefault(row[0], []).append(tuple(row))
        csrf_token, new_seed = csrf.token_for_cookies(self._secret, csrf_seed, session_token)
        values = {"csrf": csrf_token.encode()}
        if learner.completed:
            xp = int(learner.total_xp)
            values["xp"] = str(xp).encode()
            values["level"] = str(level_for(xp)).encode()
            values["streak"] = str(self._streak(learner, now, days)).encode()
        exercises = self._exercises(course, lesson)
        parts: list[bytes] = []
        for segment in self._skeleton(course, lesson, learner.plan, learner.completed):
            if isinstance(segment, bytes):
                parts.append(segment)
            elif segment.startswith("ex"):
                index = int(segment[2:])
                exercise = exercises[index]
                tried = attempts.get(exercise.id)
                card = self._card(course, lesson, index, exercise, learner.user_id, tried)
                for piece in card:
                    if isinstance(piece, bytes):
                        parts.append(piece)
                    elif piece == "attempts":
                        parts.append(str(len(tried or ())).encode())
                    else:
                        parts.append(values[piece])
            else:
                parts.append(values[segment])
        return b"".join(parts), new_seed


# ---------------------------------------------------------------------------------- ASGI


def _lesson_route(routes: Sequence[BaseRoute]) -> BaseRoute | None:
    for route in routes:
        if getattr(route, "path", None) == LESSON_ROUTE and "GET" in (
            getattr(route, "methods", None) or ()
        ):
            return route
    return None


class LessonHotPath:
    """Answers a signed-in learner's lesson page from `app.state.lesson_pages`; passes every
    other request (and anything the hot path does not cover) to the app unchanged.

    It is the outermost of the app's own middleware, inside the observability middleware and
    Starlette's error middleware, so the page gets the request id, the RED metrics under the
    lesson route's template, the access log line and tracing like any other response. The
    security headers and the body limit sit inside it, to keep their frames off the hot path:
    it adds the same security headers itself, and leaves any request that declares a body to
    the stack, where the body limit judges it (a page GET has none). Exercise attempts posted
    from the page are the exception: `LeanAttempts` applies the body limit and the input guard's
    checks itself, and hands anything they would refuse to the stack with the body replayed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: BaseRoute | None = None
        self._security_headers = raw_security_headers(https=False)
        self._security_headers_https = raw_security_headers(https=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            if scope["method"] == "GET":
                match = _LESSON_PATH.fullmatch(scope["path"])
                if match is not None and await self._serve(scope, send, *match.groups()):
                    return
            elif scope["method"] == "POST":
                # An exercise attempt from the lesson page: web/attempt_path.py.
                attempts: LeanAttempts | None = getattr(scope["app"].state, "lean_attempts", None)
                match = ATTEMPT_PATH.fullmatch(scope["path"]) if attempts is not None else None
                if attempts is not None and match is not None:
                    passed_on = await attempts.serve(scope, receive, send, match)
                    if passed_on is None:
                        return
                    receive = passed_on
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send, slug: str, number: str) -> bool:
        state = scope["app"].state
        pages: LessonPages | None = getattr(state, "lesson_pages", None)
        if pages is None:
            return False
        for name, _value in scope["headers"]:
            if name in _BODY_HEADERS:
                return False  # BodyLimitMiddleware's to judge, in front of the full route
        cookies = cookies_of(scope["headers"])
        session_token = cookies.get(SESSION_COOKIE)
        if not session_token or not (number.isascii() and number.isdigit()) or len(number) > 6:
            return False
        course = pages.library.get(slug)
        lesson = course.lesson(int(number)) if course is not None else None
        if course is None or lesson is None:
            return False
        try:
            built = await pages.page(course, lesson, session_token, cookies.get(csrf.CSRF_COOKIE))
        except Exception:
            # The full route answers instead (a 503 when the database is down, say).
            logger.warning("lesson hot path failed; the full route answers", exc_info=True)
            return False
        if built is None:
            return False
        body, new_seed = built
        if self._route is None:
            self._route = _lesson_route(scope["app"].router.routes)
        # The metrics and the access log name the route by its template, as for FastAPI routes.
        scope["route"] = self._route
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"text/html; charset=utf-8"),
        ]
        if new_seed is not None:
            secure = pages.settings.cookie_secure
            if secure is None:
                secure = scope.get("scheme") == "https"
            headers.append(csrf.seed_cookie_header(new_seed, secure=secure))
        # Pages carry per-learner data and a CSRF token: never store them in shared caches.
        headers.append(_NO_STORE)
        # In the order SecurityHeadersMiddleware appends them, so the bytes match the full route.
        headers += (
            self._security_headers_https
            if scope.get("scheme") == "https"
            else self._security_headers
        )
        LESSON_PAGES_HOT.inc()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True


_NO_STORE = (b"cache-control", b"no-store")
# A request that declares a body; the lesson page reads none.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
