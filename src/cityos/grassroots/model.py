"""Grassroots governance (基层治理): township command centres with four sectors, grids
and their 1+3+N staff, three-level responsibility lists, patrols, grid ledgers. No IO.

A responsibility list belongs to an owner node: the city (the template) or a township
(which adopts the template and extends it). Each list has versions moving
draft -> review -> published; the published version applies, the one before it is
archived. A list item says who (a role) at which level (township, village, grid) does
what (name, sector), how often they patrol, on what legal basis, what counts as done,
and which case categories it covers: the case loop asks the lists who owns a case.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from cityos.core.errors import IllegalTransition, ValidationError

SECTORS: dict[str, tuple[str, str]] = {
    "party": ("党建统领", "Party building"),
    "economy": ("经济发展", "Economic development"),
    "services": ("民生服务", "People's services"),
    "safety": ("平安法治", "Safety and rule of law"),
}
LIST_LEVELS = ("township", "village", "grid")  # lowest last
LEVEL_ZH = {"township": "镇街", "village": "村社", "grid": "网格"}

# Who can be responsible for an item at each level (identity roles plus sector/committee posts).
POSTS: dict[str, tuple[str, str]] = {
    "sector_lead": ("板块负责人", "Sector lead"),
    "township_operator": ("镇街运行中心值班员", "Township operator"),
    "village_secretary": ("村（社区）书记", "Village (community) secretary"),
    "village_director": ("村（居）委会主任", "Village committee director"),
    "grid_head": ("网格长", "Grid head"),
    "grid_member": ("专职网格员", "Full-time grid member"),
    "grid_member_part": ("兼职网格员", "Part-time grid member"),
    "grid_instructor": ("网格指导员", "Grid instructor"),
    "grid_other": ("网格力量（N）", "Other grid force (N)"),
}
ROLES_AT: dict[str, tuple[str, ...]] = {
    "township": ("sector_lead", "township_operator"),
    "village": ("village_secretary", "village_director", "grid_head", "grid_instructor"),
    "grid": ("grid_head", "grid_member", "grid_member_part", "grid_instructor", "grid_other"),
}
GRID_POSTS = ROLES_AT["grid"]

FREQUENCIES: dict[str, int] = {"none": 0, "daily": 1, "weekly": 7, "monthly": 30}
LIST_STATES = ("draft", "review", "published", "archived")
TRANSITIONS = {"submit": ("draft", "review"), "return": ("review", "draft"), "publish": ("review", "published")}

ITEM_COLUMNS = ["key", "name_zh", "name_en", "sector", "level", "categories", "role", "frequency", "legal_basis",
                "done_standard"]
FAR_METRES = 500.0  # a check-in this far outside the grid's centre is accepted but flagged


@dataclass(frozen=True)
class Item:
    key: str
    name_zh: str
    name_en: str
    sector: str
    level: str
    categories: tuple[str, ...]
    role: str
    frequency: str
    legal_basis: str
    done_standard: str

    def as_row(self) -> dict[str, str]:
        d = asdict(self)
        d["categories"] = " ".join(self.categories)
        return {c: str(d[c]) for c in ITEM_COLUMNS}

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categories"] = list(self.categories)
        return d


def item_from(row: dict[str, Any]) -> Item:
    cats = row.get("categories") or ()
    if isinstance(cats, str):
        cats = [c for c in cats.replace(",", " ").replace(";", " ").split() if c]
    return Item(str(row["key"]), str(row["name_zh"]), str(row.get("name_en") or ""), str(row["sector"]),
                str(row["level"]), tuple(cats), str(row["role"]), str(row.get("frequency") or "none"),
                str(row.get("legal_basis") or ""), str(row.get("done_standard") or ""))


def check_items(rows: Iterable[dict[str, Any]], known_categories: set[str], *, first_line: int = 2) -> list[Item]:
    """Validate list rows; every bad row is named with its line and reason, or nothing is returned."""
    out: list[Item] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(rows, start=first_line):
        row = {k: ("" if v is None else str(v).strip()) for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        why = _row_problems(row, known_categories)
        key = row.get("key", "")
        if key and key in seen:
            why.append(f"duplicate item {key} (first on line {seen[key]})")
        if why:
            problems.append(f"line {line}: " + "; ".join(why))
            continue
        seen[key] = line
        out.append(item_from(row))
    if problems:
        raise ValidationError(f"{len(problems)} bad row(s), nothing imported: " + " | ".join(problems[:30]),
                              field="file", details=problems[:500])
    if not out:
        raise ValidationError("the list has no items", field="file")
    return out


def _row_problems(row: dict[str, str], known_categories: set[str]) -> list[str]:
    why: list[str] = []
    key = row.get("key", "")
    if not key or len(key) > 40 or not all(ch.isalnum() or ch in "-_." for ch in key):
        why.append(f"key {key!r} must be 1-40 letters, digits, '-', '_' or '.'")
    if not row.get("name_zh"):
        why.append("name_zh is empty")
    for f, limit in (("name_zh", 200), ("name_en", 200), ("legal_basis", 500), ("done_standard", 500)):
        if len(row.get(f, "")) > limit:
            why.append(f"{f} is longer than {limit} characters")
    sector = row.get("sector", "")
    if sector not in SECTORS:
        why.append(f"sector {sector!r} is not one of {', '.join(SECTORS)}")
    level = row.get("level", "")
    if level not in LIST_LEVELS:
        why.append(f"level {level!r} is not one of {', '.join(LIST_LEVELS)}")
    role = row.get("role", "")
    if role not in POSTS:
        why.append(f"role {role!r} does not exist (roles: {', '.join(POSTS)})")
    elif level in ROLES_AT and role not in ROLES_AT[level]:
        why.append(f"role {role} is not held at {level} level (there: {', '.join(ROLES_AT[level])})")
    freq = row.get("frequency", "") or "none"
    if freq not in FREQUENCIES:
        why.append(f"frequency {freq!r} is not one of {', '.join(FREQUENCIES)}")
    cats = [c for c in row.get("categories", "").replace(",", " ").replace(";", " ").split() if c]
    unknown = [c for c in cats if c not in known_categories]
    if unknown:
        why.append(f"unknown category code(s) {', '.join(unknown)}")
    if len(set(cats)) != len(cats):
        why.append("a category is listed twice")
    return why


# --- CSV and XLSX ------------------------------------------------------------------------------

def _require_columns(header: list[str]) -> None:
    missing = [c for c in ITEM_COLUMNS if c not in header]
    if missing:
        raise ValidationError(f"missing column(s): {', '.join(missing)}", field="columns")


def read_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    _require_columns([h.strip() for h in reader.fieldnames or []])
    return [{(k or "").strip(): v for k, v in row.items()} for row in reader]


def read_xlsx(data: bytes) -> list[dict[str, str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise ValidationError(f"not a readable XLSX workbook ({type(exc).__name__})", field="file") from None
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    _require_columns(header)
    out = [{header[i]: ("" if v is None else str(v)) for i, v in enumerate(r) if i < len(header)} for r in rows]
    wb.close()
    return out


def items_csv(items: Iterable[Item]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, ITEM_COLUMNS, lineterminator="\n")
    w.writeheader()
    for it in items:
        w.writerow(it.as_row())
    return buf.getvalue()


def items_xlsx(items: Iterable[Item], title: str = "responsibility list") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(ITEM_COLUMNS)
    for it in items:
        row = it.as_row()
        ws.append([row[c] for c in ITEM_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- versions and diffs --------------------------------------------------------------------------

def transition(state: str, action: str) -> str:
    if action not in TRANSITIONS:
        raise ValidationError(f"action must be one of {', '.join(TRANSITIONS)}", field="action")
    src, dst = TRANSITIONS[action]
    if state != src:
        raise IllegalTransition(f"cannot {action} a list version that is {state} (only a {src} one)", field="action")
    return dst


def diff(old: Iterable[Item], new: Iterable[Item]) -> dict[str, list[dict[str, Any]]]:
    """Items added, removed and changed (field by field) from `old` to `new`."""
    a = {i.key: i for i in old}
    b = {i.key: i for i in new}
    changed = []
    for k in sorted(a.keys() & b.keys()):
        da, db = a[k].as_dict(), b[k].as_dict()
        fields = {f: {"from": da[f], "to": db[f]} for f in da if da[f] != db[f]}
        if fields:
            changed.append({"key": k, "name_zh": b[k].name_zh, "fields": fields})
    return {"added": [b[k].as_dict() for k in sorted(b.keys() - a.keys())],
            "removed": [a[k].as_dict() for k in sorted(a.keys() - b.keys())],
            "changed": changed}


# --- routing ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListIndex:
    """One published list, indexed by category: {category: [items, lowest level first]}."""

    list_id: int
    owner: str
    version: int
    by_category: dict[str, tuple[Item, ...]]


def index_items(list_id: int, owner: str, version: int, items: Iterable[Item]) -> ListIndex:
    by: dict[str, list[Item]] = {}
    for it in items:
        for c in it.categories:
            by.setdefault(c, []).append(it)
    order = {lv: i for i, lv in enumerate(reversed(LIST_LEVELS))}
    return ListIndex(list_id, owner, version,
                     {c: tuple(sorted(v, key=lambda i: (order[i.level], i.key))) for c, v in by.items()})


def pick(index: ListIndex, category: str, chain: dict[str, str | None]) -> tuple[Item, str] | None:
    """The lowest-level item covering the category whose level exists in the case's chain."""
    for it in index.by_category.get(category, ()):
        node = chain.get(it.level)
        if node:
            return it, str(node)
    return None


