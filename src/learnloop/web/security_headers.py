"""Security headers on every response, as a pure ASGI middleware (no body buffering).

The Content-Security-Policy allows scripts and styles only from our own origin: the pages use
no inline scripts, inline event handlers or style attributes, so an injected <script> or
onerror= does nothing even if some text ever escaped Jinja's autoescaping.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),  # frame-ancestors for browsers that predate CSP 2
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)

# Only sent over https: over plain http browsers ignore it, and local development stays usable.
HSTS = ("strict-transport-security", "max-age=31536000; includeSubDomains")


def raw_headers(https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """Every header this middleware adds, as raw pairs, for a response that sets none of them
    itself. Read from HEADERS when called (at app start), like the middleware does."""
    own = tuple((name.encode(), value.encode()) for name, value in HEADERS)
    return (*own, (HSTS[0].encode(), HSTS[1].encode())) if https else own


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = raw_headers(https=False)
        self.hsts = (HSTS[0].encode(), HSTS[1].encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        own_headers, hsts = self.headers, self.hsts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header pairs: this runs on every response, and MutableHeaders scans the
                # whole list for each name it checks or sets.
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                for header in own_headers:
                    # A route may set a stricter or different value for itself; keep it.
                    if header[0] not in present:
                        headers.append(header)
                if https and hsts[0] not in present:
                    headers.append(hsts)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
