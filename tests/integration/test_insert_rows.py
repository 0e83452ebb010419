"""`core.db.insert_rows`: many rows in one statement (PostgreSQL: INSERT … SELECT FROM unnest of
arrays) write exactly what SQLAlchemy's own INSERT writes, on both engines: mixed Python types per
column, NULLs, JSON (None as JSON null), aware datetimes (a naive one refused), scalar defaults,
a too-long string refused (not cut), and ON CONFLICT upserts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from cityos.bootstrap import Platform
from cityos.core.db import JSONType, UTCDateTime, insert_rows

scratch = MetaData()
rows_t = Table("ir_rows", scratch, Column("id", Integer, primary_key=True), Column("name", String(5)),
               Column("score", Float), Column("flag", Boolean, default=False), Column("n", Integer, default=7),
               Column("doc", JSONType), Column("at", UTCDateTime))


class Colour(StrEnum):
    RED = "red"


@pytest.fixture
def table(platform: Platform) -> Iterator[Table]:
    scratch.create_all(platform.db.engine)
    yield rows_t
    scratch.drop_all(platform.db.engine)


def _all(p: Platform) -> list[tuple[object, ...]]:
    with p.db.read() as conn:
        return [tuple(r) for r in conn.execute(select(rows_t).order_by(rows_t.c.id))]


def test_rows_are_written_as_sqlalchemy_would(platform: Platform, table: Table) -> None:
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with platform.db.begin() as conn:
        insert_rows(conn, table, [
            {"id": 1, "name": "ab", "score": 1, "doc": {"k": [1, "二"]}, "at": at},
            {"id": 2, "name": Colour.RED, "score": 2.5, "doc": None, "at": None},
            {"id": 3, "name": None, "score": None, "doc": "s", "at": at},
        ])
    got = _all(platform)
    assert got == [(1, "ab", 1.0, False, 7, {"k": [1, "二"]}, at), (2, "red", 2.5, False, 7, None, None),
                   (3, None, None, False, 7, "s", at)]
    with platform.db.read() as conn:  # None in a JSON column is the JSON null, as SQLAlchemy writes it
        nulls = conn.execute(text("SELECT count(*) FROM ir_rows WHERE doc IS NULL")).scalar_one()
    assert nulls == 0


def test_defaults_and_upserts(platform: Platform, table: Table) -> None:
    with platform.db.begin() as conn:
        insert_rows(conn, table, [{"id": 1, "name": "a", "flag": True}, {"id": 2, "name": "b", "flag": False}])
    assert [(r[0], r[3], r[4]) for r in _all(platform)] == [(1, True, 7), (2, False, 7)]
    if platform.db.is_postgres:
        with platform.db.begin() as conn:
            insert_rows(conn, table, [{"id": 2, "name": "c", "n": 5}, {"id": 4, "name": "d", "n": 1}],
                        on_conflict="ON CONFLICT (id) DO UPDATE SET n = ir_rows.n + excluded.n")
        assert [(r[0], r[1], r[4]) for r in _all(platform)] == [(1, "a", 7), (2, "b", 12), (4, "d", 1)]


def test_bad_rows_are_refused_and_nothing_is_written(platform: Platform, table: Table) -> None:
    # A naive datetime is refused (SQLAlchemy wraps UTCDateTime's ValueError; the unnest path raises it as is).
    with pytest.raises((StatementError, ValueError)), platform.db.begin() as conn:
        insert_rows(conn, table, [{"id": 1, "at": datetime(2026, 3, 1)}])
    if platform.db.is_postgres:  # SQLite does not enforce VARCHAR lengths
        with pytest.raises(DBAPIError), platform.db.begin() as conn:
            insert_rows(conn, table, [{"id": 1, "name": "ok"}, {"id": 2, "name": "too long"}])
    assert _all(platform) == []
