"""Tables and queries of the notification doors: outgoing webhooks, their delivery
attempts, and the messages handed to channels (SMS ...). The inbox itself is
`store.notifications`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert
from cityos.core.store import BigId
from cityos.governance.store import notifications

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(200), nullable=False),  # kept to sign; shown once at creation
    Column("topics", JSONType, nullable=False),  # list of event topics
    Column("active", Boolean, nullable=False, default=True),
    Column("owner", String(80), nullable=False),
    Column("description", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("webhook_id", BigInteger, nullable=False),
    Column("event_id", BigInteger, nullable=False),  # the outbox event
    Column("topic", String(60), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_webhook_deliveries_hook_id", "webhook_id", "id"),
    Index("ix_webhook_deliveries_event", "event_id", "webhook_id"),
)

channel_sends = Table(
    "channel_sends",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, nullable=False),  # the outbox event that carried the message
    Column("seq", Integer, nullable=False),  # its position in the event
    Column("channel", String(20), nullable=False),
    Column("recipient", String(80), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("case_id", BigInteger),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "seq", "channel", name="uq_channel_sends_event"),
)


# --- webhooks ------------------------------------------------------------------------------------------

def insert_webhook(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(webhooks).values(**values).returning(webhooks.c.id)).scalar_one())


def get_webhook(conn: Connection, hook_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(webhooks).where(webhooks.c.id == hook_id)).mappings().first()
    return dict(r) if r else None


def list_webhooks(conn: Connection, owner: str | None) -> list[dict[str, Any]]:
    q = select(webhooks).order_by(webhooks.c.id)
    if owner is not None:
        q = q.where(webhooks.c.owner == owner)
    return [dict(r) for r in conn.execute(q).mappings()]


def active_webhooks(conn: Connection) -> list[dict[str, Any]]:
    q = select(webhooks.c.id, webhooks.c.topics).where(webhooks.c.active.is_(True)).order_by(webhooks.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def update_webhook(conn: Connection, hook_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(webhooks).where(webhooks.c.id == hook_id).values(**values))


def delete_webhook(conn: Connection, hook_id: int) -> None:
    conn.execute(delete(webhooks).where(webhooks.c.id == hook_id))


def record_delivery(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(webhook_deliveries).values(**values))


def delivered(conn: Connection, hook_id: int, event_id: int) -> bool:
    q = select(func.count()).select_from(webhook_deliveries).where(
        webhook_deliveries.c.webhook_id == hook_id, webhook_deliveries.c.event_id == event_id,
        webhook_deliveries.c.ok.is_(True))
    return bool(conn.execute(q).scalar_one())


def deliveries(conn: Connection, hook_id: int, limit: int) -> list[dict[str, Any]]:
    q = (select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == hook_id)
         .order_by(webhook_deliveries.c.id.desc()).limit(limit))
    return [dict(r) for r in conn.execute(q).mappings()]


# --- channels ------------------------------------------------------------------------------------------

def claim_send(conn: Connection, values: dict[str, Any]) -> bool:
    """Record that a message goes out; False when it went out already (relays are at least once)."""
    stmt = upsert_insert(conn, channel_sends).values(**values).on_conflict_do_nothing(
        index_elements=["event_id", "seq", "channel"]).returning(channel_sends.c.id)
    return conn.execute(stmt).first() is not None


# --- the inbox, read live --------------------------------------------------------------------------------

def addressed_to(user: str, units: list[str]) -> ColumnElement[bool]:
    cond = notifications.c.recipient_user == user
    if units:
        cond = or_(cond, notifications.c.recipient_unit.in_(units))
    return cond


def inbox_after(conn: Connection, user: str, units: list[str], after_id: int, limit: int) -> list[dict[str, Any]]:
    """The actor's notifications after an id, oldest first (a stream's catch-up)."""
    q = (select(notifications).where(addressed_to(user, units), notifications.c.id > after_id)
         .order_by(notifications.c.id).limit(limit))
    return [dict(r) for r in conn.execute(q).mappings()]


def newer_than(conn: Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Every notification after an id, oldest first (the shared poller of a process)."""
    q = select(notifications).where(notifications.c.id > after_id).order_by(notifications.c.id).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def max_notification_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(notifications.c.id), 0))).scalar_one())


def mark_read(conn: Connection, user: str, units: list[str], ids: list[int] | None, now: datetime) -> int:
    """Mark the actor's notifications read (the given ids, or all of them); returns how many changed."""
    conds = [addressed_to(user, units), notifications.c.read_at.is_(None)]
    if ids is not None:
        conds.append(notifications.c.id.in_(ids))
    res = conn.execute(update(notifications).where(and_(*conds)).values(read_at=now))
    return int(res.rowcount)


def get_notification(conn: Connection, nid: int, user: str, units: list[str]) -> dict[str, Any] | None:
    r = conn.execute(select(notifications).where(notifications.c.id == nid, addressed_to(user, units))).mappings().first()
    return dict(r) if r else None


def unread_count(conn: Connection, user: str, units: list[str]) -> int:
    q = select(func.count()).select_from(notifications).where(addressed_to(user, units), notifications.c.read_at.is_(None))
    return int(conn.execute(q).scalar_one())
