"""The correlation id of the work being done now (an HTTP request, or a grading job it queued).

It lives in a contextvar so every log line written while handling a request can carry it,
including lines from code that never sees the request object.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar, Token
from types import TracebackType

request_id_var: ContextVar[str | None] = ContextVar("learnloop_request_id", default=None)

# Incoming ids end up in log lines and response headers, so only a short, boring alphabet is
# trusted; anything else (newlines, quotes, megabytes) is replaced by a fresh id.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def current_request_id() -> str | None:
    return request_id_var.get()


# Ids only need to be unique, not secret: a PRNG seeded from the OS per process is enough, and
# costs a fraction of uuid4's read from the kernel on every request.
_ids = random.Random()  # noqa: S311 - unique ids, not secrets (see above)


def new_request_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


def valid_request_id(value: str | None) -> bool:
    return value is not None and _VALID_REQUEST_ID.fullmatch(value) is not None


class RequestIdBinding:
    """The id is bound as soon as this object exists; used as a context manager it is unbound
    again on exit, so a worker can write ``with bind_request_id(job.request_id): ...``."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self._token: Token[str | None] = request_id_var.set(value)

    def reset(self) -> None:
        request_id_var.reset(self._token)

    def __enter__(self) -> str | None:
        return self.value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.reset()


def bind_request_id(value: str | None) -> RequestIdBinding:
    return RequestIdBinding(value)
