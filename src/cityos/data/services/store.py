"""Tables of the data service interfaces (prefix `ds_`) and their SQL.

A consumer is a service principal of identity (a user without a password or roles): its API
keys and OAuth2 bearer tokens are ordinary identity credentials, so the gateway resolves a
credential, its consumer, the grant for the interface, the version and today's counter in one
SELECT. Calls are logged to `ds_calls` and counted in `ds_usage` by group commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
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
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert
from cityos.core.store import BigId
from cityos.data import store as data_store
from cityos.data.services.model import Definition
from cityos.geo import store as geo_store
from cityos.identity import store as id_store

ds_interfaces = Table(
    "ds_interfaces", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("owner", String(100), nullable=False, index=True),
    Column("sharing", String(16), nullable=False),
    Column("latest_version", Integer),  # the newest version not retired; None = all retired
    Column("search_text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

ds_versions = Table(
    "ds_versions", metadata,
    Column("code", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSONType, nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # published | retired
    Column("published_by", String(80), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
)

ds_consumers = Table(
    "ds_consumers", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),  # also the OAuth2 client_id
    Column("name", String(200), nullable=False),
    Column("department", String(100), nullable=False, index=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, unique=True),  # the service principal
    Column("node", String(15), nullable=False, index=True),
    Column("ledger_code", String(64)),  # the application in the resource ledger, when there is one
    Column("client_secret_hash", String(64)),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

ds_applications = Table(
    "ds_applications", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consumer_id", BigInteger, ForeignKey("ds_consumers.id"), nullable=False, index=True),
    Column("purpose", String(500), nullable=False),
    Column("legal_basis", String(500), nullable=False),
    Column("expected_daily", Integer, nullable=False),
    Column("submitted_by", String(80), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
)

ds_grants = Table(
    "ds_grants", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consumer_id", BigInteger, ForeignKey("ds_consumers.id"), nullable=False),
    Column("interface_code", String(64), nullable=False, index=True),
    Column("application_id", BigInteger, ForeignKey("ds_applications.id"), nullable=False),
    Column("owner", String(100), nullable=False, index=True),
    Column("status", String(12), nullable=False),  # pending | active | rejected | suspended | revoked
    Column("purpose", String(500), nullable=False),
    Column("daily_quota", Integer, nullable=False),
    Column("rate_per_minute", Integer, nullable=False),
    Column("plain_personal", Boolean, nullable=False, default=False),  # personal fields unmasked
    Column("decided_by", String(80)),
    Column("decided_at", UTCDateTime),
    Column("reason", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("consumer_id", "interface_code", name="uq_ds_grants_consumer_interface"),
    Index("ix_ds_grants_owner_status", "owner", "status"),
)

ds_calls = Table(
    "ds_calls", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("consumer_id", BigInteger),  # None when the credential was not a consumer's
    Column("interface_code", String(64), nullable=False),
    Column("version", Integer),
    Column("purpose", String(500)),
    Column("param_hash", String(32)),
    Column("rows", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("outcome", String(24), nullable=False),  # ok | invalid | not_found | forbidden | rate_limited | ...
    Column("status", Integer, nullable=False),
    Index("ix_ds_calls_interface_at", "interface_code", "at"),
    Index("ix_ds_calls_consumer_at", "consumer_id", "at"),
)

ds_usage = Table(
    "ds_usage", metadata,
    Column("day", Date, primary_key=True),
    Column("interface_code", String(64), primary_key=True),
    Column("consumer_id", BigInteger, primary_key=True),  # 0: calls without a consumer
    Column("calls", BigInteger, nullable=False, default=0),  # counted against the quota
    Column("ok", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("latency_ms", BigInteger, nullable=False, default=0),
    Index("ix_ds_usage_consumer_day", "consumer_id", "day"),
)

# Indexes the shipped interfaces need on the base tables (named ds_: this context adds them).
Index("ix_ds_residents_building", data_store.residents.c.building_id)
Index("ix_ds_buildings_address", data_store.buildings.c.address)
Index("ix_ds_risk_areas_grid", data_store.risk_areas.c.grid_code)
Index("ix_ds_pois_grid_category", data_store.pois.c.grid_code, data_store.pois.c.category)

# The tables interfaces may read: the base and subject databases and the division tree.
READABLE: dict[str, Table] = {t.name: t for t in (
    data_store.residents, data_store.legal_entities, data_store.licences, data_store.credit_records,
    data_store.buildings, data_store.pois, data_store.risk_areas, data_store.subj_elderly_alone,
    data_store.subj_enterprises_by_industry_grid, data_store.subj_licences_expiring,
    data_store.subj_residents_in_risk_areas, geo_store.divisions)}
READABLE_COLUMNS: dict[str, set[str]] = {name: {c.name for c in t.columns if c.name != "geometry"}
                                         for name, t in READABLE.items()}


# --- the compiled query of a definition ----------------------------------------------------

def _upper(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\uffff"


def build_query(defn: Definition) -> Select[Any]:
    """The statement of a definition: whitelisted columns, bound parameters only. Built once
    per (code, version) and process (a published version never changes)."""
    assert defn.table is not None
    t = READABLE[defn.table]
    conds = []
    for i, f in enumerate(defn.filters):
        col = t.c[f.field]
        name = f.param or f"c{i}"
        if f.op == "eq":
            conds.append(col == bindparam(name))
        elif f.op == "prefix":  # a range, so that a b-tree index serves it on both engines
            conds.append(and_(col >= bindparam(name), col < bindparam(f"{name}__hi")))
        elif f.op == "in":
            conds.append(col.in_(list(f.value)))
        elif f.op == "gte":
            conds.append(col >= bindparam(name))
        elif f.op == "lte":
            conds.append(col <= bindparam(name))
        elif f.op == "gt":
            conds.append(col > bindparam(name))
        elif f.op == "lt":
            conds.append(col < bindparam(name))
        elif f.op == "gte_or_null":
            conds.append((col >= bindparam(name)) | col.is_(None))
    where = and_(*conds)
    if defn.result == "exists":
        return select(literal(1)).select_from(t).where(where).limit(1)
    if defn.result == "count":
        inner = select(literal(1).label("one")).select_from(t).where(where).limit(defn.limit + 1).subquery()
        return select(func.count()).select_from(inner)
    stmt = select(*[t.c[f] for f in defn.fields]).where(where)
    if defn.order:
        stmt = stmt.order_by(*[t.c[c].desc() if desc else t.c[c] for c, desc in defn.order])
    return stmt.limit(bindparam("_limit", type_=Integer)).offset(bindparam("_offset", type_=Integer))


def bind_values(defn: Definition, values: dict[str, Any], today: date, limit: int, offset: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, f in enumerate(defn.filters):
        if f.op == "in":
            continue
        name = f.param or f"c{i}"
        v = values.get(f.param) if f.param else (today if f.value == "$today" else f.value)
        out[name] = v
        if f.op == "prefix":
            out[f"{name}__hi"] = _upper(str(v))
    if defn.result in ("rows", "one"):
        out["_limit"] = limit
        out["_offset"] = offset
    return out


# --- the one SELECT of a gateway call ---------------------------------------------------------

_c, _u, _k, _g, _i, _v, _us = (id_store.credentials, id_store.users, ds_consumers, ds_grants, ds_interfaces,
                               ds_versions, ds_usage)
_CALL = (
    select(_c.c.revoked_at, _c.c.expires_at, _u.c.active, _u.c.username, _k.c.id.label("consumer_id"),
           _i.c.code.label("known"),
           _g.c.id.label("grant_id"), _g.c.status.label("grant_status"), _g.c.daily_quota, _g.c.rate_per_minute,
           _g.c.plain_personal, _g.c.purpose, _i.c.latest_version, _v.c.version, _v.c.status.label("version_status"),
           _us.c.calls)
    .select_from(
        _c.join(_u, _u.c.id == _c.c.user_id)
        .outerjoin(_k, _k.c.user_id == _u.c.id)
        .outerjoin(_i, _i.c.code == bindparam("code"))
        .outerjoin(_g, and_(_g.c.consumer_id == _k.c.id, _g.c.interface_code == bindparam("code")))
        .outerjoin(_v, and_(_v.c.code == bindparam("code"),
                            _v.c.version == func.coalesce(bindparam("version", type_=Integer), _i.c.latest_version)))
        .outerjoin(_us, and_(_us.c.day == bindparam("day", type_=Date), _us.c.interface_code == bindparam("code"),
                             _us.c.consumer_id == _k.c.id)))
    .where(_c.c.secret_hash == bindparam("secret_hash"))
)


def call_context(conn: Connection, secret_hash: str, code: str, version: int | None, day: date) -> Any:
    return conn.execute(_CALL, {"secret_hash": secret_hash, "code": code, "version": version, "day": day}).first()


def version_definition(conn: Connection, code: str, version: int) -> dict[str, Any] | None:
    r = conn.execute(select(ds_versions.c.definition).where(ds_versions.c.code == code,
                                                            ds_versions.c.version == version)).first()
    return dict(r[0]) if r else None


# --- call log and counters (written by group commit) -----------------------------------------

def write_calls(conn: Connection, calls: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT of the call records and one upsert per (day, interface, consumer)."""
    if not calls:
        return
    conn.execute(insert(ds_calls), [{k: c[k] for k in ("at", "consumer_id", "interface_code", "version", "purpose",
                                                       "param_hash", "rows", "latency_ms", "outcome", "status")}
                                    for c in calls])
    agg: dict[tuple[date, str, int], list[int]] = {}
    for c in calls:
        key = (c["at"].date(), c["interface_code"], c["consumer_id"] or 0)
        a = agg.setdefault(key, [0, 0, 0, 0, 0])
        a[0] += 1 if c["counted"] else 0
        a[1] += 1 if c["outcome"] == "ok" else 0
        a[2] += 0 if c["outcome"] == "ok" else 1
        a[3] += c["rows"]
        a[4] += c["latency_ms"]
    for (day, code, consumer), (calls_n, ok, errors, rows, lat) in sorted(agg.items()):
        stmt = upsert_insert(conn, ds_usage).values(day=day, interface_code=code, consumer_id=consumer, calls=calls_n,
                                                    ok=ok, errors=errors, rows=rows, latency_ms=lat)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["day", "interface_code", "consumer_id"],
            set_={"calls": ds_usage.c.calls + stmt.excluded.calls, "ok": ds_usage.c.ok + stmt.excluded.ok,
                  "errors": ds_usage.c.errors + stmt.excluded.errors, "rows": ds_usage.c.rows + stmt.excluded.rows,
                  "latency_ms": ds_usage.c.latency_ms + stmt.excluded.latency_ms}))


