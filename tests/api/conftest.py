"""API test fixtures: an HTTP client on the live server that checks responses against OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer

from .openapi_check import OpenAPIChecker


@pytest.fixture(scope="session")
def openapi_checker(live_server: LiveServer) -> OpenAPIChecker:
    return OpenAPIChecker.for_server(live_server.url)


@pytest.fixture
def http(live_server: LiveServer, openapi_checker: OpenAPIChecker) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        event_hooks={"response": [openapi_checker.check]},
    ) as client:
        yield client
