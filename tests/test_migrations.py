"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.db import make_engine
from backend.models import Base


def test_migrated_schema_equals_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_search_text_is_filled_for_issues_that_existed_before_it(tmp_path):
    """Migration 0003 adds issue.search_text and fills it for the issues already on the board."""
    from sqlalchemy import text

    from backend.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO issue (title, body, category, status, skills_wanted, source, support_count, "
                              "extra, created_at, updated_at) VALUES ('ＫＡＮＡＺＡＷＡ 駅', 'ﾊﾞｽ停', 'other', 'open', "
                              "'[]', 'kanazawa-dao', 0, '{}', '2026-01-01', '2026-01-01')"))
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT search_text FROM issue")).scalar_one() == "kanazawa 駅\nバス停"
    finally:
        engine.dispose()
