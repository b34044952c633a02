"""Every Prometheus metric learnloop exports, defined in one place.

Names follow Prometheus conventions: base units in the name, `_total` on counters. HTTP metrics
are labelled by route template (``/courses/{slug}``), never by raw path, so cardinality stays
bounded. Health probes are not counted.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

# The *_created series double every counter and histogram and no dashboard or alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# RED metrics per route template.
HTTP_REQUESTS_TOTAL = Counter(
    "learnloop_http_requests_total",
    "HTTP requests handled, by route template, method and status class.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION_SECONDS = Histogram(
    "learnloop_http_request_duration_seconds",
    "Time to handle an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS_IN_FLIGHT = Gauge(
    "learnloop_http_requests_in_flight", "HTTP requests being handled now."
)


class PoolCollector(Collector):
    """Database pool connections by state, read from each engine's pool at scrape time.

    A gauge updated on checkout/checkin would need event hooks on every engine and drifts
    when an update is missed; asking the pool when Prometheus scrapes is exact and free
    between scrapes. Engines are held weakly so a disposed test engine drops out.
    """

    name = "learnloop_db_pool_connections"

    def __init__(self) -> None:
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def observe(self, engine: Engine) -> None:
        self._engines.add(engine)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        totals = dict.fromkeys(("checked_out", "idle", "overflow"), 0)
        for engine in list(self._engines):
            pool = engine.pool
            # Only queue pools (PostgreSQL, file SQLite) count connections; the static and
            # per-thread pools used for in-memory SQLite have nothing meaningful to report.
            if isinstance(pool, QueuePool):
                totals["checked_out"] += pool.checkedout()
                totals["idle"] += pool.checkedin()
                # overflow() is negative while the pool is below its base size.
                totals["overflow"] += max(pool.overflow(), 0)
        family = GaugeMetricFamily(
            self.name,
            "Database pool connections by state (checked_out, idle, overflow).",
            labels=["state"],
        )
        for state, value in totals.items():
            family.add_metric([state], value)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Describing without collecting keeps registration from touching any engine.
        yield GaugeMetricFamily(self.name, "Database pool connections by state.", labels=["state"])


LESSON_PAGES_TOTAL = Counter(
    "learnloop_lesson_pages_total",
    "Signed-in lesson page views, by the path that served them (hot, full).",
    ["path"],
)
LESSON_PAGES_HOT = LESSON_PAGES_TOTAL.labels("hot")
LESSON_PAGES_FULL = LESSON_PAGES_TOTAL.labels("full")

# Database connection pool.
DB_POOL_CONNECTIONS = PoolCollector()
REGISTRY.register(DB_POOL_CONNECTIONS)


def observe_pool(engine: Engine) -> None:
    """Export ``engine``'s pool in ``learnloop_db_pool_connections`` (call once per engine)."""
    DB_POOL_CONNECTIONS.observe(engine)


# Grading.
FEEDBACK_QUEUE_DEPTH = Gauge(
    "learnloop_feedback_queue_depth", "Written answers waiting to be graded."
)
GRADING_DURATION_SECONDS = Histogram(
    "learnloop_grading_duration_seconds",
    "Time to grade one written answer, by engine.",
    ["engine"],
    buckets=LATENCY_BUCKETS,
)
GRADING_JOBS_TOTAL = Counter(
    "learnloop_grading_jobs_total",
    "Grading jobs finished, by engine and outcome (graded, retried, failed).",
    ["engine", "outcome"],
)
AI_CALLS_TOTAL = Counter(
    "learnloop_ai_calls_total",
    "Calls to an AI engine, by engine, purpose and outcome.",
    ["engine", "purpose", "outcome"],
)
AI_TOKENS_TOTAL = Counter(
    "learnloop_ai_tokens_total",
    "Tokens used by AI calls, by engine and direction (prompt, completion).",
    ["engine", "direction"],
)
AI_CALL_DURATION_SECONDS = Histogram(
    "learnloop_ai_call_duration_seconds",
    "Latency of AI calls, by engine and purpose.",
    ["engine", "purpose"],
    buckets=LATENCY_BUCKETS,
)

# Business counters.
SIGNUPS_TOTAL = Counter("learnloop_signups_total", "Accounts created.")
LOGINS_TOTAL = Counter("learnloop_logins_total", "Sign-in attempts, by outcome.", ["outcome"])
PASSWORD_HASHES_REFUSED = Counter(
    "learnloop_password_hashes_refused_total",
    "Requests answered 503 because every password-hashing slot was taken.",
)
EXERCISE_ATTEMPTS_TOTAL = Counter(
    "learnloop_exercise_attempts_total",
    "Exercise attempts, by kind and verdict.",
    ["kind", "verdict"],
)
LESSONS_COMPLETED_TOTAL = Counter("learnloop_lessons_completed_total", "Lessons completed.")
XP_AWARDED_TOTAL = Counter("learnloop_xp_awarded_total", "Experience points awarded.")
FOCUS_MINUTES_TOTAL = Counter("learnloop_focus_minutes_total", "Focus minutes recorded.")
WRITTEN_ANSWERS_TOTAL = Counter("learnloop_written_answers_total", "Written answers submitted.")
REVIEWS_TOTAL = Counter(
    "learnloop_reviews_total", "Due review cards answered, by FSRS rating.", ["rating"]
)
REVIEW_ACTIONS_TOTAL = Counter(
    "learnloop_answer_review_actions_total",
    "Human grading actions on written answers (review, regrade_request).",
    ["action"],
)
CLASS_ACTIONS_TOTAL = Counter(
    "learnloop_class_actions_total",
    "Class actions (create, join, archive, remove, invite).",
    ["action"],
)
PASSWORD_RESETS_TOTAL = Counter(
    "learnloop_password_resets_total", "Password reset steps.", ["step"]
)
