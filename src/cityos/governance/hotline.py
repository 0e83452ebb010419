"""12345 hotline import: a CSV of work orders becomes cases with their original numbers.

Every row is checked first (columns, time, category, location, scope); one bad row
means nothing is written and every bad row is named with its line and reason. A
work order already imported (same number, source "hotline") is skipped and reported
as a duplicate. The cases of one file are written in one transaction.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cityos.core.errors import Forbidden, ValidationError
from cityos.core.outbox import emit
from cityos.geo.model import LEVELS, level_of
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.governance.model import LOCAL, Category, route_by_category, territorial
from cityos.identity import audit
from cityos.identity.model import Actor

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

MAX_ROWS = 50_000
# Column names (English, or the Chinese headings of a typical 12345 export).
COLUMNS: dict[str, tuple[str, ...]] = {
    "number": ("number", "work_order", "工单编号", "工单号"),
    "received_at": ("received_at", "received", "受理时间", "来电时间"),
    "category": ("category", "category_code", "类别", "问题类别"),
    "description": ("description", "诉求内容", "内容"),
    "address": ("address", "地址", "事发地址"),
    "lon": ("lon", "经度"),
    "lat": ("lat", "纬度"),
    "division": ("division", "division_code", "区划代码"),
    "caller_name": ("caller_name", "来电人", "姓名"),
    "caller_phone": ("caller_phone", "来电号码", "电话"),
}
REQUIRED = ("number", "received_at", "category", "description")


@dataclass(frozen=True)
class HotlineRow:
    line: int
    number: str
    received_at: datetime
    category: Category
    description: str
    address: str | None
    chain: dict[str, Any]
    caller_name: str | None
    caller_phone: str | None


def _header_map(fieldnames: list[str]) -> dict[str, str]:
    """{our column: the file's heading}."""
    found: dict[str, str] = {}
    for heading in fieldnames:
        key = heading.strip().lower()
        for col, aliases in COLUMNS.items():
            if key in aliases and col not in found:
                found[col] = heading
    return found


def _parse_time(raw: str, now: datetime) -> datetime:
    text = raw.strip().replace("/", "-")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"received_at {raw!r} is not a time like 2026-11-20 08:30") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LOCAL)  # a 12345 export gives local times
    if dt > now:
        raise ValueError(f"received_at {raw!r} lies in the future")
    return dt


def _category(raw: str, cats: dict[str, Category]) -> Category:
    text = raw.strip()
    if text.upper() in cats:
        return cats[text.upper()]
    for c in cats.values():
        if text == c.name_zh or text.lower() == c.name_en.lower():
            return c
    raise ValueError(f"category {raw!r} is neither a code nor a name of the catalogue")


def _text(raw: str | None, name: str, limit: int, *, required: bool = False) -> str | None:
    text = (raw or "").strip()
    if not text:
        if required:
            raise ValueError(f"{name} is empty")
        return None
    if len(text) > limit:
        raise ValueError(f"{name} has {len(text)} characters (at most {limit})")
    if "\x00" in text:
        raise ValueError(f"{name} contains a NUL character")
    return text


def _location(p: Platform, row: dict[str, str]) -> dict[str, Any]:
    lon_s, lat_s, div = (row.get(k, "").strip() for k in ("lon", "lat", "division"))
    if lon_s or lat_s:
        if not (lon_s and lat_s):
            raise ValueError("lon and lat go together")
        try:
            lon, lat = float(lon_s), float(lat_s)
        except ValueError:
            raise ValueError(f"lon/lat {lon_s!r}, {lat_s!r} are not numbers") from None
        loc = p.geo.locate(lon, lat)
        if not loc.inside:
            raise ValueError(f"the point ({lon}, {lat}) lies outside the city")
        chain: dict[str, Any] = {level_of(c): c for c in loc.chain}
        chain["_lon"], chain["_lat"] = loc.lon, loc.lat
        return chain
    if not div:
        raise ValueError("a location is needed: lon and lat, or a division code")
    idx = p.geo.index()
    if div not in idx.parent:
        raise ValueError(f"division {div} does not exist")
    return {level_of(c): c for c in idx.chain(div)} | {level_of(div): div}


