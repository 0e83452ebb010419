"""Tables and queries of "one thing" scenarios: definitions (versioned, published ones immutable),
their data grants, submissions and their per-matter child applications, and the history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId
from cityos.data.store import licences
from cityos.identity.model import Scope
from cityos.identity.store import in_scope

definitions = Table(
    "scenario_definitions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # published | retired
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("definition", JSONType, nullable=False),
    Column("source", Text, nullable=False),  # the YAML/JSON text as published
    Column("published_by", String(80), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
    UniqueConstraint("code", "version", name="uq_scenario_definitions_code_version"),
)

data_grants = Table(
    "scenario_data_grants", metadata,
    Column("scenario_code", String(40), primary_key=True),
    Column("ref", String(80), primary_key=True),  # DATASET.FIELD or DATASET.*
    Column("granted_by", String(80), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
)

submissions = Table(
    "scenario_submissions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(24), nullable=False, unique=True),
    Column("scenario_code", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("applicant_user", String(80), nullable=False, index=True),
    Column("applicant_id", String(18), nullable=False),
    Column("applicant_name", String(80), nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("district_code", String(6), nullable=False),
    Column("form", JSONType, nullable=False),
    Column("consent", Boolean, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    Index("ix_scenario_submissions_scenario_state", "scenario_code", "state"),
)

matters = Table(
    "scenario_matters", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("submission_id", BigId, ForeignKey("scenario_submissions.id"), nullable=False),
    Column("matter_code", String(40), nullable=False),
    Column("department_unit", String(60), nullable=False),
    Column("division_code", String(15), nullable=False),  # the department's division (scope)
    Column("state", String(12), nullable=False),
    Column("materials", JSONType, nullable=False),
    Column("inputs", JSONType, nullable=False),
    Column("outputs", JSONType, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("reason", Text),
    Column("deadline", UTCDateTime),
    Column("overdue", Boolean, nullable=False),
    Column("queued_at", UTCDateTime),
    Column("handled_by", String(80)),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("submission_id", "matter_code", name="uq_scenario_matters_submission_matter"),
    Index("ix_scenario_matters_unit_state", "department_unit", "state"),
    Index("ix_scenario_matters_due", "overdue", "deadline"),
)

events = Table(
    "scenario_events", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("submission_id", BigId, ForeignKey("scenario_submissions.id"), nullable=False, index=True),
    Column("matter_code", String(40)),
    Column("action", String(20), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("note", Text),
)

OPEN_MATTER_STATES = ("queued", "accepted")


# --- definitions ---------------------------------------------------------------------------------

def latest_definition(conn: Connection, code: str, *, published_only: bool = True) -> dict[str, Any] | None:
    q = select(definitions).where(definitions.c.code == code)
    if published_only:
        q = q.where(definitions.c.status == "published")
    row = conn.execute(q.order_by(definitions.c.version.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def definition(conn: Connection, code: str, version: int) -> dict[str, Any] | None:
    row = conn.execute(select(definitions).where(definitions.c.code == code, definitions.c.version == version)
                       ).mappings().first()
    return dict(row) if row else None


def list_definitions(conn: Connection) -> list[dict[str, Any]]:
    q = select(definitions.c.code, definitions.c.version, definitions.c.status, definitions.c.name_zh,
               definitions.c.name_en, definitions.c.published_at).order_by(definitions.c.code, definitions.c.version)
    return [dict(r) for r in conn.execute(q).mappings()]


def insert_definition(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(definitions).values(**values))


def retire_definition(conn: Connection, code: str, version: int, now: datetime) -> bool:
    res = conn.execute(update(definitions).where(definitions.c.code == code, definitions.c.version == version,
                                                 definitions.c.status == "published")
                       .values(status="retired", retired_at=now))
    return res.rowcount == 1


def grants_of(conn: Connection, code: str) -> set[str]:
    return set(conn.execute(select(data_grants.c.ref).where(data_grants.c.scenario_code == code)).scalars())


def add_grant(conn: Connection, code: str, ref: str, by: str, now: datetime) -> None:
    if ref not in grants_of(conn, code):
        conn.execute(insert(data_grants).values(scenario_code=code, ref=ref, granted_by=by, granted_at=now))


# --- submissions ---------------------------------------------------------------------------------

def insert_submission(conn: Connection, values: dict[str, Any]) -> int:
    sid = conn.execute(insert(submissions).values(**values).returning(submissions.c.id)).scalar_one()
    return int(sid)


def set_number(conn: Connection, sid: int, number: str) -> None:
    conn.execute(update(submissions).where(submissions.c.id == sid).values(number=number))


def insert_matters(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(matters), rows)


def submission_by_number(conn: Connection, number: str, *, for_update: bool = False) -> dict[str, Any] | None:
    q = select(submissions).where(submissions.c.number == number)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def submission_by_id(conn: Connection, sid: int, *, for_update: bool = False) -> dict[str, Any]:
    q = select(submissions).where(submissions.c.id == sid)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return dict(conn.execute(q).mappings().one())


def matters_of(conn: Connection, sid: int) -> list[dict[str, Any]]:
    q = select(matters).where(matters.c.submission_id == sid).order_by(matters.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def matter_by_id(conn: Connection, mid: int) -> dict[str, Any] | None:
    row = conn.execute(select(matters).where(matters.c.id == mid)).mappings().first()
    return dict(row) if row else None


def update_matter(conn: Connection, mid: int, from_state: str, values: dict[str, Any]) -> bool:
    """Conditional on the state read, so two handlers cannot both act on one matter."""
    res = conn.execute(update(matters).where(matters.c.id == mid, matters.c.state == from_state).values(**values))
    return res.rowcount == 1


def update_submission(conn: Connection, sid: int, values: dict[str, Any]) -> None:
    conn.execute(update(submissions).where(submissions.c.id == sid).values(**values))


def submissions_of(conn: Connection, user: str, limit: int = 50) -> list[dict[str, Any]]:
    q = (select(submissions).where(submissions.c.applicant_user == user)
         .order_by(submissions.c.id.desc()).limit(limit))
    return [dict(r) for r in conn.execute(q).mappings()]


def add_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(events), rows)


def events_of(conn: Connection, sid: int) -> list[dict[str, Any]]:
    q = select(events).where(events.c.submission_id == sid).order_by(events.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def queue(conn: Connection, units: list[str], scope: Scope, states: tuple[str, ...], limit: int, offset: int
          ) -> tuple[list[dict[str, Any]], int]:
    """Matters waiting at a department: the actor's own units, or every unit in an operator's scope."""
    cond = matters.c.state.in_(states)
    where = matters.c.department_unit.in_(units) if units else in_scope(matters.c.division_code, scope)
    base = select(matters, submissions.c.number, submissions.c.scenario_code, submissions.c.applicant_name,
                  submissions.c.applicant_id).join(submissions, submissions.c.id == matters.c.submission_id)
    q = base.where(cond, where).order_by(matters.c.deadline, matters.c.id).limit(limit).offset(offset)
    total = conn.execute(select(func.count()).select_from(matters).where(cond, where)).scalar_one()
    return [dict(r) for r in conn.execute(q).mappings()], int(total)


def due_matters(conn: Connection, now: datetime, limit: int = 5000) -> list[dict[str, Any]]:
    q = (select(matters.c.id, matters.c.submission_id, matters.c.matter_code, matters.c.department_unit)
         .where(matters.c.overdue.is_(False), matters.c.deadline < now, matters.c.state.in_(OPEN_MATTER_STATES))
         .limit(limit))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def flag_overdue(conn: Connection, ids: list[int], now: datetime) -> None:
    if ids:
        conn.execute(update(matters).where(matters.c.id.in_(ids), matters.c.overdue.is_(False))
                     .values(overdue=True, updated_at=now))


def stats(conn: Connection) -> list[dict[str, Any]]:
    q = (select(submissions.c.scenario_code, submissions.c.state, func.count().label("n"))
         .group_by(submissions.c.scenario_code, submissions.c.state))
    return [dict(r) for r in conn.execute(q).mappings()]


def issue_licence(conn: Connection, values: dict[str, Any]) -> None:
    """An e-licence a matter issues goes into the e-licence base database (the data context's table)."""
    conn.execute(insert(licences).values(**values))


def link_demo_citizen(conn: Connection, username: str) -> str | None:
    """Give the demo citizen the ID number of an active adult woman of the population database (demo only)."""
    from cityos.data.store import residents
    from cityos.identity.store import users

    row = conn.execute(select(residents.c.id_number, residents.c.name, residents.c.phone)
                       .where(residents.c.status == "active", residents.c.gender == "F",
                              residents.c.household_role.in_(("spouse", "head")))
                       .order_by(residents.c.id_number).limit(1)).first()
    if row is None:
        return None
    conn.execute(update(users).where(users.c.username == username)
                 .values(id_number=row.id_number, display_name=row.name, phone=row.phone or "13800000000"))
    return str(row.name)
