"""Ledger tables and queries: resources, tags, dependencies, history, applications,
grants, health probes, and counts tables kept in step with every write so that
facets over a million resources stay fast."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    column,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert
from cityos.core.store import BigId
from cityos.identity.model import Scope
from cityos.identity.store import in_scope

resources = Table(
    "ledger_resources",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("rtype", String(20), nullable=False),
    Column("kind", String(30)),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False, default=""),
    Column("owner_unit", String(40), nullable=False),
    Column("level", String(10), nullable=False),
    Column("division_code", String(15), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("contacts", JSONType, nullable=False),
    Column("attributes", JSONType, nullable=False),
    Column("identity_key", String(300), nullable=False),
    Column("state", String(12), nullable=False),
    Column("endpoint", String(300)),
    Column("health_url", String(300)),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("rtype", "identity_key", name="uq_ledger_resources_identity"),
    Index("ix_ledger_resources_type_state", "rtype", "state", "id"),
    Index("ix_ledger_resources_state", "state", "id"),
    Index("ix_ledger_resources_owner", "owner_unit", "id"),
    Index("ix_ledger_resources_division", "division_code", "id"),
    Index("ix_ledger_resources_created", "created_at"),
)

tags = Table(
    "ledger_tags",
    metadata,
    Column("tag", String(40), primary_key=True),
    Column("resource_id", BigInteger, ForeignKey("ledger_resources.id"), primary_key=True),
    # The resource's type (which never changes), so that a tag + type search walks one index
    # range newest first instead of joining every resource of the tag.
    Column("rtype", String(20), nullable=False),
    Index("ix_ledger_tags_resource", "resource_id"),
    Index("ix_ledger_tags_tag_type", "tag", "rtype", "resource_id"),
)

# Counts kept in step with every write, so facets never scan the resources: per
# (type, state, level, district) — `district` is the first 6 digits of the owner's
# division (the city's code for city resources) — and the same per owner and per tag.
_DIMS = ("rtype", "state", "level", "district")


def _cube(name: str, *lead: Column[Any]) -> Table:
    return Table(name, metadata, *lead,
                 Column("rtype", String(20), primary_key=True), Column("state", String(12), primary_key=True),
                 Column("level", String(10), primary_key=True), Column("district", String(6), primary_key=True),
                 Column("n", BigInteger, nullable=False))


counts = _cube("ledger_counts")
owner_counts = _cube("ledger_owner_counts", Column("owner_unit", String(40), primary_key=True))
tag_counts = _cube("ledger_tag_counts", Column("tag", String(40), primary_key=True))
# A facet filtered by type or state reads its slice of the cube through these.
Index("ix_ledger_owner_counts_type_state", owner_counts.c.rtype, owner_counts.c.state)
Index("ix_ledger_tag_counts_type_state", tag_counts.c.rtype, tag_counts.c.state)


def _totals(name: str, lead: Column[Any]) -> Table:
    return Table(name, metadata, lead,
                 Column("level", String(10), primary_key=True), Column("district", String(6), primary_key=True),
                 Column("n", BigInteger, nullable=False), Column("n_online", BigInteger, nullable=False))


# The owner and tag facets without a type or state filter (the common first page) read these:
# one row per owner (or tag) and district, not one per type and state as well (~40x fewer).
# `n_online` serves the city-level online resources every reader sees.
owner_totals = _totals("ledger_owner_totals", Column("owner_unit", String(40), primary_key=True))
tag_totals = _totals("ledger_tag_totals", Column("tag", String(40), primary_key=True))

dependencies = Table(
    "ledger_dependencies",
    metadata,
    Column("from_id", BigInteger, ForeignKey("ledger_resources.id"), primary_key=True),
    Column("to_id", BigInteger, ForeignKey("ledger_resources.id"), primary_key=True),
    Column("note", String(200), nullable=False, default=""),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_ledger_dependencies_to", "to_id", "from_id"),
)

events = Table(
    "ledger_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("resource_id", BigInteger, ForeignKey("ledger_resources.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12)),
    Column("reason", String(500)),
    Column("details", JSONType, nullable=False),
    Index("ix_ledger_events_resource", "resource_id", "id"),
)

applications = Table(
    "ledger_applications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("applicant", String(80), nullable=False),
    Column("applicant_unit", String(40), nullable=False),
    Column("division_code", String(15), nullable=False),
    Column("purpose", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_ledger_applications_applicant", "applicant", "id"),
)

application_items = Table(
    "ledger_application_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("application_id", BigInteger, ForeignKey("ledger_applications.id"), nullable=False, index=True),
    Column("resource_id", BigInteger, ForeignKey("ledger_resources.id"), nullable=False, index=True),
    Column("request", JSONType, nullable=False),
    Column("status", String(12), nullable=False),
    Column("decided_by", String(80)),
    Column("decided_at", UTCDateTime),
    Column("reason", String(500)),
)

grants = Table(
    "ledger_grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("ledger_application_items.id"), nullable=False, unique=True),
    Column("resource_id", BigInteger, ForeignKey("ledger_resources.id"), nullable=False, index=True),
    Column("grantee", String(80), nullable=False),
    Column("grantee_unit", String(40), nullable=False),
    Column("provisioner", String(40), nullable=False),
    Column("details", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

probes = Table(
    "ledger_probes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("resource_id", BigInteger, ForeignKey("ledger_resources.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Float),
    Column("status_code", Integer),
    Column("error", String(300)),
    Index("ix_ledger_probes_resource_at", "resource_id", "at"),
)

FACETS = ("rtype", "state", "level", "owner_unit")


def visible(scope: Scope) -> ColumnElement[bool]:
    """What a reader sees: resources owned in their subtree, and every online city-level resource."""
    if scope.all:
        return in_scope(resources.c.division_code, scope)
    return or_(in_scope(resources.c.division_code, scope),
               and_(resources.c.level == "city", resources.c.state == "online"))


# --- writes ---------------------------------------------------------------------------------
def _upsert(conn: Connection, t: Table, key: dict[str, Any], **deltas: int) -> None:
    conn.execute(upsert_insert(conn, t).values(**key, **deltas).on_conflict_do_update(
        index_elements=list(key), set_={c: t.c[c] + d for c, d in deltas.items()}))


def _upsert_count(conn: Connection, r: dict[str, Any], state: str, delta: int, tag_list: list[str]) -> None:
    place = {"level": r["level"], "district": r["division_code"][:6]}
    key = {"rtype": r["rtype"], "state": state, **place}
    online = delta if state == "online" else 0
    _upsert(conn, counts, key, n=delta)
    _upsert(conn, owner_counts, {"owner_unit": r["owner_unit"], **key}, n=delta)
    _upsert(conn, owner_totals, {"owner_unit": r["owner_unit"], **place}, n=delta, n_online=online)
    for tg in tag_list:
        _upsert(conn, tag_counts, {"tag": tg, **key}, n=delta)
        _upsert(conn, tag_totals, {"tag": tg, **place}, n=delta, n_online=online)


def insert_resource(conn: Connection, values: dict[str, Any], tag_list: list[str]) -> int:
    rid = int(conn.execute(insert(resources).values(**values).returning(resources.c.id)).scalar_one())
    if tag_list:
        conn.execute(insert(tags), [{"tag": t, "resource_id": rid, "rtype": values["rtype"]}
                                    for t in sorted(set(tag_list))])
    _upsert_count(conn, values, values["state"], 1, sorted(set(tag_list)))
    return rid


def set_state(conn: Connection, r: dict[str, Any], to: str, now: datetime) -> None:
    conn.execute(update(resources).where(resources.c.id == r["id"]).values(state=to, updated_at=now))
    tag_list = tags_of(conn, [r["id"]])[r["id"]]
    _upsert_count(conn, r, r["state"], -1, tag_list)
    _upsert_count(conn, r, to, 1, tag_list)


def add_event(conn: Connection, resource_id: int, at: datetime, actor: str, action: str, from_state: str | None,
              to_state: str | None, reason: str | None, details: dict[str, Any] | None = None) -> None:
    conn.execute(insert(events).values(resource_id=resource_id, at=at, actor=actor, action=action,
                                       from_state=from_state, to_state=to_state, reason=reason,
                                       details=details or {}))


def rebuild_counts(conn: Connection) -> None:
    district = func.substr(resources.c.division_code, 1, 6)
    dims = [resources.c.rtype, resources.c.state, resources.c.level, district]
    for t, lead in ((counts, []), (owner_counts, [resources.c.owner_unit]), (tag_counts, [tags.c.tag])):
        conn.execute(t.delete())
        q = select(*lead, *dims, func.count()).group_by(*lead, *dims)
        if t is tag_counts:
            q = q.select_from(tags.join(resources, resources.c.id == tags.c.resource_id))
        names = [c.name for c in t.columns if c.name not in _DIMS and c.name != "n"]
        conn.execute(insert(t).from_select([*names, *_DIMS, "n"], q))
    place = [resources.c.level, district]
    online = func.sum(case((resources.c.state == "online", 1), else_=0))
    for t, lead_col in ((owner_totals, resources.c.owner_unit), (tag_totals, tags.c.tag)):
        conn.execute(t.delete())
        q = select(lead_col, *place, func.count(), online).group_by(lead_col, *place)
        if t is tag_totals:
            q = q.select_from(tags.join(resources, resources.c.id == tags.c.resource_id))
        conn.execute(insert(t).from_select([lead_col.name, "level", "district", "n", "n_online"], q))


# --- reads ---------------------------------------------------------------------------------------
def by_code(conn: Connection, code: str, *, for_update: bool = False) -> dict[str, Any] | None:
    q = select(resources).where(resources.c.code == code)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).mappings().first()
    return dict(r) if r else None


def by_codes(conn: Connection, codes: list[str]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(resources).where(resources.c.code.in_(codes))).mappings().all()
    return {r["code"]: dict(r) for r in rows}


def by_ids(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(select(resources).where(resources.c.id.in_(ids))).mappings().all() if ids else []
    return {r["id"]: dict(r) for r in rows}


def by_identity(conn: Connection, rtype: str, key: str) -> dict[str, Any] | None:
    r = conn.execute(select(resources).where(resources.c.rtype == rtype, resources.c.identity_key == key)).mappings().first()
    return dict(r) if r else None


def tags_of(conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for rid, tag in conn.execute(select(tags.c.resource_id, tags.c.tag).where(tags.c.resource_id.in_(ids))
                                     .order_by(tags.c.tag)):
            out[rid].append(tag)
    return out


def history(conn: Connection, resource_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(events).where(events.c.resource_id == resource_id).order_by(events.c.id)).mappings()
    return [dict(r) for r in rows]


SAMPLE = 10_000


def search(conn: Connection, scope: Scope, *, q: str | None, filters: dict[str, list[str]], tag_list: list[str],
           limit: int, offset: int) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, int]]]:
    """One page of resources, the total and the facet counts (each facet counted without its own filter).

    Without free text or owner filter, the total and the facets come from the counts tables (no
    scan of the resources); a township (or deeper) scope adds its own rows, counted exactly (they
    are few). Otherwise they are counted over the first 10,000 matches (the total then reads
    "10,000+")."""
    conds: list[ColumnElement[bool]] = [visible(scope)]
    for f, values in filters.items():
        if values:
            conds.append(resources.c[f].in_(values))
    for t in tag_list[1:]:  # the first tag drives the scan below
        conds.append(resources.c.id.in_(select(tags.c.resource_id).where(tags.c.tag == t)))
    if q:
        conds.append(_text_match(conn, q))
    where = and_(*conds)
    deep = [r for r in scope.roots if len(r) > 6]
    cube_ok = not q and len(tag_list) <= 1 and not filters.get("owner_unit") and not (deep and tag_list)
    facets: dict[str, dict[str, int]] = {}
    if cube_ok:
        def cube_where(t: Table, skip: str | None) -> ColumnElement[bool]:
            cs: list[ColumnElement[bool]] = [_cube_visible(t, scope)]
            for f, values in filters.items():
                if values and f != skip and f in t.c:
                    cs.append(t.c[f].in_(values))
            if tag_list and t is tag_counts:
                cs.append(t.c.tag == tag_list[0])
            return and_(*cs)

        # A deep scope: the cubes (district grain) count the city's online resources that every
        # reader sees; the scope's own other rows are counted here, one by one.
        own = _deep_rows(conn, scope, filters) if deep else None
        base = tag_counts if tag_list else counts
        total = int(conn.execute(select(func.coalesce(func.sum(base.c.n), 0))
                                 .where(cube_where(base, None))).scalar_one())
        for f in ("rtype", "state", "level"):
            res = conn.execute(select(base.c[f], func.sum(base.c.n)).where(cube_where(base, f))
                               .group_by(base.c[f]).order_by(func.sum(base.c.n).desc()).limit(30)).all()
            facets[f] = {str(k): int(n) for k, n in res if n}
        if own is not None:
            total += len(own.matching(None))
            for i, f in enumerate(("rtype", "state", "level"), start=1):
                facets[f] = _merge(facets[f], _top(r[i] for r in own.matching(f)))
        if not tag_list:
            if own is None:
                rows = conn.execute(select(resources).where(where).order_by(resources.c.id.desc()).limit(limit)
                                    .offset(offset)).mappings().all()
                found = [dict(r) for r in rows]
            else:
                found = own.page(conn, filters, limit, offset)
            coarse = not filters.get("rtype") and not filters.get("state")
            for f, ct, tt in (("owner_unit", owner_counts, owner_totals), ("tag", tag_counts, tag_totals)):
                if coarse:
                    res = _totals_facet(conn, tt, f, scope, filters.get("level") or [])
                else:
                    res = conn.execute(select(ct.c[f], func.sum(ct.c.n)).where(cube_where(ct, f)).group_by(ct.c[f])
                                       .order_by(func.sum(ct.c.n).desc()).limit(30)).all()
                facets["tags" if f == "tag" else f] = {str(k): int(n) for k, n in res if n}
            if own is not None:
                mine = own.matching(None)
                facets["owner_unit"] = _merge(facets["owner_unit"], _top(r[4] for r in mine))
                facets["tags"] = _merge(facets["tags"], _top(_tags_of_ids(conn, [r[0] for r in mine])))
            return found, total, facets
    # Counted over the latest matches: one scan, counted here (owners and co-occurring tags of a
    # tag filter: over the latest 2,000); the page is cut from the same scan.
    n = 2000 if cube_ok else SAMPLE
    latest = select(resources.c.id, resources.c.rtype, resources.c.state, resources.c.level, resources.c.owner_unit)
    if tag_list:  # newest first along the tag's (tag, type, id) index range, then the other conditions
        latest = latest.select_from(tags.join(resources, resources.c.id == tags.c.resource_id)).where(
            tags.c.tag == tag_list[0], *([tags.c.rtype.in_(filters["rtype"])] if filters.get("rtype") else []))
        order = tags.c.resource_id.desc()
    else:
        order = resources.c.id.desc()
    want = max(n, offset + limit)
    if q and conn.dialect.name == "postgresql":
        # The trigram index finds few matches fast, but a common substring (one row in ten)
        # makes it collect and sort them all (~1 s at 1M). So: take up to twice the sample
        # unordered (the scan stops there); all of them: order here; more: walk the newest
        # first with the text matched row by row, which soon finds enough.
        cap = 2 * want
        sample = sorted(conn.execute(latest.where(where).limit(cap + 1)).all(), key=lambda r: -r[0])[:want]
        if len(sample) > cap:
            unindexed = and_(*conds[:-1], _text_match(conn, q, indexed=False))  # the text is the last condition
            sample = list(conn.execute(latest.where(unindexed).order_by(order).limit(want)).all())
    else:
        sample = list(conn.execute(latest.where(where).order_by(order).limit(want)).all())
    page = [r[0] for r in sample[offset:offset + limit]]
    sample = sample[:n]
    if not cube_ok:
        total = len(sample)
        for i, f in enumerate(("rtype", "state", "level"), start=1):
            facets[f] = _top(r[i] for r in sample)
    facets["owner_unit"] = _top(r[4] for r in sample)
    facets["tags"] = _top(_tags_of_ids(conn, [r[0] for r in sample[:2000]]))
    return _rows_by_ids(conn, page), total, facets


class _DeepRows:
    """The rows of a township (or deeper) scope that the cubes do not count: all of them but the
    city-level online ones. Few (a township's own resources), so held and filtered here."""

    def __init__(self, rows: list[Any], filters: dict[str, list[str]], shallow: Scope) -> None:
        self.rows, self.filters, self.shallow = rows, filters, shallow

    def matching(self, skip: str | None) -> list[Any]:
        keep = [(i, set(v)) for i, f in enumerate(("rtype", "state", "level"), start=1)
                if (v := self.filters.get(f)) and f != skip]
        return [r for r in self.rows if all(r[i] in v for i, v in keep)]

    def page(self, conn: Connection, filters: dict[str, list[str]], limit: int, offset: int) -> list[dict[str, Any]]:
        """The newest first of the scope's own rows merged with the city's online ones (and any
        district roots of the same scope), each side read newest first."""
        conds: list[ColumnElement[bool]] = [or_(in_scope(resources.c.division_code, self.shallow)
                                                if self.shallow.roots else false(),
                                                and_(resources.c.level == "city", resources.c.state == "online"))]
        conds += [resources.c[f].in_(v) for f, v in filters.items() if v]
        others = conn.execute(select(resources.c.id).where(*conds).order_by(resources.c.id.desc())
                              .limit(offset + limit)).scalars().all()
        ids = sorted([*others, *(r[0] for r in self.matching(None))], reverse=True)[offset:offset + limit]
        return _rows_by_ids(conn, ids)


def _deep_rows(conn: Connection, scope: Scope, filters: dict[str, list[str]]) -> _DeepRows:
    deep = [r for r in scope.roots if len(r) > 6]
    rows = conn.execute(select(resources.c.id, resources.c.rtype, resources.c.state, resources.c.level,
                               resources.c.owner_unit)
                        .where(or_(*[_under(resources.c.division_code, r) for r in deep]),
                               or_(resources.c.level != "city", resources.c.state != "online"))).all()
    return _DeepRows(list(rows), filters, Scope(tuple(r for r in scope.roots if len(r) <= 6)))


def _under(col: Column[Any], root: str) -> ColumnElement[bool]:
    """`col` starts with `root`, as a range an index serves (SQLite's LIKE, case-insensitive,
    cannot use one). Division codes are digits: the bound is the root with its last non-9
    digit raised and the rest cut off."""
    head = root.rstrip("9")
    if not head:
        return col >= root
    return and_(col >= root, col < head[:-1] + chr(ord(head[-1]) + 1))


def _merge(a: dict[str, int], b: dict[str, int], n: int = 30) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:n])


