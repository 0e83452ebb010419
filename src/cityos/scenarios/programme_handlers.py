"""Use cases of the plan: runways and their applications, core businesses and their items, the
three lists with their links, boards, progress figures, and spreadsheet import/export."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cityos.core.errors import Conflict, NotFound, ValidationError
from cityos.identity import audit
from cityos.identity.model import OPERATORS, Actor, allow
from cityos.scenarios import programme, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from cityos.bootstrap import Platform

allow(("system_admin", "city_operator", "district_operator", "data_officer"), "programme.edit")
allow((*OPERATORS, "system_admin", "data_officer", "resource_admin", "department_handler", "auditor"),
      "programme.read")


def _unit(conn: Connection, code: str, field: str = "owner_unit") -> dict[str, Any]:
    u = store.units_by_code(conn, [code]).get(code)
    if u is None:
        raise ValidationError(f"unknown unit {code}", field=field)
    return u


def _text(d: Mapping[str, Any], key: str, limit: int = 200) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v.strip():
        raise ValidationError("is required", field=key)
    if len(v) > limit:
        raise ValidationError(f"is longer than {limit} characters", field=key)
    return v.strip()


def add_runway(p: Platform, actor: Actor, body: Mapping[str, Any]) -> dict[str, Any]:
    actor.require("programme.edit")
    code = programme.check_code(body.get("code"), "code")
    system = programme.check_system(body.get("system"))
    apps = [str(a) for a in body.get("apps") or []]
    now = p.clock.now()
    with p.db.begin() as conn:
        unit = _unit(conn, str(body.get("owner_unit") or ""))
        actor.require("programme.edit", unit["division_code"])
        if code in store.runway_codes(conn):
            raise Conflict(f"runway {code} exists", field="code")
        _check_apps(conn, apps)
        store.insert_runway(conn, {"code": code, "system": system, "name_zh": _text(body, "name_zh"),
                                   "name_en": _text(body, "name_en"), "owner_unit": unit["code"],
                                   "division_code": unit["division_code"], "created_at": now})
        store.add_runway_apps(conn, code, apps)
        audit.record(conn, actor, "programme.runway", "runway", code, now, node=unit["division_code"])
    return {"code": code, "system": system, "apps": apps}


def _check_apps(conn: Connection, apps: list[str]) -> None:
    found = store.ledger_apps(conn, apps)
    for a in apps:
        if a not in found:
            raise ValidationError(f"no application {a} in the resource ledger", field="apps")
        if found[a]["rtype"] != "application":
            raise ValidationError(f"{a} is a {found[a]['rtype']} in the ledger, not an application", field="apps")


def add_core_business(p: Platform, actor: Actor, body: Mapping[str, Any]) -> dict[str, Any]:
    """A department's core business, split into business items that name their data and applications."""
    actor.require("programme.edit")
    code = programme.check_code(body.get("code"), "code")
    system = programme.check_system(body.get("system"))
    raw_items = body.get("items") or []
    if not isinstance(raw_items, list) or not raw_items:
        raise ValidationError("a core business is split into at least one business item", field="items")
    now = p.clock.now()
    with p.db.begin() as conn:
        unit = _unit(conn, str(body.get("unit") or ""), "unit")
        actor.require("programme.edit", unit["division_code"])
        if store.business_exists(conn, code):
            raise Conflict(f"core business {code} exists", field="code")
        runway = body.get("runway") or None
        if runway and runway not in store.runway_codes(conn):
            raise ValidationError(f"unknown runway {runway}", field="runway")
        items = []
        for i, it in enumerate(raw_items):
            if not isinstance(it, Mapping):
                raise ValidationError("must be an object", field=f"items[{i}]")
            icode = programme.check_code(it.get("code"), f"items[{i}].code")
            datasets = [str(x) for x in it.get("datasets") or []]
            apps = [str(x) for x in it.get("apps") or []]
            missing = sorted(set(datasets) - store.catalog_names(conn, datasets))
            if missing:
                raise ValidationError(f"no dataset {missing[0]} in the catalog", field=f"items[{i}].datasets")
            _check_apps(conn, apps)
            items.append({"code": icode, "business": code, "name_zh": _text(it, "name_zh"),
                          "name_en": _text(it, "name_en"), "datasets": datasets, "apps": apps})
        store.insert_business(conn, {"code": code, "unit": unit["code"], "division_code": unit["division_code"],
                                     "name_zh": _text(body, "name_zh"), "name_en": _text(body, "name_en"),
                                     "system": system, "runway": runway, "created_at": now}, items)
        audit.record(conn, actor, "programme.business", "core_business", code, now, node=unit["division_code"])
    return {"code": code, "items": [i["code"] for i in items]}


