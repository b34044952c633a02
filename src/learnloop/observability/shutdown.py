"""Graceful shutdown on SIGTERM: readiness turns false first, then in-flight requests finish.

Plain uvicorn closes its listening socket the moment SIGTERM arrives. On Kubernetes the
endpoint is removed from Services asynchronously, so for a few seconds new connections are
still routed to the pod and refused. ``serve_with_graceful_shutdown`` runs uvicorn with one
change: on the first SIGTERM (or SIGINT) it sets ``app.state.shutting_down = True`` (which
``/readyz`` reports as 503) and keeps serving for a drain delay, so the load balancer stops
sending traffic. Then uvicorn's own shutdown runs: stop accepting, wait for in-flight requests
(up to the rest of ``settings.shutdown_grace_seconds``), run the lifespan shutdown, exit 0.
A second signal skips the drain; a SIGINT after that forces the exit.

With several processes, ``serve_workers`` is the supervisor: it binds the socket, starts each
worker (a `GracefulServer` on the shared socket) and, on SIGTERM, signals every worker at once,
so all of them turn readiness off, drain and finish their requests together; a worker still
running when the grace period is over is killed. A worker that dies on its own is restarted.
uvicorn's own supervisor is not used: it stops its workers one after another, and they are
plain uvicorn servers, which close the socket at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from learnloop.settings import Settings

logger = logging.getLogger(__name__)

# Long enough for kube-proxy and ingress controllers to drop the endpoint, short enough that
# a rolling update of many pods does not crawl.
MAX_DRAIN_SECONDS = 5.0


def install_shutdown_handling(app: Starlette) -> None:
    """Give ``app.state.shutting_down`` its initial value; ``/readyz`` reads it."""
    app.state.shutting_down = False


def drain_seconds_for(grace_seconds: float) -> float:
    # At most a quarter of the grace period, so in-flight requests keep most of it.
    return max(0.0, min(MAX_DRAIN_SECONDS, grace_seconds / 4))


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette, drain_seconds: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is None and not self.should_exit:
            self.app.state.shutting_down = True
            self.drain_deadline = time.monotonic() + self.drain_seconds
            logger.info(
                "shutdown requested: readiness off, draining",
                extra={"signal": signal.Signals(sig).name, "drain_seconds": self.drain_seconds},
            )
            return
        # A second signal: the operator wants out now. Not recorded in _captured_signals on
        # purpose: uvicorn would re-raise it after shutdown and the exit code would be 143.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if (
            self.drain_deadline is not None
            and not self.should_exit
            and time.monotonic() >= self.drain_deadline
        ):
            logger.info("drain finished; waiting for in-flight requests")
            self.should_exit = True
        return await super().on_tick(counter)


def serve_with_graceful_shutdown(
    app: Starlette,
    host: str,
    port: int,
    settings: Settings,
    *,
    drain_seconds: float | None = None,
    **uvicorn_options: Any,
) -> None:
    """Run ``app`` with uvicorn until SIGTERM, shutting down as the module docstring says."""
    grace = settings.shutdown_grace_seconds
    drain = drain_seconds_for(grace) if drain_seconds is None else drain_seconds
    install_shutdown_handling(app)
    options: dict[str, Any] = {
        # Logging is configured by configure_logging; uvicorn's dictConfig would replace it.
        "log_config": None,
        # The access log comes from ObservabilityMiddleware, with the request id.
        "access_log": False,
        # The client address and scheme from X-Forwarded-* only when a trusted proxy sent them.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        "timeout_graceful_shutdown": max(1.0, grace - drain),
    }
    sockets = uvicorn_options.pop("sockets", None)
    options.update(uvicorn_options)
    config = uvicorn.Config(app, host=host, port=port, **options)
    GracefulServer(config, app, drain).run(sockets=sockets)


def _worker(sock: socket.socket, host: str, port: int) -> None:
    """One worker process: the app, served on the supervisor's socket until SIGTERM."""
    from learnloop.settings import get_settings
    from learnloop.web.app import create_app

    settings = get_settings()
    serve_with_graceful_shutdown(create_app(settings), host, port, settings, sockets=[sock])
    # Served and shut down: leave now. A spawned process would otherwise linger at exit for
    # seconds (idle thread-pool threads), eating into the grace period.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# A worker that dies within this long of its start is restarted only after a pause.
RESTART_BACKOFF_SECONDS = 1.0


def serve_workers(host: str, port: int, workers: int, settings: Settings) -> int:
    """Run `workers` processes on one socket until SIGTERM or SIGINT; the exit code."""
    config = uvicorn.Config("learnloop.web.app:create_app", host=host, port=port)
    sock = config.bind_socket()
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    signals: list[int] = []

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(sock, host, port), daemon=False)
        process.start()
        return process

    def on_signal(sig: int, frame: FrameType | None) -> None:
        signals.append(sig)
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [start() for _ in range(workers)]
    started = {process.pid: time.monotonic() for process in processes}
    logger.info("workers started", extra={"pids": [p.pid for p in processes]})
    try:
        while not stopping.wait(0.2):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                logger.error(
                    "worker exited; restarting it",
                    extra={"pid": process.pid, "exit_code": process.exitcode},
                )
                if time.monotonic() - started.get(process.pid, 0.0) < RESTART_BACKOFF_SECONDS:
                    time.sleep(RESTART_BACKOFF_SECONDS)
                processes[i] = start()
                started[processes[i].pid] = time.monotonic()
        return _stop_workers(processes, sock, settings.shutdown_grace_seconds, signals)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_workers(
    processes: list[BaseProcess], sock: socket.socket, grace: float, signals: list[int]
) -> int:
    deadline = time.monotonic() + grace
    sent = 0
    logger.info("shutdown requested: stopping workers", extra={"workers": len(processes)})
    while True:
        # Every signal the supervisor gets goes to every worker: the first starts their drain,
        # a second one ends it at once (see GracefulServer).
        while sent < len(signals):
            for process in processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)
            sent += 1
        if not any(process.is_alive() for process in processes):
            break
        if time.monotonic() >= deadline:
            for process in processes:
                if process.is_alive():
                    logger.error("worker still running after the grace period; killing it")
                    process.kill()
            break
        time.sleep(0.05)
    for process in processes:
        process.join(timeout=5)
    sock.close()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    logger.info("workers stopped", extra={"failed_exit_codes": failed})
    return 0 if not failed else 1
