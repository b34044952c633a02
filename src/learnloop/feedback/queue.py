"""The grading job queue in the database: claim with a lease, finish exactly once, retry.

A job's life: ``queued`` -> ``running`` (claimed: ``attempts`` + 1, ``locked_by``,
``locked_until``) -> ``done``, or back to ``queued`` with a later ``run_after`` (retry with
backoff), or ``failed`` after ``max_attempts``. A ``running`` job whose lease has expired
belongs to a worker that died; it is claimed again like a queued one.

Exactly-once grading rests on two guards in the transaction that stores the feedback:
- the job row is updated only ``WHERE locked_by = me AND attempts = <my claim's attempts>``
  (the attempt number is the fencing token: a worker whose lease expired and was reclaimed
  can no longer finish the job), and
- the response is updated only ``WHERE status = 'pending'``,
so a job re-run after a crash, or by two workers racing past a lease, writes feedback once.

On PostgreSQL a claim is ``SELECT ... FOR UPDATE SKIP LOCKED``, so many workers claim
different jobs without waiting on each other. SQLite has one writer at a time anyway; the
claim is one guarded ``UPDATE ... RETURNING`` in a ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session

from learnloop.db import utcnow
from learnloop.feedback.models import GradingJob, WrittenResponse

ERROR_CHARS = 2000


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    response_id: int
    attempt: int  # attempts after this claim: the fencing token
    worker_id: str
    trace_context: dict[str, Any] | None


def write_engine(engine: Engine) -> Engine:
    """SQLite: take the write lock when the transaction begins (see learnloop.db)."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _claimable(now: datetime) -> Any:
    return or_(
        and_(GradingJob.status == "queued", GradingJob.run_after <= now),
        and_(GradingJob.status == "running", GradingJob.locked_until < now),
    )


def claim_job(
    engine: Engine, *, worker_id: str, lease_seconds: float, now: datetime | None = None
) -> ClaimedJob | None:
    """Claim the oldest runnable job, or return None; commits its own short transaction."""
    now = now or utcnow()
    # A plain read first: an idle worker polls often, and on SQLite a claim takes the database
    # write lock, which web requests would have to wait for.
    with engine.connect() as connection:
        waiting = connection.scalar(select(GradingJob.id).where(_claimable(now)).limit(1))
    if waiting is None:
        return None
    pick = (
        select(GradingJob.id)
        .where(_claimable(now))
        .order_by(GradingJob.run_after, GradingJob.id)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(GradingJob)
        # The outer guard repeats the condition: on PostgreSQL it is re-checked against the
        # locked row, so a job finished between the pick and the update is not taken.
        .where(GradingJob.id == pick.scalar_subquery(), _claimable(now))
        .values(
            status="running",
            attempts=GradingJob.attempts + 1,
            locked_by=worker_id,
            locked_until=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .returning(
            GradingJob.id, GradingJob.response_id, GradingJob.attempts, GradingJob.trace_context
        )
    )
    with write_engine(engine).begin() as connection:
        row = connection.execute(statement).first()
    if row is None:
        return None
    return ClaimedJob(row.id, row.response_id, row.attempts, worker_id, row.trace_context)


def _fence(job: ClaimedJob) -> Any:
    return and_(
        GradingJob.id == job.id,
        GradingJob.status == "running",
        GradingJob.locked_by == job.worker_id,
        GradingJob.attempts == job.attempt,
    )


def complete_job(
    session: Session,
    job: ClaimedJob,
    *,
    score: int,
    feedback: dict[str, Any],
    now: datetime | None = None,
) -> str:
    """Store the feedback and finish the job, in the caller's transaction (which commits).

    Returns "graded"; "duplicate" when the response was already graded (the job is closed
    and nothing is written); "lost" when this worker no longer holds the job (nothing written;
    the caller must roll back).
    """
    now = now or utcnow()
    finished = session.execute(
        update(GradingJob)
        .where(_fence(job))
        .values(status="done", locked_by=None, locked_until=None, last_error=None, updated_at=now)
    )
    if finished.rowcount != 1:  # type: ignore[attr-defined] # CursorResult for DML
        return "lost"
    stored = session.execute(
        update(WrittenResponse)
        .where(WrittenResponse.id == job.response_id, WrittenResponse.status == "pending")
        .values(status="graded", score=score, feedback=feedback, graded_at=now)
    )
    return "graded" if stored.rowcount == 1 else "duplicate"  # type: ignore[attr-defined]


def retry_delay(attempt: int, *, base_seconds: float, max_seconds: float) -> float:
    """Exponential backoff: base, 2 x base, 4 x base, ... capped."""
    return float(min(max_seconds, base_seconds * 2 ** max(0, attempt - 1)))


def fail_or_retry(
    engine: Engine,
    job: ClaimedJob,
    error: str,
    *,
    max_attempts: int,
    backoff_base_seconds: float,
    backoff_max_seconds: float,
    now: datetime | None = None,
    reason: str | None = None,
) -> str:
    """After a failed attempt: "retried" (queued again later), "failed" (given up; the
    response is marked failed, with `reason` for the learner, in the same transaction) or
    "lost" (no longer ours)."""
    now = now or utcnow()
    error = error[:ERROR_CHARS]
    with Session(write_engine(engine)) as session, session.begin():
        if job.attempt >= max_attempts:
            result = session.execute(
                update(GradingJob)
                .where(_fence(job))
                .values(
                    status="failed",
                    locked_by=None,
                    locked_until=None,
                    last_error=error,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return "lost"
            session.execute(
                update(WrittenResponse)
                .where(WrittenResponse.id == job.response_id, WrittenResponse.status == "pending")
                .values(status="failed", failure_reason=reason)
            )
            return "failed"
        delay = retry_delay(
            job.attempt, base_seconds=backoff_base_seconds, max_seconds=backoff_max_seconds
        )
        result = session.execute(
            update(GradingJob)
            .where(_fence(job))
            .values(
                status="queued",
                run_after=now + timedelta(seconds=delay),
                locked_by=None,
                locked_until=None,
                last_error=error,
                updated_at=now,
            )
        )
        return "retried" if result.rowcount == 1 else "lost"  # type: ignore[attr-defined]


def release_job(engine: Engine, job: ClaimedJob, now: datetime | None = None) -> bool:
    """Give a job back untouched (worker shutting down): runnable at once, attempt not counted."""
    now = now or utcnow()
    with write_engine(engine).begin() as connection:
        result = connection.execute(
            update(GradingJob)
            .where(_fence(job))
            .values(
                status="queued",
                attempts=GradingJob.attempts - 1,
                run_after=now,
                locked_by=None,
                locked_until=None,
                updated_at=now,
            )
        )
    return bool(result.rowcount == 1)


def queue_depth(engine: Engine) -> int:
    """Jobs not finished yet: queued (including waiting to retry) or running."""
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count(GradingJob.id)).where(
                    GradingJob.status.in_(("queued", "running"))
                )
            )
            or 0
        )