# --- interfaces ---------------------------------------------------------------------------------

def interface(conn: Connection, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(ds_interfaces).where(ds_interfaces.c.code == code)).mappings().first()
    return dict(r) if r else None


def versions_of(conn: Connection, code: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(ds_versions).where(ds_versions.c.code == code).order_by(ds_versions.c.version))
    return [dict(r) for r in rows.mappings()]


def search_interfaces(conn: Connection, q: str | None, owner: str | None, sharing: str | None,
                      include_retired: bool = False) -> list[dict[str, Any]]:
    stmt = select(ds_interfaces)
    if q:
        stmt = stmt.where(ds_interfaces.c.search_text.like(f"%{q.lower()}%"))
    if owner:
        stmt = stmt.where(ds_interfaces.c.owner == owner)
    if sharing:
        stmt = stmt.where(ds_interfaces.c.sharing == sharing)
    if not include_retired:
        stmt = stmt.where(ds_interfaces.c.latest_version.is_not(None))
    return [dict(r) for r in conn.execute(stmt.order_by(ds_interfaces.c.code)).mappings()]


def published_definitions(conn: Connection) -> list[dict[str, Any]]:
    """Every published (not retired) version's definition, by code and version."""
    rows = conn.execute(select(ds_versions.c.definition).where(ds_versions.c.status == "published")
                        .order_by(ds_versions.c.code, ds_versions.c.version))
    return [dict(r[0]) for r in rows]


