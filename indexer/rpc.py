"""JSON-RPC for the indexer, over the project's one transport (backend/chain/jsonrpc.py): batched requests on one
keep-alive connection, transport faults (timeouts, refused connections, 5xx, node restarts) retried with capped
exponential backoff and jitter (`INDEXER_RETRY`), JSON-RPC errors retried as transient too (providers report
overload that way), and `eth_getLogs` ranges that shrink when the provider refuses a range and grow back after
successes.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from backend.chain.jsonrpc import JsonRpc, JsonRpcTimeout, JsonRpcUnavailable, RetryPolicy, RpcStats
from backend.errors import KanazawaDaoError


class RpcError(KanazawaDaoError):
    """The node answered with an error that retrying will not fix."""


class RpcUnavailable(KanazawaDaoError):
    """The node stayed unreachable through every retry."""


class RangeTooLarge(RpcError):
    """The provider refused an eth_getLogs range (too many results, range limit, timeout)."""


_RANGE_HINTS = ("too many", "limit", "range", "exceed", "10000", "timeout", "timed out", "response size")

__all__ = ["LogFetcher", "RangeTooLarge", "RpcClient", "RpcError", "RpcStats", "RpcUnavailable"]


class RpcClient:
    def __init__(self, url: str, *, timeout: float = 30, max_retries: int = 8, max_backoff: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.policy = RetryPolicy(retries=max_retries, max_delay=max_backoff, sleep=sleep)
        self.transport = JsonRpc(url, timeout=timeout, retry=self.policy)
        self.stats = self.transport.stats

    @property
    def max_retries(self) -> int:
        return self.policy.retries

    @max_retries.setter
    def max_retries(self, retries: int) -> None:
        self.policy = self.transport.retry = dataclasses.replace(self.policy, retries=retries)

    # ------------------------------------------------------------------ transport

    def _post(self, payload: Any) -> Any:
        """POST with the transport's retries; an eth_getLogs that times out is a range too large, at once."""
        logs = isinstance(payload, dict) and payload.get("method") == "eth_getLogs"
        try:
            return self.transport.post(payload, retry_timeouts=not logs)
        except JsonRpcTimeout:
            if logs:
                raise RangeTooLarge(f"eth_getLogs timed out after {self.transport.timeout} s") from None
            raise RpcUnavailable(f"the node failed {self.max_retries} retries (timeouts)") from None
        except JsonRpcUnavailable as exc:
            raise RpcUnavailable(f"the node failed {self.max_retries} retries ({exc})") from None

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        (result,) = self.batch([(method, params or [])], single=True)
        return result

    def batch(self, calls: list[tuple[str, list[Any]]], *, single: bool = False) -> list[Any]:
        """Several calls in one HTTP request; results in call order. JSON-RPC errors are retried as transient
        (providers report overload and internal faults that way), except an eth_getLogs range refusal, which the
        caller handles by asking for less."""
        if not calls:
            return []
        attempt = 0
        first = 0
        while True:
            first += len(calls)
            payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
            body = self._post(payload[0] if single else payload)
            items = [body] if single else body
            failure: KanazawaDaoError | None = None
            if not isinstance(items, list) or len(items) != len(calls) or not all(isinstance(i, dict) for i in items):
                failure = RpcUnavailable(f"the node failed {self.max_retries} retries (malformed answer to "
                                         f"{calls[0][0]})")
            else:
                by_id = {item.get("id"): item for item in items}
                results = []
                for i, (method, _params) in enumerate(calls):
                    item = by_id.get(first + i)
                    if item is None or "error" in item:
                        failure = _error(method, item["error"] if item else "no answer")
                        break
                    results.append(item.get("result"))
                if failure is None:
                    return results
            if isinstance(failure, RangeTooLarge):
                raise failure
            attempt += 1
            if attempt > self.max_retries:
                raise failure
            self.stats.retries += 1
            self.policy.pause(attempt)

    # ------------------------------------------------------------------ chain reads

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def headers(self, numbers: list[int], *, chunk: int = 200) -> dict[int, dict[str, Any]]:
        """Block headers by number, fetched in JSON-RPC batches. A missing block is an error."""
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(numbers), chunk):
            part = numbers[start:start + chunk]
            results = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for number, header in zip(part, results):
                if not header or not header.get("hash"):
                    raise RpcError(f"the node has no block {number}")
                found[number] = {"number": number, "hash": header["hash"], "parent_hash": header["parentHash"],
                                 "timestamp": int(header["timestamp"], 16)}
        return found

    def get_logs(self, from_block: int, to_block: int, addresses: list[str]) -> list[dict[str, Any]]:
        return self.call("eth_getLogs", [{"fromBlock": hex(from_block), "toBlock": hex(to_block),
                                          "address": addresses}])


class LogFetcher:
    """eth_getLogs over a range in pieces that halve on RangeTooLarge and grow by half again after successes."""

    def __init__(self, rpc: RpcClient, addresses: list[str], *, initial_span: int = 2000, min_span: int = 1,
                 max_span: int = 10_000) -> None:
        self.rpc = rpc
        self.addresses = addresses
        self.span = initial_span
        self.min_span = min_span
        self.max_span = max_span

    def fetch(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        logs: list[dict[str, Any]] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + self.span - 1)
            try:
                logs.extend(self.rpc.get_logs(start, end, self.addresses))
            except RangeTooLarge:
                if self.span <= self.min_span:
                    raise
                self.span = max(self.min_span, self.span // 2)
                continue
            start = end + 1
            self.span = min(self.max_span, self.span + max(1, self.span // 2))
        return logs


def _error(method: str, error: Any) -> RpcError:
    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    if method == "eth_getLogs" and any(h in message.lower() for h in _RANGE_HINTS):
        return RangeTooLarge(f"{method}: {message}")
    return RpcError(f"{method}: {message}")
