"""Rate limits on writes: token buckets per client and per address, enforced before the application sees the
request. Reads (GET, HEAD, OPTIONS) are never limited, so /health, the results pages and the open data stay
reachable whatever a client does.

Every POST, PUT, PATCH and DELETE (and GET /auth/nonce) takes a token from up to two buckets, and is refused when
either is empty:

- **per client**: the peer's IP address (IPv6: its /64). When the peer is one of `rate_limit_trusted_proxies`, the
  client is the right-most `X-Forwarded-For` hop that is not itself a trusted proxy; anyone else's
  `X-Forwarded-For` is ignored (and uvicorn is told not to believe it either: `kanazawa-dao serve`). The webhook
  (`POST /events/{id}/webhook`) draws on a larger bucket of its own per client (`rate_limit_webhooks_per_client`),
  the same for every event, so a platform reporting many events is not limited by the client bucket and nobody
  gets fresh buckets by naming other event ids. GET /auth/nonce, which stores each nonce it hands out, takes from
  the client bucket like a write.
- **per address**: the signed-in session's address (bearer token or session cookie). The endpoints authenticated by
  a signature rather than a session are keyed by the address in their body: the voter of a ballot, the invitee of a
  claim, the attendee of a check-in, the signer named in a sign-in message. That address is read here from the body
  (small bodies only, any parse failure = no address bucket) and used for nothing but choosing the bucket: the
  route still verifies the signature. Since anyone can type any address, such a write is refused when that
  address's bucket is empty but takes a token only when the route answered that it did new work (202 ballot or
  claim accepted, 201 check-in recorded, 200 signed in): junk signatures and replays of someone's signed ballots
  (they are public on chain) cannot use up that person's limit.

Over a limit: 429, an RFC 9457 problem document of type `rate-limited`, with `Retry-After` (whole seconds until a
token is back). A refused request takes no token. `rate_limit_exempt_clients` are never limited (none by default;
`kanazawa-dao up` exempts this machine on the devnet, whose seeder writes in bulk through 127.0.0.1).

Why an ASGI middleware and not a FastAPI dependency: it covers every write endpoint by its method, new ones
included, without a line in each route; and it refuses before the body is parsed, validated or authorised, so a
flood costs no database work beyond (for signed-in writes) one session lookup.

Limits of this design, by choice: the buckets live in memory, **per API process**. Several uvicorn workers or
several API hosts each allow the full rate, and a restart refills every bucket; sharing them (e.g. in Redis) is
not done. The number of buckets kept is bounded (`max_keys`, least recently used dropped first), so a flood of
distinct keys cannot exhaust memory; a dropped bucket comes back full.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend_api.deps import session_token
from frontend_api.problems import LIMITED_READS, problem  # reads that store a row each (GET /auth/nonce)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Bodies larger than this are not parsed for an address (a signed ballot, claim, check-in or sign-in is a few KiB).
MAX_PARSED_BODY = 32 * 1024
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
LOCAL = "local"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Signed(NamedTuple):
    """A signature-authenticated endpoint: where its body names the signer, and the statuses that mean it did new
    work (a replay or a duplicate answers otherwise)."""

    address: Callable[[dict], object]
    new_work: frozenset[int]


def _signed(path: str) -> Signed | None:
    if path == "/ballots":
        return Signed(lambda body: body.get("voter"), frozenset({202}))
    if path == "/claims":
        return Signed(lambda body: (body.get("invitation") or {}).get("invitee"), frozenset({202}))
    if path == "/auth/verify":  # EIP-4361: the address is the message's second line
        return Signed(lambda body: (str(body.get("message") or "").split("\n")[1:2] or [None])[0], frozenset({200}))
    if _CHECK_IN.match(path):
        return Signed(lambda body: body.get("attendee"), frozenset({201}))
    return None


_CHECK_IN = re.compile(r"^/events/[^/]+/check-ins$")
_WEBHOOK = re.compile(r"^/events/([0-9]{1,10})/webhook$")


class TokenBuckets:
    """`rate` tokens a minute, at most `burst` held; one bucket per key, at most `max_keys` kept."""

    def __init__(self, rate: int, burst: int, *, clock: Callable[[], float], max_keys: int = 50_000) -> None:
        self.per_second = rate / 60
        self.burst = max(1, burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def _tokens(self, key: object, now: float) -> float:
        tokens, when = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - when) * self.per_second)

    def wait(self, key: object) -> float:
        """Seconds until `key` has a token (0: it has one now)."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.per_second

    def take(self, key: object) -> None:
        now = self.clock()
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def _networks(values: Iterable[str], setting: str) -> tuple[list[Network], bool]:
    networks, local = [], False
    for value in values:
        if value.strip().lower() == LOCAL:
            local = True
            continue
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {value!r} is not an IP address or network") from None
    return networks, local


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _within(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: list[Network]) -> bool:
    return ip is not None and any(ip in network for network in networks)


def _bucket_of(client: str) -> str:
    """IPv6 clients are counted by /64, the block one subscriber is given (an address each would be no limit)."""
    ip = _ip(client)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return client


def check_settings(trusted_proxies: Iterable[str], exempt_clients: Iterable[str]) -> None:
    """Raise ValueError naming the setting when an entry is not an IP address or network (at start, not at the
    first write: Starlette builds middleware lazily)."""
    _networks(trusted_proxies, "rate_limit_trusted_proxies")
    _networks(exempt_clients, "rate_limit_exempt_clients")