def save_list_item(p: Platform, actor: Actor, body: Mapping[str, Any]) -> dict[str, Any]:
    actor.require("programme.edit")
    it = programme.parse_list_item(body)
    now = p.clock.now()
    with p.db.begin() as conn:
        _save(conn, actor, it, now)
        audit.record(conn, actor, "programme.list_item", "list_item", it.code, now)
    return {"code": it.code, "kind": it.kind, "status": it.status, "links": list(it.links)}


def _save(conn: Connection, actor: Actor, it: programme.ListItem, now: Any,
          batch_kinds: Mapping[str, str] | None = None) -> None:
    unit = _unit(conn, it.owner_unit)
    actor.require("programme.edit", unit["division_code"])
    if it.runway and it.runway not in store.runway_codes(conn):
        raise ValidationError(f"unknown runway {it.runway}", field="runway")
    if it.scenario_code and store.latest_definition(conn, it.scenario_code, published_only=False) is None:
        raise ValidationError(f"no one-thing scenario {it.scenario_code}", field="scenario_code")
    kinds = {**store.list_item_kinds(conn, list(it.links)), **(batch_kinds or {})}
    for to in it.links:
        if to not in kinds:
            raise ValidationError(f"no list item {to}", field="links")
        programme.check_link(it.kind, kinds[to], it.code, to)
    store.upsert_list_item(conn, {
        "code": it.code, "kind": it.kind, "title_zh": it.title_zh, "title_en": it.title_en,
        "owner_unit": it.owner_unit, "division_code": unit["division_code"], "system": it.system,
        "runway": it.runway, "status": it.status, "priority": it.priority, "start_on": it.start_on,
        "due_on": it.due_on, "scenario_code": it.scenario_code, "description": it.description,
        "updated_by": actor.username, "updated_at": now}, list(it.links))


def list_items(p: Platform, actor: Actor, kind: str | None, system: str | None, unit: str | None
               ) -> list[dict[str, Any]]:
    actor.require("programme.read")
    if kind and kind not in programme.LIST_KINDS:
        raise ValidationError(f"unknown list {kind!r}; one of {', '.join(programme.LIST_KINDS)}", field="kind")
    if system:
        programme.check_system(system)
    with p.db.read() as conn:
        return store.search_list_items(conn, actor.scope("programme.read"), kind=kind, system=system, unit=unit)


def boards(p: Platform, actor: Actor) -> dict[str, Any]:
    """One board per system and per department: the three lists by status; and the city's progress figures."""
    actor.require("programme.read")
    scope = actor.scope("programme.read")
    with p.db.read() as conn:
        items = store.search_list_items(conn, scope)
        business = store.list_businesses(conn, scope)
        runways = store.list_runways(conn)
        apps = store.ledger_apps(conn, sorted({a for r in runways for a in r["apps"]}))
        defs = store.list_definitions(conn)
    by_system = {s: programme.board([i for i in items if i["system"] == s]) for s in programme.SYSTEMS}
    by_unit = {u: programme.board([i for i in items if i["owner_unit"] == u])
               for u in sorted({i["owner_unit"] for i in items})}
    per_unit: dict[str, int] = {}
    for b in business:
        per_unit[b["unit"]] = per_unit.get(b["unit"], 0) + 1
    scenarios = [i for i in items if i["kind"] == "scenario"]
    published = {d["code"]: d for d in defs if d["status"] == "published"}  # the latest version wins
    multi = [c for c, d in published.items() if len({m["department"] for m in d["definition"]["matters"]}) >= 2]
    return {
        "systems": by_system, "units": by_unit,
        "progress": {
            "core_businesses": len(business), "business_items": sum(len(b["items"]) for b in business),
            "core_businesses_per_unit": dict(sorted(per_unit.items(), key=lambda kv: (-kv[1], kv[0]))),
            "scenarios_planned": len(scenarios),
            "scenarios_launched": sum(1 for i in scenarios if i["status"] in ("launched", "closed")),
            "multi_department_scenarios_online": len(multi),
            "runways": len(runways),
            "major_applications_online": sum(1 for a in apps.values() if a["state"] == "online"),
        },
    }


