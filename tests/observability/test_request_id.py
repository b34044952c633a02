from __future__ import annotations

import re

import pytest

from learnloop.observability.context import bind_request_id, current_request_id

from .apps import AppClient, build_app

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def client() -> AppClient:
    return AppClient(build_app())


def test_incoming_request_id_is_echoed_and_bound(client: AppClient) -> None:
    response = client.get("/items/1", headers={"X-Request-ID": "edge-proxy.42_A"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "edge-proxy.42_A"
    # The handler saw the same id through the contextvar.
    assert response.json()["request_id"] == "edge-proxy.42_A"


def test_missing_request_id_is_generated_fresh_each_time(client: AppClient) -> None:
    first = client.get("/items/1").headers["X-Request-ID"]
    second = client.get("/items/1").headers["X-Request-ID"]
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 129,
        "id with spaces",
        '"><script>alert(1)</script>',
        "../../etc/passwd;rm -rf",
        "x\tinjected: header",
        "",
    ],
)
def test_hostile_request_id_is_replaced(client: AppClient, hostile: str) -> None:
    response = client.get("/items/1", headers={"X-Request-ID": hostile})
    returned = response.headers["X-Request-ID"]
    assert returned != hostile
    assert GENERATED.fullmatch(returned)
    assert response.json()["request_id"] == returned


def test_longest_valid_request_id_is_kept(client: AppClient) -> None:
    value = "a" * 128
    assert client.get("/items/1", headers={"X-Request-ID": value}).headers["X-Request-ID"] == value


def test_error_response_and_404_carry_the_request_id(client: AppClient) -> None:
    failed = client.get("/boom", headers={"X-Request-ID": "failing-1"})
    assert failed.status_code == 500
    assert failed.headers["X-Request-ID"] == "failing-1"
    missing = client.get("/no/such/page", headers={"X-Request-ID": "missing-1"})
    assert missing.status_code == 404
    assert missing.headers["X-Request-ID"] == "missing-1"


def test_request_id_header_appears_once(client: AppClient) -> None:
    response = client.get("/stream", headers={"X-Request-ID": "stream-1"})
    assert response.text == "abc"
    assert response.headers.get_list("X-Request-ID") == ["stream-1"]


def test_binding_is_undone_after_the_request(client: AppClient) -> None:
    assert current_request_id() is None
    client.get("/items/1", headers={"X-Request-ID": "leak-check"})
    assert current_request_id() is None


def test_bind_request_id_as_call_and_as_context_manager() -> None:
    with bind_request_id("job-7") as bound:
        assert bound == "job-7"
        assert current_request_id() == "job-7"
    assert current_request_id() is None
    binding = bind_request_id("plain-call")
    try:
        assert current_request_id() == "plain-call"
    finally:
        binding.reset()
    assert current_request_id() is None
