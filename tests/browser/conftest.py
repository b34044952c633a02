"""Fixtures for the browser tests: a real `learnloop serve` process and Debian's Chromium.

The server runs exactly as a learner would start it (`learnloop serve`), on a temporary SQLite
database that it creates and migrates itself, with the repository's sample course.
Chromium is driven through Playwright's sync API with the launch flags from ROUTES.md; axe-core
comes from the npm registry via scripts/install-axe.sh and is injected into the page.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[2]
COURSES_DIR = REPO / "courses"
AXE_JS = REPO / ".cache" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """A missing tool fails the run in CI and skips elsewhere (scripts/test-deps.sh installs it)."""
    message = f"{what} is missing: run `bash scripts/test-deps.sh`"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path
    clock: Path  # LEARNLOOP_CLOCK_FILE: seconds the learning clock is ahead of real time

    def move_clock(self, seconds: float) -> None:
        self.clock.write_text(f"{float(self.clock.read_text()) + seconds}")

    def learnloop(self, *args: str) -> str:
        """Run a `learnloop` command against the server's database; returns its stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "learnloop", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"learnloop {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        **os.environ,
        "LEARNLOOP_ENV": "test",
        "LEARNLOOP_DATABASE_URL": f"sqlite:///{workdir / 'learnloop.db'}",
        "LEARNLOOP_COURSES_DIR": str(COURSES_DIR),
        "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(32),
        "LEARNLOOP_LOG_JSON": "false",
        # A test module may add settings of its own (SERVER_ENV), e.g. an empty tutor index.
        **{
            k: v.format(workdir=workdir)
            for k, v in getattr(request.module, "SERVER_ENV", {}).items()
        },
    }
    log = workdir / "server.log"
    clock = workdir / "clock"
    clock.write_text("0")
    env["LEARNLOOP_CLOCK_FILE"] = str(clock)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "learnloop",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                f"{port}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    server = Server(url, env, log, clock)
    try:
        deadline = time.monotonic() + 180  # a shared 2-core machine can be slow
        while True:
            assert process.poll() is None, f"learnloop serve exited:\n{server.log_tail()}"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not ready in 180 s:\n{server.log_tail()}"
            time.sleep(0.2)
        yield server
    finally:
        # Shown by pytest only when a test failed: the server's side of the story.
        print(f"--- learnloop serve log (tail) ---\n{server.log_tail()}")
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing("Debian's chromium (/usr/bin/chromium)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists() and shutil.which("npm"):
        subprocess.run(["bash", str(REPO / "scripts" / "install-axe.sh")], check=False)
    if not AXE_JS.exists():
        missing("axe-core (.cache/axe-core/axe.min.js)")
    return AXE_JS.read_text()
