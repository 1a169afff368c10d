"""A cache of public reads: an anonymous GET of public data is answered from memory while the database has not
changed since the answer was computed, and for at most `read_cache_seconds` (default 30 s).

Why: every public read (the proposal list, a proposal's tallies, the issue search, the open-data CSVs, the results
pages) is the same for everyone, and what it shows moves only when something is written: the indexer indexing a
block, a member posting an issue, an organisation recording attendance. Under load (a results announcement, a
metaverse event pointing thousands of people at one proposal) most requests ask for the same pages; answering each
from the database costs 10-20 ms of CPU, from here well under one (scripts/bench_api.py measures both).

Freshness: the database's data version (backend/db.py `data_version`: PostgreSQL's current snapshot, SQLite's
`PRAGMA data_version`), read at most every VERSION_CHECK_S by one request for all the others, is part of every
entry: an entry computed before any commit, by any process, is not served as current after it. So an answer is at
most VERSION_CHECK_S behind the database, with one exception, under load (below). `read_cache_seconds` bounds what
the database cannot say: the state of a proposal also follows the chain's head (Pending, Active, ended), which
moves without a write while the indexer is stopped.

Stale answers (`X-Cache: stale`), each while the answer is computed again in the background (one computation per
URL, at most MAX_REFRESHES at once per process), and never older than twice `read_cache_seconds`:

- an entry past `read_cache_seconds`, the database unchanged: otherwise every page expires at the same moment,
  and the burst of recomputations (hundreds of proposal pages, each 10-20 ms) is what a visitor waits for;
- an entry computed before the last commit, while this process is busy: computing an answer now, or having
  started BUSY_PER_SECOND computations in the last second. When something commits every second (the indexer during
  a vote) every entry is outdated every second, and recomputing hundreds of pages per commit is more than two cores
  do; so the visitor gets the previous
  answer at once and the pages catch up as fast as the machine computes them, MAX_REFRESHES at a time. A quiet
  process computes the current answer for its visitor, as before.

A write through this process empties the cache when it starts and when it ends: its author reads it back at once.

What is cached, and what never is:

- only GET of the public resources (PREFIXES), anonymous only: a request with an `Authorization` header or a
  session cookie (as the authenticating parser reads cookies) bypasses the cache entirely (what a signed-in member
  sees may depend on who they are), and so does any path ending in `/me`;
- never /ballots/typed-data (it carries the voter's next nonce), /jobs, /health, /auth or anything not listed;
- only complete 200 answers without `Set-Cookie` and not marked `Cache-Control: private` or `no-store` (every
  answer to a request with a session is marked so: frontend_api/security.py), up to MAX_BODY bytes each and
  MAX_BYTES in all (least recently used dropped first);
- the key is the path, the query string and the `Accept` header (the same URL may be negotiated differently).

Concurrent misses of one key are coalesced: the first request computes the answer, the others wait for it instead
of all hitting the database at once. Answers served from the cache carry `Age` and `X-Cache: hit` (or `stale`, see
above); computed ones `X-Cache: miss`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend_api.deps import session_token

#: The public read resources. Everything else (typed data with nonces, jobs, health, sign-in) is never cached.
PREFIXES = ("/proposals", "/issues", "/open-data/", "/outcomes", "/organisations", "/events", "/results")
NEVER = ("/ballots", "/jobs", "/health", "/auth")
MAX_BODY = 4 << 20
MAX_BYTES = 64 << 20
#: How often the database's data version is read (by one request for all those arriving meanwhile).
VERSION_CHECK_S = 0.05
#: When an entry computed before the last commit is served as stale instead of the visitor waiting for the current
#: answer (see the docstring): this process is computing an answer now (visitors' or background), or started this
#: many computations in the last second. Waiting while a few computations are in flight queues visitors behind
#: them, and a quiet moment between two computations lets the next visitor compute in a queue: the rate closes that
#: gap. Chosen with scripts/bench_api.py's "one commit a second" rows (README, "API load benchmark").
BUSY_PER_SECOND = 20
#: Background recomputations of stale entries at once per process: the rest of the machine keeps serving.
MAX_REFRESHES = 2
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Entry:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored: float
    version: object

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers)


class _Unreadable:
    """The data version when the database does not answer: equal to nothing, and no stale entry is served for it
    (the route answers for the database)."""


def cacheable(scope: Scope) -> bool:
    """A GET of a public resource by an anonymous caller. "Anonymous" is decided by the very parser that
    authenticates (`deps.session_token`): a cookie spelled `kanazawa_dao_session =<token>` is a session to it, so it
    is one here too. Any `Authorization` header at all, valid or not, also bypasses the cache."""
    path = scope["path"]
    if scope["method"] != "GET" or not path.startswith(PREFIXES) or path.startswith(NEVER) or path.endswith("/me"):
        return False
    if any(name == b"authorization" for name, _ in scope.get("headers", [])):
        return False
    return session_token(Request(scope)) is None


def _shareable(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer may be kept for others: a complete answer without a cookie, not marked private."""
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie":
            return False
        if name == b"cache-control" and (b"private" in value.lower() or b"no-store" in value.lower()):
            return False
    return True


