"""core.bulk.insert_rows writes what `conn.execute(insert(t), rows)` writes, on both engines: JSON,
aware datetimes, booleans, NULLs, Python-side defaults, any number of rows; a value too long for
its column is refused, not cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.exc import DBAPIError

from cityos.bootstrap import Platform
from cityos.core.bulk import insert_rows
from cityos.core.db import JSONType, UTCDateTime

scratch = MetaData()
bulk_a = Table("bulk_a", scratch, Column("id", Integer, primary_key=True, autoincrement=True),
               Column("code", String(5), nullable=False), Column("n", BigInteger), Column("doc", JSONType),
               Column("at", UTCDateTime), Column("flag", Boolean, nullable=False), Column("note", Text),
               Column("kind", String(10), nullable=False, default="plain"))
bulk_b = bulk_a.to_metadata(scratch, name="bulk_b")


def _rows(n: int) -> list[dict[str, object]]:
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    return [{"code": f"c{i}", "n": None if i % 3 == 0 else 10**12 + i,
             "doc": {"i": i, "名": "值", "list": [1, None]} if i % 2 else {},
             "at": None if i % 4 == 0 else t0 + timedelta(minutes=i), "flag": i % 2 == 0,
             "note": None if i % 5 == 0 else f"note {i}"} for i in range(n)]


@pytest.mark.parametrize("n", [1, 7, 40])
def test_insert_rows_writes_what_an_insert_writes(platform: Platform, n: int) -> None:
    scratch.create_all(platform.db.engine)
    with platform.db.begin() as conn:
        insert_rows(conn, bulk_a, _rows(n))
        conn.execute(insert(bulk_b), _rows(n))
    with platform.db.read() as conn:
        a = [dict(r) for r in conn.execute(select(bulk_a).order_by(bulk_a.c.id)).mappings()]
        b = [dict(r) for r in conn.execute(select(bulk_b).order_by(bulk_b.c.id)).mappings()]
    assert a == b and len(a) == n
    assert a[-1]["kind"] == "plain"


def test_insert_rows_refuses_a_value_too_long(platform: Platform) -> None:
    scratch.create_all(platform.db.engine)
    if platform.db.is_sqlite:
        pytest.skip("SQLite does not enforce VARCHAR lengths (for either way of inserting)")
    with pytest.raises(DBAPIError), platform.db.begin() as conn:
        insert_rows(conn, bulk_a, [{**_rows(1)[0], "code": "much too long"}])
