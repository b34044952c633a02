"""One typed settings object, read from LEARNLOOP_* environment variables and secret files.

Every secret can also come from a file named by ``LEARNLOOP_<NAME>_FILE`` (how Kubernetes
mounts Secrets). Outside development mode the app refuses to start with a placeholder secret.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - refused outside development

# Secrets that may be given as a file path instead of a value.
SECRET_FIELDS = ("secret_key", "llm_api_key", "database_url", "smtp_password")

PACKAGE_DIR = Path(__file__).resolve().parent


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given without one (as hosts print them)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _default_courses_dir() -> Path:
    # In a source checkout the bundled courses sit at the repo root; images copy them to /app.
    for candidate in (PACKAGE_DIR.parents[1] / "courses", Path.cwd() / "courses"):
        if candidate.is_dir():
            return candidate
    return Path.cwd() / "courses"


def _default_tutor_index_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "learnloop" / "tutor-index"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEARNLOOP_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    # SQLite (the default, a file next to where the server starts) or PostgreSQL; a plain
    # ``postgresql://`` URL is rewritten to the psycopg 3 driver.
    database_url: str = "sqlite:///./learnloop.db"
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # How long a request waits for a pooled connection before it answers 503 (kept well under
    # the ingress's and clients' timeouts; SQLAlchemy's own default is 30 s).
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    courses_dir: Path = Field(default_factory=_default_courses_dir)
    # Reload a course when its files change (development convenience).
    reload_courses: bool = False

    # Grading and tutoring.
    grader_engine: Literal["embedded", "llm"] = "embedded"
    # Run the feedback worker inside the web process (single-machine mode).
    inline_worker: bool = True
    # The feedback worker's queue handling (docs/feedback.md). The lease must outlast the
    # slowest grading: the LLM's whole deadline plus the embedded fallback.
    worker_lease_seconds: float = Field(default=180.0, gt=0)
    worker_poll_seconds: float | None = Field(default=None, gt=0)  # None: 1 s, inline 0.5 s
    worker_max_attempts: int = Field(default=5, ge=1)
    worker_backoff_base_seconds: float = Field(default=5.0, ge=0)
    worker_backoff_max_seconds: float = Field(default=300.0, ge=0)
    worker_metrics_port: int = 9101  # `learnloop worker` serves /metrics here; -1: off
    # The interface of that server (the chart sets 0.0.0.0, for Prometheus on the pod network).
    worker_metrics_host: str = "127.0.0.1"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = 20.0
    llm_max_retries: int = 2
    # Where the tutor keeps each course's embedded passages, keyed by content hash, so a
    # restart loads them instead of embedding the course again (unwritable: rebuilt each start).
    tutor_index_dir: Path | None = Field(default_factory=_default_tutor_index_dir)
    # AI calls (grading, tutor) per learner per day, counted in the learner's time zone.
    ai_daily_quota: int = Field(default=50, ge=0)
    # Model calls a web process runs at once (learnloop.web.ai_calls); a request waits at most
    # ai_queue_timeout_seconds for one, then answers 503 with Retry-After.
    ai_max_concurrent_calls: int = Field(default=32, ge=1)
    ai_queue_timeout_seconds: float = Field(default=5.0, gt=0)

    # Plans: which features need which plan. A feature missing here is open to everyone.
    pro_features: tuple[str, ...] = ("written_feedback", "go_deeper", "own_question")

    # Sessions and security.
    session_days: int = 14
    cookie_secure: bool | None = None  # None: Secure when the request came over https
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (comma-separated
    # addresses or CIDRs; "*" believes anyone). They give the client address that sign-in
    # throttling keys on, and https (Secure cookies, HSTS). Behind an ingress controller, its
    # pods' range (the Helm chart sets web.trustedProxies).
    trusted_proxies: str = "127.0.0.1"
    # Failed sign-ins per (account, client address) in 15 minutes before each further try
    # waits, twice as long after each failure (login_backoff_seconds, 2x, 4x ... up to 15 min).
    login_attempts_per_15_minutes: int = 10
    login_backoff_seconds: int = Field(default=60, ge=1)
    # Failed sign-ins from one client address across all accounts in 15 minutes.
    login_failures_per_client_per_15_minutes: int = Field(default=100, ge=1)
    # Password hashes (argon2, ~30 ms of a core each) running at once; more answer 503.
    # None: the number of CPUs.
    max_concurrent_password_hashes: int | None = Field(default=None, ge=1)
    max_body_bytes: int = 256 * 1024
    max_answer_chars: int = 5000

    # Account e-mail (password reset). Without smtp_host, `learnloop users reset-link EMAIL`
    # prints a link for an admin to pass on.
    public_url: str = "http://127.0.0.1:8000"  # where links in e-mails point
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "learnloop <noreply@localhost>"
    api_token_days: int = Field(default=90, ge=1)

    # The upgrade page: what pro costs and where to get a code (the operator's shop or form).
    pro_price_text: str = "Ask your school or team for a code."
    pro_link: str | None = None

    # Spaced review: cards served per session.
    review_session_size: int = Field(default=10, ge=1, le=100)
    # Tests and demos only: a file holding a number of seconds added to the learning clock
    # (reviews, completions, focus time, streaks). Refused in production.
    clock_file: Path | None = None

    # Progress: focus minutes counted per learner per local day, so a script cannot farm them.
    focus_minutes_per_day_cap: int = Field(default=8 * 60, ge=1)

    # Serve signed-in learners' lesson pages through the lean path (learnloop.web.lesson_pages);
    # false sends them through the full FastAPI route, which renders the same page.
    lesson_hot_path: bool = True
    # Record exercise attempts posted from the lesson page (JSON wanted) through the lean path
    # (learnloop.web.attempt_path); false sends them through the full FastAPI route.
    attempt_hot_path: bool = True

    # The web process serves /metrics (and /livez, /readyz) on this port of its own, never on
    # the app's port; -1: off. The chart sets the host to 0.0.0.0 for Prometheus.
    metrics_port: int = Field(default=9100, ge=-1, le=65535)
    metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    # JSON lines for log collectors; None: JSON unless standard output is a terminal, where a
    # person reads one plain line per request (the image and the chart set true).
    log_json: bool | None = None
    shutdown_grace_seconds: float = 20.0

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in SECRET_FIELDS:
            path = os.environ.get(f"LEARNLOOP_{name.upper()}_FILE")
            if path and name not in data:
                try:
                    data[name] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as error:
                    raise ValueError(
                        f"LEARNLOOP_{name.upper()}_FILE={path} cannot be read: {error}"
                    ) from error
        return data

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as error:
                raise ValueError(
                    f"LEARNLOOP_TRUSTED_PROXIES: {entry!r} is not an address or CIDR range"
                ) from error
        return ",".join(entries)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env == "production" and self.secret_key.get_secret_value() == PLACEHOLDER_SECRET:
            raise ValueError(
                "LEARNLOOP_SECRET_KEY (or LEARNLOOP_SECRET_KEY_FILE) must be set in production"
            )
        if self.env == "production" and self.clock_file is not None:
            raise ValueError("LEARNLOOP_CLOCK_FILE is for tests and demos, not production")
        if self.grader_engine == "llm" and not (self.llm_base_url and self.llm_model):
            raise ValueError(
                "LEARNLOOP_GRADER_ENGINE=llm needs LEARNLOOP_LLM_BASE_URL and LEARNLOOP_LLM_MODEL"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def now(self) -> datetime:
        """The learning clock: UTC now, moved by `clock_file` in tests and demos."""
        now = datetime.now(UTC)
        if self.clock_file is None:
            return now
        try:
            seconds = float(self.clock_file.read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            seconds = 0.0
        return now + timedelta(seconds=seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
