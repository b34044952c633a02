"""The framework ceiling: bare Starlette returning the lesson page's bytes from memory.

Served by uvicorn with the same worker count and options as `learnloop serve`; the page is the
one `run.py` saved from the real server, read once at start (LEARNLOOP_BENCH_PAGE).
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = Path(os.environ["LEARNLOOP_BENCH_PAGE"]).read_bytes()


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html; charset=utf-8")


app = Starlette(routes=[Route("/page", page)])
