"""Reading the loaded tables: datastore_search (filters, q, fields, sort, paging,
scope, masking, audit) and datastore_search_sql (one read-only SELECT, bounded)."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, Table, and_, func, or_, select, text
from sqlalchemy.engine import Connection

from cityos.bootstrap import Platform
from cityos.core.errors import Forbidden, NotFound, ValidationError
from cityos.data import catalog
from cityos.data import store as s
from cityos.data.model import SQLRefused, check_select
from cityos.identity import audit
from cityos.identity.model import Actor, mask_record

MAX_LIMIT = 32_000  # CKAN's own cap on datastore_search
SQL_ROW_CAP = 10_000
SQL_TIMEOUT_S = 5.0


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def personal_fields(dataset: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["info"]["mask"] for f in dataset["fields"] or [] if (f.get("info") or {}).get("mask")}


def resolve(conn: Connection, rid: str) -> tuple[dict[str, Any], dict[str, Any], Table]:
    res = catalog.resource(conn, rid)
    if res is None or not res["datastore_table"]:
        raise NotFound(f"Resource \"{rid}\" was not found.", field="resource_id")
    ds = catalog.get(conn, res["dataset"])
    assert ds is not None
    return res, ds, s.DATASTORE_TABLES[res["datastore_table"]]


def _scope_condition(actor: Actor, ds: dict[str, Any], table: Table) -> Any:
    """Open datasets are public; others need data.read, and rows are cut to the actor's subtree."""
    if ds["open_type"] == "open":
        return None
    actor.require("data.read")
    scope = actor.scope("data.read")
    if scope.all or "grid_code" not in table.c:
        return None
    return or_(*[table.c.grid_code.startswith(r) for r in scope.roots])


