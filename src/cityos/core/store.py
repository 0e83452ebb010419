"""Kernel tables: outbox, jobs and their runs, idempotency keys, revision counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert

# BIGINT ids on PostgreSQL; SQLite only autoincrements a column typed INTEGER.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", String(120), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_outbox_pending", "published_at", "available_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(120), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending|running|done|failed
    Column("run_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    Column("interval_s", Integer),  # recurring jobs reschedule themselves
    Column("dedupe_key", String(200), unique=True),
    Column("locked_by", String(120)),
    Column("locked_at", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_jobs_due", "status", "run_at"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False, index=True),
    Column("kind", String(120), nullable=False),
    Column("worker", String(120), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16), nullable=False),  # done|retry|failed
    Column("error", Text),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

revisions = Table(
    "revisions",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


def bump_revision(conn: Connection, name: str, now: datetime) -> int:
    """Increase a named revision counter (caches in other processes compare it)."""
    res = conn.execute(
        update(revisions).where(revisions.c.name == name).values(value=revisions.c.value + 1, updated_at=now)
    )
    if res.rowcount == 0:
        stmt = upsert_insert(conn, revisions).values(name=name, value=1, updated_at=now)
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": revisions.c.value + 1}))
    return read_revision(conn, name)


def read_revision(conn: Connection, name: str) -> int:
    value = conn.execute(select(revisions.c.value).where(revisions.c.name == name)).scalar()
    return int(value or 0)
