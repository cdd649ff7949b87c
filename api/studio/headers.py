"""Browser protections on every response: the staff pages run no script or style but our own files,
cannot be framed (clickjacking a "publish" button) and are not cached (rosters hold names); every
response declares its type for real and leaks no address to the sites staff follow links to.

Plain ASGI, not BaseHTTPMiddleware: it only adds headers, and must not buffer file downloads.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STUDIO_PREFIX = "/studio"
STATIC_PREFIX = "/studio/static/"

# The studio's scripts and styles are files under /studio/static (no inline code, no inline style
# attributes); images are our QR codes and charts, audio our recordings.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

EVERY_RESPONSE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STUDIO_RESPONSES = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        studio = path == STUDIO_PREFIX or path.startswith(STUDIO_PREFIX + "/")
        pages = studio and not path.startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_RESPONSE.items():
                    headers.setdefault(name, value)
                if studio:
                    for name, value in STUDIO_RESPONSES.items():
                        headers.setdefault(name, value)
                if pages:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
