"""The `Services` context: settings plus the long-lived things built from them (database engine, chain client,
deployment, content store, service keys), created lazily so that a read-only API call never needs the chain."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from backend.chain.client import ChainClient
from backend.chain.deploy import Deployment, read_manifest
from backend.chain.keys import ServiceKeys
from backend.config import Settings
from backend.db import make_engine, session_factory
from backend.services.errors import Unavailable

if TYPE_CHECKING:
    from backend.ipfs.store import ContentStore

#: Hands a relay job id to the worker (Celery); set by the API and the worker, a no-op otherwise (the worker's
#: sweep finds every pending job anyway, so a lost hand-off only delays it).
Dispatch = Callable[[str], None]


class BoundedCache:
    """A thread-safe least-recently-used map, bounded by entries or by the bytes of its values."""

    def __init__(self, *, max_items: int | None = None, max_bytes: int | None = None) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= self._size(self._items.pop(key))
            self._items[key] = value
            self._bytes += self._size(value)
            while self._items and ((self.max_items is not None and len(self._items) > self.max_items)
                                   or (self.max_bytes is not None and self._bytes > self.max_bytes)):
                self._bytes -= self._size(self._items.popitem(last=False)[1])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def _size(self, value: Any) -> int:
        return len(value) if self.max_bytes is not None else 0


class Services:
    """Settings and what is built from them, once per process: the database engine, the chain client, the
    deployment, the content store, the service keys, the contracts, and the caches of what never changes for a
    deployment (typed-data domains), of final chain values and of verified documents."""

    def __init__(self, settings: Settings, *, dispatch: Dispatch | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.dispatch: Dispatch = dispatch or (lambda _job_id: None)
        self._on_close: list[Callable[[], None]] = []
        self._contracts: dict[str, Any] = {}
        self._fixed: dict[Hashable, Any] = {}
        self._fixed_lock = threading.Lock()
        #: Chain values at final past moments (backend/services/proposals/state.py `PastReads`), proposals' windows.
        self.past_values = BoundedCache(max_items=100_000)
        self.snapshots = BoundedCache(max_items=100_000)
        #: Times of final blocks by number (backend/services/chain_checks.py `head`).
        self.final_times = BoundedCache(max_items=10_000)
        #: Documents read from the content store and verified against their CID, by CID (never stale).
        self.documents = BoundedCache(max_bytes=32 << 20)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def session(self) -> Session:
        return self.sessions()

    @functools.cached_property
    def chain(self) -> ChainClient:
        try:
            return ChainClient.connect(self.settings.rpc_url, timeout=15)
        except Exception as exc:  # noqa: BLE001 - connection errors of every transport
            raise Unavailable(f"the chain does not answer ({type(exc).__name__})") from None

    @functools.cached_property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @functools.cached_property
    def deployment(self) -> Deployment:
        return read_manifest(self.chain_id, self.settings.deployments_dir)

    @functools.cached_property
    def keys(self) -> ServiceKeys:
        s = self.settings
        return ServiceKeys.from_settings(self.chain_id, relayer_key=s.relayer_key, city_key=s.city_key,
                                         organisation_key_secret=s.organisation_key_secret)

    @functools.cached_property
    def content(self) -> ContentStore:
        from backend.ipfs.store import content_store

        return content_store(ipfs_api_url=self.settings.ipfs_api_url, local_dir=self.settings.content_dir)

    def contract(self, name: str):
        """The deployed contract `name`, built once: web3 validates and indexes the whole ABI for each one it
        builds (~30 ms of CPU, more than the rest of a request), and a contract holds no per-call state."""
        contract = self._contracts.get(name)
        if contract is None:
            contract = self._contracts[name] = self.deployment.contract(self.chain.w3, name)
        return contract

    def fixed(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A value fixed for this deployment (an EIP-712 domain read from a contract), computed once."""
        with self._fixed_lock:
            if key in self._fixed:
                return self._fixed[key]
        value = compute()
        with self._fixed_lock:
            return self._fixed.setdefault(key, value)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the services close (a background thread a service started, to stop)."""
        self._on_close.append(callback)

    def close(self) -> None:
        for callback in self._on_close:
            callback()
        self._on_close.clear()
        self.engine.dispose()
