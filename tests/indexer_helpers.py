"""Running the indexer in tests and comparing whole tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.db import make_engine, session_factory
from backend.models import chain as m
from indexer.rpc import RpcClient
from indexer.runner import Indexer, Progress


def run_indexer(dao, rpc_url: str, database_url: str, **kwargs: Any) -> Progress:
    engine = make_engine(database_url)
    try:
        indexer = Indexer(sessions=session_factory(engine), rpc=RpcClient(rpc_url), deployment=dao.deployment,
                          **kwargs)
        return indexer.run(once=True)
    finally:
        engine.dispose()


def dump(database_url: str) -> dict[str, list[tuple]]:
    """Every chain table, rows sorted, the cursor without its wall-clock timestamp."""
    engine = make_engine(database_url)
    tables: dict[str, list[tuple]] = {}
    try:
        with engine.connect() as conn:
            for model in m.CHAIN_TABLES:
                columns = [c for c in model.__table__.columns if c.name != "updated_at"]
                rows = conn.execute(select(*columns)).all()
                tables[model.__tablename__] = sorted((tuple(r) for r in rows), key=repr)
    finally:
        engine.dispose()
    return tables


def rows(database_url: str, model: type) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.execute(select(model)).scalars())
    finally:
        engine.dispose()
