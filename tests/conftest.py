"""Shared fixtures: one real anvil (pinned npm binary) on a free port per test session, the contracts deployed
once, and every test wrapped in evm_snapshot / evm_revert so tests stay independent (Titanoboa's pattern)."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text

from backend.chain.client import ChainClient
from backend.toolchain.anvil import free_port, start_anvil
from backend.toolchain.dao import TEST_PARAMS, Dao, deploy_dao  # noqa: F401 - TEST_PARAMS, Dao: used by tests


@pytest.fixture(scope="session")
def anvil(tmp_path_factory):
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    process = start_anvil(free_port(), log_file=log)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def client(anvil) -> ChainClient:
    return ChainClient.connect(anvil.rpc_url)




@pytest.fixture(scope="session")
def session_dao(client) -> Dao:
    return deploy_dao(client)


@pytest.fixture
def dao(session_dao, client) -> Dao:
    snapshot = client.snapshot()
    yield session_dao
    client.revert(snapshot)


@pytest.fixture
def private_chain(tmp_path):
    """A chain of the test's own, for tests that reorganise or restart it (evm_revert across anvil_reorg is not
    reliable, and a restart would disturb every other test)."""
    process = start_anvil(free_port(), log_file=tmp_path / "anvil.log")
    client = ChainClient.connect(process.rpc_url)
    yield process, deploy_dao(client)
    process.stop()


# ---------------------------------------------------------------------- databases


def _postgres_url() -> str | None:
    return os.environ.get("KANAZAWA_DAO_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, migrated database: SQLite always; PostgreSQL when KANAZAWA_DAO_TEST_DATABASE_URL is set (.ci/run
    sets it), in a schema of its own that is dropped afterwards."""
    from backend.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/kanazawa_dao.sqlite3"
        upgrade(url)
        yield url
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_url():
    """A fresh, migrated PostgreSQL schema, for tests about the server itself."""
    yield from _postgres_schema()


def _postgres_schema():
    from backend.migrate import upgrade

    base = _postgres_url()
    if not base and os.environ.get("CI"):
        pytest.fail("CI must run the PostgreSQL variants: set KANAZAWA_DAO_TEST_DATABASE_URL (see .ci/run)")
    if not base:
        pytest.skip("PostgreSQL: set KANAZAWA_DAO_TEST_DATABASE_URL (the CI run sets it)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ---------------------------------------------------------------------- the whole service (API tests)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Chain, database, API and a real worker process, for one test module. The real services when the CI
    variables are set (PostgreSQL, Redis), the embedded defaults (SQLite, SQLite broker) otherwise."""
    yield from _stack(tmp_path_factory, real_services=bool(_postgres_url()))


def _stack(tmp_path_factory, *, real_services: bool, overrides: dict[str, str] | None = None):
    """`overrides`: KANAZAWA_DAO_* values for this stack (its API and its worker), e.g. a confirmation depth."""
    from tests.api_stack import make_stack

    tmp = tmp_path_factory.mktemp("stack")
    process = start_anvil(free_port(), log_file=tmp / "anvil.log")
    dao = deploy_dao(ChainClient.connect(process.rpc_url))
    databases = _postgres_schema() if real_services else None
    if databases is not None:
        database_url = next(databases)
        broker_url = _redis_url()
    else:
        from backend.migrate import upgrade

        database_url = f"sqlite:///{tmp}/kanazawa_dao.sqlite3"
        upgrade(database_url)
        broker_url = f"sqla+sqlite:///{tmp}/broker.sqlite3"
    stack = make_stack(tmp, dao, process.rpc_url, database_url=database_url, broker_url=broker_url,
                       overrides=overrides)
    stack.index()  # the city's role, as the API reads it
    stack.start_worker()
    try:
        yield stack
    finally:
        stack.stop_worker()
        stack.api.close()
        stack.services.close()
        process.stop()
        if databases is not None:
            next(databases, None)


def _redis_url() -> str:
    url = os.environ.get("KANAZAWA_DAO_TEST_REDIS_URL")
    if not url:
        pytest.fail("PostgreSQL is configured but Redis is not: set KANAZAWA_DAO_TEST_REDIS_URL (see .ci/run)")
    import redis

    redis.Redis.from_url(url).flushdb()  # a test database of its own (db 15 in .ci/run)
    return url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium driven by playwright (no browser download). Missing chromium is a failure, not a
    skip: `./dao test` installs it with apt-get when it can, and otherwise these tests say what to install."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("the browser tests need Debian's chromium: `apt-get install chromium fonts-ipafont-gothic` "
                    "(`./dao test` installs them itself when it runs as root)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield instance
        instance.close()
