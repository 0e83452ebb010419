"""Bulk paths: PostgreSQL COPY (through psycopg) and SQLite executemany on the raw cursor.

Both run inside the caller's SQLAlchemy transaction, so a failed load rolls back whole.
(Upserts by key go through a staging table: see `cityos.data.importer`.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def _pg_value(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return v


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return v


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Append rows (tuples in `columns` order); the fastest path the engine has."""
    if not rows:
        return 0
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as cp:  # type: ignore[union-attr]
            for r in rows:
                cp.write_row([_pg_value(v) for v in r])
        return len(rows)
    marks = ", ".join("?" for _ in columns)
    cur = raw.cursor()  # type: ignore[union-attr]
    cur.executemany(f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})',
                    [[_sqlite_value(v) for v in r] for r in rows])
    cur.close()
    return len(rows)
