"""The real `learnloop serve` command in a child process, for the fault tests."""

from __future__ import annotations

import os
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

    def in_flight(self) -> float:
        with httpx.Client(trust_env=False, timeout=5.0) as http:
            scraped = http.get(f"{self.metrics_url}/metrics")
        families = text_string_to_metric_families(scraped.text)
        return sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "learnloop_http_requests_in_flight"
        )

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


@contextmanager
def learnloop_serve(database_url: str, tmp_path: Path, **env: str) -> Iterator[Served]:
    """`python -m learnloop serve` on a free port, ready; killed afterwards if still running."""
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
            [sys.executable, "-m", "learnloop", "serve", "--port", str(port)],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log, f"http://127.0.0.1:{metrics_port}")
    try:
        wait_ready(served)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
