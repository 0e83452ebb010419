"""Instructions and their per-target tasks; emergency reports and their rings; duty rosters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId

duty_roster = Table(
    "duty_roster",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("unit_code", String(40), nullable=False),
    Column("username", String(80), nullable=False),
    Column("position", Integer, nullable=False),  # 1 on duty, 2 first backup, ...
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("handed_over_by", String(80)),
    Index("ix_duty_unit_time", "unit_code", "starts_at", "ends_at"),
)

instructions = Table(
    "instructions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("urgency", String(10), nullable=False),
    Column("issuer", String(80), nullable=False),
    Column("issuer_node", String(15), nullable=False),
    Column("rule", JSONType, nullable=False),
    Column("sign_deadline", UTCDateTime, nullable=False),
    Column("complete_deadline", UTCDateTime, nullable=False),
    Column("parent_task_id", BigInteger),  # set when this instruction relays a task down
    Column("root_id", BigInteger),
    Column("targets", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

instruction_tasks = Table(
    "instruction_tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instruction_id", BigInteger, nullable=False),
    Column("root_id", BigInteger, nullable=False),
    Column("unit_code", String(40), nullable=False),
    Column("node", String(15), nullable=False),
    Column("level", String(10), nullable=False),
    Column("state", String(12), nullable=False),
    Column("signed_by", String(80)),
    Column("signed_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("report", Text),
    Column("sign_overdue", Integer, nullable=False, default=0),
    Column("complete_overdue", Integer, nullable=False, default=0),
    Column("relayed_as", BigInteger),
    Index("ix_tasks_instruction_state", "instruction_id", "state"),
    Index("ix_tasks_root_state", "root_id", "state"),
    Index("ix_tasks_unit_state", "unit_code", "state"),
)

emergency_reports = Table(
    "emergency_reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, nullable=False, unique=True),
    Column("category_code", String(5), nullable=False),
    Column("casualties", Integer, nullable=False, default=0),
    Column("lon", Float),
    Column("lat", Float),
    Column("node", String(15), nullable=False),
    Column("reporter", String(80), nullable=False),
    Column("ack_minutes", Integer, nullable=False),
    Column("media", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("first_on_site_at", UTCDateTime),
    Column("first_on_site_by", String(80)),
    Column("resolved_at", UTCDateTime),
)

emergency_rings = Table(
    "emergency_rings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("report_id", BigInteger, nullable=False, index=True),
    Column("level", String(10), nullable=False),
    Column("unit_code", String(40), nullable=False),
    Column("rung_at", UTCDateTime, nullable=False),
    Column("next_ring_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("position", Integer, nullable=False, default=1),  # which roster position is being rung
    Column("ringing_user", String(80)),
    Column("ack_by", String(80)),
    Column("ack_at", UTCDateTime),
    Index("ix_rings_pending", "ack_at", "next_ring_at"),
)


def on_duty(conn: Connection, unit: str, now: datetime, position: int | None = None) -> list[dict[str, Any]]:
    q = select(duty_roster).where(duty_roster.c.unit_code == unit, duty_roster.c.starts_at <= now,
                                  duty_roster.c.ends_at > now)
    if position is not None:
        q = q.where(duty_roster.c.position == position)
    return [dict(r) for r in conn.execute(q.order_by(duty_roster.c.position, duty_roster.c.id)).mappings()]


def first_on_duty(conn: Connection, units: list[str], now: datetime) -> dict[str, str]:
    """Who stands first on the roster of each unit now (units nobody is on duty at are left out); one query."""
    q = (select(duty_roster.c.unit_code, duty_roster.c.username)
         .where(duty_roster.c.unit_code.in_(units), duty_roster.c.starts_at <= now, duty_roster.c.ends_at > now,
                duty_roster.c.position == 1)
         .order_by(duty_roster.c.unit_code, duty_roster.c.id))
    first: dict[str, str] = {}
    for unit, user in conn.execute(q):
        first.setdefault(unit, user)
    return first


def add_duty(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(duty_roster).values(**values).returning(duty_roster.c.id)).scalar_one())


def end_duty(conn: Connection, unit: str, username: str, now: datetime) -> None:
    conn.execute(update(duty_roster).where(duty_roster.c.unit_code == unit, duty_roster.c.username == username,
                                           duty_roster.c.starts_at <= now, duty_roster.c.ends_at > now)
                 .values(ends_at=now))


def insert_instruction(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(instructions).values(**values).returning(instructions.c.id)).scalar_one())


def insert_tasks(conn: Connection, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for i in range(0, len(rows), chunk):
        conn.execute(insert(instruction_tasks), rows[i:i + chunk])


def get_instruction(conn: Connection, iid: int) -> dict[str, Any] | None:
    r = conn.execute(select(instructions).where(instructions.c.id == iid)).mappings().first()
    return dict(r) if r else None


def get_task(conn: Connection, tid: int, lock: bool = False) -> dict[str, Any] | None:
    q = select(instruction_tasks).where(instruction_tasks.c.id == tid)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).mappings().first()
    return dict(r) if r else None


def update_task(conn: Connection, tid: int, values: dict[str, Any]) -> None:
    conn.execute(update(instruction_tasks).where(instruction_tasks.c.id == tid).values(**values))


def progress(conn: Connection, root_id: int) -> list[tuple[int, str, str, int]]:
    """(instruction id, level, state, count) over the whole relay tree of a root instruction."""
    t = instruction_tasks
    rows = conn.execute(select(t.c.instruction_id, t.c.level, t.c.state, func.count())
                        .where(t.c.root_id == root_id).group_by(t.c.instruction_id, t.c.level, t.c.state)).all()
    return [(int(a), str(b), str(c), int(d)) for a, b, c, d in rows]


def laggards(conn: Connection, instruction_id: int, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    t = instruction_tasks
    rows = conn.execute(select(t).where(t.c.instruction_id == instruction_id, t.c.state != "completed")
                        .order_by(t.c.level, t.c.unit_code).limit(limit)).mappings()
    return [dict(r) for r in rows]


def mark_task_overdue(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Flag tasks past their sign-for or completion deadline (set-based, once each)."""
    t, i = instruction_tasks, instructions
    out: list[dict[str, Any]] = []
    for col, state_cond, deadline in (
        (t.c.sign_overdue, t.c.state == "delivered", i.c.sign_deadline),
        (t.c.complete_overdue, t.c.state != "completed", i.c.complete_deadline),
    ):
        ids = select(t.c.id).select_from(t.join(i, i.c.id == t.c.instruction_id)).where(
            col == 0, state_cond, deadline < now).limit(20_000)
        res = conn.execute(update(t).where(t.c.id.in_(ids.scalar_subquery()), col == 0).values({col.name: 1})
                           .returning(t.c.id, t.c.unit_code, t.c.node, t.c.level, t.c.instruction_id))
        out.extend({**dict(r), "kind": col.name} for r in res.mappings())
    return out


