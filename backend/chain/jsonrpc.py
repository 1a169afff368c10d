"""JSON-RPC reads over one keep-alive HTTP(S) connection per thread, for the API's hot paths (ballot intake, the
proposal pages): `eth_call` batches and `eth_blockNumber`.

web3.py's provider (requests, its middleware and formatters) costs about 1 ms of CPU per request, which a page
that reads the head and a ballot batch that reads the chain paid on every request; `http.client` on a kept-alive
connection costs about 0.12 ms (measured on anvil). Writes keep going through web3 (`ChainClient.transact`).

Only reads go here, so a request that fails on a connection the node closed while idle is sent once more on a new
connection (harmless for a read); any other failure raises `JsonRpcUnavailable`, and an answer that is not JSON-RPC
raises it too.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from backend.errors import KanazawaDaoError


class JsonRpcUnavailable(KanazawaDaoError):
    """The node could not be reached, or did not answer with JSON-RPC."""


class JsonRpcReader:
    def __init__(self, url: str, *, timeout: float = 15) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an http(s) JSON-RPC URL is needed, not {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json"}
        if parts.username or parts.password:  # https://user:secret@node.example
            import base64

            token = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        self._timeout = timeout
        self._local = threading.local()

    def request(self, method: str, params: list[Any]) -> Any:
        """One call; its `result`, or JsonRpcUnavailable with the node's error message."""
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise JsonRpcUnavailable(f"{self.url} answered {method} with {answer!r:.200}")
        if "error" in answer:
            raise JsonRpcUnavailable(f"{self.url} refused {method}: {answer['error']!r:.300}")
        return answer["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Several calls in one request; the answers (each with `result` or `error`) in the order of `calls`."""
        if not calls:
            return []
        answers = self._post([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)])
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise JsonRpcUnavailable(f"{self.url} answered a batch of {len(calls)} with {answers!r:.200}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if set(by_id) != set(range(len(calls))):
            raise JsonRpcUnavailable(f"{self.url} answered a batch of {len(calls)} with other ids")
        return [by_id[i] for i in range(len(calls))]

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if attempt == 1:  # the node closed the idle connection: once more on a new one
                    continue
                raise JsonRpcUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, unreachable, garbled
                self._drop()
                raise JsonRpcUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from None
            if response.status != 200:
                self._drop()
                raise JsonRpcUnavailable(f"{self.url} answered HTTP {response.status}")
            try:
                return json.loads(data)
            except ValueError:
                raise JsonRpcUnavailable(f"{self.url} answered with something that is not JSON: {data[:200]!r}") from None
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._local.connection = cls(self._host, self._port, timeout=self._timeout)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()
