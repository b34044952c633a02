"""The feedback worker: takes grading jobs from the database and grades them.

Two ways to run it, same loop:
- ``learnloop worker``: a separate process (``run_worker_process``), scaled by replicas; it
  serves /metrics, /livez and /readyz on ``LEARNLOOP_WORKER_METRICS_PORT`` (default 9101).
- inside the web server (``start_inline_worker``), for single-machine installs.

Each job runs in the trace of the request that stored the answer (``job_span`` with the
carrier saved on the job), with that request's id bound for log lines.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from learnloop.content.loader import CourseLibrary
from learnloop.content.model import WrittenExercise
from learnloop.feedback.models import WrittenResponse
from learnloop.feedback.queue import (
    ClaimedJob,
    claim_job,
    complete_job,
    fail_or_retry,
    queue_depth,
    release_job,
    write_engine,
)
from learnloop.feedback.reviews import reviewed_examples
from learnloop.grading.engines import grade_response
from learnloop.observability.metrics import FEEDBACK_QUEUE_DEPTH, GRADING_JOBS_TOTAL
from learnloop.observability.tracing import job_span
from learnloop.settings import Settings

log = logging.getLogger(__name__)


# How often an idle worker refreshes the queue-depth gauge (a COUNT over the queue).
DEPTH_EVERY_SECONDS = 5.0
# While the engine check fails, it is repeated this often (an LLM may come back).
ENGINE_RECHECK_SECONDS = 30.0
# What the embedded engine loads; it is also the LLM engine's fallback.
MODEL_FILES = ("model.safetensors", "config.json", "tokenizer.json")
GRADING_WEIGHTS = ("entailment.safetensors", "point_model.json")

# What the learner reads on a response that ends `failed`.
REASON_UNAVAILABLE = (
    "The grader is not available on the server right now. Your answer is saved; try again later."
)
REASON_EXERCISE_GONE = (
    "This exercise changed after you answered, so your answer cannot be graded. Submit it again."
)
REASON_GAVE_UP = "The grader could not grade this answer after several tries."


@dataclass(frozen=True)
class EngineProblem:
    """Why the configured grading engine cannot work; `fatal`: nothing can be graded."""

    message: str
    fatal: bool


def check_engine(settings: Settings, *, timeout: float = 5.0) -> EngineProblem | None:
    """None when the configured engine can grade: its model files are present and, for the
    LLM engine, the endpoint answers (any HTTP status: reachable is what is checked)."""
    from importlib import resources

    from learnloop.ai.embedding import model_dir

    try:
        folder = model_dir()
    except RuntimeError as error:
        return EngineProblem(f"grading engine not ready: {error}", fatal=True)
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    weights = resources.files("learnloop.grading")
    missing += [name for name in GRADING_WEIGHTS if not weights.joinpath(name).is_file()]
    if missing:
        return EngineProblem(
            f"grading engine not ready: model files missing: {', '.join(missing)} "
            f"(looked in {folder} and learnloop/grading)",
            fatal=True,
        )
    if settings.grader_engine == "llm" and settings.llm_base_url:
        import httpx

        url = settings.llm_base_url.rstrip("/") + "/models"
        try:
            httpx.get(url, timeout=timeout)
        except httpx.HTTPError as error:
            return EngineProblem(
                f"grading engine not ready: the LLM at {settings.llm_base_url} is unreachable "
                f"({type(error).__name__}); answers are graded by the embedded engine meanwhile",
                fatal=False,
            )
    return None


class ExerciseGoneError(LookupError):
    """The answer's exercise is no longer in the course."""


class EngineUnavailableError(RuntimeError):
    """The grading engine cannot load (see `check_engine`)."""


class WorkerInterrupted(BaseException):
    """Raised in the main thread when shutdown cannot wait for the current job any longer.

    A BaseException so that no ``except Exception`` on the grading path swallows it.
    """


@dataclass
class WorkerConfig:
    # A claimed job is presumed abandoned (its worker died) once this has passed.
    lease_seconds: float = 180.0
    poll_seconds: float = 1.0
    max_attempts: int = 5
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )

    @classmethod
    def from_settings(cls, settings: Settings, *, inline: bool = False) -> WorkerConfig:
        """From the ``LEARNLOOP_WORKER_*`` settings; inline, the queue is polled more often
        by default, because in one process the learner is waiting on the page."""
        poll = settings.worker_poll_seconds or (0.5 if inline else 1.0)
        return cls(
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=poll,
            max_attempts=settings.worker_max_attempts,
            backoff_base_seconds=settings.worker_backoff_base_seconds,
            backoff_max_seconds=settings.worker_backoff_max_seconds,
        )


