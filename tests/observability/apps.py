"""A small FastAPI app with the shapes the observability code must handle, so these tests
do not depend on the product's app."""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from learnloop.observability.context import current_request_id
from learnloop.observability.setup import install_observability
from learnloop.observability.tracing import inject_trace_context
from learnloop.settings import Settings

logger = logging.getLogger("learnloop.tests.app")


def _plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain")


def build_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, object]:
        logger.info("item read", extra={"item_id": item_id})
        return {"id": item_id, "request_id": current_request_id()}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/in-flight")
    def in_flight() -> dict[str, float | None]:
        return {"in_flight": REGISTRY.get_sample_value("learnloop_http_requests_in_flight")}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a", b"b", b"c"]), media_type="text/plain")

    @app.get("/enqueue")
    def enqueue() -> dict[str, str]:
        # What storing a grading job does: keep the carrier next to the job row.
        return inject_trace_context()

    @app.get("/query")
    def query() -> dict[str, int]:
        assert engine is not None
        with engine.connect() as connection:
            value = connection.execute(text("SELECT 41 + 1")).scalar_one()
        return {"value": value}

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> PlainTextResponse:
        if request.app.state.shutting_down:
            return PlainTextResponse("draining", 503)
        return PlainTextResponse("ok")

    # A plain Starlette route and a mounted sub-router: no scope["route"] from FastAPI there.
    app.router.routes.append(Route("/plain/{name}", _plain))
    app.mount("/sub", Router(routes=[Route("/things/{thing_id}", _plain)]))

    install_observability(app, Settings(env="test"), metrics_route=True)
    return app


class AppClient:
    """Sync HTTP calls into an ASGI app through httpx's ASGITransport.

    Starlette's TestClient is not used: importing it trips an anyio DeprecationWarning, which
    filterwarnings=error turns into a collection error. Requests run in the caller's thread and
    context, which is what lets a test see a contextvar the middleware failed to reset.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                return await client.request(method, path, headers=headers)

        return asyncio.run(call())
