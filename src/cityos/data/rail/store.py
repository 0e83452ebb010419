"""Tables of the rail (change logs, heads, subscriptions, webhook deliveries) and the
triggers that write the change log inside the transaction of every change.

Why triggers: every path that writes a base table (the importer's set-based merge, the
seed's bulk COPY, scenarios issuing e-licences, a DBA's psql session) is logged without
each having to remember, and a rolled-back change leaves no log entry.

Why one counter row per feed (`rail_heads`): on PostgreSQL sequence numbers handed out
by a SEQUENCE commit out of order (transaction A takes 5, B takes 6, B commits first: a
reader at after=6 never sees 5). Taking the next numbers from the feed's counter row
holds that row's lock until commit, so the writers of one feed commit in sequence order
and every committed prefix is gap-free. On PostgreSQL the log is written by statement
triggers over transition tables (one counter update and one INSERT ... SELECT per
statement, whatever its row count), on SQLite by row triggers (one writer at a time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId
from cityos.data.rail.model import FEEDS

rail_heads = Table(
    "rail_heads", metadata,
    Column("dataset", String(40), primary_key=True),
    Column("head", BigInteger, nullable=False, default=0),
)

rail_changes = Table(
    "rail_changes", metadata,
    Column("dataset", String(40), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("op", String(1), nullable=False),  # I | U | D
    Column("key", String(64), nullable=False),
    Column("data", JSONType),  # the row's new values; NULL for a delete
    Column("changed_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,  # one b-tree ordered by (dataset, seq) instead of a table plus its key index
)

rail_subscriptions = Table(
    "rail_subscriptions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dataset", String(40), nullable=False, index=True),
    Column("principal", String(80), nullable=False),  # the identity username the credential resolves to
    Column("purpose", Text, nullable=False),
    Column("level", String(8), nullable=False),  # masked | full (asked for, then as approved)
    Column("status", String(10), nullable=False),  # pending | active | suspended | revoked | rejected
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", String(80)),
    Column("decided_at", UTCDateTime),
    Column("reason", Text),
    Column("acked_seq", BigInteger, nullable=False, default=0),  # acknowledged (read past, or pushed)
    Column("acked_at", UTCDateTime),
    Column("read_seq", BigInteger, nullable=False, default=0),  # the last sequence number handed out
    Column("webhook_url", String(500)),
    Column("webhook_secret", String(80)),
    Column("push_attempts", Integer, nullable=False, default=0),
    Column("push_next_at", UTCDateTime),
    Column("push_last_error", Text),
    Index("ix_rail_subscriptions_principal", "principal", "dataset"),
)

rail_deliveries = Table(
    "rail_deliveries", metadata,
    Column("id", String(36), primary_key=True),  # the delivery id the receiver deduplicates on
    Column("subscription_id", BigInteger, nullable=False),
    Column("from_seq", BigInteger, nullable=False),
    Column("to_seq", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_rail_deliveries_sub", "subscription_id", "status"),
)


# --- triggers ----------------------------------------------------------------------------------

_PG_FUNCTIONS = [
    # TG_ARGV[0] = the feed, TG_ARGV[1] = its key column.
    """CREATE OR REPLACE FUNCTION rail_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE h bigint; n bigint; at timestamptz := clock_timestamp();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM rail_new) THEN RETURN NULL; END IF;
  SELECT head INTO h FROM rail_heads WHERE dataset = TG_ARGV[0] FOR UPDATE;
  INSERT INTO rail_changes (dataset, seq, op, key, data, changed_at)
    SELECT TG_ARGV[0], h + row_number() OVER (), 'I', r.j ->> TG_ARGV[1], r.j, at
    FROM (SELECT to_jsonb(t) AS j FROM rail_new t) r;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE rail_heads SET head = h + n WHERE dataset = TG_ARGV[0];
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION rail_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE h bigint; n bigint; m bigint; at timestamptz := clock_timestamp();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM rail_new) THEN RETURN NULL; END IF;
  SELECT head INTO h FROM rail_heads WHERE dataset = TG_ARGV[0] FOR UPDATE;
  -- a changed key: the old key is deleted first
  INSERT INTO rail_changes (dataset, seq, op, key, data, changed_at)
    SELECT TG_ARGV[0], h + row_number() OVER (), 'D', k, NULL, at
    FROM (SELECT to_jsonb(o) ->> TG_ARGV[1] AS k FROM rail_old o
          EXCEPT SELECT to_jsonb(t) ->> TG_ARGV[1] FROM rail_new t) gone;
  GET DIAGNOSTICS m = ROW_COUNT;
  INSERT INTO rail_changes (dataset, seq, op, key, data, changed_at)
    SELECT TG_ARGV[0], h + m + row_number() OVER (), 'U', r.j ->> TG_ARGV[1], r.j, at
    FROM (SELECT to_jsonb(t) AS j FROM rail_new t) r;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE rail_heads SET head = h + m + n WHERE dataset = TG_ARGV[0];
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION rail_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE h bigint; n bigint; at timestamptz := clock_timestamp();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM rail_old) THEN RETURN NULL; END IF;
  SELECT head INTO h FROM rail_heads WHERE dataset = TG_ARGV[0] FOR UPDATE;
  INSERT INTO rail_changes (dataset, seq, op, key, data, changed_at)
    SELECT TG_ARGV[0], h + row_number() OVER (), 'D', to_jsonb(o) ->> TG_ARGV[1], NULL, at FROM rail_old o;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE rail_heads SET head = h + n WHERE dataset = TG_ARGV[0];
  RETURN NULL;