class ReadCache:
    def __init__(self, app: ASGIApp, *, seconds: float, version: Callable[[], object] | None = None,
                 clock: Callable[[], float] = time.monotonic, max_bytes: int = MAX_BYTES) -> None:
        self.app = app
        self.seconds = seconds
        self.version = version
        self.clock = clock
        self.max_bytes = max_bytes
        self._version: object = None
        self._version_read = float("-inf")
        self._version_reading: asyncio.Future | None = None
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.bytes = 0
        self.pending: dict[tuple, asyncio.Event] = {}
        self.generation = 0  # bumped by every write: an answer computed across a write is not stored
        self._refreshing: set[asyncio.Task] = set()  # background recomputations of stale entries (kept referenced)
        self.computing = 0  # answers being computed in this process now (see BUSY_PER_SECOND)
        self.started: deque[float] = deque()  # when the computations of the last second started

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0
        self.generation += 1

    async def current_version(self) -> object:
        """The database's data version, read at most every VERSION_CHECK_S; when it cannot be read, a value equal
        to nothing (so nothing is served from the cache and nothing computed now is kept)."""
        if self.version is None:
            return None
        if self.clock() - self._version_read < VERSION_CHECK_S:
            return self._version
        if self._version_reading is None:  # this request reads it; those arriving meanwhile wait for the answer
            self._version_reading = asyncio.get_running_loop().create_future()
            started = self.clock()
            try:
                value = await run_in_threadpool(self.version)
            except Exception:  # noqa: BLE001 - database away: the route will answer for it
                value = _Unreadable()
            self._version, self._version_read = value, started
            reading, self._version_reading = self._version_reading, None
            reading.set_result(value)
            return value
        return await asyncio.shield(self._version_reading)

    def _fresh(self, key: tuple, version: object) -> Entry | None:
        """The entry for `key` if it may be served as current: computed at this data version, younger than
        `seconds`."""
        entry = self._entry(key)
        if entry is None or entry.version != version or self.clock() - entry.stored >= self.seconds:
            return None
        self.entries.move_to_end(key)
        return entry

    def _stale(self, key: tuple, version: object) -> Entry | None:
        """The entry for `key` if it may be served as stale (see the module's docstring)."""
        entry = self._entry(key)
        if entry is None:
            return None
        if entry.version == version or (self._busy() and not isinstance(version, _Unreadable)):
            self.entries.move_to_end(key)
            return entry
        return None

    def _busy(self) -> bool:
        second_ago = self.clock() - 1.0
        while self.started and self.started[0] < second_ago:
            self.started.popleft()
        return self.computing > 0 or len(self.started) >= BUSY_PER_SECOND

    def _entry(self, key: tuple) -> Entry | None:
        """The entry for `key`, whatever its version, if younger than twice `seconds` (older ones are dropped)."""
        entry = self.entries.get(key)
        if entry is not None and self.clock() - entry.stored >= 2 * self.seconds:
            self._drop(key)
            return None
        return entry

    def _drop(self, key: tuple) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def _store(self, key: tuple, entry: Entry) -> None:
        self._drop(key)
        self.entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self.entries:
            self._drop(next(iter(self.entries)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in WRITE_METHODS:
            self.clear()
            try:
                await self.app(scope, receive, send)
            finally:
                self.clear()
            return
        if not cacheable(scope):
            await self.app(scope, receive, send)
            return
        accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"")
        key = (scope["path"], scope.get("query_string", b""), accept)
        version = await self.current_version()
        entry = self._fresh(key, version)
        if entry is None:
            stale = self._stale(key, version)
            if stale is not None:  # served while computed again (the module's docstring says when)
                if key not in self.pending and len(self._refreshing) < MAX_REFRESHES:
                    task = asyncio.get_running_loop().create_task(self._refresh(key, version, dict(scope)))
                    self._refreshing.add(task)
                    task.add_done_callback(self._refreshing.discard)
                await self._replay(stale, send, state=b"stale")
                return
        if entry is None and key in self.pending:  # another request is computing this answer: wait for it
            try:
                await asyncio.wait_for(self.pending[key].wait(), timeout=30)
            except asyncio.TimeoutError:
                pass
            entry = self._fresh(key, version)
        if entry is not None:
            await self._replay(entry, send)
            return
        await self._compute(key, version, scope, receive, send)

    async def _refresh(self, key: tuple, version: object, scope: Scope) -> None:
        """Compute `key` again for the cache alone (no client waits for this answer)."""
        asked = False

        async def receive() -> Message:
            # The request's (empty) body, then nothing, as a server does until the client goes away: a streaming
            # response listens for a disconnect while it streams, and an answer to each call (a request again) made
            # that loop spin and starve the event loop (seen with the open-data CSV). It stops listening when done.
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def discard(_message: Message) -> None:
            pass

        try:
            await self._compute(key, version, scope, receive, discard)
        except Exception:  # noqa: BLE001 - the next request computes it itself and answers with the error
            self._drop(key)

    async def _compute(self, key: tuple, version: object, scope: Scope, receive: Receive, send: Send) -> None:
        done = self.pending.get(key)
        leader = done is None  # the others wait for this one (see __call__)
        if leader:
            done = self.pending[key] = asyncio.Event()
            self.computing += 1
            self.started.append(self.clock())
        generation = self.generation
        started: Message | None = None
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def record(message: Message) -> None:
            nonlocal started, size, keep
            if message["type"] == "http.response.start":
                started = message
                headers = list(message.get("headers", []))
                keep = message["status"] == 200 and _shareable(headers)
                message = {**message, "headers": [*headers, (b"x-cache", b"miss")]}
            elif message["type"] == "http.response.body" and keep:
                body = message.get("body", b"")
                size += len(body)
                if size > MAX_BODY:
                    keep, chunks[:] = False, []
                else:
                    chunks.append(body)
            await send(message)

        try:
            await self.app(scope, receive, record)
            if keep and started is not None and generation == self.generation:
                self._store(key, Entry(started["status"], list(started.get("headers", [])), b"".join(chunks),
                                       self.clock(), version))
        finally:
            if leader:
                self.computing -= 1
                self.pending.pop(key, None)
                done.set()

    async def _replay(self, entry: Entry, send: Send, *, state: bytes = b"hit") -> None:
        age = str(int(self.clock() - entry.stored)).encode()
        await send({"type": "http.response.start", "status": entry.status,
                    "headers": [*entry.headers, (b"x-cache", state), (b"age", age)]})
        await send({"type": "http.response.body", "body": entry.body, "more_body": False})
