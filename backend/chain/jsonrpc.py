"""The one way this project talks JSON-RPC to a node: `JsonRpc`, one keep-alive HTTP(S) connection per thread,
with the retry policy as a parameter (`RetryPolicy`). Everything goes through it: the API's hot reads (eth_call
batches, the head), web3 (`JsonRpcProvider`, so transactions, receipts and web3's calls share the transport), the
indexer (indexer/rpc.py, a policy of eight retries with capped backoff) and the devnet's checks.

Why not web3's HTTPProvider and requests: about 1 ms of CPU per request (requests, web3's middleware and
formatters), which a page that reads the head and a ballot batch that reads the chain paid on every request;
`http.client` on a kept-alive connection costs about 0.12 ms (measured on anvil).

Failures: a connection the node closed while idle is replaced once, at once (harmless: the request was not read);
other transport faults (refused, reset, timeout, HTTP 5xx or 429, an answer that is not JSON) are retried as the
policy says, then raise `JsonRpcUnavailable` (`JsonRpcTimeout` for a timeout). A JSON-RPC error answer is the
node's answer, not a transport fault: `call` raises it as `JsonRpcError`, `batch` returns it in place.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from backend.errors import KanazawaDaoError


class JsonRpcUnavailable(KanazawaDaoError):
    """The node could not be reached, or did not answer with JSON-RPC."""


class JsonRpcTimeout(JsonRpcUnavailable):
    """The node did not answer within the timeout."""


class JsonRpcError(JsonRpcUnavailable):
    """The node answered with a JSON-RPC error (for a read, like unavailability: no answer to use)."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        self.error = error if isinstance(error, dict) else {"message": str(error)}
        self.code = self.error.get("code")
        self.message = str(self.error.get("message", error))
        super().__init__(f"the node refused {method}: {self.message[:300]}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transport fault is tried again: `retries` more times, after a capped exponential backoff with
    jitter (base_delay * 2^attempt, at most max_delay, times 0.5-1)."""

    retries: int = 0
    base_delay: float = 0.1
    max_delay: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def pause(self, attempt: int) -> None:
        self.sleep(min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2))


#: The policy of the API's reads and of web3: an answer now or an error now (the caller decides what to do).
NO_RETRY = RetryPolicy()


@dataclass
class RpcStats:
    calls: int = 0  # HTTP requests sent (a batch counts once, each retry counts)
    retries: int = 0


class JsonRpc:
    def __init__(self, url: str, *, timeout: float = 15, retry: RetryPolicy = NO_RETRY) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an http(s) JSON-RPC URL is needed, not {url!r}")
        self.url = url
        self.timeout = timeout
        self.retry = retry
        self.stats = RpcStats()
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json"}
        if parts.username or parts.password:  # https://user:secret@node.example
            token = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        self._local = threading.local()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ JSON-RPC

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One call; its `result`. A JSON-RPC error answer raises JsonRpcError."""
        answer = self.post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []})
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise JsonRpcUnavailable(f"the node answered {method} with {answer!r:.200}")
        if "error" in answer:
            raise JsonRpcError(method, answer["error"])
        return answer["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Several calls in one request; the answers (each with `result` or `error`) in the order of `calls`."""
        if not calls:
            return []
        first = next(self._ids)
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = self.post([{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
                             for i, (m, p) in enumerate(calls)])
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise JsonRpcUnavailable(f"the node answered a batch of {len(calls)} with {answers!r:.200}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if set(by_id) != {first + i for i in range(len(calls))}:
            raise JsonRpcUnavailable(f"the node answered a batch of {len(calls)} with other ids")
        return [by_id[first + i] for i in range(len(calls))]

    def post(self, payload: Any, *, retry: RetryPolicy | None = None, retry_timeouts: bool = True) -> Any:
        """POST a JSON-RPC payload, its answer parsed. Transport faults are retried as `retry` (default: this
        client's policy) says; `retry_timeouts=False` raises a timeout at once (the indexer asks for a smaller log
        range instead)."""
        return json.loads(self.exchange(json.dumps(payload).encode(), retry=retry, retry_timeouts=retry_timeouts))

    def exchange(self, body: bytes, *, retry: RetryPolicy | None = None, retry_timeouts: bool = True) -> bytes:
        """POST raw bytes, the raw answer back (checked to be JSON). The retry loop of every caller."""
        policy = retry or self.retry
        attempt = 0
        while True:
            failure: JsonRpcUnavailable
            try:
                data = self._exchange_once(body)
            except JsonRpcTimeout as exc:
                if not retry_timeouts:
                    raise
                failure = exc
            except JsonRpcUnavailable as exc:
                failure = exc
            else:
                try:
                    json.loads(data)
                    return data
                except ValueError:  # not JSON: a transport fault (a proxy's error page, a truncated answer)
                    failure = JsonRpcUnavailable(f"the node answered with something that is not JSON: {data[:200]!r}")
            attempt += 1
            if attempt > policy.retries:
                raise failure
            self.stats.retries += 1
            policy.pause(attempt)

    # ------------------------------------------------------------------ transport

    def _exchange_once(self, body: bytes) -> bytes:
        for attempt in (1, 2):
            connection = self._connection()
            self.stats.calls += 1
            try:
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if attempt == 1:  # the node closed the idle connection: once more on a new one
                    self.stats.retries += 1
                    continue
                raise JsonRpcUnavailable(f"{type(exc).__name__}: {exc}") from None
            except TimeoutError as exc:
                self._drop()
                raise JsonRpcTimeout(f"no answer within {self.timeout} s ({exc})") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, unreachable, garbled
                self._drop()
                raise JsonRpcUnavailable(f"{type(exc).__name__}: {exc}") from None
            if response.status != 200:
                self._drop()
                raise JsonRpcUnavailable(f"the node answered HTTP {response.status}")
            return data
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._local.connection = cls(self._host, self._port, timeout=self.timeout)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


class JsonRpcProvider(JSONBaseProvider):
    """web3's provider over `JsonRpc`: web3's requests (transactions, receipts, its calls) share the keep-alive
    transport. `endpoint_uri` as HTTPProvider has it (siwe's EIP-1271 check and our client read it)."""

    def __init__(self, rpc: JsonRpc) -> None:
        super().__init__()
        self.rpc = rpc
        self.endpoint_uri = rpc.url

    def __str__(self) -> str:
        return f"RPC connection {self.rpc.url}"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self.decode_rpc_response(self.rpc.exchange(self.encode_rpc_request(method, params)))

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        response = self.decode_rpc_response(self.rpc.exchange(self.encode_batch_rpc_request(requests)))
        return sorted(response, key=lambda r: r.get("id", 0)) if isinstance(response, list) else response

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.rpc.call("web3_clientVersion")
            return True
        except JsonRpcUnavailable:
            if show_traceback:
                raise
            return False