# --- spreadsheets: all rows or none ----------------------------------------------------------------

def import_lists(p: Platform, actor: Actor, data: bytes, filename: str) -> dict[str, Any]:
    """Load list items from XLSX or CSV; a bad file names every bad row and writes nothing."""
    actor.require("programme.edit")
    rows = read_sheet(data, filename)
    now = p.clock.now()
    with p.db.begin() as conn:
        units = set(store.units_by_code(conn, sorted({str(r.get("owner_unit") or "") for r in rows})))
        items, errors = programme.row_errors(rows, units, store.runway_codes(conn))
        if errors:
            raise ValidationError(f"{len(errors)} bad row(s); nothing was imported; first: row {errors[0]['row']} "
                                  f"{errors[0]['field']}: {errors[0]['reason']}", field="file",
                                  details={"rows": errors[:200]})
        kinds = {it.code: it.kind for it in items}
        # links may point forward within the file: write the items first, then their links
        for it in items:
            _save(conn, actor, programme.ListItem(**{**it.__dict__, "links": ()}), now)
        for n, it in enumerate(items, start=2):
            try:
                _save(conn, actor, it, now, kinds)
            except ValidationError as exc:
                raise ValidationError(f"row {n} {exc.field}: {exc.message}; nothing was imported", field="file",
                                      details={"rows": [{"row": n, "field": exc.field, "reason": exc.message}]}
                                      ) from None
        audit.record(conn, actor, "programme.import", "list_items", filename[:100], now, details={"rows": len(items)})
    return {"imported": len(items)}


def read_sheet(data: bytes, filename: str) -> list[dict[str, Any]]:
    if not data:
        raise ValidationError("the file is empty", field="file")
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on a broken file
            raise ValidationError(f"not a readable XLSX workbook: {type(exc).__name__}", field="file") from None
        ws = wb.worksheets[0]
        values = [["" if c is None else c for c in row] for row in ws.iter_rows(values_only=True)]
    elif filename.lower().endswith(".csv"):
        import csv

        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("a CSV file must be UTF-8", field="file") from None
        values = [list(r) for r in csv.reader(io.StringIO(text))]
    else:
        raise ValidationError("upload .xlsx or .csv", field="file")
    if not values:
        raise ValidationError("the sheet is empty", field="file")
    header = [str(h).strip() for h in values[0]]
    missing = [c for c in ("kind", "code", "title_zh", "owner_unit", "system") if c not in header]
    if missing:
        raise ValidationError(f"the header lacks column {missing[0]}; columns: {', '.join(programme.LIST_COLUMNS)}",
                              field="file")
    out = []
    for row in values[1:]:
        if not any(str(c).strip() for c in row):
            continue
        out.append({h: (str(c).strip() if not hasattr(c, "isoformat") else c) for h, c in zip(header, row, strict=False)
                    if h})
    if len(out) > 20_000:
        raise ValidationError("at most 20,000 rows per file", field="file")
    return out


def export_lists(p: Platform, actor: Actor, kind: str | None, fmt: str) -> tuple[bytes, str]:
    items = list_items(p, actor, kind, None, None)
    rows = [[("" if it.get(c) is None else (",".join(it[c]) if c == "links" else str(it[c])))
             for c in programme.LIST_COLUMNS] for it in items]
    if fmt == "csv":
        import csv

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(programme.LIST_COLUMNS)
        w.writerows(rows)
        return buf.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    if fmt != "xlsx":
        raise ValidationError("format is xlsx or csv", field="format")
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "lists"
    ws.append(list(programme.LIST_COLUMNS))
    for r in rows:
        ws.append(r)
    buf2 = io.BytesIO()
    wb.save(buf2)
    return buf2.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def get_list_item(p: Platform, actor: Actor, code: str) -> dict[str, Any]:
    actor.require("programme.read")
    with p.db.read() as conn:
        it = store.list_item(conn, code)
    if it is None or not actor.scope("programme.read").contains(it["division_code"]):
        raise NotFound(f"no list item {code} (or not in your scope)", field="code")
    return it
