"""Model calls from a request, in steps, so a slow model stalls only the learner who asked.

A model (the LLM, or the embedded tutor's retrieval) can take seconds or hang until its
deadline. A route that calls one does it in these steps, and in no other way:

1. **Admission** (`AiSlot`, a dependency declared before the user): one of the process's
   ``ai_max_concurrent_calls`` slots, waited for at most ``ai_queue_timeout_seconds``, else 503
   with ``Retry-After``. It is taken before the session lookup, so nothing waits for a slot
   while holding a database connection, and held until the response has been sent (a stream
   included).
2. **Charge** (`AiCalls.charge`): the quota charge (and whatever else must be written first)
   runs in an AI thread inside the request's transaction, which is committed at once. From
   here on the request holds no database lock and no pooled connection.
3. **Call** (`AiCalls.call`, `AiCalls.stream`): the engine runs in a thread of the AI calls' own
   limiter, never on the event loop and never in the thread pool the database routes share,
   with no transaction open.
4. **Store** (`AiCalls.store`): whatever comes after (storing or rendering the result) runs
   in a new short transaction, once the request has a database slot again (`deps.DbSlots`);
   the request's `get_db` commits it as usual.

Written answers follow the same rule with the queue in between: the request stores the answer
and charges the quota, and the worker grades with no session open (`feedback.worker`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from learnloop.settings import Settings
from learnloop.web.deps import db_slot

T = TypeVar("T")
_END = object()


class AiBusy(Exception):  # noqa: N818 - named like the other overload answers
    """Every AI slot of this process stayed taken for the whole queue timeout (503)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many AI requests right now; try again shortly.")
        self.retry_after_seconds = retry_after_seconds


class AiCalls:
    """The process's AI slots and the threads that run the engines (one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.capacity = settings.ai_max_concurrent_calls
        self.queue_timeout = settings.ai_queue_timeout_seconds
        self._slots: anyio.Semaphore | None = None
        self._threads: anyio.CapacityLimiter | None = None

    def _limits(self) -> tuple[anyio.Semaphore, anyio.CapacityLimiter]:
        # Made on first use, inside the event loop that serves the app.
        if self._slots is None or self._threads is None:
            self._slots = anyio.Semaphore(self.capacity)
            self._threads = anyio.CapacityLimiter(self.capacity)
        return self._slots, self._threads

    async def admit(self) -> AsyncIterator[AiCalls]:
        slots, _ = self._limits()
        admitted = False
        with anyio.move_on_after(self.queue_timeout):
            await slots.acquire()
            admitted = True
        if not admitted:
            raise AiBusy(max(1, math.ceil(self.queue_timeout)))
        try:
            yield self
        finally:
            slots.release()

    async def charge(self, db: Session, action: Callable[[], T]) -> T:
        """Run `action` in the request's transaction and commit it now, off the event loop.

        If `action` raises, nothing is committed and the request's `get_db` rolls back. It runs
        in an AI thread, which an admitted request always finds free: the request may hold a
        pooled connection here (its session lookup), so it must never queue for the thread pool
        behind requests that are themselves waiting for a connection.
        """

        def run() -> T:
            result = action()
            db.commit()  # the charge must not wait for the model; get_db's commit finds no work
            return result

        _, threads = self._limits()
        result = await anyio.to_thread.run_sync(run, limiter=threads)
        slot = db_slot(db)
        if slot is not None:
            slot.release()  # the model's wait holds no database slot either
        return result

    async def leave_database(self, db: Session) -> None:
        """For routes that write in sessions of their own (the tutor): end the request's read
        transaction (authentication) and let its database slot go before the model is called."""
        _, threads = self._limits()
        await anyio.to_thread.run_sync(db.commit, limiter=threads)
        slot = db_slot(db)
        if slot is not None:
            slot.release()

    async def store(self, db: Session, action: Callable[[], T]) -> T:
        """Step 4: `action` (storing or rendering the result) in a new short transaction, once
        the request has a database slot again; the request's `get_db` commits it."""
        slot = db_slot(db)
        if slot is not None:
            await slot.reacquire()
        return await run_in_threadpool(action)

    async def call(self, function: Callable[[], T]) -> T:
        """The engine call, in one of the AI threads; the event loop goes on serving."""
        _, threads = self._limits()
        return await anyio.to_thread.run_sync(function, limiter=threads)

    async def stream(self, chunks: Iterator[T]) -> AsyncIterator[T]:
        """A blocking iterator (a streamed answer) read in the AI threads, chunk by chunk."""
        _, threads = self._limits()
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, _END, limiter=threads)
                if chunk is _END:
                    return
                yield chunk  # type: ignore[misc] # not _END, so a T
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(close, limiter=threads)


def install_ai_calls(app: FastAPI, settings: Settings) -> None:
    app.state.ai_calls = AiCalls(settings)


async def _admitted(request: Request) -> AsyncIterator[AiCalls]:
    calls: AiCalls = request.app.state.ai_calls
    async for admitted in calls.admit():
        yield admitted


# Declare it before the user (and anything else that reads the database) in a route's signature.
AiSlot = Annotated[AiCalls, Depends(_admitted)]
