"""A client for any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp).

Every call is bounded twice: each attempt by ``llm_timeout_seconds`` and the whole call,
retries and backoff included, by a deadline, so no caller ever waits on a hung endpoint for
longer than it asked. 5xx, 429, timeouts, refused connections and replies that are not the JSON
we asked for are retried with exponential backoff; anything else fails at once.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from learnloop.observability.metrics import (
    AI_CALL_DURATION_SECONDS,
    AI_CALLS_TOTAL,
    AI_TOKENS_TOTAL,
)
from learnloop.settings import Settings

log = logging.getLogger(__name__)

ENGINE = "llm"
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 4.0

# A grading reply is a few kB; anything this large is not one (and is not read further).
MAX_REPLY_BYTES = 1_000_000

T = TypeVar("T")


class LLMError(Exception):
    """The endpoint could not give a usable answer in time; callers fall back."""


class LLMNotConfiguredError(LLMError):
    pass


class _RetryableError(Exception):
    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


M = TypeVar("M", bound=BaseModel)


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_seconds: float = 20.0,
        max_retries: int = 2,
        deadline_seconds: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.max_retries = max(0, max_retries)
        # Default overall budget: every attempt at its full timeout, plus a little backoff.
        self.deadline_seconds = deadline_seconds or timeout_seconds * (self.max_retries + 1) + 1
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(headers=headers, transport=transport)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, deadline_seconds: float | None = None
    ) -> LLMClient:
        if not (settings.llm_base_url and settings.llm_model):
            raise LLMNotConfiguredError(
                "LEARNLOOP_LLM_BASE_URL and LEARNLOOP_LLM_MODEL are not set"
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key,
            timeout_seconds=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
            deadline_seconds=deadline_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _timeout(self, remaining: float) -> httpx.Timeout:
        budget = max(0.05, min(self.timeout_seconds, remaining))
        return httpx.Timeout(budget, connect=min(budget, 5.0))

    def _backoff(self, attempt: int, remaining: float) -> bool:
        """Sleep before the next attempt; False when there is no time left for one."""
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
        if remaining <= delay + 0.05:
            return False
        time.sleep(delay)
        return True

    def chat_json(
        self, messages: list[dict[str, str]], *, purpose: str
    ) -> tuple[dict[str, Any], Usage]:
        """One chat completion whose content must be a JSON object; retried as documented."""
        return self._with_retries(self._json_body(messages), purpose, self._attempt_json)

    def chat_model(self, messages: list[dict[str, str]], schema: type[M], *, purpose: str) -> M:
        """``chat_json`` whose object must also validate against ``schema`` (else retried)."""

        def attempt(body: dict[str, Any], timeout: httpx.Timeout) -> M:
            parsed, _ = self._attempt_json(body, timeout)
            try:
                return schema.model_validate(parsed)
            except ValidationError as error:
                raise _RetryableError(
                    "invalid", f"reply does not match the schema: {error}"
                ) from error

        return self._with_retries(self._json_body(messages), purpose, attempt)

    def _json_body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }

    def _with_retries(
        self,
        body: dict[str, Any],
        purpose: str,
        attempt_fn: Callable[[dict[str, Any], httpx.Timeout], T],
    ) -> T:
        started = time.monotonic()
        deadline = started + self.deadline_seconds
        last = "error"
        for attempt in range(self.max_retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            attempt_started = time.monotonic()
            try:
                result = attempt_fn(body, self._timeout(remaining))
            except _RetryableError as error:
                last = error.outcome
                AI_CALLS_TOTAL.labels(ENGINE, purpose, error.outcome).inc()
                log.warning(
                    "llm call failed (attempt %d of %d): %s",
                    attempt + 1,
                    self.max_retries + 1,
                    error,
                    extra={"purpose": purpose, "outcome": error.outcome},
                )
                if attempt == self.max_retries or not self._backoff(
                    attempt, deadline - time.monotonic()
                ):
                    break
                continue
            except LLMError:
                AI_CALLS_TOTAL.labels(ENGINE, purpose, "error").inc()
                raise
            finally:
                AI_CALL_DURATION_SECONDS.labels(ENGINE, purpose).observe(
                    time.monotonic() - attempt_started
                )
            AI_CALLS_TOTAL.labels(ENGINE, purpose, "ok").inc()
            return result
        raise LLMError(f"llm endpoint gave no usable answer ({last}) within the deadline")

    def _post(self, body: dict[str, Any], timeout: httpx.Timeout) -> bytes:
        """The reply body, read within the attempt's budget and size limit.

        httpx's read timeout is per read, so an endpoint that trickles a byte at a time could
        hold a call far past its timeout; the body is read in chunks against a clock instead.
        """
        budget = timeout.read if timeout.read is not None else self.timeout_seconds
        ends = time.monotonic() + budget
        try:
            with self._http.stream("POST", self.url, json=body, timeout=timeout) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise _RetryableError("invalid", "reply larger than the limit")
                    if time.monotonic() > ends:
                        raise _RetryableError("timeout", "reply not complete within the timeout")
                    chunks.append(chunk)
                _check_status(response)
        except httpx.TimeoutException as error:
            raise _RetryableError("timeout", f"timed out: {error!r}") from error
        except httpx.HTTPError as error:
            raise _RetryableError("unavailable", f"transport error: {error!r}") from error
        return b"".join(chunks)

    def _attempt_json(
        self, body: dict[str, Any], timeout: httpx.Timeout
    ) -> tuple[dict[str, Any], Usage]:
        raw = self._post(body, timeout)
        try:
            payload = json.loads(raw)
            content = payload["choices"][0]["message"]["content"]
            parsed = json.loads(_strip_fences(content))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _RetryableError(
                "invalid", f"reply is not a JSON chat completion: {error}"
            ) from error
        if not isinstance(parsed, dict):
            raise _RetryableError("invalid", "reply content is not a JSON object")
        usage = _usage(payload.get("usage"))
        _count_tokens(usage)
        return parsed, usage

    def stream_text(self, messages: list[dict[str, str]], *, purpose: str) -> Iterator[str]:
        """Content deltas of a streamed completion (server-sent events), as they arrive.

        Connecting is retried like any call; once text has been yielded a failure is raised
        as ``LLMError`` (the caller has already shown part of the answer, so no silent retry).
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.2,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        started = time.monotonic()
        deadline = started + self.deadline_seconds
        for attempt in range(self.max_retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            yielded = False
            try:
                with self._http.stream(
                    "POST", self.url, json=body, timeout=self._timeout(remaining)
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                    _check_status(response)
                    for chunk in _sse_chunks(response, deadline):
                        yielded = True
                        yield chunk
                AI_CALLS_TOTAL.labels(ENGINE, purpose, "ok").inc()
                AI_CALL_DURATION_SECONDS.labels(ENGINE, purpose).observe(time.monotonic() - started)
                return
            except LLMError:
                AI_CALLS_TOTAL.labels(ENGINE, purpose, "error").inc()
                raise
            except (httpx.HTTPError, _RetryableError) as error:
                outcome = error.outcome if isinstance(error, _RetryableError) else "unavailable"
                if isinstance(error, httpx.TimeoutException):
                    outcome = "timeout"
                AI_CALLS_TOTAL.labels(ENGINE, purpose, outcome).inc()
                if yielded:
                    raise LLMError(f"stream broke off: {error!r}") from error
                log.warning("llm stream failed (attempt %d): %r", attempt + 1, error)
                if attempt == self.max_retries or not self._backoff(
                    attempt, deadline - time.monotonic()
                ):
                    break
        raise LLMError("llm endpoint could not stream an answer within the deadline")


def _check_status(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise _RetryableError("unavailable", f"HTTP {response.status_code}")
    if response.status_code >= 400:
        # A 4xx other than 429 (bad key, unknown model) will not heal by retrying.
        raise LLMError(f"llm endpoint refused the request: HTTP {response.status_code}")


def _strip_fences(content: Any) -> str:
    """Some local models wrap JSON in Markdown fences even when asked not to."""
    if not isinstance(content, str):
        raise TypeError("message content is not text")
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) and prompt >= 0 else 0,
        completion if isinstance(completion, int) and completion >= 0 else 0,
    )


def _count_tokens(usage: Usage) -> None:
    if usage.prompt_tokens:
        AI_TOKENS_TOTAL.labels(ENGINE, "prompt").inc(usage.prompt_tokens)
    if usage.completion_tokens:
        AI_TOKENS_TOTAL.labels(ENGINE, "completion").inc(usage.completion_tokens)


def _sse_chunks(response: httpx.Response, deadline: float) -> Iterator[str]:
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            raise _RetryableError("timeout", "stream passed its deadline")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError as error:
            raise _RetryableError("invalid", "stream event is not JSON") from error
        if not isinstance(event, dict):
            continue
        _count_tokens(_usage(event.get("usage")))
        choices = event.get("choices") or []
        if choices and isinstance(choices[0], dict):
            delta = choices[0].get("delta") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                yield text
