"""A tiny app served through serve_with_graceful_shutdown, run as a subprocess by
test_shutdown.py: ``python shutdown_app.py LISTEN_FD GRACE_SECONDS DRAIN_SECONDS``."""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from learnloop.observability.logging import configure_logging
from learnloop.observability.setup import install_observability
from learnloop.observability.shutdown import serve_with_graceful_shutdown
from learnloop.settings import Settings

SLOW_SECONDS = 4.0


def build(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(SLOW_SECONDS)
        return PlainTextResponse("finished")

    @app.get("/readyz")
    def readyz(request: Request) -> PlainTextResponse:
        if request.app.state.shutting_down:
            return PlainTextResponse("draining", 503)
        return PlainTextResponse("ok")

    install_observability(app, settings, metrics_route=True)
    return app


def main() -> None:
    fd, grace, drain = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    settings = Settings(env="test", shutdown_grace_seconds=grace, log_json=True)
    configure_logging(settings)
    serve_with_graceful_shutdown(
        build(settings), "127.0.0.1", 0, settings, drain_seconds=drain, fd=fd
    )


if __name__ == "__main__":
    main()
