"""RPC faults are retried and leave no gap; lies are refused with nothing written; a node restart is survived;
a database that goes away mid-batch commits nothing."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from sqlalchemy import event, text

from backend.chain.client import ChainClient
from backend.db import make_engine, session_factory
from backend.migrate import upgrade
from backend.models import chain as m
from backend.toolchain.anvil import free_port, start_anvil
from indexer.decode import UndecodableLog
from indexer.rpc import RpcClient, RpcUnavailable
from indexer.runner import Indexer, IndexerError
from tests.conftest import deploy_dao
from tests.dao import FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT
from tests.indexer_helpers import dump, rows, run_indexer
from tests.rpc_proxy import RpcProxy


def activity(dao, voters: int = 9) -> None:
    members = dao.members([RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION] * (voters // 3))
    proposal = dao.propose("faults")
    dao.start_voting(proposal)
    for member in members:
        dao.vote_by_sig(proposal, member, FOR)


def indexer_for(dao, rpc_url: str, database_url: str, **kwargs) -> tuple[Indexer, object]:
    engine = make_engine(database_url)
    rpc = RpcClient(rpc_url, timeout=kwargs.pop("timeout", 1.0), max_backoff=0.2)
    return Indexer(sessions=session_factory(engine), rpc=rpc, deployment=dao.deployment, **kwargs), engine


@pytest.fixture
def proxy(anvil):
    proxy = RpcProxy(anvil.rpc_url, free_port()).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def reference(dao, anvil, tmp_path):
    """The tables an undisturbed index gives, built after the test has made its activity."""
    def build() -> dict:
        url = f"sqlite:///{tmp_path}/reference.sqlite3"
        upgrade(url)
        run_indexer(dao, anvil.rpc_url, url)
        return dump(url)
    return build


def test_transport_faults_are_retried_and_leave_no_gap(dao, proxy, database_url, reference):
    activity(dao)
    for kind in ("http500", "drop", "timeout", "rpc_error"):
        proxy.inject(kind, times=2)
    proxy.inject("http500", method="eth_getBlockByNumber", times=2)
    indexer, engine = indexer_for(dao, proxy.url, database_url, batch_blocks=7)
    progress = indexer.run(once=True)
    engine.dispose()
    assert indexer.rpc.stats.retries >= 10
    assert progress.cursor == dao.block_number()
    assert dump(database_url) == reference()


def test_refused_connections_while_the_proxy_is_down(dao, proxy, database_url, reference):
    activity(dao)
    indexer, engine = indexer_for(dao, proxy.url, database_url, batch_blocks=3)
    indexer.rpc.max_retries = 30
    threading.Timer(0.05, proxy.refuse_for, args=(1.5,)).start()
    indexer.run(once=True)
    engine.dispose()
    assert dump(database_url) == reference()


def test_too_many_results_shrinks_the_range(dao, proxy, database_url, reference):
    activity(dao)
    proxy.inject("too_many", method="eth_getLogs", times=3)
    indexer, engine = indexer_for(dao, proxy.url, database_url, batch_blocks=64)
    indexer.run(once=True)
    engine.dispose()
    assert indexer.fetcher.span < 64 or indexer.rpc.stats.calls > 0
    assert dump(database_url) == reference()


def test_a_node_that_never_answers_is_a_clear_error(dao, database_url):
    indexer, engine = indexer_for(dao, f"http://127.0.0.1:{free_port()}", database_url)
    indexer.rpc.max_retries = 2
    with pytest.raises(RpcUnavailable, match="failed 2 retries"):
        indexer.run(once=True)
    engine.dispose()


@pytest.mark.parametrize("lie, error", [
    ("missing_block", "has no block"),
    ("foreign_log", "which we did not ask for"),
    ("malformed_data", "does not decode"),
])
def test_a_lying_rpc_writes_nothing(dao, proxy, database_url, reference, lie, error):
    activity(dao)
    method = "eth_getBlockByNumber" if lie == "missing_block" else "eth_getLogs"
    proxy.inject(lie, method=method, times=1)
    indexer, engine = indexer_for(dao, proxy.url, database_url)
    with pytest.raises((IndexerError, UndecodableLog, Exception), match=error):
        indexer.run(once=True, max_step_failures=0)
    assert rows(database_url, m.IndexerCursor) == [] and rows(database_url, m.Vote) == []
    indexer.run(once=True)  # the lie is over: the same indexer carries on and gets it right
    engine.dispose()
    assert dump(database_url) == reference()


def test_manifest_that_does_not_match_the_chain(dao, anvil, database_url):
    wrong_chain = dataclasses.replace(dao.deployment, chain_id=1)
    indexer, engine = indexer_for(dao, anvil.rpc_url, database_url)
    indexer.deployment = wrong_chain
    indexer.chain_id = 1
    with pytest.raises(IndexerError, match="the RPC serves chain 31337, the manifest is for chain 1"):
        indexer.run(once=True)
    contracts = dict(dao.deployment.contracts)
    contracts["OutcomeRegistry"] = dataclasses.replace(contracts["OutcomeRegistry"], address=dao.relayer.address)
    engine.dispose()
    indexer, engine = indexer_for(dao, anvil.rpc_url, database_url)
    indexer.deployment = dataclasses.replace(dao.deployment, contracts=contracts)
    with pytest.raises(IndexerError, match=r"no contract code at OutcomeRegistry"):
        indexer.run(once=True)
    assert rows(database_url, m.IndexerCursor) == []
    engine.dispose()


def test_database_indexed_from_another_deployment_is_refused(dao, anvil, database_url):
    run_indexer(dao, anvil.rpc_url, database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(m.IndexerCursor.__table__.update().values(manifest_hash="0" * 64))
    indexer = Indexer(sessions=session_factory(engine), rpc=RpcClient(anvil.rpc_url), deployment=dao.deployment)
    with pytest.raises(IndexerError, match="another deployment"):
        indexer.run(once=True)
    engine.dispose()


def test_node_restart_during_indexing(tmp_path, database_url):
    """anvil stops (dumping its state) and comes back on the same port while the indexer is retrying."""
    port = free_port()
    state = tmp_path / "state.json"
    node = start_anvil(port, state_file=state, log_file=tmp_path / "anvil.log")
    dao = deploy_dao(ChainClient.connect(node.rpc_url))
    activity(dao, voters=12)
    expected_head = dao.block_number()
    indexer, engine = indexer_for(dao, node.rpc_url, database_url, batch_blocks=2)
    indexer.rpc.max_retries = 40
    restarted = []

    def restart():
        node.stop()
        time.sleep(1.0)
        restarted.append(start_anvil(port, state_file=state, log_file=tmp_path / "anvil.log"))

    original_step = indexer.step
    calls = {"n": 0}

    def step(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            threading.Thread(target=restart).start()
        return original_step(**kwargs)

    indexer.step = step
    try:
        progress = indexer.run(once=True)
        assert restarted and progress.cursor == expected_head
        assert indexer.rpc.stats.retries > 0
        fresh = f"sqlite:///{tmp_path}/fresh.sqlite3"
        upgrade(fresh)
        run_indexer(dao, restarted[0].rpc_url, fresh)
        assert dump(database_url) == dump(fresh)
    finally:
        engine.dispose()
        for process in restarted or [node]:
            process.stop()


def test_database_going_away_mid_batch_commits_nothing(dao, anvil, postgres_url):
    """PostgreSQL only: it kills the server side of the indexer's connection (SQLite has no server to lose)."""
    database_url = postgres_url
    activity(dao)
    indexer, engine = indexer_for(dao, anvil.rpc_url, database_url)
    killer = make_engine(database_url)
    inserts = {"n": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def kill_connection(conn, cursor, statement, *args):
        # Rows of the batch's first tables are already written (by COPY) when the vote table's turn comes.
        inserts["n"] += 'FROM vote' in statement
        if inserts["n"] == 1:
            pid = cursor.connection.info.backend_pid  # psycopg's own connection: no SQL, no recursion
            with killer.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with pytest.raises(Exception, match="terminat|closed|connection"):
        indexer.run(once=True, max_step_failures=0)
    event.remove(engine, "before_cursor_execute", kill_connection)
    assert rows(database_url, m.IndexerCursor) == []
    assert rows(database_url, m.MembershipEvent) == [] and rows(database_url, m.Vote) == []
    indexer.run(once=True)  # the database is back: resume from the last committed batch
    assert rows(database_url, m.IndexerCursor)[0].block_number == dao.block_number()
    killer.dispose()
    engine.dispose()
