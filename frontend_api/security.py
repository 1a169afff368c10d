"""HTTP hardening that holds for every route, old and new, without a line in each: response headers, and the
same-origin rule for writes authenticated by the session cookie.

`SecurityHeaders` (ASGI middleware) adds to every answer:
- `X-Content-Type-Options: nosniff` (a JSON or CSV answer is never sniffed into HTML);
- `Cache-Control: private, no-store` to every answer of a request that carries a session (a bearer token or the
  session cookie, found by the parser that authenticates: `deps.session_token`): no shared cache (ours in
  frontend_api/cache.py, a proxy's, a CDN's) may keep what one member was shown;
- `Cache-Control: no-store` to sign-in answers (`/auth/...`: nonces, sessions);
- a Content-Security-Policy and frame protection to the API documentation pages (`/docs`, `/redoc`), whose
  scripts are served from this service (frontend_api/routes/docs.py), not from a CDN.
A route that set its own `Cache-Control` keeps it, except that a session's answer is always private.

`SameOriginWrites` refuses (403 `cross-site`) a POST, PUT, PATCH or DELETE that carries the session cookie and
comes from another site: its `Sec-Fetch-Site` is not `same-origin`/`none`, or, without that header, its `Origin`
is not this service's (the configured public URL's origin). A request with neither header is not from a browser,
so it cannot be a forged cross-site request, and passes (the rule of Go's CrossOriginProtection). SameSite=Lax on
the cookie already stops most cross-site posts; this is the second wall (older browsers, same-site subdomains,
top-level navigations). Writes with a bearer token, or with no session at all (signed ballots, claims, check-ins,
webhooks), are not cookie-authenticated and pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend_api.deps import SESSION_COOKIE, session_token
from frontend_api.problems import problem

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DOCS_PATHS = ("/docs", "/redoc")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        with_session = session_token(Request(scope)) is not None
        sign_in = path.startswith("/auth/") or path == "/auth"

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                if _header(headers, b"x-content-type-options") is None:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if with_session:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"private, no-store"))
                elif sign_in and _header(headers, b"cache-control") is None:
                    headers.append((b"cache-control", b"no-store"))
                if path in DOCS_PATHS:
                    headers.append((b"x-frame-options", b"DENY"))
                    headers.append((b"referrer-policy", b"same-origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)


class SameOriginWrites:
    def __init__(self, app: ASGIApp, *, public_url: str) -> None:
        self.app = app
        public = urlsplit(public_url)
        self.origin = f"{public.scheme}://{public.netloc}".lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        cookie_session = not header.lower().startswith("bearer ") and request.cookies.get(SESSION_COOKIE)
        if cookie_session:
            origin = request.headers.get("origin")
            fetch_site = request.headers.get("sec-fetch-site")
            if fetch_site is not None:  # sent by every current browser, and not settable by a page's script
                allowed = fetch_site.lower() in ("same-origin", "none")
            elif origin is not None:
                allowed = origin.lower() == self.origin
            else:  # neither: not a browser, so not a forged cross-site request (Go's CrossOriginProtection rule)
                allowed = True
            if not allowed:
                response = problem(403, "cross-site", "Cross-site request refused",
                                   "a write authenticated by the session cookie must come from this service's own "
                                   f"pages ({self.origin}); other clients send `Authorization: Bearer <token>`",
                                   request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
