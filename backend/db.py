"""Database engine, sessions and the declarative base: one naming convention, identical behaviour on SQLite (the
embedded default) and PostgreSQL.

Types that differ between the two are pinned here: 256-bit chain integers (proposal ids) are stored as decimal
text, because SQLite integers stop at 2^63; addresses are checksummed text; hashes are 0x-prefixed lower-case hex.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import DateTime, MetaData, String, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Uint256(TypeDecorator):
    """An unsigned 256-bit integer stored as decimal text (78 digits at most), the same on every database."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(int(value))

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


class UtcDateTime(TypeDecorator):
    """A moment, stored in UTC and read back aware of it on every database: SQLite hands back its timestamps
    without a zone, which compared with an aware time raises, and in JSON is not an RFC 3339 `date-time`."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


#: A checksummed 0x address, and a 0x-prefixed 32-byte hash in lower-case hex.
Address = String(42)
Hash = String(66)


def dialect_insert(bind: Session | Connection):
    """The INSERT construct of the bind's dialect, which has `on_conflict_do_nothing` / `on_conflict_do_update`
    (PostgreSQL and SQLite are the two databases this project runs on)."""
    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`. SQLite gets WAL and a busy timeout so the indexer and the API can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def data_version(engine: Engine) -> Callable[[], str] | None:
    """A cheap function whose answer changes whenever anything was committed to the database (by any process), for
    caches of what the database says (frontend_api/cache.py). None when the database offers no such thing.

    PostgreSQL: the current snapshot (`xmin:xmax:in-progress ids`), which moves when a writing transaction starts
    and again when it ends; writes elsewhere in the same cluster move it too, which only costs a cache miss.
    SQLite: `PRAGMA data_version` on a connection of its own that never writes: it changes when another connection
    commits."""
    if engine.dialect.name == "postgresql":
        def postgres() -> str:
            with engine.connect() as conn:
                return conn.exec_driver_sql("SELECT pg_current_snapshot()::text").scalar_one()

        return postgres
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import sqlite3

        lock = threading.Lock()
        conn = sqlite3.connect(engine.url.database, check_same_thread=False, timeout=30)

        def sqlite() -> str:
            with lock:
                return str(conn.execute("PRAGMA data_version").fetchone()[0])

        return sqlite
    return None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back entirely if it raises."""
    with factory() as session, session.begin():
        yield session
