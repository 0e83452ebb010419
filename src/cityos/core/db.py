"""Database access: one engine per process, SQLAlchemy Core tables on one MetaData.

SQLite (embedded default) and PostgreSQL (production) are both first-class: every
store uses portable Core expressions, and where the engines differ (job claiming,
bulk load) the store asks `Database.is_postgres`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.types import TypeDecorator

from cityos.core.errors import Unavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        tz = value.tzinfo
        if tz is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        if tz is not UTC:  # the common case is already UTC: skip the conversion (hot in bulk inserts)
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def upsert_insert(conn: Connection, table: Any) -> Any:
    """An INSERT of `table` that takes ON CONFLICT clauses on either engine (the dialect's own)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _json_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_json_dumps, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
            # against process crashes (the guarantee we promise); foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; take it over so that
            # `BEGIN IMMEDIATE` can be used for writer transactions.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


class Database:
    """The engine plus the few things that differ between engines."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def begin(self, *, write: bool = True) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on error.

        Callables appended to `conn.info["before_commit"]` run (in order, on the same
        connection) after the block and before the commit; not when the block raised.

        On SQLite a writing transaction takes the write lock at BEGIN, so two
        writers queue instead of failing later with "database is locked".
        """
        try:
            with self.engine.connect() as conn:
                if write and self.is_sqlite:
                    conn.info["immediate"] = True
                # Work a store defers to the end of the transaction (e.g. counters other
                # transactions also write: their row locks are then held only until commit).
                conn.info["before_commit"] = []
                try:
                    with conn.begin():
                        yield conn
                        for fn in conn.info["before_commit"]:
                            fn(conn)
                finally:
                    conn.info.pop("immediate", None)
                    conn.info.pop("before_commit", None)
        except OperationalError as exc:
            if _is_connection_error(exc):
                raise Unavailable("the database is not reachable right now; try again shortly") from exc
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.begin(write=False) as conn:
            yield conn

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _is_connection_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    msg = str(exc.orig).lower() if exc.orig else ""
    return any(s in msg for s in ("connection", "could not connect", "server closed", "terminating", "unable to open"))
