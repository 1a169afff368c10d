"""The `kanazawa-dao index` process: kill -9 during a backfill and a restart give exactly the tables of an
uninterrupted run; SIGTERM stops between batches with a consistent database; progress is reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from backend.chain.deploy import write_manifest
from backend.db import make_engine
from backend.migrate import upgrade
from backend.models import chain as m
from tests.dao import FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT
from tests.indexer_helpers import dump, run_indexer


def busy_chain(dao, members: int = 60) -> None:
    voters = dao.members([RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION] * (members // 3))
    proposal = dao.propose("a long backfill")
    dao.start_voting(proposal)
    for voter in voters:
        dao.vote_by_sig(proposal, voter, FOR)


def index_process(anvil, dao, database_url: str, tmp_path, *args: str) -> subprocess.Popen:
    deployments = tmp_path / "deployments"
    write_manifest(dao.deployment, deployments)
    env = {**os.environ, "KANAZAWA_DAO_RPC_URL": anvil.rpc_url, "KANAZAWA_DAO_DATABASE_URL": database_url,
           "KANAZAWA_DAO_DEPLOYMENTS_DIR": str(deployments)}
    return subprocess.Popen([sys.executable, "-m", "scripts.cli", "index", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def cursor(database_url: str) -> int | None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(m.IndexerCursor.block_number)).scalar()
    finally:
        engine.dispose()


def wait_for_cursor_between(database_url: str, low: int, high: int, timeout: float = 60) -> int:
    # One engine for all the polls: a new PostgreSQL connection per poll took longer than the indexer needs for
    # the whole window on a busy machine, and the window went by unseen.
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                at = conn.execute(select(m.IndexerCursor.block_number)).scalar()
                conn.rollback()  # a fresh snapshot for the next poll
                if at is not None and low < at < high:
                    return at
                time.sleep(0.005)
    finally:
        engine.dispose()
    raise AssertionError(f"the indexer never got between blocks {low} and {high}")


def test_kill_9_mid_backfill_then_restart_equals_an_uninterrupted_run(private_chain, database_url, tmp_path):
    anvil, dao = private_chain
    busy_chain(dao)
    head = dao.block_number()
    process = index_process(anvil, dao, database_url, tmp_path, "--once", "--batch-blocks", "1")
    at = wait_for_cursor_between(database_url, dao.deployment.start_block + 5, head - 20)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert cursor(database_url) < head

    restart = index_process(anvil, dao, database_url, tmp_path, "--once", "--batch-blocks", "7")
    output, _ = restart.communicate(timeout=120)
    assert restart.returncode == 0, output
    assert cursor(database_url) == head

    reference = f"sqlite:///{tmp_path}/uninterrupted.sqlite3"
    upgrade(reference)
    run_indexer(dao, anvil.rpc_url, reference)
    assert dump(database_url) == dump(reference)
    assert at > 0


def test_sigterm_stops_between_batches(private_chain, database_url, tmp_path):
    anvil, dao = private_chain
    busy_chain(dao)
    head = dao.block_number()
    process = index_process(anvil, dao, database_url, tmp_path, "--batch-blocks", "1")
    wait_for_cursor_between(database_url, dao.deployment.start_block + 5, head - 20)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "(stopped)" in output
    stopped_at = cursor(database_url)
    assert stopped_at < head

    # What was committed is exactly a complete index up to the cursor.
    reference = f"sqlite:///{tmp_path}/until.sqlite3"
    upgrade(reference)
    from backend.db import session_factory
    from indexer.rpc import RpcClient
    from indexer.runner import Indexer
    engine = make_engine(reference)
    Indexer(sessions=session_factory(engine), rpc=RpcClient(anvil.rpc_url), deployment=dao.deployment).run(
        until=stopped_at)
    engine.dispose()
    assert dump(database_url) == dump(reference)


def test_progress_and_until(private_chain, database_url, tmp_path):
    anvil, dao = private_chain
    busy_chain(dao, members=9)
    until = dao.block_number() - 3
    process = index_process(anvil, dao, database_url, tmp_path, "--until", str(until))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert cursor(database_url) == until
    assert "blocks/s" in output and "events/s" in output and "lag" in output and "RPC calls" in output


def test_missing_manifest_is_a_clear_error(anvil, database_url, tmp_path):
    env = {**os.environ, "KANAZAWA_DAO_RPC_URL": anvil.rpc_url, "KANAZAWA_DAO_DATABASE_URL": database_url,
           "KANAZAWA_DAO_DEPLOYMENTS_DIR": str(tmp_path / "nowhere")}
    result = subprocess.run([sys.executable, "-m", "scripts.cli", "index", "--once"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no deployment manifest for chain 31337")
    assert "Traceback" not in result.stderr
