"""Graceful shutdown on SIGTERM: readiness turns false first, then in-flight requests finish.

Plain uvicorn closes its listening socket the moment SIGTERM arrives. On Kubernetes the
endpoint is removed from Services asynchronously, so for a few seconds new connections are
still routed to the pod and refused. ``serve_with_graceful_shutdown`` runs uvicorn with one
change: on the first SIGTERM (or SIGINT) it sets ``app.state.shutting_down = True`` (which
``/readyz`` reports as 503) and keeps serving for a drain delay, so the load balancer stops
sending traffic. Then uvicorn's own shutdown runs: stop accepting, wait for in-flight requests
(up to the rest of ``settings.shutdown_grace_seconds``), run the lifespan shutdown, exit 0.
A second signal skips the drain; a SIGINT after that forces the exit.
"""

from __future__ import annotations

import logging
import signal
import time
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
    options.update(uvicorn_options)
    config = uvicorn.Config(app, host=host, port=port, **options)
    GracefulServer(config, app, drain).run()
