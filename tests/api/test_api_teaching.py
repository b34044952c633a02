"""The instructor workspace over the JSON API, on SQLite and PostgreSQL: classes and joining,
class progress, the review queue (a human grade wins, conflicts, regrade requests, the audit
trail, agreement), and who may see what. Every response is checked against the OpenAPI
document. Written answers are graded by the real worker and the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from conftest import DATABASES, ServerThread, drop_database, empty_database_url, settings_for
from factories import (
    COURSE,
    LESSON,
    Learner,
    attempt_path,
    create_learner,
    right_answer,
    sample_lesson,
    written_path,
    wrong_answer,
)
from learnloop.accounts import service as accounts
from learnloop.content.loader import CourseLibrary
from learnloop.db import make_engine, session_scope, upgrade_to_head
from learnloop.feedback.models import GradingJob, ReviewEvent, WrittenResponse
from learnloop.feedback.queue import claim_job, complete_job, write_engine
from learnloop.feedback.worker import Worker, WorkerConfig
from learnloop.settings import Settings

from .openapi_check import OpenAPIChecker

ANSWER = (
    "An immutable image is never changed after it is built; a change means a new image. "
    "A minimal image leaves out shells and package managers, so there is less to attack."
)


@dataclass
class Site:
    url: str
    database_url: str
    engine: Engine
    settings: Settings
    checker: OpenAPIChecker

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, event_hooks={"response": [self.checker.check]}
        )

    def grade_all(self) -> int:
        library = CourseLibrary(self.settings.courses_dir)
        worker = Worker(self.engine, library, self.settings, WorkerConfig())
        graded = 0
        while worker.run_once():
            graded += 1
        return graded


@pytest.fixture(scope="module", params=DATABASES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    from learnloop.web.app import create_app

    url = empty_database_url(request.param, tmp_path_factory.mktemp("teach"))
    upgrade_to_head(url)
    settings = settings_for(url, ai_daily_quota=1000)
    app = create_app(settings)
    engine = make_engine(url)
    try:
        with ServerThread(app) as base:
            yield Site(base, url, engine, settings, OpenAPIChecker.for_server(base))
    finally:
        engine.dispose()
        drop_database(url)


def _instructor(http: httpx.Client, site: Site, role: str = "instructor") -> Learner:
    person = create_learner(http)
    with session_scope(site.database_url) as db:
        accounts.set_role(db, email=person.email, role=role)
    return person


def _pro(site: Site, person: Learner) -> None:
    with session_scope(site.database_url) as db:
        accounts.set_plan(db, email=person.email, plan="pro")


def test_the_teachers_path_over_the_api(site: Site) -> None:
    with site.client() as http:
        teacher = _instructor(http, site)
        other_teacher = _instructor(http, site)
        admin = _instructor(http, site, role="admin")
        ann, bob = create_learner(http), create_learner(http)
        for learner in (ann, bob):
            _pro(site, learner)

        # A learner has no teaching workspace.
        assert http.get("/api/v1/teach/classes", headers=ann.headers).status_code == 403
        bad = http.post(
            "/api/v1/teach/classes",
            json={"name": "Cloud 101", "courses": ["no-such-course"]},
            headers=teacher.headers,
        )
        assert bad.status_code == 422
        assert "no-such-course" in bad.text
        created = http.post(
            "/api/v1/teach/classes",
            json={"name": "Cloud 101", "courses": [COURSE]},
            headers=teacher.headers,
        )
        assert created.status_code == 201, created.text
        klass = created.json()
        code = klass["join_code"]
        assert klass["join_url"] == f"/join?code={code}"
        other = http.post(
            "/api/v1/teach/classes",
            json={"name": "Physics", "courses": ["physics-basics"]},
            headers=other_teacher.headers,
        ).json()

        # Two learners join with the code (case and spaces forgiven); joining twice is harmless.
        for learner in (ann, bob, ann):
            joined = http.post(
                "/api/v1/classes/join",
                json={"code": f" {code.lower()} "},
                headers=learner.headers,
            )
            assert joined.status_code == 200, joined.text
            assert joined.json()["class_id"] == klass["id"]
        assert (
            http.post(
                "/api/v1/classes/join", json={"code": "NOPE1234"}, headers=ann.headers
            ).status_code
            == 404
        )

        # The learners work: Ann right first time, Bob wrong then right.
        _, lesson = sample_lesson()
        for exercise in lesson.auto_checked:
            for learner, answers in ((ann, [right_answer]), (bob, [wrong_answer, right_answer])):
                for answer in answers:
                    sent = http.post(
                        attempt_path(exercise.id),
                        json={"answer": answer(exercise)},
                        headers=learner.headers,
                    )
                    assert sent.status_code == 200, sent.text
        ids = []
        for learner in (ann, bob):
            sent = http.post(written_path(), json={"text": ANSWER}, headers=learner.headers)
            assert sent.status_code == 202, sent.text
            ids.append(sent.json()["response_id"])
        assert site.grade_all() >= 2

        progress = http.get(f"/api/v1/teach/classes/{klass['id']}", headers=teacher.headers)
        assert progress.status_code == 200, progress.text
        rows = {r["user_id"]: r for r in progress.json()["learners"]}
        assert set(rows) == {ann.id, bob.id}
        n = len(lesson.auto_checked)
        assert rows[ann.id]["first_try_accuracy"] == 1.0
        assert rows[bob.id]["first_try_accuracy"] == 0.0
        assert rows[bob.id]["needs_attention"] == ["low accuracy"]
        assert rows[ann.id]["written_answers"] == 1
        assert rows[ann.id]["lessons"][f"{COURSE}/{LESSON}"] == "in progress"
        assert rows[ann.id]["lessons"][f"{COURSE}/1"] == "not started"
        attention = http.get(
            f"/api/v1/teach/classes/{klass['id']}?attention=true&sort=accuracy",
            headers=teacher.headers,
        ).json()["learners"]
        assert [r["user_id"] for r in attention] == [bob.id]
        timeline = http.get(
            f"/api/v1/teach/classes/{klass['id']}/learners/{bob.id}", headers=teacher.headers
        ).json()["entries"]
        assert [e["kind"] for e in timeline].count("attempt") == 2 * n
        assert timeline == sorted(timeline, key=lambda e: e["at"])

        # Another class's instructor: this class, its learners and answers do not exist.
        for path in (
            f"/api/v1/teach/classes/{klass['id']}",
            f"/api/v1/teach/classes/{klass['id']}/learners/{ann.id}",
            f"/api/v1/teach/responses/{ids[0]}",
            f"/api/v1/teach/courses/{COURSE}/items",
        ):
            assert http.get(path, headers=other_teacher.headers).status_code == 404, path
        assert (
            http.get(f"/api/v1/teach/classes/{other['id']}", headers=teacher.headers).status_code
            == 404
        )
        assert http.get("/api/v1/teach/reviews", headers=other_teacher.headers).json()["total"] == 0
        # The admin sees everything.
        assert (
            http.get(f"/api/v1/teach/responses/{ids[0]}", headers=admin.headers).status_code == 200
        )

        # The review queue: newest first; the teacher overrides one point and comments.
        queue = http.get("/api/v1/teach/reviews", headers=teacher.headers).json()
        assert [i["response_id"] for i in queue["items"]] == sorted(ids, reverse=True)
        assert {i["status"] for i in queue["items"]} == {"unreviewed"}
        detail = http.get(f"/api/v1/teach/responses/{ids[0]}", headers=teacher.headers).json()
        assert detail["version"] == 0
        point = detail["points"][0]
        flipped = "missing" if point["ai_status"] != "missing" else "covered"
        saved = http.put(
            f"/api/v1/teach/responses/{ids[0]}/review",
            json={
                "points": {point["id"]: flipped},
                "comment": "Name the attack surface.",
                "version": 0,
            },
            headers=teacher.headers,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1
        assert saved.json()["points"][0]["human_status"] == flipped
        human_score = saved.json()["score"]

        # A second instructor (the admin) saving from the same stale version gets a conflict.
        stale = http.put(
            f"/api/v1/teach/responses/{ids[0]}/review",
            json={"points": {}, "score": 100, "comment": "Perfect", "version": 0},
            headers=admin.headers,
        )
        assert stale.status_code == 409
        assert "version 1" in stale.json()["detail"]
        bad_point = http.put(
            f"/api/v1/teach/responses/{ids[0]}/review",
            json={"points": {"p99": "covered"}, "version": 1},
            headers=teacher.headers,
        )
        assert bad_point.status_code == 422

        # The learner sees the instructor's grade and comment.
        mine = http.get(f"/api/v1/responses/{ids[0]}", headers=ann.headers).json()
        assert mine["reviewed_by_instructor"] is True
        assert mine["instructor_comment"] == "Name the attack surface."
        assert mine["score"] == human_score
        assert {p["id"]: p["status"] for p in mine["points"]}[point["id"]] == flipped

        # A human grade always wins: the AI grading the answer again does not replace it.
        with Session(write_engine(site.engine)) as db, db.begin():
            db.execute(
                update(WrittenResponse).where(WrittenResponse.id == ids[0]).values(status="pending")
            )
            db.execute(
                update(GradingJob)
                .where(GradingJob.response_id == ids[0])
                .values(status="queued", locked_by=None, locked_until=None)
            )
        job = claim_job(site.engine, worker_id="test", lease_seconds=60)
        assert job is not None
        assert job.response_id == ids[0]
        with Session(write_engine(site.engine)) as db, db.begin():
            complete_job(db, job, score=3, feedback={"score": 3, "points": []})
        again = http.get(f"/api/v1/responses/{ids[0]}", headers=ann.headers).json()
        assert again["score"] == human_score
        assert again["reviewed_by_instructor"] is True

        # Bob asks for a regrade once; it lands in the queue.
        reason = {"reason": "I did name the attack surface."}
        assert (
            http.post(
                f"/api/v1/responses/{ids[1]}/regrade", json=reason, headers=ann.headers
            ).status_code
            == 404
        )
        asked = http.post(f"/api/v1/responses/{ids[1]}/regrade", json=reason, headers=bob.headers)
        assert asked.status_code == 201, asked.text
        twice = http.post(f"/api/v1/responses/{ids[1]}/regrade", json=reason, headers=bob.headers)
        assert twice.status_code == 409
        regrades = http.get("/api/v1/teach/reviews?status=regrade", headers=teacher.headers).json()
        assert [i["response_id"] for i in regrades["items"]] == [ids[1]]
        reviewed = http.get("/api/v1/teach/reviews?status=reviewed", headers=teacher.headers).json()
        assert [i["response_id"] for i in reviewed["items"]] == [ids[0]]

        # Agreement per rubric point, with the disagreement one link away.
        agreement = http.get("/api/v1/teach/reviews/agreement", headers=teacher.headers).json()
        by_point = {a["point_id"]: a for a in agreement}
        assert by_point[point["id"]]["reviewed"] == 1
        assert by_point[point["id"]]["agreed"] == 0
        others = [a for a in agreement if a["point_id"] != point["id"]]
        assert all(a["agreed"] == 1 for a in others)
        disagreements = http.get(
            by_point[point["id"]]["disagreements_url"], headers=teacher.headers
        )
        assert [i["response_id"] for i in disagreements.json()["items"]] == [ids[0]]

        # Accepting the regraded answer resolves the request; every change is recorded.
        detail = http.get(f"/api/v1/teach/responses/{ids[1]}", headers=teacher.headers).json()
        assert detail["regrade_open"] is True
        accepted = http.put(
            f"/api/v1/teach/responses/{ids[1]}/review",
            json={"version": 0},
            headers=teacher.headers,
        )
        assert accepted.json()["regrade_open"] is False
        with Session(site.engine) as db:
            events = db.scalars(select(ReviewEvent).order_by(ReviewEvent.id)).all()
        assert [(e.response_id, e.action) for e in events] == [
            (ids[0], "review"),
            (ids[1], "regrade_request"),
            (ids[1], "review"),
        ]
        assert events[0].before is None
        assert events[0].after["comment"] == "Name the attack surface."

        # Invitations never create accounts; archive and remove.
        invited = http.post(
            f"/api/v1/teach/classes/{klass['id']}/invitations",
            json={"csv": f"email\nnew-{ann.email}\nnot-an-email\n{bob.email}\n"},
            headers=teacher.headers,
        ).json()
        assert invited["invited"] == [f"new-{ann.email}", bob.email]
        assert invited["rejected"][0].startswith("line 3:")
        with Session(site.engine) as db:
            from learnloop.accounts.models import User

            assert db.scalar(select(User).where(User.email == f"new-{ann.email}")) is None
        gone = http.delete(
            f"/api/v1/teach/classes/{klass['id']}/members/{bob.id}", headers=teacher.headers
        )
        assert gone.status_code == 200
        assert gone.json() == {"class_id": klass["id"], "user_id": bob.id}
        assert (
            http.get(
                f"/api/v1/teach/classes/{klass['id']}/learners/{bob.id}", headers=teacher.headers
            ).status_code
            == 404
        )
        archived = http.post(
            f"/api/v1/teach/classes/{klass['id']}/archive",
            json={"archived": True},
            headers=teacher.headers,
        )
        assert archived.json()["archived"] is True
        late = create_learner(http)
        assert (
            http.post("/api/v1/classes/join", json={"code": code}, headers=late.headers).status_code
            == 404
        )


def test_item_analysis_over_the_api(site: Site) -> None:
    with site.client() as http:
        teacher = _instructor(http, site)
        klass = http.post(
            "/api/v1/teach/classes",
            json={"name": "Items", "courses": [COURSE]},
            headers=teacher.headers,
        ).json()
        learners = [create_learner(http) for _ in range(3)]
        _, lesson = sample_lesson()
        for i, learner in enumerate(learners):
            http.post(
                "/api/v1/classes/join", json={"code": klass["join_code"]}, headers=learner.headers
            )
            for exercise in lesson.auto_checked:
                answer = right_answer if i < 2 else wrong_answer
                http.post(
                    attempt_path(exercise.id),
                    json={"answer": answer(exercise)},
                    headers=learner.headers,
                )
        items = http.get(
            f"/api/v1/teach/courses/{COURSE}/items?class_id={klass['id']}",
            headers=teacher.headers,
        )
        assert items.status_code == 200, items.text
        mine = [i for i in items.json() if i["lesson"] == LESSON]
        assert len(mine) == len(lesson.auto_checked)
        for item in mine:
            assert item["learners"] == 3
            assert item["facility"] == pytest.approx(2 / 3)
            # Every item splits the class the same way: it discriminates perfectly.
            assert item["discrimination"] == pytest.approx(1.0)
        unknown = http.get("/api/v1/teach/courses/nope/items", headers=teacher.headers)
        assert unknown.status_code == 404
