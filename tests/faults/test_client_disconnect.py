"""A client that hangs up is not a server error (issue 15, item 10).

The real `learnloop serve`; clients send half a form and close the connection, as wrk does when
a run ends. Each is logged once, as a 499 (nginx's "client closed request"), with no traceback,
and counted as a 4xx, never a 5xx.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from .served import learnloop_serve

HANG_UPS = 5


def _hang_up_mid_body(url: str, path: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 1000\r\n\r\nemail=someone%40example.com&pass"
            ).encode()
        )
        time.sleep(0.2)  # the server is reading the form now


def _count(metrics: str, status_class: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("learnloop_http_requests_total{") and f'status="{status_class}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_client_hanging_up_is_logged_once_as_499(tmp_path: Path) -> None:
    with learnloop_serve(f"sqlite:///{tmp_path / 'learnloop.db'}", tmp_path) as served:
        before = served.metrics()
        for _ in range(HANG_UPS):
            _hang_up_mid_body(served.url, "/signin")
        deadline = time.monotonic() + 10
        while served.output().count('"status": 499') < HANG_UPS:
            assert time.monotonic() < deadline, served.output()[-4000:]
            time.sleep(0.05)
        time.sleep(0.3)  # anything else it would log comes now
        after = served.metrics()
        log = served.output()

    lines = [line for line in log.splitlines() if "/signin" in line]
    assert len(lines) == HANG_UPS, lines
    for line in lines:
        assert '"status": 499' in line
        assert '"level": "INFO"' in line
    assert "Traceback" not in log
    assert "ClientDisconnect" not in log
    assert not re.search(r'"status": 5\d\d', log)
    assert _count(after, "5xx") == _count(before, "5xx")
    assert _count(after, "4xx") - _count(before, "4xx") == HANG_UPS
