"""The published API contract: every operation says who may call it and how it fails."""

from __future__ import annotations

from typing import Any

import pytest

from learnloop.settings import Settings
from learnloop.web.app import create_app

ACCESS_LEVELS = {"public", "learner", "instructor", "admin"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(env="test")).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_contract_routes_are_published(document: dict[str, Any]) -> None:
    published = {(method, path) for method, path, _ in _operations(document)}
    lesson = "/api/v1/courses/{slug}/lessons/{number}"
    assert {
        ("POST", "/api/v1/accounts"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/courses"),
        ("GET", lesson),
        ("POST", f"{lesson}/exercises/{{exercise_id}}/attempts"),
        ("POST", f"{lesson}/written/{{exercise_id}}"),
        ("POST", f"{lesson}/complete"),
        ("POST", "/api/v1/me/focus-sessions"),
        ("GET", "/api/v1/me/progress"),
        ("GET", "/api/v1/responses/{response_id}"),
        ("POST", "/api/v1/me/upgrade"),
        ("GET", "/livez"),
        ("GET", "/readyz"),
    } <= published


def test_every_operation_states_its_access_rule(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        access = operation.get("x-access")
        assert access in ACCESS_LEVELS, f"{method} {path} has no x-access rule"
        if access != "public":
            assert "401" in operation["responses"], f"{method} {path} must document 401"
            assert operation.get("security"), f"{method} {path} must declare bearer security"


def test_every_error_response_has_a_schema(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            assert schema, f"{method} {path} {status} has no JSON schema"
        if path.startswith("/api/v1"):
            assert "503" in operation["responses"], f"{method} {path} must document 503"
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= operation["responses"].keys(), f"{method} {path}"