def insert_report(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(emergency_reports).values(**values).returning(emergency_reports.c.id)).scalar_one())


def get_report(conn: Connection, rid: int) -> dict[str, Any] | None:
    r = conn.execute(select(emergency_reports).where(emergency_reports.c.id == rid)).mappings().first()
    return dict(r) if r else None


def update_report(conn: Connection, rid: int, values: dict[str, Any]) -> None:
    conn.execute(update(emergency_reports).where(emergency_reports.c.id == rid).values(**values))


def insert_rings(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(emergency_rings), rows)


def rings_of(conn: Connection, rid: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(emergency_rings).where(emergency_rings.c.report_id == rid).order_by(emergency_rings.c.id))
    return [dict(r) for r in rows.mappings()]


def ack_ring(conn: Connection, ring_id: int, user: str, now: datetime) -> bool:
    res = conn.execute(update(emergency_rings).where(emergency_rings.c.id == ring_id, emergency_rings.c.ack_at.is_(None))
                       .values(ack_by=user, ack_at=now))
    return res.rowcount == 1


def due_rings(conn: Connection, now: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    q = select(emergency_rings).where(emergency_rings.c.ack_at.is_(None), emergency_rings.c.next_ring_at <= now).limit(limit)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def ring_again(conn: Connection, ring: dict[str, Any], values: dict[str, Any]) -> bool:
    res = conn.execute(update(emergency_rings).where(emergency_rings.c.id == ring["id"],
                                                     emergency_rings.c.attempts == ring["attempts"],
                                                     emergency_rings.c.ack_at.is_(None)).values(**values))
    return res.rowcount == 1


def reports_for_nodes(conn: Connection, prefixes: list[str] | None, limit: int) -> list[dict[str, Any]]:
    q = select(emergency_reports)
    if prefixes is not None:
        from sqlalchemy import false, or_

        q = q.where(or_(*[emergency_reports.c.node.startswith(p) for p in prefixes]) if prefixes else false())
    rows = conn.execute(q.order_by(emergency_reports.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


