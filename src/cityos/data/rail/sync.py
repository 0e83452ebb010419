"""`cityos rail sync`: keep a district warehouse table (another SQLite or PostgreSQL database)
in step with one feed.

The target holds its own cursor (`rail_sync_state`), written in the same transaction as the
rows it covers, so a sync stopped anywhere resumes where it stopped and a re-run applies
nothing twice. A first sync copies a snapshot (the table and the feed's head read in one
consistent read transaction of the source; COPY → COPY between PostgreSQL databases) and
then follows the log from the snapshot's sequence number. A batch of changes is folded to
the last change per key (each change carries the whole new row): deletes, then upserts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    delete,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import Date

from cityos.core.db import Database, UTCDateTime, metadata, upsert_insert
from cityos.data import bulk
from cityos.data.rail import model
from cityos.data.rail import store as rs

BATCH = 10_000
SNAPSHOT_CHUNK = 20_000


@dataclass(frozen=True)
class Change:
    seq: int
    op: str  # I | U | D
    key: str
    data: dict[str, Any] | None
    changed_at: datetime


class Source(Protocol):
    def head(self, dataset: str) -> int: ...

    def changes(self, dataset: str, after: int, limit: int) -> list[Change]: ...


class DatabaseSource:
    """This CityOS's own database (read directly: the operator running the sync holds its URL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> str:
        return self.db.engine.url.render_as_string(hide_password=True)

    def head(self, dataset: str) -> int:
        with self.db.read() as conn:
            return rs.head(conn, dataset)

    def changes(self, dataset: str, after: int, limit: int) -> list[Change]:
        with self.db.read() as conn:
            rows = rs.changes(conn, dataset, after, limit)
        return [Change(int(r.seq), r.op, r.key, r.data, r.changed_at) for r in rows]

    @contextmanager
    def snapshot(self, dataset: str) -> Iterator[tuple[int, Connection]]:
        """A read transaction in which the table and its feed's head agree (REPEATABLE READ on
        PostgreSQL; SQLite's WAL read transaction is a snapshot from its first read)."""
        with self.db.engine.connect() as conn:
            if self.db.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if self.db.is_postgres:
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                yield rs.head(conn, dataset), conn


_LETTERS = {v: k for k, v in model.OPS.items()}  # "insert" -> "I"


class HttpSource:
    """Another CityOS's rail door, read as an approved subscriber (`--from URL --key KEY`)."""

    def __init__(self, url: str, key: str) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def describe(self) -> str:
        return self.url

    def _get(self, dataset: str, after: int, limit: int) -> dict[str, Any]:
        r = self.client.get(f"/rail/v1/{dataset}/changes", params={"after": after, "limit": limit})
        if r.status_code != 200:
            try:
                msg = r.json()["error"]["message"]
            except Exception:
                msg = r.text[:200]
            from cityos.core.errors import CityOSError

            raise CityOSError(f"{self.url} answered {r.status_code}: {msg}")
        return dict(r.json())

    def head(self, dataset: str) -> int:
        return int(self._get(dataset, 0, 1)["head"])

    def changes(self, dataset: str, after: int, limit: int) -> list[Change]:
        page = self._get(dataset, after, limit)
        return [Change(int(c["seq"]), _LETTERS.get(c["op"], c["op"]), c["key"], c["data"],
                       datetime.fromisoformat(c["at"])) for c in page["changes"]]


