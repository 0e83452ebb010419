"""Transactional outbox: events are written in the same transaction as the change
that caused them, and relayed to subscribers afterwards (at least once)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from cityos.core.db import Database, insert_rows
from cityos.core.store import outbox

# How long a relay keeps claimed events before another may take them (CITYOS_OUTBOX_LEASE_S,
# default 60 s): the delay after which a relay killed mid-batch has its events sent by another.
LEASE = timedelta(seconds=float(os.environ.get("CITYOS_OUTBOX_LEASE_S") or 60))


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def emit(conn: Connection, topic: str, payload: dict[str, Any], now: datetime) -> None:
    """Record an event inside the caller's transaction; it leaves only if that commits."""
    conn.execute(insert(outbox).values(topic=topic, payload=payload, created_at=now, available_at=now, attempts=0))


def emit_many(conn: Connection, rows: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
    if rows:
        insert_rows(conn, outbox,
                    [{"topic": t, "payload": p, "created_at": now, "available_at": now, "attempts": 0} for t, p in rows])


def claim_batch(db: Database, now: datetime, limit: int = 100) -> list[Event]:
    """Take pending events; on PostgreSQL rows locked by another relay are skipped.

    The claim pushes `available_at` forward by a lease, so a relay that dies leaves
    its events to be retried once the lease ends.
    """
    lease_until = now + LEASE
    with db.begin() as conn:
        q = (
            select(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.available_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        rows = conn.execute(q).mappings().all()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        conn.execute(
            update(outbox).where(outbox.c.id.in_(ids)).values(available_at=lease_until, attempts=outbox.c.attempts + 1)
        )
    return [Event(r["id"], r["topic"], r["payload"], r["created_at"], r["attempts"] + 1) for r in rows]


def mark_published(db: Database, ids: list[int], now: datetime) -> None:
    if ids:
        with db.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=now))


def mark_failed(db: Database, event: Event, error: str, now: datetime) -> None:
    backoff = timedelta(seconds=min(3600, 2 ** min(event.attempts, 12)))
    with db.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.id == event.id).values(available_at=now + backoff, last_error=error[:2000])
        )
