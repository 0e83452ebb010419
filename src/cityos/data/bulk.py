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


def insert_arrow(conn: Connection, table_name: str, data: Any) -> int:
    """Append an Arrow table (columns named as the table's); PostgreSQL: COPY of Arrow-written CSV."""
    if data.num_rows == 0:
        return 0
    import pyarrow as pa
    import pyarrow.csv as pcsv

    cols = ", ".join(f'"{c}"' for c in data.column_names)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        # Arrow quotes every string and leaves nulls bare: PostgreSQL's CSV reads "" as '' and nothing as NULL.
        sink = pa.BufferOutputStream()
        pcsv.write_csv(data, sink, pcsv.WriteOptions(include_header=False, batch_size=8192))
        with raw.cursor() as cur, cur.copy(f'COPY "{table_name}" ({cols}) FROM STDIN (FORMAT csv)') as cp:  # type: ignore[union-attr]
            cp.write(memoryview(sink.getvalue()))
        return int(data.num_rows)
    # SQLite keeps dates as ISO text (as SQLAlchemy's Date does).
    columns = [c.cast(pa.string()) if pa.types.is_date(c.type) else c for c in data.columns]
    marks = ", ".join("?" for _ in columns)
    cur = raw.cursor()  # type: ignore[union-attr]
    cur.executemany(f'INSERT INTO "{table_name}" ({cols}) VALUES ({marks})',
                    zip(*(c.to_pylist() for c in columns), strict=True))
    cur.close()
    return int(data.num_rows)