# --- patrols ---------------------------------------------------------------------------------------

def due_on(frequency: str, day: date, key: str) -> bool:
    """Whether an item with this frequency has a patrol on `day` (weekly/monthly spread by the key)."""
    n = FREQUENCIES.get(frequency, 0)
    if n == 0:
        return False
    if n == 1:
        return True
    spread = sum(key.encode()) % n
    return day.toordinal() % n == spread


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))


def bbox_distance_m(lon: float, lat: float, box: tuple[float, float, float, float]) -> float:
    """Distance from a point to a bounding box (0 inside)."""
    min_lon, min_lat, max_lon, max_lat = box
    cx = min(max(lon, min_lon), max_lon)
    cy = min(max(lat, min_lat), max_lat)
    return distance_m(lon, lat, cx, cy)


PATROL_STATES = ("open", "done", "late", "missed")


def patrol_outcome(status: str, due_date: date, at_date: date) -> str:
    """A check-in on the day is done; after its day it is late."""
    if status in ("done", "late"):
        raise IllegalTransition(f"this patrol is already {status}", field="task")
    return "done" if at_date <= due_date else "late"


# --- ledgers ---------------------------------------------------------------------------------------

LEDGER_KINDS: dict[str, tuple[str, str]] = {
    "building": ("楼栋", "Building"),
    "household": ("户", "Household"),
    "resident": ("居民", "Resident"),
    "venue": ("场所/商户", "Venue or business"),
    "key_person": ("重点人群", "Key group member"),
}
KEY_GROUPS: dict[str, tuple[str, str]] = {
    "elderly_alone": ("独居老人", "Elderly living alone"),
    "disability": ("残疾人", "Person with disabilities"),
    "left_behind_child": ("留守儿童", "Left-behind child"),
    "low_income": ("低保户", "Low-income household"),
    "veteran": ("退役军人", "Veteran"),
    "community_correction": ("社区矫正人员", "Under community correction"),
}
PERSONAL_FIELDS = {"name": "name", "phone": "phone", "id_number": "id_number"}
LEDGER_FIELDS: dict[str, tuple[str, ...]] = {
    "building": ("address", "floors", "units", "use", "note"),
    "household": ("address", "name", "phone", "members", "note"),
    "resident": ("name", "phone", "id_number", "address", "birth_year", "note"),
    "venue": ("name", "address", "business", "licence", "phone", "note"),
    "key_person": ("name", "phone", "id_number", "address", "group", "care_note"),
}


def check_ledger(kind: str, label: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if kind not in LEDGER_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(LEDGER_KINDS)}", field="kind")
    label = (label or "").strip()
    if not label or len(label) > 200:
        raise ValidationError("must be 1-200 characters", field="label")
    if not isinstance(data, dict):
        raise ValidationError("must be an object", field="data")
    allowed = LEDGER_FIELDS[kind]
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)} for a {kind} (fields: {', '.join(allowed)})",
                              field="data")
    clean: dict[str, Any] = {}
    for k, v in data.items():
        if v is None or v == "":
            continue
        if isinstance(v, str | int | float):
            if len(str(v)) > 500:
                raise ValidationError("must be at most 500 characters", field=f"data.{k}")
            clean[k] = v
        else:
            raise ValidationError("must be text or a number", field=f"data.{k}")
    if kind == "key_person" and clean.get("group") not in KEY_GROUPS:
        raise ValidationError(f"group must be one of {', '.join(KEY_GROUPS)}", field="data.group")
    phone = str(clean.get("phone", ""))
    if phone and not (phone.replace("-", "").isdigit() and 5 <= len(phone) <= 20):
        raise ValidationError("must be 5-20 digits", field="data.phone")
    return label, clean
