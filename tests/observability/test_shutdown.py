"""SIGTERM against a real uvicorn process: readiness turns false first, the request in flight
still completes with 200, and the process exits cleanly within the grace period."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from learnloop.observability.shutdown import drain_seconds_for

HERE = Path(__file__).resolve().parent
GRACE_SECONDS = 10.0
DRAIN_SECONDS = 2.0


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 10.0) -> httpx.Response:
        # A new connection per call, as a load balancer's probe would make.
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=timeout) as http:
            return http.get(path)


@pytest.fixture
def served() -> Iterator[Served]:
    # The test binds the socket and hands it over, so the port is known without a race.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "shutdown_app.py"),
            str(listener.fileno()),
            str(GRACE_SECONDS),
            str(DRAIN_SECONDS),
        ],
        pass_fds=[listener.fileno()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    listener.close()
    app = Served(process, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if app.get("/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.05)
        yield app
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def in_flight(served: Served) -> float:
    families = text_string_to_metric_families(served.get("/metrics").text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "learnloop_http_requests_in_flight"
    )


@pytest.mark.slow
def test_sigterm_turns_readiness_off_then_finishes_the_request_in_flight(
    served: Served,
) -> None:
    slow: dict[str, object] = {}

    def call_slow() -> None:
        try:
            response = served.get("/slow")
            slow["status"], slow["body"] = response.status_code, response.text
            slow["header"] = response.headers.get("X-Request-ID")
        except httpx.HTTPError as error:  # reported by the assertions below
            slow["error"] = repr(error)
        slow["finished_at"] = time.monotonic()

    caller = threading.Thread(target=call_slow)
    caller.start()
    # Wait until the request is inside the handler, as the in-flight gauge reports it.
    deadline = time.monotonic() + 10
    while in_flight(served) < 1:
        assert time.monotonic() < deadline, "the slow request never started"
        time.sleep(0.05)
    assert "status" not in slow

    sigterm_at = time.monotonic()
    served.process.send_signal(signal.SIGTERM)

    # Readiness turns false while the server still accepts connections.
    readiness = served.get("/readyz")
    readiness_at = time.monotonic()
    assert readiness.status_code == 503
    assert readiness.text == "draining"
    assert readiness_at - sigterm_at < DRAIN_SECONDS

    caller.join(timeout=GRACE_SECONDS)
    assert slow.get("error") is None
    assert slow["status"] == 200
    assert slow["body"] == "finished"
    assert slow["header"]  # the request id survived the shutdown too
    assert isinstance(slow["finished_at"], float)
    # It outlived the drain, so uvicorn's own shutdown waited for it.
    assert slow["finished_at"] > sigterm_at + DRAIN_SECONDS

    exit_code = served.process.wait(timeout=GRACE_SECONDS)
    exited_at = time.monotonic()
    assert exit_code == 0
    assert exited_at - sigterm_at < GRACE_SECONDS

    # After the drain the listener is closed: no new work is taken.
    with pytest.raises(httpx.ConnectError):
        served.get("/readyz", timeout=1)

    output = served.process.communicate()[0]
    messages = [json.loads(line)["message"] for line in output.splitlines() if line.startswith("{")]
    assert "shutdown requested: readiness off, draining" in messages
    assert messages.index("shutdown requested: readiness off, draining") < messages.index(
        "drain finished; waiting for in-flight requests"
    )


@pytest.mark.slow
def test_idle_server_exits_after_the_drain(served: Served) -> None:
    sigterm_at = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=GRACE_SECONDS) == 0
    took = time.monotonic() - sigterm_at
    # It waits out the drain (so the load balancer notices) but nothing more.
    assert DRAIN_SECONDS <= took < DRAIN_SECONDS + 3


def test_drain_is_bounded_by_the_grace_period() -> None:
    assert drain_seconds_for(20.0) == 5.0
    assert drain_seconds_for(8.0) == 2.0
    assert drain_seconds_for(0.0) == 0.0
