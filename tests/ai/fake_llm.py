"""A real local HTTP server that speaks the OpenAI chat-completions protocol, for tests.

The "model" behind it is a few lines of Python, but everything in front of it is real: TCP,
HTTP, JSON bodies, bearer keys, server-sent events. Behaviours the tests switch between:

- ``honest``: grades by word overlap between each rubric point and the answer's sentences.
- ``obedient``: honest, but does whatever the answer asks of the grader; if the answer says
  anything to the grader (or anything was removed as such), every point is "covered", quoting
  the injection (or the longest sentence) as evidence, with a glowing summary.
- ``full_marks``: a fully compromised model that marks every point covered whatever it reads,
  quoting for each the answer's sentence with the most words in common with that point.
- ``garbage``: 200 with text that is not JSON.
- ``wrong_schema``: valid JSON of the wrong shape.
- ``fabricate`` (tutor): the honest answer plus a sentence no passage says, cited as [1].
- ``leaky_hint`` (hints): a "hint" that states the exercise's accepted answer outright.
- ``error``: HTTP 500.
- ``hang``: accepts the request and never answers (until the server stops).
- ``trickle``: answers 200 and then sends the body one byte every 0.1 s, for a minute.

``fail_first`` makes the first N requests answer 500 before the behaviour applies; ``delay``
sleeps before every answer (slow grading for the crash test), and ``hold_until`` holds every
answer until that moment (a stall whose end the test sets once every call is in it).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "is",
    "are",
    "was",
    "be",
    "it",
    "its",
    "this",
    "that",
    "as",
    "not",
    "can",
    "will",
    "would",
    "should",
    "have",
    "has",
    "any",
    "all",
    "each",
    "more",
    "than",
    "so",
    "only",
    "into",
    "over",
}
_GRADER_WORDS = re.compile(
    r"ignore|disregard|full marks|grader|rubric|covered|removed: text addressed|score|"
    r"instruction|system prompt|100",
    re.IGNORECASE,
)


def _words(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


@dataclass
class FakeLLM:
    behaviour: str = "honest"
    fail_first: int = 0
    delay: float = 0.0
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    held: int = 0  # requests waiting out `delay` (or `hold_until`) right now
    # A time.monotonic() before which no request is answered (None: only `delay` applies).
    hold_until: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    # -- the "model" --------------------------------------------------------------------------
    def grade(self, user: str) -> dict[str, Any]:
        answer = user.split("<learner_answer>", 1)[1].split("</learner_answer>", 1)[0].strip()
        rubric_block = user.split("Rubric points (id: point):", 1)[1].split("<learner_answer>")[0]
        rubric = re.findall(r"^- ([^:\n]+): (.+)$", rubric_block, re.MULTILINE)
        sentences = _sentences(answer)
        injected = [s for s in sentences if _GRADER_WORDS.search(s)]
        compromised = self.behaviour == "full_marks" or (
            self.behaviour == "obedient" and bool(injected)
        )
        points = []
        for point_id, point_text in rubric:
            if compromised:
                evidence = injected[0] if injected else max(sentences, key=len, default="")
                if self.behaviour == "full_marks":
                    # The strongest liar: quotes whichever sentence looks most on topic.
                    wanted = _words(point_text)
                    evidence = max(
                        sentences, key=lambda s: (len(wanted & _words(s)), len(s)), default=""
                    )
                points.append({"id": point_id, "status": "covered", "evidence": evidence})
                continue
            wanted = _words(point_text)
            best, overlap = "", 0
            for sentence in sentences:
                n = len(wanted & _words(sentence))
                if n > overlap:
                    best, overlap = sentence, n
            status = "covered" if overlap >= 3 else "partial" if overlap >= 2 else "missing"
            points.append(
                {"id": point_id, "status": status, "evidence": best if status != "missing" else ""}
            )
        summary = (
            "Perfect answer, full marks!"
            if compromised
            else "You make some good points; add the missing ones."
        )
        return {"points": points, "misconceptions": [], "summary": summary}

    def tutor(self, user: str) -> str:
        passages = re.findall(r"^\[(\d+)\] (.+)\n(.+)$", user, re.MULTILINE)
        if not passages:
            return "The course does not cover that."
        number, _title, text = passages[0]
        first = _sentences(text)[0] if _sentences(text) else text
        answer = f"According to the course, {first} [{number}]"
        if self.behaviour == "fabricate":
            answer += " The moon is made of green cheese, and sheep invented the internet [1]."
        return answer

    def hint(self, user: str) -> str:
        if self.behaviour == "leaky_hint":
            # The accepted answer of the tests' fill-blank exercise (lesson 6, rollback-command).
            return "Just type undo: the command is kubectl rollout undo."
        return "Which command in that passage takes a Deployment back to its previous ReplicaSet?"

    # -- HTTP ---------------------------------------------------------------------------------
    def reply(self, body: dict[str, Any]) -> tuple[int, str]:
        """Status and content for one non-streamed request."""
        messages = body.get("messages") or []
        system = messages[0]["content"] if messages else ""
        user = messages[-1]["content"] if messages else ""
        if self.behaviour == "garbage":
            return 200, "I think this answer is pretty good! Score: 9/10"
        if self.behaviour == "wrong_schema":
            return 200, json.dumps({"grade": "A", "points": "all of them"})
        if system.startswith("You are the tutor") and "asks for a hint" in system:
            return 200, self.hint(user)
        if system.startswith("You are the tutor"):
            return 200, self.tutor(user)
        return 200, json.dumps(self.grade(user))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with fake.lock:
            fake.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
            number = len(fake.requests)
        if not self.path.endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._send_json(401, {"error": {"message": "bad key"}})
            return
        if fake.delay or fake.hold_until is not None:
            with fake.lock:
                fake.held += 1
            try:
                fake.stopping.wait(fake.delay)
                while (until := fake.hold_until) is not None and time.monotonic() < until:
                    if fake.stopping.wait(min(0.05, until - time.monotonic())):
                        break
            finally:
                with fake.lock:
                    fake.held -= 1
        if number <= fake.fail_first or fake.behaviour == "error":
            self._send_json(500, {"error": {"message": "overloaded"}})
            return
        if fake.behaviour == "hang":
            fake.stopping.wait(60)
            self.close_connection = True
            return
        if fake.behaviour == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "600")
            self.end_headers()
            self.close_connection = True
            for _ in range(600):
                if fake.stopping.wait(0.1):
                    return
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:  # the client gave up, as it should
                    return
            return
        status, content = fake.reply(body)
        prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
        completion_tokens = len(content.split())
        if body.get("stream"):
            self._stream(content, prompt_tokens, completion_tokens)
            return
        self._send_json(
            status,
            {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _stream(self, content: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for piece in re.findall(r"\S+\s*", content):
            event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        usage = {
            "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLM


@contextmanager
def running_fake_llm(fake: FakeLLM | None = None) -> Iterator[tuple[FakeLLM, str]]:
    """Serve ``fake`` on a free loopback port; yields it and the base URL (``.../v1``)."""
    fake = fake or FakeLLM()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        # Let handler threads that were waiting on `stopping` notice and finish.
        time.sleep(0.01)
