"""Input no route should ever see, refused with a 400 and its reason before routing.

Python reads some input that the rest of the stack cannot take, and the failure used to surface
as a 500 deep inside a route: a NUL character (PostgreSQL refuses it in text), a lone UTF-16
surrogate from a JSON ``\\ud800`` escape (no encoder writes it), ``NaN``, ``Infinity`` or
``1e400`` in JSON (no JSON encoder writes them back), and digits other than 0-9 in an address
("²" passes ``str.isdigit`` but not ``int``). One guard for every route, the API and the pages:

- the path and the query string: no NUL, no digits outside ASCII, valid UTF-8;
- JSON bodies: numbers finite, strings and keys without NUL or lone surrogates, nesting bounded;
- form bodies (``application/x-www-form-urlencoded``): valid UTF-8 without NUL.

It sits inside `BodyLimitMiddleware`, so the body it buffers is already bounded.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnloop.web.rendering import error_page

# A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high.
_LONE_SURROGATE = re.compile(
    r"[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
)
MAX_JSON_DEPTH = 64


class BadInputError(ValueError):
    """The reason is shown to the client."""


def _reject_constant(name: str) -> Any:
    raise BadInputError(f"{name} is not a number this API accepts; send a finite number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInputError(f"{text} is too large; send a finite number.")
    return value


def check_text(value: str, where: str) -> None:
    if "\x00" in value:
        raise BadInputError(f"{where} contains a NUL character.")
    if _LONE_SURROGATE.search(value):
        raise BadInputError(f"{where} contains an unpaired UTF-16 surrogate; send valid Unicode.")


def _check_json_value(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise BadInputError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
    if isinstance(value, str):
        check_text(value, "A string in the body")
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, "A key in the body")
            _check_json_value(item, depth + 1)


def check_json_body(body: bytes) -> None:
    """Raises `BadInputError`; a body that is not JSON at all is left to the route (a 400)."""
    try:
        document = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except BadInputError:
        raise
    except RecursionError as error:
        raise BadInputError(f"The JSON is nested over {MAX_JSON_DEPTH} levels deep.") from error
    except ValueError:  # not JSON (or not UTF-8): FastAPI answers that itself
        return
    _check_json_value(document)


def _decoded(raw: bytes, where: str) -> str:
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in data:
        raise BadInputError(f"{where} contains a NUL character.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInputError(f"{where} is not valid UTF-8.") from error


def check_form_body(body: bytes) -> None:
    for pair in body.split(b"&"):
        _decoded(pair, "A form field")


def check_target(path: str, query: bytes) -> None:
    if "\x00" in path:
        raise BadInputError("The address contains a NUL character.")
    if not path.isascii():
        for segment in path.split("/"):
            # A segment of digits, some not 0-9: "²" or "٣" where a number (an id) belongs.
            if segment.isdigit() and not segment.isascii():
                raise BadInputError("Numbers in the address must use the digits 0-9.")
    if query:
        _decoded(query, "The query string")


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope["path"], scope.get("query_string", b""))
        except BadInputError as error:
            await self._refuse(scope, send, error)
            return
        kind = _content_type(scope)
        is_json = kind == b"application/json" or (
            kind.startswith(b"application/") and kind.endswith(b"+json")
        )
        is_form = kind == b"application/x-www-form-urlencoded"
        if not (is_json or is_form):
            await self.app(scope, receive, send)
            return
        # Buffer the body (BodyLimitMiddleware, outside, bounds it), check it, then replay it.
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, receive, send)  # the client left; let the app see it
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as error:  # the body limit, raised from its receive wrapper
            await self._reply(scope, send, error.status_code, str(error.detail))
            return
        body = b"".join(chunks)
        try:
            if is_json:
                check_json_body(body)
            else:
                check_form_body(body)
        except BadInputError as error:
            await self._refuse(scope, send, error)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, error: BadInputError) -> None:
        await self._reply(scope, send, 400, str(error))

    async def _reply(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        request = Request(scope)
        if scope["path"].startswith("/api/") or "app" not in scope:
            body = json.dumps({"detail": detail}).encode()
            headers = [(b"content-type", b"application/json")]
        else:
            page = error_page(request, None, status, "Request not accepted", detail)
            body = bytes(page.body)
            headers = [
                (name, value) for name, value in page.raw_headers if name != b"content-length"
            ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
