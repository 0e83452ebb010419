"""Many rows of one shape in one INSERT whose text does not depend on how many rows there are.

`conn.execute(insert(t), rows)` sends a multi-row VALUES list on PostgreSQL (see
`core.db.make_engine`): its text changes with the number of rows, so psycopg converts it
afresh each time (a regex over the whole text), prepares each size separately, and SQLAlchemy
binds every value of every row one by one. Group-committed batches have any size. Here, on
PostgreSQL, each column goes as one array parameter through `unnest`: one statement text per
table and column set, converted once and prepared once, whatever the batch size. SQLite (no
arrays) keeps the executemany path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.engine import Connection

from cityos.core.db import _json_dumps

# (table, column names) -> (statement, [(column name, bind processor, is JSON)], scalar defaults)
_PLANS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _plan(conn: Connection, table: Table, names: tuple[str, ...]) -> Any:
    key = (table.name, names)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    dialect = conn.dialect
    # Columns the rows leave out but SQLAlchemy would fill from a Python-side default.
    defaults: dict[str, Any] = {}
    for col in table.columns:
        if col.name not in names and col.default is not None:
            if not getattr(col.default, "is_scalar", False):
                _PLANS[key] = plan = None  # a callable default: leave it to SQLAlchemy
                return plan
            defaults[col.name] = col.default.arg  # type: ignore[attr-defined]
    cols, casts = [], []
    for i, name in enumerate((*names, *defaults)):
        col = table.columns[name]
        impl = col.type.dialect_impl(dialect)
        is_json = isinstance(impl, JSON)
        cols.append((name, None if is_json else col.type.bind_processor(dialect), is_json))
        # Without a length: a cast to VARCHAR(n) would cut a long value where INSERT refuses it.
        casts.append(f"CAST(:c{i} AS {re.sub(r'[(].*[)]', '', col.type.compile(dialect=dialect))}[])")
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n, _p, _j in cols)}) "
           f"SELECT * FROM unnest({', '.join(casts)})")
    _PLANS[key] = plan = (text(sql), cols, defaults)
    return plan


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) in one statement."""
    if not rows:
        return
    plan = _plan(conn, table, tuple(rows[0])) if conn.dialect.name == "postgresql" else None
    if plan is None:
        conn.execute(insert(table), list(rows))
        return
    stmt, cols, defaults = plan
    params: dict[str, list[Any]] = {}
    for i, (name, proc, is_json) in enumerate(cols):
        values = [r[name] for r in rows] if name not in defaults else [defaults[name]] * len(rows)
        if is_json:
            values = [_json_dumps(v) for v in values]
        elif proc is not None:
            values = [proc(v) for v in values]
        params[f"c{i}"] = values
    conn.execute(stmt, params)
