"""The indexer loop rides out a database that cuts its connections (seen under fault (c): a PostgreSQL restart ended
`kanazawa-dao index` at once). For two seconds in the middle of a backfill every statement the indexer sends gets
its own server process terminated (`pg_terminate_backend`, what a restart does to every connection, without
disturbing anyone else on the server): the steps fail, are tried again by the loop itself, and it carries on to an
index equal to a fresh one. PostgreSQL only (SQLite has no server to lose)."""

from __future__ import annotations

import time

from sqlalchemy import event, text

from backend.db import make_engine, session_factory
from indexer.rpc import RpcClient
from indexer.runner import Indexer
from tests.faults.conftest import require
from tests.indexer_helpers import dump

OUTAGE_S = 2.0


def _index(rig, url: str, head: int, **kwargs) -> tuple[Indexer, object]:
    engine = make_engine(url)
    indexer = Indexer(sessions=session_factory(engine), rpc=RpcClient(rig.rpc_url), deployment=rig.dao.deployment,
                      **kwargs)
    return indexer, engine


def test_indexer_rides_out_cut_database_connections(rig):
    require(rig.database_kind == "postgresql", "PostgreSQL", "KANAZAWA_DAO_TEST_DATABASE_URL")
    head = rig.dao.block_number()
    with rig.fresh_database() as url, rig.fresh_database() as reference:
        indexer, engine = _index(rig, url, head, batch_blocks=max(1, (head - rig.dao.deployment.start_block) // 12))
        killer = make_engine(url)
        window = {"statements": 0, "from": None, "cut": 0}

        @event.listens_for(engine, "before_cursor_execute")
        def cut(conn, cursor, statement, *args):
            window["statements"] += 1
            if window["statements"] == 40:  # a few batches in
                window["from"] = time.monotonic()
            if window["from"] is not None and time.monotonic() - window["from"] < OUTAGE_S:
                window["cut"] += 1
                with killer.begin() as other:
                    other.execute(text("SELECT pg_terminate_backend(:pid)"),
                                  {"pid": cursor.connection.info.backend_pid})

        try:
            progress = indexer.run(once=True, until=head, poll_interval=0.5)
        finally:
            event.remove(engine, "before_cursor_execute", cut)
            engine.dispose()
            killer.dispose()
        assert window["cut"] > 0, "no connection was cut"
        assert progress.cursor == head
        fresh, fresh_engine = _index(rig, reference, head)
        try:
            fresh.run(once=True, until=head)
        finally:
            fresh_engine.dispose()
        assert dump(url) == dump(reference)
