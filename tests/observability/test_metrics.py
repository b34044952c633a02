from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import QueuePool

from conftest import LiveServer
from learnloop.observability.exposition import start_metrics_server
from learnloop.observability.metrics import observe_pool

from .apps import AppClient, build_app

REQUESTS = "learnloop_http_requests_total"


def scrape(text_body: str) -> list[Sample]:
    return [
        sample for family in text_string_to_metric_families(text_body) for sample in family.samples
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


@pytest.fixture(scope="module")
def client() -> AppClient:
    return AppClient(build_app())


def metrics(client: AppClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return scrape(response.text)


def test_requests_are_labelled_by_route_template(client: AppClient) -> None:
    before = metrics(client)
    client.get("/items/101")
    client.get("/items/202")
    after = metrics(client)

    template = {"route": "/items/{item_id}", "method": "GET", "status": "2xx"}
    assert value(after, REQUESTS, **template) - value(before, REQUESTS, **template) == 2
    routes = {s.labels["route"] for s in after if s.name == REQUESTS}
    assert "/items/{item_id}" in routes
    assert not any(route.startswith("/items/") and "{" not in route for route in routes)
    durations = {"route": "/items/{item_id}", "method": "GET"}
    count = "learnloop_http_request_duration_seconds_count"
    assert value(after, count, **durations) - value(before, count, **durations) == 2


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/no/such/page", "<unmatched>", "4xx"),
        ("GET", "/boom", "/boom", "5xx"),
        ("POST", "/items/7", "/items/{item_id}", "4xx"),  # 405: the path matched
        ("GET", "/items/not-a-number", "/items/{item_id}", "4xx"),  # 422
        ("GET", "/plain/anna", "/plain/{name}", "2xx"),  # plain Starlette route
        ("GET", "/sub/things/9", "/sub/things/{thing_id}", "2xx"),  # inside a mount
        ("BREW", "/items/1", "/items/{item_id}", "4xx"),  # unknown method folded
    ],
)
def test_route_label_for_each_kind_of_route(
    client: AppClient, method: str, path: str, route: str, status: str
) -> None:
    method_label = method if method != "BREW" else "OTHER"
    labels = {"route": route, "method": method_label, "status": status}
    before = value(metrics(client), REQUESTS, **labels)
    client.request(method, path)
    assert value(metrics(client), REQUESTS, **labels) - before == 1


def test_health_probes_and_scrapes_are_not_counted(client: AppClient) -> None:
    for path in ("/livez", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    samples = metrics(client)
    counted = {s.labels.get("route") for s in samples if s.name.startswith("learnloop_http_")}
    assert not counted & {"/livez", "/readyz", "/metrics"}


def test_in_flight_gauge_counts_the_running_request(client: AppClient) -> None:
    inside = client.get("/in-flight").json()["in_flight"]
    assert inside >= 1
    assert value(metrics(client), "learnloop_http_requests_in_flight") == inside - 1


def test_metric_names_follow_prometheus_conventions(client: AppClient) -> None:
    families = list(text_string_to_metric_families(client.get("/metrics").text))
    ours = [family for family in families if family.name.startswith("learnloop_")]
    assert len(ours) >= 15
    for family in ours:
        if family.type == "counter":
            # The parser strips _total from the family name; the samples must carry it.
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    names = {family.name for family in ours}
    for expected in (
        "learnloop_http_requests",
        "learnloop_db_pool_connections",
        "learnloop_feedback_queue_depth",
        "learnloop_grading_duration_seconds",
        "learnloop_ai_calls",
        "learnloop_ai_tokens",
        "learnloop_signups",
        "learnloop_lessons_completed",
        "learnloop_xp_awarded",
        "learnloop_focus_minutes",
    ):
        assert expected in names


@pytest.fixture
def pooled_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(
            f"sqlite:///{Path(directory) / 'pool.db'}",
            poolclass=QueuePool,
            pool_size=2,
            max_overflow=3,
        )
        yield engine
        engine.dispose()


def test_pool_gauges_are_read_at_scrape_time(client: AppClient, pooled_engine: Engine) -> None:
    observe_pool(pooled_engine)

    def pool(state: str) -> float:
        return value(metrics(client), "learnloop_db_pool_connections", state=state)

    base = {state: pool(state) for state in ("checked_out", "idle", "overflow")}
    connections = [pooled_engine.connect() for _ in range(3)]
    for connection in connections:
        connection.execute(text("SELECT 1"))
    assert pool("checked_out") - base["checked_out"] == 3
    assert pool("overflow") - base["overflow"] == 1  # pool_size 2, so the third overflowed

    for connection in connections:
        connection.close()
    assert pool("checked_out") - base["checked_out"] == 0
    # The overflow connection is discarded on return; the two pooled ones sit idle.
    assert pool("idle") - base["idle"] == 2


def test_standalone_metrics_server_for_the_worker() -> None:
    ready = True
    server = start_metrics_server(0, "127.0.0.1", ready=lambda: ready)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as http:
            scraped = http.get("/metrics")
            assert scraped.status_code == 200
            names = {family.name for family in text_string_to_metric_families(scraped.text)}
            assert "learnloop_grading_jobs" in names
            assert http.get("/livez").status_code == 200
            assert http.get("/readyz").status_code == 200
            ready = False
            assert http.get("/readyz").status_code == 503
            assert http.get("/elsewhere").status_code == 404
    finally:
        server.close()


def test_the_app_serves_metrics_on_a_port_of_its_own(live_server: LiveServer) -> None:
    """Issue 15: /metrics is not on the app's port, which the Ingress routes."""
    assert httpx.get(f"{live_server.url}/metrics", timeout=10).status_code == 404
    server = live_server.app.state.metrics_server
    assert server is not None
    assert server.host == live_server.settings.metrics_host == "127.0.0.1"
    httpx.get(f"{live_server.url}/api/v1/courses", timeout=10)
    scraped = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert "learnloop_http_requests_total" in scraped.text
    assert httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10).status_code == 200
