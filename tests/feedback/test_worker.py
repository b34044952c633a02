"""The grading queue and worker on real SQLite and PostgreSQL databases.

Grading goes through the real engines; the LLM is the fake OpenAI server (fake_llm.py) over
HTTP, which lets a test make grading slow, failing, or count how often each answer was sent.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from ai.fake_llm import FakeLLM, running_fake_llm
from conftest import (
    COURSES_DIR,
    DATABASES,
    ServerThread,
    drop_database,
    empty_database_url,
    free_port,
)
from conftest import settings_for as app_settings
from factories import create_learner, written_path
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import Course, Lesson, WrittenExercise
from learnloop.db import make_engine, upgrade_to_head, utcnow
from learnloop.feedback.models import AiUsage, GradingJob, WrittenResponse
from learnloop.feedback.queue import claim_job, complete_job, queue_depth, write_engine
from learnloop.feedback.service import submit_written_answer
from learnloop.feedback.worker import (
    REASON_EXERCISE_GONE,
    Worker,
    WorkerConfig,
    start_inline_worker,
)
from learnloop.grading.engines import grade_embedded, grade_response
from learnloop.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ANSWER = (
    "An immutable image is never changed after it is built; any change means building a new "
    "image. A minimal base image leaves out shells, package managers and unused libraries, "
    "reducing the attack surface."
)


@dataclass
class Queue:
    url: str
    engine: Engine
    library: CourseLibrary
    course: Course
    lesson: Lesson
    exercise: WrittenExercise
    user_id: int

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


@pytest.fixture(scope="module", params=DATABASES)
def queue_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Queue]:
    url = empty_database_url(request.param, tmp_path_factory.mktemp("queue"))
    upgrade_to_head(url)
    engine = make_engine(url)
    library = CourseLibrary(COURSES_DIR)
    course = library.get("cloud-native")
    assert course is not None
    lesson = course.lesson(9)
    assert lesson is not None
    with Session(engine) as session, session.begin():
        user = User(email="worker@example.com", name="W", password_hash="x", plan="pro")
        session.add(user)
        session.flush()
        user_id = user.id
    try:
        yield Queue(url, engine, library, course, lesson, lesson.written[0], user_id)
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture
def q(queue_db: Queue) -> Iterator[Queue]:
    yield queue_db
    with Session(queue_db.engine) as session, session.begin():
        session.execute(delete(GradingJob))
        session.execute(delete(WrittenResponse))
        session.execute(delete(AiUsage))


def settings_for(q: Queue, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": q.url,
        "courses_dir": COURSES_DIR,
        "ai_daily_quota": 10_000,
        "inline_worker": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type] # checked by pydantic


def submit(q: Queue, texts: list[str], settings: Settings) -> list[int]:
    """Store answers through the real action: response and job in one transaction each."""
    ids = []
    for answer in texts:
        with Session(write_engine(q.engine)) as session, session.begin():
            user = session.get(User, q.user_id)
            assert user is not None
            response = submit_written_answer(
                session,
                user=user,
                course=q.course,
                lesson=q.lesson,
                exercise=q.exercise,
                text=answer,
                settings=settings,
            )
            ids.append(response.id)
    return ids


def responses(q: Queue) -> list[WrittenResponse]:
    with Session(q.engine) as session:
        return list(session.scalars(select(WrittenResponse).order_by(WrittenResponse.id)))


def jobs(q: Queue) -> list[GradingJob]:
    with Session(q.engine) as session:
        return list(session.scalars(select(GradingJob).order_by(GradingJob.id)))


def drain(worker: Worker) -> int:
    done = 0
    while worker.run_once():
        done += 1
    return done


def tagged(n: int) -> list[str]:
    """Answers that say which one they are, so the fake LLM's log shows who was graded."""
    return [f"{ANSWER} Answer tag{i:03d} ends here." for i in range(n)]


def tags_sent(fake: FakeLLM) -> list[str]:
    sent = []
    for request in fake.requests:
        found = re.search(r"tag(\d{3})", request["body"]["messages"][-1]["content"])
        if found:
            sent.append(found.group(1))
    return sent


