"""A JSON-RPC proxy in front of a real node that injects network faults and lies on request: HTTP 500s, timeouts,
dropped connections, refused connections (the proxy stops listening), JSON-RPC errors, and rewritten answers
(missing blocks, logs of foreign contracts, malformed data, 'too many results'). Everything else is forwarded
unchanged to the node."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import requests

Fault = Callable[[Any], Any]


class RpcProxy:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream
        self.port = port
        self.faults: list[tuple[str | None, str, int]] = []  # (method or None for any, kind, remaining)
        self.lock = threading.Lock()
        self.seen: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ control

    def start(self) -> RpcProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.handle(self, json.loads(body))

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def refuse_for(self, seconds: float) -> None:
        """Stop listening (connections are refused), then come back."""
        self.stop()
        threading.Timer(seconds, self.start).start()

    def inject(self, kind: str, *, method: str | None = None, times: int = 1) -> None:
        with self.lock:
            self.faults.append((method, kind, times))

    def _take(self, methods: list[str]) -> str | None:
        with self.lock:
            for i, (method, kind, remaining) in enumerate(self.faults):
                if method is None or method in methods:
                    if remaining <= 1:
                        self.faults.pop(i)
                    else:
                        self.faults[i] = (method, kind, remaining - 1)
                    return kind
        return None

    # ------------------------------------------------------------------ serving

    def handle(self, handler: BaseHTTPRequestHandler, payload: Any) -> None:
        calls = payload if isinstance(payload, list) else [payload]
        methods = [c.get("method") for c in calls]
        self.seen.extend(methods)
        kind = self._take(methods)
        if kind == "http500":
            return self._reply(handler, 500, b"upstream exploded")
        if kind == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
        if kind == "timeout":
            time.sleep(3)
            return self._reply(handler, 504, b"too slow")
        if kind == "rpc_error":
            return self._json(handler, _errors(payload, -32000, "internal error"))
        if kind == "too_many":
            return self._json(handler, _errors(payload, -32005, "query returned more than 10000 results"))
        answer = requests.post(self.upstream, json=payload, timeout=30).json()
        if kind is not None:
            answer = self._lie(kind, answer)
        return self._json(handler, answer)

    def _lie(self, kind: str, answer: Any) -> Any:
        items = answer if isinstance(answer, list) else [answer]
        for item in items:
            result = item.get("result")
            if kind == "missing_block" and isinstance(result, dict) and "parentHash" in result:
                item["result"] = None
                break
            if kind == "foreign_log" and isinstance(result, list) and result:
                stranger = dict(result[0], address="0x000000000000000000000000000000000000dEaD")
                result.append(stranger)
            if kind == "malformed_data" and isinstance(result, list):
                for log in result:
                    if len(log["data"]) > 2:
                        log["data"] = log["data"][:10]
                        break
        return answer

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, body: Any) -> None:
        RpcProxy._reply(handler, 200, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "text/plain") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _errors(payload: Any, code: int, message: str) -> Any:
    make = lambda call: {"jsonrpc": "2.0", "id": call.get("id"), "error": {"code": code, "message": message}}  # noqa: E731
    return [make(c) for c in payload] if isinstance(payload, list) else make(payload)
