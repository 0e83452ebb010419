"""Tables and queries of "one thing" scenarios: definitions (versioned, published ones immutable),
their data grants, submissions and their per-matter child applications, and the history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
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
    text,
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


def definition_ref(conn: Connection, code: str, version: int | None) -> dict[str, Any] | None:
    """Id, version and status of a version, or of the latest published one (no body: cheap)."""
    q = select(definitions.c.id, definitions.c.version, definitions.c.status).where(definitions.c.code == code)
    if version is None:
        q = q.where(definitions.c.status == "published").order_by(definitions.c.version.desc()).limit(1)
    else:
        q = q.where(definitions.c.version == version)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def definition_body(conn: Connection, definition_id: int) -> Any:
    return conn.execute(select(definitions.c.definition).where(definitions.c.id == definition_id)).scalar_one()


def list_definitions(conn: Connection) -> list[dict[str, Any]]:
    q = select(definitions.c.code, definitions.c.version, definitions.c.status, definitions.c.name_zh,
               definitions.c.name_en, definitions.c.published_at, definitions.c.definition
               ).order_by(definitions.c.code, definitions.c.version)
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


def next_submission_ids(conn: Connection, n: int) -> list[int]:
    """`n` submission ids taken before inserting, so the readable number is written with the row.

    PostgreSQL: the column's sequence (no lock held, unlike a counter row every submitter would
    update); SQLite: the writer holds the database's only write lock, so max+1 cannot be taken twice."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT nextval(pg_get_serial_sequence('scenario_submissions', 'id')) "
                                 "FROM generate_series(1, :n)"), {"n": n})
        return sorted(int(r[0]) for r in rows)
    first = int(conn.execute(select(func.coalesce(func.max(submissions.c.id), 0) + 1)).scalar_one())
    return list(range(first, first + n))