def parse(p: Platform, actor: Actor, text: str) -> list[HotlineRow]:
    """Check every row; return them all, or raise naming every bad row (line and reason)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    heads = _header_map(list(reader.fieldnames or []))
    missing = [c for c in REQUIRED if c not in heads]
    if missing:
        raise ValidationError(f"missing column(s): {', '.join(missing)}", field="columns")
    if "division" not in heads and not ("lon" in heads and "lat" in heads):
        raise ValidationError("a location column is needed: lon and lat, or division", field="columns")
    cats = h.catalog(p).get().categories
    now = p.clock.now()
    rows: list[HotlineRow] = []
    problems: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            raise ValidationError(f"more than {MAX_ROWS} rows; split the file", field="file")
        row = {col: (raw.get(heading) or "") for col, heading in heads.items()}
        if not any(v.strip() for v in row.values()):
            continue  # a blank line
        try:
            number = _text(row["number"], "number", 60, required=True) or ""
            if number in seen:
                raise ValueError(f"number {number} repeats line {seen[number]}")
            seen[number] = line
            received = _parse_time(row["received_at"], now)
            cat = _category(row["category"], cats)
            description = _text(row["description"], "description", h.MAX_TEXT, required=True) or ""
            address = _text(row.get("address"), "address", 300)
            chain = _location(p, row)
            node = next(c for c in (chain.get(lv) for lv in reversed(LEVELS)) if c)
            if actor.via != "system" and not actor.can("case.report", node):
                raise ValueError(f"the location {node} is outside your scope")
            name = _text(row.get("caller_name"), "caller_name", 80)
            phone = _text(row.get("caller_phone"), "caller_phone", 20)
            if phone and not all(ch.isdigit() or ch in "+- " for ch in phone):
                raise ValueError(f"caller_phone {phone!r} is not a phone number")
        except ValueError as exc:
            problems.append({"line": line, "reason": str(exc)})
            continue
        rows.append(HotlineRow(line, number, received, cat, description, address, chain, name, phone))
    if problems:
        listing = "; ".join(f"line {pr['line']}: {pr['reason']}" for pr in problems[:30])
        raise ValidationError(f"{len(problems)} bad row(s), nothing imported: {listing}", field="file",
                              details=problems[:500])
    return rows


def import_hotline(p: Platform, actor: Actor, text: str) -> dict[str, Any]:
    """Import a 12345 work-order CSV; returns what was created and which numbers were already there."""
    if actor.via != "system":
        actor.require("case.import")
    rows = parse(p, actor, text)
    now = p.clock.now()
    created: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    with p.db.begin() as conn:
        known = store.find_by_source_ref(conn, "hotline", [r.number for r in rows])
        for r in rows:
            if r.number in known:
                duplicates.append({"line": r.line, "number": r.number})
                continue
            created.append(_insert(p, conn, actor, r, now))
        audit.record(conn, actor, "case.import_hotline", "case", None, now,
                     details={"created": len(created), "duplicates": len(duplicates)})
    return {"created": len(created), "duplicates": duplicates, "cases": created}


def _insert(p: Platform, conn: Any, actor: Actor, r: HotlineRow, now: datetime) -> dict[str, Any]:
    chain = r.chain
    decision = route_by_category(r.category, chain) or territorial(chain)
    if decision is None:
        raise Forbidden(f"line {r.line}: no unit can own a case there", field="location")
    node = next(c for c in (chain.get(lv) for lv in reversed(LEVELS)) if c)
    case_id = store.next_case_id(conn)
    number = r.received_at.astimezone(LOCAL).strftime("%Y%m%d") + f"{case_id:08d}"
    values: dict[str, Any] = {
        "id": case_id, "number": number, "source": "hotline", "source_ref": r.number,
        "category_code": r.category.code, "kind": r.category.kind, "title": r.category.name_zh,
        "description": r.description, "lon": chain.get("_lon"), "lat": chain.get("_lat"), "address": r.address,
        "grid_code": chain.get("grid"), "village_code": chain.get("village"), "township_code": chain.get("township"),
        "district_code": chain.get("district"), "node": node, "owner_level": decision.level,
        "owner_node": decision.node, "handler_unit": decision.unit, "co_units": {}, "routing": decision.as_dict(),
        "state": "collected", "deadline_version": 0, "overdue": False, "escalation_level": 0,
        "emergency": r.category.emergency, "public": True, "reporter_name": r.caller_name,
        "reporter_phone": r.caller_phone, "reporter_user": None, "rework_count": 0, "return_count": 0,
        "created_by": actor.username, "created_at": r.received_at, "updated_at": now,
    }
    store.insert_case(conn, values)
    store.add_event(conn, {"case_id": case_id, "action": "create", "from_state": None, "to_state": "collected",
                           "at": r.received_at, "actor": actor.username, "role": h._role(actor), "node": node,
                           "note": f"12345 工单 {r.number} 导入 (imported)",
                           "payload": {"nodes": h._nodes(values), "public": True, "routing": decision.as_dict(),
                                       "source_ref": r.number}})
    state = "collected"
    if r.category.emergency:  # as at any intake: an emergency is filed and dispatched at once
        state = h._auto_dispatch(p, conn, values, r.category, actor, now, h._nodes(values))
    emit(conn, "case.created", {"case_id": case_id, "number": number, "category": r.category.code, "node": node,
                                "state": state, "emergency": r.category.emergency, "unit": decision.unit}, now)
    audit.record(conn, actor, "case.create", "case", number, now, node=node)
    return {"line": r.line, "source_ref": r.number, "id": case_id, "number": number, "state": state}