def test_every_job_is_graded_once_with_the_llm_engine(q: Queue) -> None:
    with running_fake_llm() as (fake, llm_url):
        settings = settings_for(q, grader_engine="llm", llm_base_url=llm_url, llm_model="m")
        ids = submit(q, tagged(5), settings)
        worker = Worker(q.engine, q.library, settings, WorkerConfig(poll_seconds=0.05))
        assert drain(worker) == 5
        assert not worker.run_once()
    assert sorted(tags_sent(fake)) == [f"{i:03d}" for i in range(5)]
    graded = responses(q)
    assert [r.id for r in graded] == ids
    for response in graded:
        assert response.status == "graded"
        assert response.graded_at is not None
        feedback = response.feedback
        assert isinstance(feedback, dict)
        assert feedback["engine"] == "llm"
        assert response.score is not None
        assert response.score == feedback["score"]
        assert 0 < response.score <= 100
        statuses = {p["id"]: p["status"] for p in feedback["points"]}
        assert statuses["never-modified"] == "covered"
        assert statuses["no-environment-drift"] == "missing"
    assert all(j.status == "done" and j.attempts == 1 and j.locked_by is None for j in jobs(q))
    assert queue_depth(q.engine) == 0


def test_embedded_engine_grades_through_the_worker(q: Queue) -> None:
    settings = settings_for(q)
    submit(q, [ANSWER, "Bananas are yellow and grow in bunches on large plants."], settings)
    worker = Worker(q.engine, q.library, settings)
    assert drain(worker) == 2
    good, bad = responses(q)
    assert good.status == bad.status == "graded"
    assert isinstance(good.feedback, dict)
    assert isinstance(bad.feedback, dict)
    assert good.feedback["engine"] == "embedded"
    assert good.score is not None
    assert bad.score is not None
    assert good.score > bad.score
    # Missing points carry the section to re-read.
    missing = [p for p in bad.feedback["points"] if p["status"] == "missing"]
    assert missing
    assert all(p["section_id"] for p in missing)


def test_llm_failure_falls_back_to_embedded(q: Queue) -> None:
    before = REGISTRY.get_sample_value(
        "learnloop_grading_jobs_total", {"engine": "llm", "outcome": "fallback"}
    )
    with running_fake_llm(FakeLLM(behaviour="garbage")) as (fake, llm_url):
        settings = settings_for(
            q, grader_engine="llm", llm_base_url=llm_url, llm_model="m", llm_max_retries=1
        )
        feedback, engine = grade_response(q.exercise, ANSWER, q.lesson, settings)
    assert engine == "embedded"
    assert feedback.engine == "embedded"
    assert len(fake.requests) == 2
    after = REGISTRY.get_sample_value(
        "learnloop_grading_jobs_total", {"engine": "llm", "outcome": "fallback"}
    )
    assert (after or 0) == (before or 0) + 1


@pytest.mark.parametrize("behaviour", ["hang", "error", "garbage"])
def test_llm_outage_still_grades_every_answer_in_bounded_time(q: Queue, behaviour: str) -> None:
    with running_fake_llm(FakeLLM(behaviour=behaviour)) as (_fake, llm_url):
        settings = settings_for(
            q,
            grader_engine="llm",
            llm_base_url=llm_url,
            llm_model="m",
            llm_timeout_seconds=0.5,
            llm_max_retries=1,
        )
        submit(q, [ANSWER, ANSWER], settings)
        worker = Worker(q.engine, q.library, settings)
        grade_embedded(q.exercise, ANSWER, q.lesson)  # load the model outside the timing
        started = time.monotonic()
        assert drain(worker) == 2
        elapsed = time.monotonic() - started
    # Per answer: the LLM deadline (2 attempts of 0.5 s, backoff, 1 s slack) plus grading.
    assert elapsed < 2 * 2.5 + 10
    for response in responses(q):
        assert response.status == "graded"
        assert isinstance(response.feedback, dict)
        assert response.feedback["engine"] == "embedded"