def insert_submissions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Submissions with their ids and numbers, all of one shape, in one statement."""
    if rows:
        conn.execute(insert(submissions), rows)


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

    row = conn.execute(select(residents.c.id_number, residents.c.name)
                       .where(residents.c.status == "active", residents.c.gender == "F",
                              residents.c.household_role.in_(("spouse", "head")))
                       .order_by(residents.c.id_number).limit(1)).first()
    if row is None:
        return None
    conn.execute(update(users).where(users.c.username == username)
                 .values(id_number=row.id_number, display_name=row.name))
    return str(row.name)


# --- the plan: runways, core businesses, the three lists ------------------------------------------

runways = Table(
    "scenario_runways", metadata,
    Column("code", String(40), primary_key=True),
    Column("system", String(20), nullable=False, index=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("owner_unit", String(60), nullable=False),
    Column("division_code", String(15), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

runway_apps = Table(
    "scenario_runway_apps", metadata,
    Column("runway", String(40), ForeignKey("scenario_runways.code"), primary_key=True),
    Column("app_code", String(64), primary_key=True),  # a ledger resource of type application
)

businesses = Table(
    "scenario_core_businesses", metadata,
    Column("code", String(40), primary_key=True),
    Column("unit", String(60), nullable=False, index=True),
    Column("division_code", String(15), nullable=False),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("system", String(20), nullable=False),
    Column("runway", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
)

business_items = Table(
    "scenario_business_items", metadata,
    Column("code", String(40), primary_key=True),
    Column("business", String(40), ForeignKey("scenario_core_businesses.code"), nullable=False, index=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("datasets", JSONType, nullable=False),  # catalog dataset names it needs
    Column("apps", JSONType, nullable=False),  # ledger application codes that serve it
)

list_items = Table(
    "scenario_list_items", metadata,
    Column("code", String(40), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("title_zh", String(200), nullable=False),
    Column("title_en", String(200), nullable=False),
    Column("owner_unit", String(60), nullable=False),
    Column("division_code", String(15), nullable=False),
    Column("system", String(20), nullable=False),
    Column("runway", String(40)),
    Column("status", String(12), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("start_on", Date),
    Column("due_on", Date),
    Column("scenario_code", String(40)),
    Column("description", Text, nullable=False),
    Column("updated_by", String(80), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_scenario_list_items_kind_system", "kind", "system"),
    Index("ix_scenario_list_items_owner", "owner_unit"),
)

list_links = Table(
    "scenario_list_links", metadata,
    Column("from_code", String(40), ForeignKey("scenario_list_items.code"), primary_key=True),
    Column("to_code", String(40), ForeignKey("scenario_list_items.code"), primary_key=True),
)


def units_by_code(conn: Connection, codes: list[str]) -> dict[str, dict[str, Any]]:
    from cityos.identity.store import org_units

    if not codes:
        return {}
    rows = conn.execute(select(org_units.c.code, org_units.c.division_code, org_units.c.kind, org_units.c.name_zh,
                               org_units.c.name_en).where(org_units.c.code.in_(codes))).mappings()
    return {r["code"]: dict(r) for r in rows}


def runway_codes(conn: Connection) -> set[str]:
    return set(conn.execute(select(runways.c.code)).scalars())


def insert_runway(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(runways).values(**values))


def add_runway_apps(conn: Connection, runway: str, apps: list[str]) -> None:
    have = set(conn.execute(select(runway_apps.c.app_code).where(runway_apps.c.runway == runway)).scalars())
    rows = [{"runway": runway, "app_code": a} for a in apps if a not in have]
    if rows:
        conn.execute(insert(runway_apps), rows)


def list_runways(conn: Connection, system: str | None = None) -> list[dict[str, Any]]:
    q = select(runways).order_by(runways.c.system, runways.c.code)
    if system:
        q = q.where(runways.c.system == system)
    out = [dict(r) for r in conn.execute(q).mappings()]
    apps: dict[str, list[str]] = {}
    for link in conn.execute(select(runway_apps)):
        apps.setdefault(link.runway, []).append(link.app_code)
    for r in out:
        r["apps"] = sorted(apps.get(r["code"], []))
    return out


def ledger_apps(conn: Connection, codes: list[str]) -> dict[str, dict[str, Any]]:
    from cityos.ledger.store import resources

    if not codes:
        return {}
    rows = conn.execute(select(resources.c.code, resources.c.rtype, resources.c.state, resources.c.owner_unit)
                        .where(resources.c.code.in_(codes))).mappings()
    return {r["code"]: dict(r) for r in rows}


def catalog_names(conn: Connection, names: list[str]) -> set[str]:
    from cityos.data.store import catalog_datasets

    if not names:
        return set()
    return set(conn.execute(select(catalog_datasets.c.name).where(catalog_datasets.c.name.in_(names))).scalars())


def insert_business(conn: Connection, values: dict[str, Any], items: list[dict[str, Any]]) -> None:
    conn.execute(insert(businesses).values(**values))
    if items:
        conn.execute(insert(business_items), items)


def business_exists(conn: Connection, code: str) -> bool:
    return conn.execute(select(businesses.c.code).where(businesses.c.code == code)).first() is not None


def list_businesses(conn: Connection, scope: Scope, unit: str | None = None) -> list[dict[str, Any]]:
    q = select(businesses).where(in_scope(businesses.c.division_code, scope)).order_by(businesses.c.unit,
                                                                                      businesses.c.code)
    if unit:
        q = q.where(businesses.c.unit == unit)
    out = [dict(r) for r in conn.execute(q).mappings()]
    items: dict[str, list[dict[str, Any]]] = {}
    codes = [b["code"] for b in out]
    if codes:
        for r in conn.execute(select(business_items).where(business_items.c.business.in_(codes))
                              .order_by(business_items.c.code)).mappings():
            items.setdefault(r["business"], []).append(dict(r))
    for b in out:
        b["items"] = items.get(b["code"], [])
    return out


def list_item(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(list_items).where(list_items.c.code == code)).mappings().first()
    return dict(row) if row else None


def list_item_kinds(conn: Connection, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {r.code: r.kind for r in conn.execute(select(list_items.c.code, list_items.c.kind)
                                                  .where(list_items.c.code.in_(codes)))}


def upsert_list_item(conn: Connection, values: dict[str, Any], links: list[str]) -> None:
    if list_item(conn, values["code"]) is None:
        conn.execute(insert(list_items).values(**values))
    else:
        conn.execute(update(list_items).where(list_items.c.code == values["code"]).values(**values))
    conn.execute(list_links.delete().where(list_links.c.from_code == values["code"]))
    if links:
        conn.execute(insert(list_links), [{"from_code": values["code"], "to_code": t} for t in links])


def search_list_items(conn: Connection, scope: Scope, *, kind: str | None = None, system: str | None = None,
                      unit: str | None = None) -> list[dict[str, Any]]:
    q = select(list_items).where(in_scope(list_items.c.division_code, scope))
    for col, v in ((list_items.c.kind, kind), (list_items.c.system, system), (list_items.c.owner_unit, unit)):
        if v:
            q = q.where(col == v)
    out = [dict(r) for r in conn.execute(q.order_by(list_items.c.kind, list_items.c.code)).mappings()]
    links: dict[str, list[str]] = {}
    codes = [r["code"] for r in out]
    if codes:
        for link in conn.execute(select(list_links).where(list_links.c.from_code.in_(codes))):
            links.setdefault(link.from_code, []).append(link.to_code)
    for r in out:
        r["links"] = sorted(links.get(r["code"], []))
    return out


# Which column of each base dataset names the applicant (a person's ID number); pre-fill reads only
# the applicant's own rows. Buildings and POIs hold nobody's data.
PERSON_KEYS = {"population": "id_number", "legal_entities": "legal_rep_id", "licences": "holder_id",
               "credit": "subject_id"}


def applicant_rows(conn: Connection, id_number: str, datasets: set[str]) -> dict[str, dict[str, Any]]:
    """The applicant's row in each dataset asked for (for pre-fill)."""
    out: dict[str, dict[str, Any]] = {}
    for ds in sorted(datasets):
        row = applicants_rows(conn, ds, [id_number]).get(id_number)
        if row is not None:
            out[ds] = row
    return out


def applicants_rows(conn: Connection, dataset: str, id_numbers: list[str]) -> dict[str, dict[str, Any]]:
    """ID number -> that person's row of one base dataset, for several applicants in one query (the
    first row by primary key where a person has several); empty for a dataset naming nobody."""
    from cityos.data.model import BASE_DATASETS
    from cityos.data.store import DATASTORE_TABLES

    key = PERSON_KEYS.get(dataset)
    if key is None or dataset not in BASE_DATASETS or not id_numbers:
        return {}
    table = DATASTORE_TABLES[BASE_DATASETS[dataset].table]
    q = select(table).where(table.c[key].in_(id_numbers)).order_by(*table.primary_key.columns)
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(q).mappings():
        out.setdefault(row[key], dict(row))
    return out


def applicants(conn: Connection, usernames: list[str]) -> dict[str, dict[str, Any]]:
    """Username -> ID number and display name of the users among `usernames` (one query)."""
    from cityos.identity.store import users

    rows = conn.execute(select(users.c.username, users.c.id_number, users.c.display_name)
                        .where(users.c.username.in_(usernames)))
    return {r.username: {"id_number": r.id_number, "display_name": r.display_name} for r in rows}
