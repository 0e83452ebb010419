"""Database access: one engine per process, SQLAlchemy Core tables on one MetaData.

SQLite (embedded default) and PostgreSQL (production) are both first-class: every
store uses portable Core expressions, and where the engines differ (job claiming,
bulk load) the store asks `Database.is_postgres`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, insert, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.types import TypeDecorator

from cityos.core.errors import Unavailable

T = TypeVar("T")

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


def make_engine(url: str, *, pool_size: int = 10, busy_timeout_s: float = 30.0) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_json_dumps,
                               connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
            # against process crashes (the guarantee we promise); foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; take it over so that
            # `BEGIN IMMEDIATE` can be used for writer transactions.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

        return engine
    # No pool_pre_ping: it costs a round trip (SELECT 1) at every checkout, more than the
    # credential read it would guard. A connection that died in the pool fails at its first
    # statement instead; SQLAlchemy then invalidates it and every older pooled connection
    # (a disconnect error), `Database.read_once` retries once on a fresh one, and other
    # transactions answer 503 once. pool_recycle retires connections before the server's or
    # a firewall's idle timeouts would.
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=600,
    )
    # Many-row INSERTs (`conn.execute(insert(t), rows)`) as batched multi-row VALUES statements,
    # as with RETURNING, instead of psycopg's executemany (one statement per row, pipelined):
    # the server parses and plans one statement per batch of rows.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


# PostgreSQL array types for `insert_rows`, by the SQL type's class name. Strings go as text[] (not
# varchar(n)[]: an explicit cast to varchar(n) would cut a too-long value where the INSERT's own
# assignment refuses it).
_PG_ARRAY = {"String": "text", "Text": "text", "Unicode": "text", "UnicodeText": "text", "BigInteger": "bigint",
             "Integer": "bigint", "SmallInteger": "bigint", "Boolean": "boolean", "Float": "float8",
             "Double": "float8", "JSON": "jsonb", "JSONB": "jsonb", "DateTime": "timestamptz"}


def _text(v: Any) -> Any:
    if v is None or type(v) is str:
        return v
    return str.__str__(v) if isinstance(v, str) else str(v)


# One Python type per array (psycopg refuses a list of mixed types, e.g. 1 and 1.5, or 3 and "a").
_ARRAY_ITEM: dict[str, Callable[[Any], Any]] = {
    "text": _text, "bigint": lambda v: v if v is None or type(v) is int else int(v),
    "float8": lambda v: v if v is None or type(v) is float else float(v),
    "boolean": lambda v: v if v is None or type(v) is bool else bool(v), "timestamptz": lambda v: v,
}
_UNNEST_SQL: dict[tuple[str, tuple[str, ...], str], tuple[str, list[Callable[[Any], Any]]] | None] = {}


def _unnest_plan(table: Any, cols: tuple[str, ...], suffix: str) -> tuple[str, list[Callable[[Any], Any]]] | None:
    """The INSERT … SELECT FROM unnest(…) statement for these columns and each column's value
    converter; None when a column's type or a missing column's default is not covered."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    missing = [c for c in table.columns if c.name not in cols]
    for c in missing:
        if c.default is not None and not c.default.is_scalar:
            return None  # a computed default: SQLAlchemy's own INSERT applies it
    names: list[str] = []
    arrays: list[str] = []
    convert: list[Callable[[Any], Any]] = []
    for name in cols + tuple(c.name for c in missing if c.default is not None):
        typ = table.columns[name].type
        impl = typ.impl if isinstance(typ, TypeDecorator) else typ
        variants = getattr(impl, "_variant_mapping", None)
        if variants and "postgresql" in variants:
            impl = variants["postgresql"]
        base = _PG_ARRAY.get(type(impl).__name__)
        if base is None:
            return None
        if isinstance(typ, TypeDecorator):
            convert.append(partial(typ.process_bind_param, dialect=dialect))
        elif base == "jsonb":
            # JSON's None is the JSON null, as SQLAlchemy's JSON type writes it (none_as_null=False).
            convert.append(_json_dumps)
        else:
            convert.append(_ARRAY_ITEM[base])
        names.append(name)
        arrays.append(f"%b::{base}[]")  # binary: no quoting or escaping of each element
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({', '.join(arrays)})"
           + (f" {suffix}" if suffix else ""))
    return sql, convert


