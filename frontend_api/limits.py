"""Request body limit, enforced before the application sees the body: by Content-Length when given, and by
reading a streamed (chunked) body up to the limit otherwise. Oversized requests get a 413 problem document and nothing is processed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend_api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, overrides: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.overrides = overrides  # path suffix -> limit (imports are larger)

    def _limit(self, path: str) -> int:
        for suffix, limit in self.overrides.items():
            if path.endswith(suffix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None:
            if declared > limit:
                await _reject(send, scope["path"], limit)
                return
            await self.app(scope, receive, send)  # the server holds the client to its Content-Length
            return
        # No length given (chunked): read the body here, up to the limit, then hand it on. Raising from inside
        # the app's receive would be turned into a 400 by the framework's body parser.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > limit:
                await _reject(send, scope["path"], limit)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reject(send: Send, path: str, limit: int) -> None:
    body = json.dumps({"type": PROBLEM_BASE + "too-large", "title": "Request too large", "status": 413,
                       "detail": f"the request body exceeds {limit} bytes", "instance": path}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
