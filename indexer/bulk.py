"""Bulk writes below the ORM, per dialect, inside the caller's transaction: COPY on PostgreSQL, one prepared
statement with executemany on SQLite. SQLAlchemy's per-row parameter handling cost ~100 us a row; these cost a
few. Values are converted once, by column type (JSON columns to text, 256-bit integers to decimal text)."""

from __future__ import annotations

import json
from typing import Any, Iterable

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.types import JSON

from backend.db import Uint256


def _converters(table: Table, columns: list[str]):
    out = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, JSON):
            out.append(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        elif isinstance(column_type, Uint256):
            out.append(lambda v: None if v is None else str(int(v)))
        else:
            out.append(None)
    return out


def _tuples(table: Table, columns: list[str], rows: Iterable[dict[str, Any]]) -> list[tuple]:
    converters = _converters(table, columns)
    if not any(converters):
        return [tuple(row[c] for c in columns) for row in rows]
    return [tuple(f(row[c]) if f else row[c] for c, f in zip(columns, converters)) for row in rows]


def _raw(conn: Connection):
    return conn.connection.dbapi_connection


def insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows known not to exist yet."""
    if not rows:
        return
    columns = list(rows[0])
    values = _tuples(table, columns, rows)
    quoted = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        with _raw(conn).cursor() as cursor:
            with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
    else:
        marks = ", ".join("?" for _ in columns)
        _raw(conn).executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', values)


def increment(conn: Connection, table: Table, keys: list[str], counters: list[str],
              rows: list[dict[str, Any]]) -> None:
    """Add each row's counters to the stored row with the same key, creating it when missing."""
    if not rows:
        return
    columns = keys + counters
    values = _tuples(table, columns, rows)
    quoted = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{k}"' for k in keys)
    update = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in counters)
    if conn.dialect.name == "postgresql":
        staging = f"_stage_{table.name}"
        with _raw(conn).cursor() as cursor:
            cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" (LIKE "{table.name}") ON COMMIT DELETE ROWS')
            cursor.execute(f'TRUNCATE "{staging}"')
            with cursor.copy(f'COPY "{staging}" ({quoted}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
            cursor.execute(f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{staging}" '
                           f'ON CONFLICT ({conflict}) DO UPDATE SET {update}')
    else:
        marks = ", ".join("?" for _ in columns)
        _raw(conn).executemany(
            f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}) ON CONFLICT ({conflict}) DO UPDATE SET {update}',
            values,
        )
