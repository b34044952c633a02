"""Every Prometheus metric learnloop exports, defined in one place.

Names follow Prometheus conventions: base units in the name, `_total` on counters. HTTP metrics
are labelled by route template (``/courses/{slug}``), never by raw path, so cardinality stays
bounded. Health probes are not counted.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

# Database connection pool.
DB_POOL_CONNECTIONS = Gauge(
    "learnloop_db_pool_connections",
    "Database pool connections by state (checked_out, idle, overflow).",
    ["state"],
)

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
EXERCISE_ATTEMPTS_TOTAL = Counter(
    "learnloop_exercise_attempts_total", "Exercise attempts, by kind and verdict.", ["kind", "verdict"]
)
LESSONS_COMPLETED_TOTAL = Counter("learnloop_lessons_completed_total", "Lessons completed.")
XP_AWARDED_TOTAL = Counter("learnloop_xp_awarded_total", "Experience points awarded.")
FOCUS_MINUTES_TOTAL = Counter("learnloop_focus_minutes_total", "Focus minutes recorded.")
WRITTEN_ANSWERS_TOTAL = Counter("learnloop_written_answers_total", "Written answers submitted.")
