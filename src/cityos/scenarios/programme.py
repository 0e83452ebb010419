"""The "6" of the framework as a plan: six application systems organised in runways, the
departments' core businesses split into business items, and the three lists (demand, scenario,
reform) that plan the work. Rules only; no IO."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cityos.core.errors import ValidationError

SYSTEMS: dict[str, tuple[str, str]] = {
    "party": ("数字党建", "Party building"),
    "government": ("数字政务", "Government affairs"),
    "economy": ("数字经济", "Economy"),
    "society": ("数字社会", "Society"),
    "culture": ("数字文化", "Culture"),
    "rule_of_law": ("数字法治", "Rule of law"),
}
LIST_KINDS: dict[str, tuple[str, str]] = {
    "demand": ("需求清单", "Demand list"),
    "scenario": ("场景清单", "Scenario list"),
    "reform": ("改革清单", "Reform list"),
}
LIST_STATES = ("proposed", "planned", "in_progress", "launched", "closed")
PRIORITIES = ("high", "medium", "low")
# A demand leads to scenarios; a scenario needs reforms.
LINKS = {("demand", "scenario"), ("scenario", "reform")}
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,39}$")
LIST_COLUMNS = ("kind", "code", "title_zh", "title_en", "owner_unit", "system", "runway", "status", "priority",
                "start_on", "due_on", "scenario_code", "links", "description")


@dataclass(frozen=True)
class ListItem:
    kind: str
    code: str
    title_zh: str
    title_en: str
    owner_unit: str
    system: str
    runway: str | None
    status: str
    priority: str
    start_on: date | None
    due_on: date | None
    scenario_code: str | None  # a scenario-list item may be delivered by a one-thing scenario
    links: tuple[str, ...]  # codes of the items this one leads to
    description: str = ""


def check_code(v: Any, field: str) -> str:
    if not isinstance(v, str) or not CODE.match(v.strip()):
        raise ValidationError(f"{v!r} is not a valid code (2-40 letters, digits, _ . -)", field=field)
    return v.strip()


def check_system(v: Any, field: str = "system") -> str:
    if v not in SYSTEMS:
        raise ValidationError(f"unknown application system {v!r}; one of {', '.join(SYSTEMS)}", field=field)
    return str(v)


def _text(d: Mapping[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str:
    v = d.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError("is required", field=key)
        return ""
    if not isinstance(v, str):
        raise ValidationError("must be text", field=key)
    if len(v) > limit:
        raise ValidationError(f"is longer than {limit} characters", field=key)
    return v.strip()


def _date(v: Any, field: str) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip()[:10])
    except ValueError:
        raise ValidationError(f"{v!r} is not a date (YYYY-MM-DD)", field=field) from None


def parse_list_item(d: Mapping[str, Any]) -> ListItem:
    kind = d.get("kind")
    if kind not in LIST_KINDS:
        raise ValidationError(f"unknown list {kind!r}; one of {', '.join(LIST_KINDS)}", field="kind")
    status = d.get("status") or "proposed"
    if status not in LIST_STATES:
        raise ValidationError(f"unknown status {status!r}; one of {', '.join(LIST_STATES)}", field="status")
    priority = d.get("priority") or "medium"
    if priority not in PRIORITIES:
        raise ValidationError(f"unknown priority {priority!r}; one of {', '.join(PRIORITIES)}", field="priority")
    start, due = _date(d.get("start_on"), "start_on"), _date(d.get("due_on"), "due_on")
    if start and due and due < start:
        raise ValidationError(f"due date {due} is before the start {start}", field="due_on")
    links = d.get("links") or ()
    if isinstance(links, str):
        links = [x for x in re.split(r"[,;\s]+", links) if x]
    if not isinstance(links, list | tuple):
        raise ValidationError("must be a list of item codes", field="links")
    scenario_code = (d.get("scenario_code") or None)
    if scenario_code and kind != "scenario":
        raise ValidationError("only a scenario-list item is delivered by a one-thing scenario", field="scenario_code")
    return ListItem(kind=str(kind), code=check_code(d.get("code"), "code"), title_zh=_text(d, "title_zh"),
                    title_en=_text(d, "title_en", required=False), owner_unit=_text(d, "owner_unit", limit=60),
                    system=check_system(d.get("system")), runway=(d.get("runway") or None), status=str(status),
                    priority=str(priority), start_on=start, due_on=due,
                    scenario_code=str(scenario_code) if scenario_code else None,
                    links=tuple(check_code(x, "links") for x in links),
                    description=_text(d, "description", required=False, limit=4000))


def check_link(from_kind: str, to_kind: str, from_code: str, to_code: str) -> None:
    if (from_kind, to_kind) not in LINKS:
        raise ValidationError(f"{from_kind} {from_code} cannot lead to {to_kind} {to_code}: a demand leads to "
                              "scenarios, a scenario needs reforms", field="links")


def board(items: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per list and status (one board: of a system or of a department)."""
    out: dict[str, dict[str, int]] = {k: dict.fromkeys(LIST_STATES, 0) for k in LIST_KINDS}
    for it in items:
        out[it["kind"]][it["status"]] += 1
    return out


def row_errors(rows: Sequence[Mapping[str, Any]], known_units: set[str], known_runways: set[str]
               ) -> tuple[list[ListItem], list[dict[str, Any]]]:
    """Check a whole spreadsheet: the good items, and every bad row with its field and reason."""
    items, errors = [], []
    codes: dict[str, int] = {}
    for n, raw in enumerate(rows, start=2):  # row 1 is the header
        try:
            it = parse_list_item(raw)
            if it.owner_unit not in known_units:
                raise ValidationError(f"unknown unit {it.owner_unit}", field="owner_unit")
            if it.runway and it.runway not in known_runways:
                raise ValidationError(f"unknown runway {it.runway}", field="runway")
            if it.code in codes:
                raise ValidationError(f"code {it.code} is also on row {codes[it.code]}", field="code")
            codes[it.code] = n
            items.append(it)
        except ValidationError as exc:
            errors.append({"row": n, "field": exc.field, "reason": exc.message})
    by_code = {it.code: it for it in items}
    for it in items:
        for to in it.links:
            if to in by_code:
                try:
                    check_link(it.kind, by_code[to].kind, it.code, to)
                except ValidationError as exc:
                    errors.append({"row": codes[it.code], "field": "links", "reason": exc.message})
    return items, errors