def upsert_interface(conn: Connection, values: dict[str, Any]) -> None:
    stmt = upsert_insert(conn, ds_interfaces).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={
        k: stmt.excluded[k] for k in values if k not in ("code", "created_at")}))


def insert_version(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(ds_versions).values(**values))


def set_version_status(conn: Connection, code: str, version: int, status: str, now: datetime) -> None:
    conn.execute(update(ds_versions).where(ds_versions.c.code == code, ds_versions.c.version == version)
                 .values(status=status, retired_at=now))


def latest_published(conn: Connection, code: str) -> int | None:
    v = conn.execute(select(func.max(ds_versions.c.version)).where(ds_versions.c.code == code,
                                                                   ds_versions.c.status == "published")).scalar()
    return int(v) if v is not None else None


# --- consumers, applications, grants ---------------------------------------------------------------

def consumer_by_code(conn: Connection, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(ds_consumers).where(ds_consumers.c.code == code)).mappings().first()
    return dict(r) if r else None


def consumer_by_id(conn: Connection, cid: int) -> dict[str, Any] | None:
    r = conn.execute(select(ds_consumers).where(ds_consumers.c.id == cid)).mappings().first()
    return dict(r) if r else None


def insert_row(conn: Connection, table: Table, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def grant(conn: Connection, gid: int) -> dict[str, Any] | None:
    r = conn.execute(select(ds_grants).where(ds_grants.c.id == gid)).mappings().first()
    return dict(r) if r else None


def grant_for(conn: Connection, consumer_id: int, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(ds_grants).where(ds_grants.c.consumer_id == consumer_id,
                                             ds_grants.c.interface_code == code)).mappings().first()
    return dict(r) if r else None


def update_grant(conn: Connection, gid: int, values: dict[str, Any]) -> None:
    conn.execute(update(ds_grants).where(ds_grants.c.id == gid).values(**values))


def list_grants(conn: Connection, *, owner: str | None = None, status: str | None = None,
                consumer_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = (select(ds_grants, ds_consumers.c.code.label("consumer_code"), ds_consumers.c.name.label("consumer_name"),
                   ds_consumers.c.department, ds_applications.c.legal_basis, ds_applications.c.expected_daily,
                   ds_applications.c.submitted_by)
            .join(ds_consumers, ds_consumers.c.id == ds_grants.c.consumer_id)
            .join(ds_applications, ds_applications.c.id == ds_grants.c.application_id))
    if owner:
        stmt = stmt.where(ds_grants.c.owner == owner)
    if status:
        stmt = stmt.where(ds_grants.c.status == status)
    if consumer_id is not None:
        stmt = stmt.where(ds_grants.c.consumer_id == consumer_id)
    return [dict(r) for r in conn.execute(stmt.order_by(ds_grants.c.id.desc()).limit(limit)).mappings()]


def consumers(conn: Connection, limit: int = 500) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(ds_consumers).order_by(ds_consumers.c.code).limit(limit)).mappings()]


