"""Serving ``/metrics``: a tiny HTTP server on a port of its own, in the web process and in the
worker (and, for small test apps, a route)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger(__name__)


def metrics_endpoint(request: Request) -> Response:
    # Sync on purpose: Starlette runs it in the threadpool, so a slow collector never blocks
    # the event loop.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class _Server(ThreadingHTTPServer):
    # Several web processes of one pod (serve --workers N) each serve their own registry on
    # the same port; the kernel spreads the scrapes, as it did over the app's port.
    allow_reuse_port = True
    daemon_threads = True


class MetricsServer:
    """``/metrics``, ``/livez`` and ``/readyz`` on a port of its own."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int,
    host: str = "127.0.0.1",
    *,
    ready: Callable[[], bool] | None = None,
) -> MetricsServer:
    """Serve metrics on ``port`` (0 picks a free one) from a daemon thread.

    ``ready`` answers ``/readyz`` (200 or 503), so the worker's readiness probe can turn
    false while it drains; ``/livez`` is 200 while the process runs.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(HTTPStatus.OK, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/livez":
                self._reply(HTTPStatus.OK, b"ok\n", "text/plain")
            elif path == "/readyz":
                is_ready = ready() if ready is not None else True
                status = HTTPStatus.OK if is_ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._reply(status, b"ok\n" if is_ready else b"shutting down\n", "text/plain")
            else:
                self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

        def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Scrapes every few seconds would fill the log; errors still go to log_error.
            pass

        def log_error(self, format: str, *args: object) -> None:
            logger.warning("metrics server: " + format, *args)

    server = _Server((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    logger.info("metrics server listening", extra={"host": host, "port": server.server_address[1]})
    return MetricsServer(server, thread)