class Worker:
    def __init__(
        self,
        engine: Engine,
        library: CourseLibrary,
        settings: Settings,
        config: WorkerConfig | None = None,
    ) -> None:
        self.engine = engine
        self.library = library
        self.settings = settings
        self.config = config or WorkerConfig()
        self.current: ClaimedJob | None = None
        self.graded = 0
        # Set by `check`; the worker process's /readyz is 503 while it is.
        self.engine_problem: EngineProblem | None = None
        self._checked_at: float | None = None

    def check(self) -> EngineProblem | None:
        """Check the engine (at start, then every ENGINE_RECHECK_SECONDS while it fails); a
        failure is logged as one line, once, and again only when it changes."""
        now = time.monotonic()
        if self._checked_at is not None and (
            self.engine_problem is None or now - self._checked_at < ENGINE_RECHECK_SECONDS
        ):
            return self.engine_problem
        self._checked_at = now
        problem = check_engine(self.settings)
        if problem != self.engine_problem:
            if problem is not None:
                log.error(problem.message)
            elif self.engine_problem is not None:
                log.info("grading engine ready")
        self.engine_problem = problem
        return problem

    def update_queue_depth(self) -> None:
        try:
            FEEDBACK_QUEUE_DEPTH.set(queue_depth(self.engine))
        except Exception:  # a metric must never stop grading
            log.exception("could not read the queue depth")

    def run_once(self) -> bool:
        """Claim and process one job; False when there was nothing to do."""
        job = claim_job(
            self.engine, worker_id=self.config.worker_id, lease_seconds=self.config.lease_seconds
        )
        if job is None:
            return False
        self.current = job
        try:
            self._process(job)
        except WorkerInterrupted:
            released = release_job(self.engine, job)
            log.warning(
                "grading job %s %s on shutdown",
                job.id,
                "released" if released else "was no longer ours",
                extra={"job_id": job.id, "response_id": job.response_id},
            )
            raise
        finally:
            self.current = None
        return True

    def _process(self, job: ClaimedJob) -> None:
        carrier = {str(k): str(v) for k, v in (job.trace_context or {}).items()}
        with job_span(
            "grade written answer",
            carrier,
            **{"learnloop.job_id": job.id, "learnloop.attempt": job.attempt},
        ):
            engine_used: str = self.settings.grader_engine
            try:
                with Session(self.engine) as session:
                    response = session.scalar(
                        select(WrittenResponse).where(WrittenResponse.id == job.response_id)
                    )
                    if response is None:
                        raise LookupError(f"response {job.response_id} is gone")
                    text, status = response.text, response.status
                    where = (response.course_slug, response.lesson_number, response.exercise_id)
                    # Teacher corrections teach the grader: the exercise's reviewed answers
                    # are examples next to the author's.
                    reviewed = reviewed_examples(
                        session,
                        course_slug=where[0],
                        lesson_number=where[1],
                        exercise_id=where[2],
                    )
                if status != "pending":
                    # Graded already (a re-run after a crash that happened after the commit).
                    self._finish(job, None, engine_used)
                    return
                course = self.library.get(where[0])
                lesson = course.lesson(where[1]) if course else None
                exercise = lesson.exercise(where[2]) if lesson else None
                if lesson is None or not isinstance(exercise, WrittenExercise):
                    gone = "/".join(map(str, where))
                    raise ExerciseGoneError(f"exercise {gone} no longer exists")
                problem = self.check()
                if problem is not None and problem.fatal:
                    # Logged once by `check`, in full; here only as the job's error.
                    raise EngineUnavailableError("the grading engine cannot load")
                feedback, engine_used = grade_response(
                    exercise, text, lesson, self.settings, reviewed
                )
                self._finish(job, feedback.model_dump(mode="json"), engine_used)
            except Exception as error:
                # Retried even when this worker cannot grade (its engine, its copy of the
                # course): another worker, or this one after a fix, may. The reason is for the
                # learner, once the attempts are spent.
                reason = (
                    REASON_EXERCISE_GONE
                    if isinstance(error, ExerciseGoneError)
                    else REASON_UNAVAILABLE
                    if isinstance(error, EngineUnavailableError)
                    else REASON_GAVE_UP
                )
                outcome = fail_or_retry(
                    self.engine,
                    job,
                    f"{type(error).__name__}: {error}",
                    max_attempts=self.config.max_attempts,
                    backoff_base_seconds=self.config.backoff_base_seconds,
                    backoff_max_seconds=self.config.backoff_max_seconds,
                    reason=reason,
                )
                GRADING_JOBS_TOTAL.labels(engine_used, outcome).inc()
                log.warning(
                    "grading job %s attempt %d: %s (%s)",
                    job.id,
                    job.attempt,
                    outcome,
                    error,
                    exc_info=outcome == "failed" and reason == REASON_GAVE_UP,
                    extra={"job_id": job.id, "response_id": job.response_id},
                )

    def _finish(self, job: ClaimedJob, feedback: dict[str, Any] | None, engine_used: str) -> None:
        with Session(write_engine(self.engine)) as session, session.begin():
            if feedback is None:
                outcome = complete_job(session, job, score=0, feedback={})
            else:
                outcome = complete_job(
                    session, job, score=int(feedback["score"]), feedback=feedback
                )
            if outcome == "lost":
                # Our lease expired and another worker holds the job now: write nothing.
                session.rollback()
        if outcome == "graded":
            self.graded += 1
        GRADING_JOBS_TOTAL.labels(engine_used, outcome).inc()
        log.info(
            "grading job %s: %s",
            job.id,
            outcome,
            extra={"job_id": job.id, "response_id": job.response_id, "engine": engine_used},
        )

    def run(self, stop: threading.Event) -> None:
        """Grade until ``stop`` is set; the job in hand is finished first."""
        log.info("feedback worker %s started", self.config.worker_id)
        self.check()
        last_depth = 0.0
        while not stop.is_set():
            try:
                self.check()
                try:
                    worked = self.run_once()
                except Exception:
                    # The database went away, say: keep the worker alive and try again soon.
                    log.exception("feedback worker loop error")
                    worked = False
                now = time.monotonic()
                if worked or now - last_depth > DEPTH_EVERY_SECONDS:
                    self.update_queue_depth()
                    last_depth = now
                if not worked:
                    stop.wait(self.config.poll_seconds)
            except WorkerInterrupted:
                break
        log.info("feedback worker %s stopped", self.config.worker_id)