def _orphan(q: Queue) -> int:
    """A response whose exercise vanished from the course: every attempt to grade it fails."""
    with Session(write_engine(q.engine)) as session, session.begin():
        response = WrittenResponse(
            user_id=q.user_id,
            course_slug="cloud-native",
            lesson_number=9,
            exercise_id="removed-exercise",
            text="text",
            status="pending",
        )
        session.add(response)
        session.flush()
        session.add(GradingJob(response_id=response.id))
        return response.id


def test_failures_retry_with_exponential_backoff_then_fail(q: Queue) -> None:
    response_id = _orphan(q)
    config = WorkerConfig(max_attempts=3, backoff_base_seconds=30, backoff_max_seconds=100)
    worker = Worker(q.engine, q.library, settings_for(q), config)
    delays = []
    for attempt in (1, 2):
        started = utcnow()
        assert worker.run_once()
        (job,) = jobs(q)
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.last_error
        assert "removed-exercise" in job.last_error
        delays.append((job.run_after - started).total_seconds())
        # Not runnable before its time...
        assert not worker.run_once()
        # ...so move the clock: make it due now.
        with Session(q.engine) as session, session.begin():
            session.execute(update(GradingJob).values(run_after=utcnow()))
        (response,) = responses(q)
        assert response.status == "pending"  # still retrying: not reported failed yet
    assert 29 <= delays[0] <= 31
    assert 59 <= delays[1] <= 61
    assert worker.run_once()
    (job,) = jobs(q)
    assert (job.status, job.attempts) == ("failed", 3)
    (response,) = responses(q)
    assert (response.id, response.status, response.score) == (response_id, "failed", None)
    assert response.failure_reason == REASON_EXERCISE_GONE  # what the learner reads
    assert not worker.run_once()


def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_out(q: Queue) -> None:
    settings = settings_for(q)
    (response_id,) = submit(q, [ANSWER], settings)
    first = claim_job(q.engine, worker_id="a", lease_seconds=60)
    assert first is not None
    assert first.attempt == 1
    # Leased: nobody else gets it.
    assert claim_job(q.engine, worker_id="b", lease_seconds=60) is None
    # Worker "a" stalls past its lease (simulated by moving the lease into the past).
    with Session(q.engine) as session, session.begin():
        session.execute(update(GradingJob).values(locked_until=utcnow() - timedelta(seconds=1)))
    second = claim_job(q.engine, worker_id="b", lease_seconds=60)
    assert second is not None
    assert second.attempt == 2
    assert second.response_id == response_id
    feedback = {"score": 50, "points": []}
    with Session(write_engine(q.engine)) as session, session.begin():
        assert complete_job(session, first, score=90, feedback=feedback) == "lost"
        session.rollback()
    with Session(write_engine(q.engine)) as session, session.begin():
        assert complete_job(session, second, score=50, feedback=feedback) == "graded"
    (response,) = responses(q)
    assert (response.status, response.score) == ("graded", 50)
    # A stale job for an answer graded already writes nothing.
    with Session(q.engine) as session, session.begin():
        session.execute(
            update(GradingJob).values(status="queued", run_after=utcnow(), locked_by=None)
        )
    third = claim_job(q.engine, worker_id="c", lease_seconds=60)
    assert third is not None
    with Session(write_engine(q.engine)) as session, session.begin():
        assert complete_job(session, third, score=1, feedback={"score": 1}) == "duplicate"
    (response,) = responses(q)
    assert response.score == 50