END $$""",
    # TRUNCATE cannot list its rows: refuse it on a logged table (DELETE is logged).
    """CREATE OR REPLACE FUNCTION rail_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'TRUNCATE of %: its change log cannot record it; use DELETE', TG_TABLE_NAME;
END $$""",
]


def _pg_triggers(name: str, key: str) -> list[str]:
    args = f"'{name}', '{key}'"
    return [
        f'CREATE TRIGGER rail_{name}_i AFTER INSERT ON "{name}" REFERENCING NEW TABLE AS rail_new '
        f"FOR EACH STATEMENT EXECUTE FUNCTION rail_log_insert({args})",
        f'CREATE TRIGGER rail_{name}_u AFTER UPDATE ON "{name}" REFERENCING OLD TABLE AS rail_old '
        f"NEW TABLE AS rail_new FOR EACH STATEMENT EXECUTE FUNCTION rail_log_update({args})",
        f'CREATE TRIGGER rail_{name}_d AFTER DELETE ON "{name}" REFERENCING OLD TABLE AS rail_old '
        f"FOR EACH STATEMENT EXECUTE FUNCTION rail_log_delete({args})",
        f'CREATE TRIGGER rail_{name}_t BEFORE TRUNCATE ON "{name}" FOR EACH STATEMENT EXECUTE FUNCTION rail_no_truncate()',
    ]


_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"


def _sqlite_triggers(name: str, key: str, table: Table) -> list[str]:
    def obj(row: str) -> str:
        parts = []
        for c in table.columns:
            v = f'{row}."{c.name}"'
            # JSON columns hold JSON text: embed it as JSON, not as a string.
            if isinstance(c.type, type(JSONType)) or "JSON" in type(c.type).__name__.upper():
                v = f"json({v})"
            parts.append(f"'{c.name}', {v}")
        return "json_object(" + ", ".join(parts) + ")"

    bump = f"UPDATE rail_heads SET head = head + 1 WHERE dataset = '{name}';"
    head = f"(SELECT head FROM rail_heads WHERE dataset = '{name}')"
    cols = "INSERT INTO rail_changes (dataset, seq, op, key, data, changed_at)"
    return [
        f'CREATE TRIGGER rail_{name}_i AFTER INSERT ON "{name}" BEGIN {bump} '
        f"{cols} VALUES ('{name}', {head}, 'I', NEW.\"{key}\", {obj('NEW')}, {_SQLITE_NOW}); END",
        f'CREATE TRIGGER rail_{name}_u AFTER UPDATE ON "{name}" BEGIN '
        f"UPDATE rail_heads SET head = head + 1 WHERE dataset = '{name}' AND OLD.\"{key}\" IS NOT NEW.\"{key}\"; "
        f"{cols} SELECT '{name}', {head}, 'D', OLD.\"{key}\", NULL, {_SQLITE_NOW} WHERE OLD.\"{key}\" IS NOT NEW.\"{key}\"; "
        f"{bump} {cols} VALUES ('{name}', {head}, 'U', NEW.\"{key}\", {obj('NEW')}, {_SQLITE_NOW}); END",
        f'CREATE TRIGGER rail_{name}_d AFTER DELETE ON "{name}" BEGIN {bump} '
        f"{cols} VALUES ('{name}', {head}, 'D', OLD.\"{key}\", NULL, {_SQLITE_NOW}); END",
    ]


def trigger_names(name: str, dialect: str) -> list[str]:
    return [f"rail_{name}_{s}" for s in ("i", "u", "d", "t" if dialect == "postgresql" else "")
            if s]


def install_triggers(conn: Connection) -> None:
    """(Re)create the change-log triggers of every feed and its counter row. A migration that
    changes a logged table's columns calls this again (SQLite's triggers name the columns)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        for sql in _PG_FUNCTIONS:
            conn.execute(text(sql))
    for name, feed in FEEDS.items():
        table = metadata.tables[name]
        for trig in trigger_names(name, dialect):
            conn.execute(text(f'DROP TRIGGER IF EXISTS {trig}' + (f' ON "{name}"' if dialect == "postgresql" else "")))
        stmts = _pg_triggers(name, feed.key) if dialect == "postgresql" else _sqlite_triggers(name, feed.key, table)
        for sql in stmts:
            conn.execute(text(sql))
        # Rows already in the table before the log existed are not in it: the feed starts
        # at 0 and a warehouse starts with a snapshot.
        if conn.execute(select(rail_heads.c.head).where(rail_heads.c.dataset == name)).first() is None:
            conn.execute(insert(rail_heads).values(dataset=name, head=0))


