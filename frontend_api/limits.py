"""Request body limit, enforced before the body is read: by Content-Length when given, and by counting the bytes
of a streamed body otherwise. Oversized requests get a 413 problem document and nothing is processed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend_api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE


class BodyTooLarge(Exception):
    pass


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
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _reject(send, scope["path"], limit)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _reject(send, scope["path"], limit)


async def _reject(send: Send, path: str, limit: int) -> None:
    body = json.dumps({"type": PROBLEM_BASE + "too-large", "title": "Request too large", "status": 413,
                       "detail": f"the request body exceeds {limit} bytes", "instance": path}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