def test_two_concurrent_workers_never_grade_the_same_job(q: Queue) -> None:
    with running_fake_llm(FakeLLM(delay=0.05)) as (fake, llm_url):
        settings = settings_for(q, grader_engine="llm", llm_base_url=llm_url, llm_model="m")
        submit(q, tagged(16), settings)
        workers = [
            Worker(
                make_engine(q.url),
                q.library,
                settings,
                WorkerConfig(poll_seconds=0.02, worker_id=f"w{i}"),
            )
            for i in range(2)
        ]
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while queue_depth(q.engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for w in workers:
            w.engine.dispose()
    sent = tags_sent(fake)
    assert sorted(sent) == [f"{i:03d}" for i in range(16)]  # each answer sent exactly once
    assert all(r.status == "graded" for r in responses(q))
    assert all(j.attempts == 1 for j in jobs(q))
    # Both took part (each grading takes 50 ms, so one cannot have done it all alone).
    assert all(w.graded > 0 for w in workers), [w.graded for w in workers]
    assert sum(w.graded for w in workers) == 16


def test_inline_worker_grades_in_the_background(q: Queue) -> None:
    with running_fake_llm() as (_fake, llm_url):
        settings = settings_for(q, grader_engine="llm", llm_base_url=llm_url, llm_model="m")
        handle = start_inline_worker(q.engine, q.library, settings)
        try:
            (response_id,) = submit(q, [ANSWER], settings)
            deadline = time.monotonic() + 20
            while responses(q)[0].status == "pending" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            handle.stop(timeout=20)
    (response,) = responses(q)
    assert (response.id, response.status) == (response_id, "graded")


def test_api_answer_is_graded_by_the_inline_worker_of_the_app(tmp_path: Path) -> None:
    """The single-machine setup: create_app starts the worker; the learner polls the API."""
    from learnloop.web.app import create_app

    with running_fake_llm() as (fake, llm_url):
        settings = app_settings(
            f"sqlite:///{tmp_path / 'inline.db'}",
            inline_worker=True,
            grader_engine="llm",
            llm_base_url=llm_url,
            llm_model="m",
            pro_features=(),
        )
        with ServerThread(create_app(settings)) as url, httpx.Client(base_url=url) as http:
            learner = create_learner(http)
            accepted = http.post(written_path(), json={"text": ANSWER}, headers=learner.headers)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["status"] == "pending"
            location = f"/api/v1/responses/{accepted.json()['response_id']}"
            deadline = time.monotonic() + 30
            while (body := http.get(location, headers=learner.headers).json())[
                "status"
            ] == "pending" and time.monotonic() < deadline:
                time.sleep(0.1)
    assert body["status"] == "graded", body
    assert body["feedback"]["engine"] == "llm"
    assert 0 < body["score"] <= 100
    assert {p["id"] for p in body["points"]} >= {"never-modified", "smaller-attack-surface"}
    assert len(fake.requests) == 1


# --- The crash test: a real `learnloop worker` process, killed mid-grading ------------------

AUDIT_SQL = [
    "CREATE TABLE grading_audit (response_id integer NOT NULL, at timestamptz DEFAULT now())",
    """CREATE FUNCTION audit_grading() RETURNS trigger AS $$
       BEGIN
         -- Every write to a graded row counts: a second grading would show up as 2.
         IF NEW.status = 'graded' THEN
           INSERT INTO grading_audit (response_id) VALUES (NEW.id);
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER grading_audit AFTER UPDATE ON written_responses
       FOR EACH ROW EXECUTE FUNCTION audit_grading()""",
]


def start_worker_process(
    q: Queue, llm_url: str, metrics_port: int, log: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEARNLOOP_ENV": "test",
        "LEARNLOOP_DATABASE_URL": q.url,
        "LEARNLOOP_COURSES_DIR": str(COURSES_DIR),
        "LEARNLOOP_GRADER_ENGINE": "llm",
        "LEARNLOOP_LLM_BASE_URL": llm_url,
        "LEARNLOOP_LLM_MODEL": "m",
        "LEARNLOOP_LOG_LEVEL": "INFO",
        "LEARNLOOP_WORKER_LEASE_SECONDS": "3",
        "LEARNLOOP_WORKER_POLL_SECONDS": "0.1",
        "LEARNLOOP_WORKER_METRICS_PORT": str(metrics_port),
        "LEARNLOOP_SHUTDOWN_GRACE_SECONDS": "10",
        "OTEL_SDK_DISABLED": "true",
        **extra_env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "learnloop", "worker"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def graded_count(q: Queue) -> int:
    with Session(q.engine) as session:
        return int(
            session.scalar(
                select(func.count(WrittenResponse.id)).where(WrittenResponse.status == "graded")
            )
            or 0
        )


# The worker as separate processes is the PostgreSQL deployment; on SQLite it runs inline.
POSTGRES_ONLY = pytest.mark.parametrize("queue_db", ["postgresql"], indirect=True)


@pytest.mark.slow
@pytest.mark.postgres
@POSTGRES_ONLY
def test_a_crash_loses_nothing_and_grades_nothing_twice(q: Queue, tmp_path: Path) -> None:
    assert q.is_postgres
    n = 24
    with Session(q.engine) as session, session.begin():
        for statement in AUDIT_SQL:
            session.execute(text(statement))
    log = tmp_path / "worker.log"
    try:
        with running_fake_llm(FakeLLM(delay=0.25)) as (fake, llm_url):
            settings = settings_for(q, grader_engine="llm", llm_base_url=llm_url, llm_model="m")
            submit(q, tagged(n), settings)
            port = free_port()
            first = start_worker_process(q, llm_url, port, log)
            try:
                # Mid-grading: some answers graded, one in the worker's hands.
                wait_for(lambda: graded_count(q) >= 5, 60, "the first gradings")
                wait_for(lambda: any(j.status == "running" for j in jobs(q)), 10, "a running job")
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                assert "learnloop_feedback_queue_depth" in metrics
                assert 'learnloop_grading_jobs_total{engine="llm",outcome="graded"}' in metrics
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            at_kill = graded_count(q)
            interrupted = [j.id for j in jobs(q) if j.status == "running"]
            assert 5 <= at_kill < n
            assert interrupted

            second = start_worker_process(q, llm_url, free_port(), log)
            try:
                wait_for(lambda: graded_count(q) == n, 90, "every answer graded")
            finally:
                second.send_signal(signal.SIGTERM)
                exit_code = second.wait(timeout=30)
            assert exit_code == 0, log.read_text()[-3000:]
    finally:
        with Session(q.engine) as session, session.begin():
            audit = [
                tuple(row)
                for row in session.execute(
                    text("SELECT response_id, count(*) FROM grading_audit GROUP BY response_id")
                )
            ]
            for statement in (
                "DROP TRIGGER grading_audit ON written_responses",
                "DROP FUNCTION audit_grading()",
                "DROP TABLE grading_audit",
            ):
                session.execute(text(statement))
    all_responses = responses(q)
    assert len(all_responses) == n
    assert all(r.status == "graded" and r.feedback for r in all_responses)
    # Exactly one feedback write per answer, across the crash.
    assert sorted(count for _, count in audit) == [1] * n
    assert {rid for rid, _ in audit} == {r.id for r in all_responses}
    by_id = {j.id: j for j in jobs(q)}
    assert all(j.status == "done" for j in by_id.values())
    for job_id in interrupted:
        assert by_id[job_id].attempts == 2  # picked up again after the lease ran out
    # The interrupted answers were sent to the LLM twice; the feedback was stored once.
    assert len(tags_sent(fake)) >= n


@pytest.mark.slow
@pytest.mark.postgres
@POSTGRES_ONLY
def test_sigterm_during_a_hung_grading_releases_the_job(q: Queue, tmp_path: Path) -> None:
    """Shutdown waits for the job in hand up to the grace period, then gives it back."""
    assert q.is_postgres
    log = tmp_path / "worker.log"
    with running_fake_llm(FakeLLM(behaviour="hang")) as (fake, llm_url):
        settings = settings_for(q, grader_engine="llm", llm_base_url=llm_url, llm_model="m")
        (response_id,) = submit(q, [ANSWER], settings)
        worker = start_worker_process(
            q, llm_url, free_port(), log, LEARNLOOP_SHUTDOWN_GRACE_SECONDS="1"
        )
        try:
            wait_for(lambda: len(fake.requests) >= 1, 60, "the LLM call")
            (job,) = jobs(q)
            assert (job.status, job.attempts) == ("running", 1)
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            exit_code = worker.wait(timeout=20)
            waited = time.monotonic() - started
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert exit_code == 0, log.read_text()[-3000:]
    assert 0.9 <= waited < 10
    (job,) = jobs(q)
    # Back in the queue, runnable now, and the interrupted attempt not counted against it.
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)
    assert job.run_after <= utcnow()
    (response,) = responses(q)
    assert (response.id, response.status) == (response_id, "pending")
