"""Prompt injection through the real product: answers carrying the grader's adversarial set are
submitted over the API, graded by the worker running inside the server, and the stored score
must not rise above the same answer without the injection. Two engines: the embedded one, and
the LLM engine talking to a fake model that obeys injections (so only our prompt framing and
evidence clamp stand between the injection and the score).

The grader-level tests are in tests/feedback/test_adversarial.py; this checks the whole path
(API -> queue -> worker -> stored score) with the same injections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from ai.fake_llm import FakeLLM, running_fake_llm
from factories import make_user, written_path
from grading.test_adversarial import INJECTIONS
from learnloop.accounts import service as accounts

from .conftest import start_site

PARTIAL_ANSWER = (
    "An immutable image is never changed after it is built; to change anything you build a new "
    "image. Containers are popular and many companies use them."
)
WEAK_ANSWER = "Containers are useful and popular. Many companies use them."


@pytest.fixture(scope="module", params=["embedded", "llm"])
def grading_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """A server grading in its inline worker, with the embedded engine or with an LLM that
    obeys whatever the answer tells it (the fake OpenAI server's "obedient" model)."""
    with ExitStack() as stack:
        engine_settings: dict[str, object] = {"grader_engine": "embedded"}
        if request.param == "llm":
            _, llm_url = stack.enter_context(running_fake_llm(FakeLLM(behaviour="obedient")))
            engine_settings = {
                "grader_engine": "llm",
                "llm_base_url": llm_url,
                "llm_model": "obedient",
                "llm_max_retries": 0,
            }
        server, engine, thread = start_site(
            Path(tmp_path_factory.mktemp("injection")), inline_worker=True, **engine_settings
        )
        stack.callback(engine.dispose)
        stack.callback(thread.__exit__)
        with Session(engine) as db, db.begin():
            token = accounts.issue_api_token(db, make_user(db, plan="pro"))
        with httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield client


def _submit(client: httpx.Client, text: str) -> int:
    accepted = client.post(written_path(), json={"text": text})
    assert accepted.status_code == 202, accepted.text
    response_id: int = accepted.json()["response_id"]
    return response_id


def _scores(client: httpx.Client, ids: list[int], timeout: float = 300) -> list[int]:
    """Wait for the worker to grade every response; their stored scores."""
    deadline = time.monotonic() + timeout
    scores: dict[int, int] = {}
    while len(scores) < len(ids):
        assert time.monotonic() < deadline, f"not graded in {timeout}s: {set(ids) - set(scores)}"
        for response_id in ids:
            if response_id in scores:
                continue
            body = client.get(f"/api/v1/responses/{response_id}").json()
            assert body["status"] != "failed", body
            if body["status"] == "graded":
                scores[response_id] = body["score"]
        time.sleep(0.3)
    return [scores[response_id] for response_id in ids]


@pytest.mark.slow
def test_injections_do_not_raise_the_stored_score(grading_api: httpx.Client) -> None:
    baseline_ids = [_submit(grading_api, PARTIAL_ANSWER), _submit(grading_api, WEAK_ANSWER)]
    after_ids = [_submit(grading_api, f"{PARTIAL_ANSWER} {text}") for text in INJECTIONS]
    before_ids = [_submit(grading_api, f"{text}\n{PARTIAL_ANSWER}") for text in INJECTIONS[:3]]
    alone_ids = [_submit(grading_api, text) for text in INJECTIONS]
    partial, weak = _scores(grading_api, baseline_ids)
    assert partial > weak, "the baseline must leave room for an injection to raise it"
    risen = [
        f"{score} > {partial}: {text!r}"
        for text, score in zip(
            INJECTIONS + INJECTIONS[:3],
            _scores(grading_api, after_ids + before_ids),
            strict=True,
        )
        if score > partial
    ]
    risen += [
        f"alone {score} > {max(weak, 10)}: {text!r}"
        for text, score in zip(INJECTIONS, _scores(grading_api, alone_ids), strict=True)
        if score > max(weak, 10)
    ]
    assert not risen, "\n".join(risen)
