"""Request body limits, enforced before any route parses a body."""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_detail(limit: int) -> str:
    return f"Request body is larger than the limit of {limit} bytes."


class BodyLimitMiddleware:
    """Answer 413 to bodies over `max_bytes`.

    A declared Content-Length over the limit is refused before the body is read. A body that
    grows past the limit while streaming (chunked, or a lying Content-Length) stops the read:
    the receive wrapper raises an HTTPException, which FastAPI passes through its body parsing
    unchanged, so the route answers 413 too.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "Content-Length is not a number.")
                    return
        if declared is not None and declared > self.max_bytes:
            await _reply(send, 413, too_large_detail(self.max_bytes))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=too_large_detail(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
