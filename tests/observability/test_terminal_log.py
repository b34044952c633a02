"""On a terminal `learnloop serve` logs for a person: plain lines, one per request, and the URL to
open; into a pipe (a log collector, the image) it logs JSON lines (issue 15, item 9)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import COURSES_DIR, free_port


def serve_and_request(tmp_path: Path, *, terminal: bool, **env: str) -> tuple[str, int]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_")}
    environment.update(
        {"LEARNLOOP_COURSES_DIR": str(COURSES_DIR), "LEARNLOOP_METRICS_PORT": "-1", **env}
    )
    command = [sys.executable, "-m", "learnloop", "serve", "--port", str(port)]
    if terminal:
        parent, child = pty.openpty()
        process = subprocess.Popen(
            command, env=environment, cwd=tmp_path, stdout=child, stderr=child, close_fds=True
        )
        os.close(child)
    else:
        read_end, write_end = os.pipe()
        process = subprocess.Popen(
            command, env=environment, cwd=tmp_path, stdout=write_end, stderr=write_end
        )
        os.close(write_end)
        parent = read_end
    chunks: list[bytes] = []

    def pump(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([parent], [], [], 0.05)
            if ready:
                try:
                    data = os.read(parent, 65536)
                except OSError:  # the terminal closed: the process exited
                    return
                if not data:
                    return
                chunks.append(data)

    try:
        deadline = time.monotonic() + 60
        while True:
            pump(0.2)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, b"".join(chunks).decode(errors="replace")
            assert time.monotonic() < deadline, "server not ready"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/courses").status_code == 401
        pump(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        pump(3.0)
        process.wait(timeout=30)
        os.close(parent)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), port


@pytest.mark.slow
def test_on_a_terminal_the_log_is_plain_lines_with_the_url(tmp_path: Path) -> None:
    output, port = serve_and_request(tmp_path, terminal=True)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines
    assert not any(line.lstrip().startswith("{") for line in lines), output
    assert any(f"http://127.0.0.1:{port}" in line for line in lines), output
    requests = [line for line in lines if "GET /api/v1/courses 401" in line]
    assert len(requests) == 1, output


@pytest.mark.slow
def test_into_a_pipe_or_when_set_the_log_is_json(tmp_path: Path) -> None:
    piped, _ = serve_and_request(tmp_path, terminal=False)
    chosen, _ = serve_and_request(tmp_path, terminal=True, LEARNLOOP_LOG_JSON="true")
    for output in (piped, chosen):
        records = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert any(record["message"] == "GET /api/v1/courses 401" for record in records)
