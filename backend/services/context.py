"""The `Services` context: settings plus the long-lived things built from them (database engine, chain client,
deployment, content store, service keys), created lazily so that a read-only API call never needs the chain."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

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


class Services:
    def __init__(self, settings: Settings, *, dispatch: Dispatch | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.dispatch: Dispatch = dispatch or (lambda _job_id: None)
        self._on_close: list[Callable[[], None]] = []

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
        return self.deployment.contract(self.chain.w3, name)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the services close (a background thread a service started, to stop)."""
        self._on_close.append(callback)

    def close(self) -> None:
        for callback in self._on_close:
            callback()
        self._on_close.clear()
        self.engine.dispose()