# --- usage ------------------------------------------------------------------------------------------

def usage(conn: Connection, *, since: date, until: date, owner: str | None = None, code: str | None = None,
          consumer_id: int | None = None) -> list[dict[str, Any]]:
    """Counters per (interface, consumer) summed over the days, with the consumer's name."""
    u = ds_usage
    stmt = (select(u.c.interface_code, u.c.consumer_id, ds_consumers.c.code.label("consumer_code"),
                   ds_consumers.c.name.label("consumer_name"), ds_consumers.c.department, ds_interfaces.c.owner,
                   func.sum(u.c.calls).label("calls"), func.sum(u.c.ok).label("ok"),
                   func.sum(u.c.errors).label("errors"), func.sum(u.c.rows).label("rows"),
                   func.sum(u.c.latency_ms).label("latency_ms"))
            .select_from(u.outerjoin(ds_consumers, ds_consumers.c.id == u.c.consumer_id)
                         .outerjoin(ds_interfaces, ds_interfaces.c.code == u.c.interface_code))
            .where(u.c.day >= since, u.c.day <= until)
            .group_by(u.c.interface_code, u.c.consumer_id, ds_consumers.c.code, ds_consumers.c.name,
                      ds_consumers.c.department, ds_interfaces.c.owner)
            .order_by(func.sum(u.c.calls).desc(), u.c.interface_code))
    if owner:
        stmt = stmt.where(ds_interfaces.c.owner == owner)
    if code:
        stmt = stmt.where(u.c.interface_code == code)
    if consumer_id is not None:
        stmt = stmt.where(u.c.consumer_id == consumer_id)
    out = []
    for r in conn.execute(stmt).mappings():
        d = dict(r)
        for k in ("calls", "ok", "errors", "rows", "latency_ms"):
            d[k] = int(d[k] or 0)
        n = d["ok"] + d["errors"]
        d["mean_latency_ms"] = round(d.pop("latency_ms") / n, 2) if n else None
        out.append(d)
    return out


def recent_calls(conn: Connection, *, code: str | None = None, consumer_id: int | None = None,
                 owner: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    stmt = select(ds_calls)
    if code:
        stmt = stmt.where(ds_calls.c.interface_code == code)
    if consumer_id is not None:
        stmt = stmt.where(ds_calls.c.consumer_id == consumer_id)
    if owner:
        stmt = stmt.where(ds_calls.c.interface_code.in_(select(ds_interfaces.c.code)
                                                        .where(ds_interfaces.c.owner == owner)))
    return [dict(r) for r in conn.execute(stmt.order_by(ds_calls.c.id.desc()).limit(limit)).mappings()]