def _rows_by_ids(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    found = {r["id"]: dict(r) for r in conn.execute(select(resources).where(resources.c.id.in_(ids))).mappings()}
    return [found[i] for i in ids]


def _tags_of_ids(conn: Connection, ids: list[int]) -> list[str]:
    if not ids:
        return []
    cond, param = _id_list(conn, "resource_id", ids)
    return [str(t) for t in conn.execute(text(f"SELECT tag FROM ledger_tags WHERE {cond}"), {"ids": param}).scalars()]


def _text_match(conn: Connection, q: str, indexed: bool = True) -> ColumnElement[bool]:
    """`q` anywhere in the code or a name, any case. Indexed: the FTS5 trigram table on SQLite
    (3 characters or more), pg_trgm's GIN index on PostgreSQL (which also serves ILIKE)."""
    if conn.dialect.name == "sqlite" and len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        fts = text("SELECT rowid FROM ledger_resources_fts WHERE ledger_resources_fts MATCH :fts_q").bindparams(
            fts_q=phrase).columns(column("rowid", Integer))
        return resources.c.id.in_(fts)
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cols: list[ColumnElement[str]] = [resources.c.code, resources.c.name_zh, resources.c.name_en]
    if not indexed:  # an expression the trigram index does not serve
        cols = [func.concat(c, "") for c in cols]
    return or_(*[c.ilike(like, escape="\\") for c in cols])


def _top(values: Any, n: int = 30) -> dict[str, int]:
    from collections import Counter

    return {str(k): int(v) for k, v in Counter(values).most_common(n)}


def _totals_facet(conn: Connection, t: Table, f: str, scope: Scope, levels: list[str]) -> list[Any]:
    """Top 30 of an owner or tag facet from the totals (no type or state filter)."""
    if scope.all:
        n: ColumnElement[Any] = t.c.n
        cond: ColumnElement[bool] = in_scope(t.c.district, scope)
    else:  # own subtree: all states; elsewhere only the city's online resources (see `visible`)
        mine = in_scope(t.c.district, scope)
        n = case((mine, t.c.n), else_=t.c.n_online)
        cond = or_(mine, t.c.level == "city")
    if levels:
        cond = and_(cond, t.c.level.in_(levels))
    total = func.sum(n)
    return list(conn.execute(select(t.c[f], total).where(cond).group_by(t.c[f]).order_by(total.desc()).limit(30)))


def _cube_visible(t: Table, scope: Scope) -> ColumnElement[bool]:
    if scope.all:
        return in_scope(t.c.district, scope)
    return or_(in_scope(t.c.district, scope), and_(t.c.level == "city", t.c.state == "online"))


# --- dependencies ------------------------------------------------------------------------------------
def add_dependency(conn: Connection, from_id: int, to_id: int, note: str, by: str, now: datetime) -> bool:
    found = conn.execute(select(dependencies.c.from_id).where(dependencies.c.from_id == from_id,
                                                              dependencies.c.to_id == to_id)).first()
    if found:
        return False
    conn.execute(insert(dependencies).values(from_id=from_id, to_id=to_id, note=note, created_by=by, created_at=now))
    return True


def remove_dependency(conn: Connection, from_id: int, to_id: int) -> int:
    return conn.execute(dependencies.delete().where(dependencies.c.from_id == from_id,
                                                    dependencies.c.to_id == to_id)).rowcount


def direct_dependents(conn: Connection, resource_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(select(resources.c.code, resources.c.state)
                        .join(dependencies, dependencies.c.from_id == resources.c.id)
                        .where(dependencies.c.to_id == resource_id).order_by(resources.c.code)).all()
    return [(r[0], r[1]) for r in rows]


_WALK = {
    # needs: follow from -> to; impact: follow to -> from (who would break).
    "needs": ("from_id", "to_id"),
    "impact": ("to_id", "from_id"),
}


def _id_list(conn: Connection, column: str, ids: list[int]) -> tuple[str, Any]:
    """`column IN (ids)` with the ids as one parameter (a JSON array on SQLite, an array on
    PostgreSQL), so any number of ids costs one statement and no parameter limit."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(CAST(:ids AS bigint[]))", ids
    return f"{column} IN (SELECT value FROM json_each(:ids))", json.dumps(ids)


def walk(conn: Connection, resource_id: int, direction: str, max_depth: int = 20,
         limit: int = 100_000) -> list[dict[str, Any]]:
    """Every resource reachable from one, with its shortest depth, ordered by depth and code.
    Rows: id, code, rtype, state, name_zh, level, owner_unit, depth.

    Breadth first, one set-based query per level (all the edges out of the whole frontier
    through the covering index), the visited set in Python: cycles end the walk, and a node is
    expanded once. A recursive CTE re-derives every path and was 10x slower at 10,000 dependents."""
    src, dst = _WALK[direction]
    depth_of: dict[int, int] = {resource_id: 0}
    frontier = [resource_id]
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        cond, ids = _id_list(conn, f"d.{src}", frontier)
        frontier = []
        for (nxt,) in conn.execute(text(f"SELECT DISTINCT d.{dst} FROM ledger_dependencies d WHERE {cond}"),
                                   {"ids": ids}):
            if nxt not in depth_of:
                depth_of[nxt] = depth
                frontier.append(nxt)
    del depth_of[resource_id]
    if not depth_of:
        return []
    cond, ids = _id_list(conn, "id", list(depth_of))
    rows = [dict(r) for r in conn.execute(text(
        f"SELECT id, code, rtype, state, name_zh, level, owner_unit FROM ledger_resources WHERE {cond}"),
        {"ids": ids}).mappings()]
    for r in rows:
        r["depth"] = depth_of[r["id"]]
    # Ordered here, codes by code point on both engines (a join to the depths let PostgreSQL
    # pick a merge join over the whole primary key).
    rows.sort(key=lambda r: (r["depth"], r["code"]))
    return rows[:limit]


def path_between(conn: Connection, start_id: int, goal_id: int, max_depth: int = 50) -> list[int] | None:
    """A dependency path start -> ... -> goal (ids, without start), or None."""
    sql = text("""
        WITH RECURSIVE reach(id, depth, path) AS (
            SELECT d.to_id, 1, CAST(d.to_id AS TEXT) FROM ledger_dependencies d WHERE d.from_id = :s
            UNION ALL
            SELECT d.to_id, r.depth + 1, r.path || ',' || CAST(d.to_id AS TEXT)
            FROM ledger_dependencies d JOIN reach r ON d.from_id = r.id
            WHERE r.depth < :maxd AND r.id <> :g
        )
        SELECT path FROM reach WHERE id = :g ORDER BY depth LIMIT 1""")
    if start_id == goal_id:
        return []
    # Bounded: the reachable set is visited once per path; ledgers are shallow (depth <= a few).
    found = conn.execute(sql, {"s": start_id, "g": goal_id, "maxd": max_depth}).scalar()
    return [int(x) for x in str(found).split(",")] if found else None


def reaches(conn: Connection, start_id: int, goal_id: int) -> bool:
    sql = text("""
        WITH RECURSIVE reach(id) AS (
            SELECT d.to_id FROM ledger_dependencies d WHERE d.from_id = :s
            UNION
            SELECT d.to_id FROM ledger_dependencies d JOIN reach r ON d.from_id = r.id
        )
        SELECT 1 FROM reach WHERE id = :g LIMIT 1""")
    return conn.execute(sql, {"s": start_id, "g": goal_id}).first() is not None


def orphans(conn: Connection, scope: Scope, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
    """Unused: live shared resources (cloud, network, data, components) that nothing live uses. Orphaned: resources whose every
    dependent is retired, or that depend on something retired."""
    used_live = (select(dependencies.c.to_id).join(resources, resources.c.id == dependencies.c.from_id)
                 .where(resources.c.state != "retired"))
    base = and_(in_scope(resources.c.division_code, scope), resources.c.state.in_(["approved", "online", "offline"]))
    cols = [resources.c.code, resources.c.rtype, resources.c.state, resources.c.name_zh, resources.c.owner_unit]
    unused = conn.execute(select(*cols).where(base, resources.c.rtype.in_(["cloud", "network", "data", "component"]),
                                              resources.c.id.not_in(used_live)).order_by(resources.c.code)
                          .limit(limit)).mappings().all()
    r2 = resources.alias("dep")
    broken = conn.execute(select(*cols, r2.c.code.label("uses_retired"))
                          .join(dependencies, dependencies.c.from_id == resources.c.id)
                          .join(r2, r2.c.id == dependencies.c.to_id)
                          .where(base, r2.c.state == "retired").order_by(resources.c.code).limit(limit)).mappings().all()
    return {"unused": [dict(r) for r in unused], "orphaned": [dict(r) for r in broken]}


# --- applications and grants --------------------------------------------------------------------------
def insert_application(conn: Connection, values: dict[str, Any], items: list[dict[str, Any]]) -> int:
    aid = int(conn.execute(insert(applications).values(**values).returning(applications.c.id)).scalar_one())
    conn.execute(insert(application_items), [{**i, "application_id": aid} for i in items])
    return aid


def application(conn: Connection, app_id: int) -> dict[str, Any] | None:
    a = conn.execute(select(applications).where(applications.c.id == app_id)).mappings().first()
    if a is None:
        return None
    items = conn.execute(
        select(application_items, resources.c.code, resources.c.name_zh, resources.c.rtype, resources.c.owner_unit,
               resources.c.division_code, resources.c.level)
        .join(resources, resources.c.id == application_items.c.resource_id)
        .where(application_items.c.application_id == app_id).order_by(application_items.c.id)).mappings().all()
    return {**dict(a), "items": [dict(i) for i in items]}


def list_applications(conn: Connection, *, applicant: str | None, approver_scope: Scope | None,
                      limit: int = 100) -> list[dict[str, Any]]:
    q = select(applications).order_by(applications.c.id.desc()).limit(limit)
    conds: list[ColumnElement[bool]] = []
    if applicant:
        conds.append(applications.c.applicant == applicant)
    if approver_scope is not None:
        mine = (select(application_items.c.application_id).join(resources,
                                                                resources.c.id == application_items.c.resource_id)
                .where(in_scope(resources.c.division_code, approver_scope)))
        conds.append(applications.c.id.in_(mine))
    if conds:
        q = q.where(or_(*conds))
    return [dict(r) for r in conn.execute(q).mappings()]


def decide_item(conn: Connection, item_id: int, status: str, by: str, now: datetime, reason: str | None) -> None:
    conn.execute(update(application_items).where(application_items.c.id == item_id)
                 .values(status=status, decided_by=by, decided_at=now, reason=reason))


def set_application_status(conn: Connection, app_id: int, status: str, now: datetime) -> None:
    conn.execute(update(applications).where(applications.c.id == app_id).values(status=status, updated_at=now))


def insert_grant(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(grants).values(**values).returning(grants.c.id)).scalar_one())


def grants_for(conn: Connection, resource_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(grants).where(grants.c.resource_id == resource_id)
                                          .order_by(grants.c.id)).mappings()]


# --- probes ---------------------------------------------------------------------------------------------
def probe_targets(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(resources.c.id, resources.c.code, resources.c.endpoint, resources.c.health_url)
                        .where(resources.c.rtype == "component", resources.c.state == "online",
                               or_(resources.c.health_url.is_not(None), resources.c.endpoint.is_not(None)))
                        .order_by(resources.c.id)).mappings()
    return [dict(r) for r in rows]


def add_probes(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(probes), rows)


def probes_of(conn: Connection, resource_id: int, since: datetime | None = None) -> list[dict[str, Any]]:
    q = select(probes).where(probes.c.resource_id == resource_id)
    if since is not None:
        q = q.where(probes.c.at >= since)
    return [dict(r) for r in conn.execute(q.order_by(probes.c.at)).mappings()]


# --- statistics ----------------------------------------------------------------------------------------
def stats(conn: Connection, scope: Scope) -> dict[str, Any]:
    """Counts by type, state, level and owner (from the counts tables; a township scope counts its rows)."""
    out: dict[str, Any] = {}
    if all(len(r) <= 6 for r in scope.roots):
        for f, t in (("rtype", counts), ("state", counts), ("level", counts), ("owner_unit", owner_counts)):
            rows = conn.execute(select(t.c[f], func.sum(t.c.n)).where(in_scope(t.c.district, scope))
                                .group_by(t.c[f]).order_by(t.c[f])).all()
            out[f] = {str(k): int(n) for k, n in rows if n}
    else:  # through the division index (a range per root; in_scope's LIKE scans on SQLite)
        where = or_(*[_under(resources.c.division_code, r) for r in scope.roots])
        for f in ("rtype", "state", "level", "owner_unit"):
            rows = conn.execute(select(resources.c[f], func.count()).where(where).group_by(resources.c[f])
                                .order_by(resources.c[f])).all()
            out[f] = {str(k): int(n) for k, n in rows}
    out["total"] = sum(out["rtype"].values())
    return out


def growth(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Resources registered per month and the running total."""
    month = (func.to_char(resources.c.created_at, "YYYY-MM") if conn.dialect.name == "postgresql"
             else func.strftime("%Y-%m", resources.c.created_at))
    rows = conn.execute(select(month.label("m"), func.count()).where(in_scope(resources.c.division_code, scope))
                        .group_by(month).order_by(month)).all()
    out, running = [], 0
    for m, n in rows:
        running += int(n)
        out.append({"month": str(m), "registered": int(n), "total": running})
    return out


def export_rows(conn: Connection, scope: Scope, limit: int = 200_000) -> list[dict[str, Any]]:
    cols = [resources.c.code, resources.c.rtype, resources.c.kind, resources.c.name_zh, resources.c.name_en,
            resources.c.owner_unit, resources.c.level, resources.c.division_code, resources.c.state,
            resources.c.created_at]
    rows = conn.execute(select(*cols).where(in_scope(resources.c.division_code, scope)).order_by(resources.c.code)
                        .limit(limit)).mappings()
    return [dict(r) for r in rows]


def bulk_insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """For the demo seed and benchmarks: many resources at once (call rebuild_counts after)."""
    conn.execute(insert(resources), rows)


def ids_by_code(conn: Connection, codes: list[str]) -> dict[str, int]:
    return {c: int(i) for c, i in conn.execute(select(resources.c.code, resources.c.id)
                                                .where(resources.c.code.in_(bindparam("codes", expanding=True))),
                                                {"codes": codes})}