def drop_triggers(conn: Connection) -> None:
    dialect = conn.dialect.name
    for name in FEEDS:
        for trig in trigger_names(name, dialect):
            conn.execute(text(f'DROP TRIGGER IF EXISTS {trig}' + (f' ON "{name}"' if dialect == "postgresql" else "")))
    if dialect == "postgresql":
        for fn in ("rail_log_insert", "rail_log_update", "rail_log_delete", "rail_no_truncate"):
            conn.execute(text(f"DROP FUNCTION IF EXISTS {fn}()"))


# --- reads -------------------------------------------------------------------------------------

def head(conn: Connection, dataset: str) -> int:
    return int(conn.execute(select(rail_heads.c.head).where(rail_heads.c.dataset == dataset)).scalar() or 0)


def heads(conn: Connection) -> dict[str, int]:
    return {str(d): int(h) for d, h in conn.execute(select(rail_heads.c.dataset, rail_heads.c.head))}


def changes(conn: Connection, dataset: str, after: int, limit: int, upto: int | None = None) -> list[Any]:
    c = rail_changes.c
    cond = and_(c.dataset == dataset, c.seq > after)
    if upto is not None:
        cond = and_(cond, c.seq <= upto)
    return list(conn.execute(select(c.seq, c.op, c.key, c.data, c.changed_at).where(cond).order_by(c.seq)
                             .limit(limit)).all())


def changed_at(conn: Connection, dataset: str, seq: int) -> datetime | None:
    c = rail_changes.c
    return conn.execute(select(c.changed_at).where(c.dataset == dataset, c.seq == seq)).scalar()


# --- subscriptions -----------------------------------------------------------------------------

def create_subscription(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(rail_subscriptions).values(**values).returning(rail_subscriptions.c.id))
               .scalar_one())


def subscription(conn: Connection, sub_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(rail_subscriptions).where(rail_subscriptions.c.id == sub_id)).mappings().first()
    return dict(row) if row else None


def live_subscription(conn: Connection, principal: str, dataset: str) -> dict[str, Any] | None:
    """The principal's newest subscription to the feed that is not revoked or rejected."""
    t = rail_subscriptions.c
    row = conn.execute(select(rail_subscriptions).where(
        t.principal == principal, t.dataset == dataset, t.status.in_(("pending", "active", "suspended")))
        .order_by(t.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def subscriptions(conn: Connection, *, principal: str | None = None, datasets: list[str] | None = None
                  ) -> list[dict[str, Any]]:
    t = rail_subscriptions.c
    q = select(rail_subscriptions).order_by(t.dataset, t.id)
    if principal is not None:
        q = q.where(t.principal == principal)
    if datasets is not None:
        q = q.where(t.dataset.in_(datasets))
    return [dict(r) for r in conn.execute(q).mappings()]


def update_subscription(conn: Connection, sub_id: int, **values: Any) -> None:
    conn.execute(update(rail_subscriptions).where(rail_subscriptions.c.id == sub_id).values(**values))


def acknowledge(conn: Connection, sub_id: int, acked: int, served: int, now: datetime) -> None:
    """Move the subscriber's positions forward only (a re-read of older changes moves nothing back)."""
    t = rail_subscriptions.c
    conn.execute(update(rail_subscriptions).where(t.id == sub_id, t.acked_seq < acked)
                 .values(acked_seq=acked, acked_at=now))
    conn.execute(update(rail_subscriptions).where(t.id == sub_id, t.read_seq < served).values(read_seq=served))


def oldest_after(conn: Connection, pairs: list[tuple[str, int]]) -> dict[tuple[str, int], datetime | None]:
    """The time of the first change after each (dataset, seq): how old a subscriber's backlog is."""
    out: dict[tuple[str, int], datetime | None] = {}
    c = rail_changes.c
    for dataset, seq in set(pairs):
        out[(dataset, seq)] = conn.execute(select(func.min(c.changed_at)).where(
            c.dataset == dataset, c.seq == seq + 1)).scalar()
    return out
