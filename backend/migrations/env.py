"""Alembic environment. Run through `backend.migrate.upgrade(url)` (or `kanazawa-dao db upgrade`); the URL and,
when given, an open connection come from the caller, never from an ini file."""

from alembic import context

from backend.db import make_engine
from backend.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds tables there and is a no-op elsewhere.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: pass a database URL")
run_migrations_online()