def insert_rows(conn: Connection, table: Any, rows: list[dict[str, Any]], *, on_conflict: str = "") -> None:
    """Insert rows of one shape (the same keys) in one statement.

    On PostgreSQL as `INSERT … SELECT * FROM unnest(%s::type[], …)`: one array parameter per
    column, so the statement's text is the same whatever the number of rows — psycopg parses it
    once and the server plans it once (prepared), where a multi-row VALUES list is a new
    statement, parsed by psycopg placeholder by placeholder, for every row count. Elsewhere
    SQLAlchemy's executemany. `on_conflict` (PostgreSQL SQL text) is appended to the INSERT;
    SQLite callers give their own statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    cols = tuple(rows[0])
    shape = rows[0].keys()
    if any(r.keys() != shape for r in rows):  # not one shape: SQLAlchemy sorts it out (or says why not)
        conn.execute(insert(table), rows)
        return
    key = (table.name, cols, on_conflict)
    if key not in _UNNEST_SQL:
        _UNNEST_SQL[key] = _unnest_plan(table, cols, on_conflict)
    plan = _UNNEST_SQL[key]
    if plan is None:
        conn.execute(insert(table), rows)
        return
    sql, convert = plan
    defaults = [c.default.arg for c in table.columns if c.name not in cols and c.default is not None]
    columns = [[fn(r[c]) for r in rows] for c, fn in zip(cols, convert, strict=False)]
    columns += [[d] * len(rows) for d in defaults]
    conn.exec_driver_sql(sql, tuple(columns))


SIGNALS = "cityos_signals"  # key in a connection's info: the channels its open transaction signals


def signal(conn: Connection, channel: str) -> None:
    """Say that this transaction wrote something the live readers of `channel` wait for.

    They are woken once it commits (never if it rolls back): in this process by the
    callbacks of `Database.on_commit`, in other processes by PostgreSQL's NOTIFY, which
    the server delivers at commit to every session that LISTENs on `cityos_<channel>`.
    Readers keep a slow poll as well, so a lost wake-up delays a row but never loses it."""
    pending: set[str] = conn.info.setdefault(SIGNALS, set())
    if channel not in pending:
        pending.add(channel)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_notify(:c, '')"), {"c": f"cityos_{channel}"})


class Database:
    """The engine plus the few things that differ between engines."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, busy_timeout_s=busy_timeout_s)
        # The same pool, connections switched to autocommit while checked out for `read_once`
        # (psycopg sets that on the client side: no round trip).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._on_commit: dict[str, list[Callable[[], None]]] = {}
        self._on_commit_lock = threading.Lock()
        # SQLite has one writer at a time. Writers of this process queue here and are woken the
        # moment the writer before them ends; waiting in SQLite's busy handler instead means
        # sleeping in steps of up to 100 ms, and the unlucky waiters lose again and again.
        self._writer = threading.Lock()
        self._writer_wait_s = busy_timeout_s  # as long as SQLite's own busy timeout

    def on_commit(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (in the committing thread; keep it short) after each transaction of this
        process that `signal`led `channel` has committed. Returns the function that stops it."""
        with self._on_commit_lock:
            self._on_commit.setdefault(channel, []).append(callback)

        def remove() -> None:
            with self._on_commit_lock:
                callbacks = self._on_commit.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return remove

    def _committed(self, channels: set[str]) -> None:
        for channel in channels:
            for callback in list(self._on_commit.get(channel, ())):
                try:
                    callback()
                except Exception:  # a waker must not fail the request that has committed
                    from cityos.core.logging import get_logger

                    get_logger("cityos.db").warning("db.on_commit_failed", channel=channel, exc_info=True)

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
        signalled: set[str] | None = None
        queued = write and self.is_sqlite
        if queued and not self._writer.acquire(timeout=self._writer_wait_s):
            raise Unavailable("the database is busy with other writes; try again shortly")
        try:
            with self.engine.connect() as conn:
                if write and self.is_sqlite:
                    conn.info["immediate"] = True
                conn.info.pop(SIGNALS, None)  # left by a use outside this method: not ours to fire
                # Work a store defers to the end of the transaction (e.g. counters other
                # transactions also write: their row locks are then held only until commit).
                conn.info["before_commit"] = []
                try:
                    with conn.begin():
                        yield conn
                        for fn in conn.info["before_commit"]:
                            fn(conn)
                    signalled = conn.info.pop(SIGNALS, None)
                finally:
                    conn.info.pop("immediate", None)
                    conn.info.pop("before_commit", None)
                    conn.info.pop(SIGNALS, None)
        except OperationalError as exc:
            answer = unavailable(exc)
            if answer is not None:
                raise answer from exc
            raise
        finally:
            if queued:
                self._writer.release()
        if signalled:
            self._committed(signalled)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.begin(write=False) as conn:
            yield conn

    def read_once(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` (reads only, one statement is best) outside an explicit transaction.

        On PostgreSQL a single SELECT is then one round trip (no BEGIN, no COMMIT); several
        statements would each see their own snapshot. If the pooled connection turns out to
        be dead (the server restarted, a backend was terminated), SQLAlchemy invalidates it
        and the pool's older connections, and `fn` runs once more on a fresh connection:
        this is what stands in for a ping at every checkout.

        On SQLite it is an ordinary read: BEGIN and COMMIT cost no round trip there, and
        switching pysqlite's isolation handling back and forth would cost a PRAGMA each time."""
        if not self.is_postgres:
            with self.read() as conn:
                return fn(conn)
        for attempt in (1, 2):
            try:
                with self._autocommit.connect() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    continue
                answer = unavailable(exc) if isinstance(exc, OperationalError) else None
                if answer is not None:
                    raise answer from exc
                raise
        raise AssertionError("unreachable")

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def unavailable(exc: DBAPIError) -> Unavailable | None:
    """The 503 answer for a database that is away or busy (None for other errors)."""
    if _is_locked(exc):
        return Unavailable("the database is busy with another write and did not free up in time; try again shortly",
                           details={"retry_after": 2})
    if _is_connection_error(exc):
        return Unavailable("the database is not reachable right now; try again shortly")
    return None


def _is_locked(exc: DBAPIError) -> bool:
    # SQLite: another connection held the write lock for longer than the busy timeout.
    msg = str(exc.orig).lower() if exc.orig else ""
    return "database is locked" in msg or "database is busy" in msg or "database table is locked" in msg


def _is_connection_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    msg = str(exc.orig).lower() if exc.orig else ""
    return any(s in msg for s in ("connection", "could not connect", "server closed", "terminating", "unable to open"))