class InlineWorker:
    """The worker in a thread of the web process; ``stop()`` lets the current job finish."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name="feedback-worker", daemon=True
        )

    def start(self) -> InlineWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)


def start_inline_worker(
    engine: Engine,
    library: CourseLibrary,
    settings: Settings,
    config: WorkerConfig | None = None,
) -> InlineWorker:
    """Start grading in a background thread of this process; call ``.stop()`` on shutdown."""
    config = config or WorkerConfig.from_settings(settings, inline=True)
    return InlineWorker(Worker(engine, library, settings, config)).start()


def run_worker_process(
    settings: Settings, *, config: WorkerConfig, metrics_port: int | None
) -> None:
    """The body of ``learnloop worker``: blocks until SIGTERM/SIGINT, then exits cleanly.

    On the first signal the worker stops taking jobs and finishes the one in hand; if that
    takes longer than ``settings.shutdown_grace_seconds`` (or a second signal arrives), the
    job is released back to the queue, not lost, and the process exits.
    """
    from learnloop.db import make_engine, require_schema
    from learnloop.observability.exposition import start_metrics_server
    from learnloop.observability.logging import configure_logging
    from learnloop.observability.metrics import observe_pool
    from learnloop.observability.tracing import (
        configure_tracing,
        instrument_engine,
        shutdown_tracing,
    )

    configure_logging(settings)
    configure_tracing(settings, "learnloop-worker")
    engine = make_engine(
        settings.database_url,
        pool_size=2,
        max_overflow=2,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    try:
        require_schema(engine)  # "run `learnloop db upgrade` ...", before anything starts
    except Exception:
        engine.dispose()
        raise
    instrument_engine(engine)
    observe_pool(engine)
    library = CourseLibrary(settings.courses_dir, reload=settings.reload_courses)
    worker = Worker(engine, library, settings, config)
    stop = threading.Event()
    worker.check()
    metrics = (
        start_metrics_server(
            metrics_port,
            settings.worker_metrics_host,
            ready=lambda: not stop.is_set() and worker.engine_problem is None,
        )
        if metrics_port is not None
        else None
    )

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise WorkerInterrupted

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and worker.current is not None:
            raise WorkerInterrupted  # second signal: release the job now
        stop.set()
        log.info(
            "worker shutdown requested (%s)",
            signal.Signals(signum).name,
            extra={"job_in_hand": worker.current.id if worker.current else None},
        )
        signal.setitimer(signal.ITIMER_REAL, max(0.1, settings.shutdown_grace_seconds))

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run(stop)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if metrics is not None:
            metrics.close()
        shutdown_tracing()
        engine.dispose()
