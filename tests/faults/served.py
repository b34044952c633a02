"""The real `learnloop serve` command in a child process, for the fault tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import COURSES_DIR, free_port


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    log: Path
    metrics_url: str = ""  # /metrics is on a port of its own

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        # A new connection each time, as a probe or a fresh client would make.
        with httpx.Client(base_url=self.url, trust_env=False, timeout=timeout) as http:
            return http.get(path)

    def metrics(self) -> str:
        """The exposition of the worker whose metrics port answered (its own port, not the
        app's)."""
        with httpx.Client(trust_env=False, timeout=5.0) as http:
            return http.get(f"{self.metrics_url}/metrics").text

    def in_flight(self) -> float:
        return self.in_flight_by_worker()[1]

    def in_flight_by_worker(self) -> tuple[float, float]:
        """The requests in flight in the worker whose metrics port answered, and that worker's
        start time (which tells the workers of a several-process server apart)."""
        families = text_string_to_metric_families(self.metrics())
        samples = [sample for family in families for sample in family.samples]
        started = next(s.value for s in samples if s.name == "process_start_time_seconds")
        in_flight = sum(s.value for s in samples if s.name == "learnloop_http_requests_in_flight")
        return started, in_flight

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_ready(served: Served, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert served.process.poll() is None, f"server exited:\n{served.output()[-4000:]}"
        try:
            if served.get("/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"server not ready:\n{served.output()[-4000:]}"
        time.sleep(0.05)


def wait_all_workers(served: Served, workers: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while served.output().count("Application startup complete.") < workers:
        assert time.monotonic() < deadline, f"not every worker started:\n{served.output()[-4000:]}"
        time.sleep(0.05)


@contextmanager
def learnloop_serve(
    database_url: str, tmp_path: Path, *, workers: int = 1, **env: str
) -> Iterator[Served]:
    """`python -m learnloop serve` on a free port, ready (every worker, when there are several);
    killed afterwards, with its workers, if still running."""
    port, metrics_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEARNLOOP_"))}
    environment.update(
        {
            "LEARNLOOP_ENV": "test",
            "LEARNLOOP_DATABASE_URL": database_url,
            "LEARNLOOP_COURSES_DIR": str(COURSES_DIR),
            "LEARNLOOP_LOG_LEVEL": "INFO",
            "LEARNLOOP_INLINE_WORKER": "false",
            "LEARNLOOP_METRICS_PORT": str(metrics_port),
            **env,
        }
    )
    log = tmp_path / f"serve-{port}.log"
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "learnloop",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so its workers can be killed too
        )
    served = Served(process, f"http://127.0.0.1:{port}", log, f"http://127.0.0.1:{metrics_port}")
    try:
        wait_ready(served, timeout=60.0 * workers)
        if workers > 1:
            wait_all_workers(served, workers)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind by a failed test