def _fields_of(table: Table, ds: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {f["id"]: f for f in ds["fields"] or []}
    return [{"id": c.name, "type": by_id.get(c.name, {}).get("type", "text"),
             **({"info": by_id[c.name]["info"]} if c.name in by_id else {})} for c in table.columns]


def search(p: Platform, actor: Actor, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    rid = str(params.get("resource_id") or params.get("id") or "")
    if not rid:
        raise ValidationError("Missing value", field="resource_id")
    limit = _int(params.get("limit", 100), "limit", 0, MAX_LIMIT)
    offset = _int(params.get("offset", 0), "offset", 0, None)
    filters = params.get("filters") or {}
    if not isinstance(filters, dict):
        raise ValidationError("must be a JSON object of field: value", field="filters")
    with p.db.read() as conn:
        _res, ds, t = resolve(conn, rid)
        cond = _scope_condition(actor, ds, t)
        personal = personal_fields(ds)
        names = [c.name for c in t.columns]
        wanted = _fields(params.get("fields"), names)
        where: list[Any] = [] if cond is None else [cond]
        for k, v in filters.items():
            if k not in t.c:
                raise ValidationError(f"field \"{k}\" not in resource", field="filters")
            values = v if isinstance(v, list) else [v]
            where.append(t.c[k].in_([str(x) if not isinstance(x, int | float) else x for x in values]))
        q = params.get("q")
        if q:
            searchable = [c for c in t.columns if isinstance(c.type, String) and c.name not in personal]
            if isinstance(q, dict):
                for k, v in q.items():
                    if k not in t.c:
                        raise ValidationError(f"field \"{k}\" not in resource", field="q")
                    where.append(t.c[k].contains(str(v), autoescape=True))
            else:
                where.append(or_(*[c.contains(str(q), autoescape=True) for c in searchable]))
        order = _sort(params.get("sort"), t)
        stmt = select(*[t.c[n] for n in wanted])
        count = select(func.count()).select_from(t)
        if where:
            stmt, count = stmt.where(and_(*where)), count.where(and_(*where))
        rows = [dict(r) for r in conn.execute(stmt.order_by(*order).limit(limit).offset(offset)).mappings()]
        complete = offset == 0 and len(rows) < limit  # the page holds every match: no second query to count
        if str(params.get("include_total", "true")).lower() == "false":
            total = None
        else:
            total = len(rows) if complete else int(conn.execute(count).scalar_one())
    records, shown = mask_rows(actor, rows, personal)
    if shown:
        key = t.primary_key.columns.keys()[0]
        with p.db.begin() as conn:
            audit.record(conn, actor, "data.personal_read", "resource", rid, p.clock.now(),
                         details={"rows": len(shown), "keys": [r.get(key) for r in shown[:50]],
                                  "fields": sorted(set(personal) & set(wanted))})
    path = "/api/3/action/datastore_search"
    links = {"start": f"{path}?resource_id={rid}&limit={limit}",
             "next": f"{path}?resource_id={rid}&limit={limit}&offset={offset + limit}"}
    return {"resource_id": rid, "fields": [f for f in _fields_of(t, ds) if f["id"] in wanted],
            "records": [{k: _plain(v) for k, v in r.items()} for r in records], "total": total,
            "limit": limit, "offset": offset, "filters": filters, "q": q, "sort": params.get("sort"),
            "_links": links, "include_total": total is not None}


def mask_rows(actor: Actor, rows: list[dict[str, Any]], personal: dict[str, str]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each row masked unless the actor may see personal data at its grid; returns (rows, rows shown in clear)."""
    if not personal:
        return rows, []
    may: dict[str | None, bool] = {}
    out, shown = [], []
    for r in rows:
        g = r.get("grid_code")
        if g not in may:
            may[g] = actor.may_see_personal(g)
        visible = may[g]
        if visible and any(r.get(f) for f in personal):
            shown.append(r)
        out.append(mask_record(r, personal, visible))
    return out, shown


def _int(v: Any, field: str, lo: int, hi: int | None) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise ValidationError(f"{v!r} is not an integer", field=field) from None
    if n < lo or (hi is not None and n > hi):
        raise ValidationError(f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}",
                              field=field)
    return n


def _fields(v: Any, names: list[str]) -> list[str]:
    if not v:
        return names
    wanted = [x.strip() for x in v.split(",")] if isinstance(v, str) else [str(x) for x in v]
    for w in wanted:
        if w not in names:
            raise ValidationError(f"field \"{w}\" not in resource", field="fields")
    return wanted


def _sort(v: Any, t: Table) -> list[Any]:
    key = t.primary_key.columns.values()[0]
    if not v:
        return [key]
    parts = v.split(",") if isinstance(v, str) else list(v)
    out = []
    for part in parts:
        bits = str(part).strip().split()
        if not bits or bits[0].strip('"') not in t.c or (len(bits) > 1 and bits[1].lower() not in ("asc", "desc")):
            raise ValidationError(f"cannot sort by {part!r}; write \"field [asc|desc]\"", field="sort")
        col = t.c[bits[0].strip('"')]
        out.append(col.desc() if len(bits) > 1 and bits[1].lower() == "desc" else col.asc())
    return [*out, key]


# --- datastore_search_sql ------------------------------------------------------------

def search_sql(p: Platform, actor: Actor, sql: str) -> dict[str, Any]:
    actor.require("data.sql")
    if not actor.scope("data.sql").all:
        raise Forbidden("datastore_search_sql reads whole tables: it needs data.sql at city level", field="scope")
    try:
        tables, columns = check_select(sql, set(s.DATASTORE_TABLES))
    except SQLRefused as exc:
        raise ValidationError(str(exc), field="sql") from None
    with p.db.read() as conn:
        personal: set[str] = set()
        for ds in catalog.all_rows(conn):
            for r in catalog.resources_of(conn, [ds["name"]])[ds["name"]]:
                if r["datastore_table"] in tables:
                    personal |= set(personal_fields(ds))
    touched = sorted(personal & columns) or (sorted(personal) if "*" in columns and personal else [])
    clear = bool(touched) and actor.purpose is not None and actor.scope("personal.read").all
    if touched and not clear:
        raise Forbidden(f"the query reads personal fields ({', '.join(touched)}); that needs personal.read at city "
                        "level and a stated purpose (X-Purpose)", field="sql")
    import sqlglot

    dialect = "postgres" if p.db.is_postgres else "sqlite"
    runnable = sqlglot.transpile(sql, read="postgres", write=dialect)[0]
    timeout = float(p.extras.get("data.sql_timeout_s", SQL_TIMEOUT_S))  # type: ignore[arg-type]
    cap = int(p.extras.get("data.sql_row_cap", SQL_ROW_CAP))  # type: ignore[call-overload]
    with p.db.read() as conn:
        rows, names = _run_bounded(p, conn, runnable, timeout, cap)
    if touched:
        with p.db.begin() as conn:
            audit.record(conn, actor, "data.personal_read", "sql", None, p.clock.now(),
                         details={"sql": sql[:1000], "rows": len(rows), "fields": touched})
    truncated = len(rows) > cap
    return {"sql": sql, "records": [{k: _plain(v) for k, v in zip(names, r, strict=True)} for r in rows[:cap]],
            "fields": [{"id": n, "type": "text"} for n in names], "records_truncated": truncated}


def _run_bounded(p: Platform, conn: Connection, sql: str, timeout: float, cap: int) -> tuple[list[Any], list[str]]:
    from sqlalchemy.exc import DBAPIError

    raw = conn.connection.driver_connection
    try:
        if p.db.is_postgres:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            result = conn.exec_driver_sql(sql)
            return list(result.fetchmany(cap + 1)), list(result.keys())
        deadline = time.monotonic() + timeout
        raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2000)  # type: ignore[union-attr]
        raw.execute("PRAGMA query_only = ON")  # type: ignore[union-attr]
        try:
            result = conn.exec_driver_sql(sql)
            return list(result.fetchmany(cap + 1)), list(result.keys())
        finally:
            raw.execute("PRAGMA query_only = OFF")  # type: ignore[union-attr]
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]
    except DBAPIError as exc:
        msg = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        if "timeout" in msg.lower() or "interrupted" in msg.lower() or "canceling statement" in msg.lower():
            raise ValidationError(f"the query ran longer than {timeout:g} s and was stopped", field="sql") from None
        raise ValidationError(f"the query failed: {msg[:300]}", field="sql") from None