class RateLimit:
    def __init__(self, app: ASGIApp, *, per_client: int, client_burst: int, per_address: int, address_burst: int,
                 webhooks_per_client: int = 600, webhook_burst: int = 120,
                 trusted_proxies: Iterable[str] = (), exempt_clients: Iterable[str] = (),
                 session_address: Callable[[str], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clients = TokenBuckets(per_client, client_burst, clock=clock) if per_client > 0 else None
        self.webhooks = TokenBuckets(webhooks_per_client, webhook_burst, clock=clock) if webhooks_per_client > 0 else None
        self.addresses = TokenBuckets(per_address, address_burst, clock=clock) if per_address > 0 else None
        self.trusted, _ = _networks(trusted_proxies, "rate_limit_trusted_proxies")
        self.exempt, self.exempt_local = _networks(exempt_clients, "rate_limit_exempt_clients")
        self.session_address = session_address

    # ------------------------------------------------------------------ who is asking

    def client_of(self, scope: Scope) -> str:
        """The client's IP address, or "local" for a caller without one (in-process, a Unix socket)."""
        peer = scope.get("client")
        ip = _ip(peer[0]) if peer else None
        if ip is None:
            return LOCAL
        if not _within(ip, self.trusted):
            return str(ip)
        return self._forwarded(scope, ip)

    def _forwarded(self, scope: Scope, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        forwarded = ",".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for")
        for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
            hop_ip = _ip(hop)
            if hop_ip is None:  # garbage where the proxy should have written an address: keep the proxy's
                break
            ip = hop_ip
            if not _within(ip, self.trusted):
                break
        return str(ip)

    def _exempt(self, client: str) -> bool:
        return self.exempt_local if client == LOCAL else _within(_ip(client), self.exempt)

    async def _address(self, scope: Scope, signed: Signed | None, body: bytes | None) -> str | None:
        """The address whose bucket this write draws on (lower case), or None."""
        if signed is not None:  # authenticated by a signature: the body names the address, the session is ignored
            if body is None or len(body) > MAX_PARSED_BODY:
                return None
            try:
                parsed = json.loads(body)
                value = signed.address(parsed) if isinstance(parsed, dict) else None
            except (ValueError, RecursionError, AttributeError, TypeError):
                return None
            return value.lower() if isinstance(value, str) and ADDRESS.match(value) else None
        token = session_token(Request(scope))
        if token is None or self.session_address is None:
            return None
        try:
            address = await run_in_threadpool(self.session_address, token)
        except Exception:  # noqa: BLE001 - the route answers for a store that does not; the client bucket still counts
            return None
        return address.lower() if address else None

    # ------------------------------------------------------------------ the middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["method"] in WRITE_METHODS or
                                           (scope["method"] == "GET" and scope["path"] in LIMITED_READS)):
            await self.app(scope, receive, send)
            return
        client = self.client_of(scope)
        if self._exempt(client):
            await self.app(scope, receive, send)
            return
        client = _bucket_of(client)
        webhook = _WEBHOOK.match(scope["path"])
        # Webhooks draw on a bucket of their own per client, whatever event id the path names: keyed by that id,
        # anyone could mint fresh buckets by naming events that do not exist.
        buckets, client_key = (self.webhooks, ("webhook", client)) if webhook else (self.clients, ("client", client))
        # The client's own bucket first: a flooding client is refused before its body is read or a session looked up.
        if buckets is not None and (wait := buckets.wait(client_key)) > 0:
            await self._refuse(scope, receive, send, wait, "this client", buckets)
            return
        if scope["method"] == "GET":  # a limited read: the client's bucket only
            if buckets is not None:
                buckets.take(client_key)
            await self.app(scope, receive, send)
            return
        signed = _signed(scope["path"])
        body = None
        if signed is not None and self.addresses is not None:
            body, receive = await _buffer(receive)
        address = None if webhook or self.addresses is None else await self._address(scope, signed, body)
        address_key = ("address", address)
        if address is not None and (wait := self.addresses.wait(address_key)) > 0:
            await self._refuse(scope, receive, send, wait, f"the address {address}", self.addresses)
            return
        if buckets is not None:
            buckets.take(client_key)
        if address is None:
            await self.app(scope, receive, send)
            return
        if signed is None:  # a session: the address is authenticated already
            self.addresses.take(address_key)
            await self.app(scope, receive, send)
            return
        # A signed write names an address anyone may type: it draws on that address's bucket only once the route
        # has verified the signature and done new work, so junk or replayed requests naming someone cannot use up
        # their limit (the client's bucket limits those).
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status in signed.new_work:
                self.addresses.take(address_key)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, wait: float, who: str,
                      buckets: TokenBuckets) -> None:
        retry = max(1, math.ceil(wait))
        rate = round(buckets.per_second * 60)
        response = problem(429, "rate-limited", "Too many requests",
                           f"too many writes from {who}: at most {rate} a minute (bursts of {buckets.burst}); "
                           f"retry after {retry} s", Request(scope), headers={"Retry-After": str(retry)},
                           retry_after=retry)
        await response(scope, receive, send)


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (BodyLimit, outside this middleware, has bounded it) and a `receive` that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
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

    return body, replay