def _target_tables(dataset: str, name: str) -> tuple[Table, Table]:
    source = metadata.tables[dataset]
    md = MetaData()
    cols = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in source.columns]
    table = Table(name, md, *cols)
    state = Table(
        "rail_sync_state", md,
        Column("target_table", String(100), primary_key=True),
        Column("dataset", String(40), nullable=False),
        Column("source", String(300), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("snapshot_seq", BigInteger, nullable=False),
        Column("snapshot_rows", BigInteger, nullable=False),
        Column("applied", BigInteger, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    return table, state


def _converter(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """JSON values of a logged row back to column types (dates arrive as ISO text)."""
    dates = [c.name for c in table.columns if isinstance(c.type, Date)]
    stamps = [c.name for c in table.columns if isinstance(c.type, DateTime | UTCDateTime)]
    names = [c.name for c in table.columns]

    def convert(data: dict[str, Any]) -> dict[str, Any]:
        row = {n: data.get(n) for n in names}
        for n in dates:
            v = row[n]
            if isinstance(v, str):
                row[n] = date.fromisoformat(v[:10])
        for n in stamps:
            v = row[n]
            if isinstance(v, str):
                row[n] = datetime.fromisoformat(v)
        return row

    return convert


def fold(changes: list[Change]) -> tuple[list[str], list[dict[str, Any]]]:
    """The last change per key wins (each carries the whole row): keys to delete, rows to upsert."""
    last: dict[str, Change] = {}
    for c in changes:
        last.pop(c.key, None)
        last[c.key] = c
    deletes = [k for k, c in last.items() if c.op == "D"]
    upserts = [c.data for c in last.values() if c.op != "D" and c.data is not None]
    return deletes, upserts


@dataclass
class Step:
    applied: int
    seq: int
    head: int
    lags_s: list[float]


class Sync:
    def __init__(self, source: Source, dataset: str, target_url: str, table: str | None = None) -> None:
        if dataset not in model.FEEDS:
            from cityos.core.errors import NotFound

            raise NotFound(f"no change feed {dataset!r}; feeds: {', '.join(model.feed_names())}", field="dataset")
        self.source = source
        self.feed = model.FEEDS[dataset]
        self.target = Database(target_url)
        self.name = table or dataset
        self.table, self.state_table = _target_tables(dataset, self.name)
        self.convert = _converter(self.table)
        self.key = self.feed.key

    def close(self) -> None:
        self.target.dispose()

    def state(self) -> dict[str, Any] | None:
        from sqlalchemy import inspect

        with self.target.read() as conn:
            if not inspect(conn).has_table(self.state_table.name):
                return None
            row = conn.execute(select(self.state_table).where(self.state_table.c.target_table == self.name)
                               ).mappings().first()
        return dict(row) if row else None

    def _save_state(self, conn: Connection, seq: int, applied: int, **extra: Any) -> None:
        st = self.state_table
        values = {"seq": seq, "applied": applied, "updated_at": datetime.now(UTC), **extra}
        stmt = upsert_insert(conn, st).values(target_table=self.name, dataset=self.feed.name,
                                              source=getattr(self.source, "describe", lambda: "?")(),
                                              snapshot_seq=extra.get("snapshot_seq", 0),
                                              snapshot_rows=extra.get("snapshot_rows", 0), **{
                                                  k: v for k, v in values.items()
                                                  if k not in ("snapshot_seq", "snapshot_rows")})
        conn.execute(stmt.on_conflict_do_update(index_elements=["target_table"], set_=values))

    # --- the initial snapshot ------------------------------------------------------------------

    def snapshot(self, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Copy the whole table as of one consistent moment; returns (its sequence number, rows)."""
        if not isinstance(self.source, DatabaseSource):
            return self._replay_start()
        cols = [c.name for c in self.table.columns]
        collist = ", ".join(f'"{c}"' for c in cols)
        rows = 0
        with self.source.snapshot(self.feed.name) as (seq, src), self.target.begin() as dst:
            self.table.drop(dst, checkfirst=True)
            self.table.create(dst)
            self.state_table.create(dst, checkfirst=True)
            src_raw: Any = src.connection.driver_connection
            dst_raw: Any = dst.connection.driver_connection
            if src.dialect.name == "postgresql" and dst.dialect.name == "postgresql":
                # Text COPY straight through: no row is parsed on the way.
                with src_raw.cursor() as sc, dst_raw.cursor() as dc, \
                        sc.copy(f'COPY (SELECT {collist} FROM "{self.feed.name}") TO STDOUT') as out, \
                        dc.copy(f'COPY "{self.name}" ({collist}) FROM STDIN') as into:
                    for block in out:
                        into.write(block)
                        n = bytes(block).count(b"\n")
                        rows += n
                        if progress:
                            progress(n)
            else:
                cur = src_raw.cursor(name="rail_snapshot") if src.dialect.name == "postgresql" \
                    else src_raw.cursor()
                cur.execute(f'SELECT {collist} FROM "{self.feed.name}"')
                while True:
                    chunk = cur.fetchmany(SNAPSHOT_CHUNK)
                    if not chunk:
                        break
                    if src.dialect.name == "sqlite":
                        chunk = [tuple(self.convert(dict(zip(cols, r, strict=True))).values()) for r in chunk]
                    bulk.insert_rows(dst, self.table, cols, chunk)
                    rows += len(chunk)
                    if progress:
                        progress(len(chunk))
                cur.close()
            self._save_state(dst, seq, 0, snapshot_seq=seq, snapshot_rows=rows)
        return seq, rows

    def _replay_start(self) -> tuple[int, int]:
        """Without a snapshot door the log is replayed from its start (complete when the table was
        filled after the log was installed)."""
        with self.target.begin() as dst:
            self.table.drop(dst, checkfirst=True)
            self.table.create(dst)
            self.state_table.create(dst, checkfirst=True)
            self._save_state(dst, 0, 0, snapshot_seq=0, snapshot_rows=0)
        return 0, 0

    # --- following the log -------------------------------------------------------------------

    def step(self, cursor: int, applied: int, limit: int = BATCH) -> Step:
        """Fetch and apply one batch after `cursor`, with the cursor, in one target transaction."""
        changes = self.source.changes(self.feed.name, cursor, limit)
        if not changes:
            return Step(0, cursor, cursor, [])
        deletes, upserts = fold(changes)
        t = self.table
        with self.target.begin() as dst:
            # The stored cursor is re-read under the write lock: two syncs of one target cannot both apply a batch.
            st = self.state_table
            stored = dst.execute(select(st.c.seq).where(st.c.target_table == self.name).with_for_update()).scalar()
            if stored is not None and int(stored) != cursor:
                return Step(0, int(stored), int(stored), [])
            for i in range(0, len(deletes), 1000):
                dst.execute(delete(t).where(t.c[self.key].in_(deletes[i:i + 1000])))
            if upserts:
                stmt = upsert_insert(dst, t)
                stmt = stmt.on_conflict_do_update(index_elements=[self.key], set_={
                    c.name: stmt.excluded[c.name] for c in t.columns if c.name != self.key})
                dst.execute(stmt, [self.convert(d) for d in upserts])
            last = changes[-1].seq
            self._save_state(dst, last, applied + len(changes))
        done = datetime.now(UTC)
        return Step(len(changes), last, last, [(done - c.changed_at).total_seconds() for c in changes])

    def run(self, *, follow: bool = False, interval_s: float = 0.2, limit: int = BATCH,
            progress: Callable[[str, int, int | None], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False,
            on_step: Callable[[Step], None] | None = None) -> dict[str, Any]:
        """Snapshot if the target has no cursor yet, then apply batches until caught up (or, with
        follow, until told to stop)."""
        state = self.state()
        snap: tuple[int, int] | None = None
        if state is None:
            if progress:
                progress("snapshot", 0, None)
            snap = self.snapshot(lambda n: progress("snapshot", n, None) if progress else None)
            state = self.state()
        assert state is not None
        cursor, applied = int(state["seq"]), int(state["applied"])
        head = self.source.head(self.feed.name)
        if progress:
            progress("changes", 0, max(0, head - cursor))
        while not should_stop():
            step = self.step(cursor, applied, limit)
            if on_step:
                on_step(step)
            if step.applied:
                applied += step.applied
                if progress:
                    progress("changes", step.seq - cursor, None)
                cursor = step.seq
                continue
            cursor = step.seq
            if not follow:
                break
            time.sleep(interval_s)
        return {"dataset": self.feed.name, "table": self.name, "seq": cursor, "applied": applied,
                "snapshot": {"seq": snap[0], "rows": snap[1]} if snap else None}


def count_rows(url: str, table: str) -> int:
    db = Database(url)
    try:
        with db.read() as conn:
            return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
    finally:
        db.dispose()

