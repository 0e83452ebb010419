"""One-key reach (一键智达, 一贯到底) and direct emergency reporting (直报快响). No IO.

An instruction reaches every target at once as one task per target; a target may relay
it down its own subtree. An emergency report rings the grid, township, district and
city centres at the same moment; each level must acknowledge within the set minutes or
is rung again and escalated to the next person on its duty roster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cityos.core.errors import IllegalTransition, ValidationError

URGENCIES = ("normal", "urgent", "critical")
TASK_STATES = ("delivered", "signed", "in_progress", "completed")
TARGET_RULES = ("children", "department", "list", "polygon")
RING_LEVELS = ("grid", "township", "district", "city")
DEFAULT_ACK_MINUTES = 5


@dataclass(frozen=True)
class TargetRule:
    """How targets are chosen: the children of a node at a level, the departments of a
    type, an explicit list of unit codes, or every division of a level in a polygon."""

    kind: str
    node: str | None = None
    level: str | None = None
    dept_type: str | None = None
    units: tuple[str, ...] = ()
    polygon: dict[str, Any] | None = None


def parse_rule(raw: Any) -> TargetRule:
    if not isinstance(raw, dict):
        raise ValidationError("must be an object with a kind", field="targets")
    kind = raw.get("kind")
    if kind not in TARGET_RULES:
        raise ValidationError(f"kind must be one of {', '.join(TARGET_RULES)}", field="targets.kind")
    if kind == "children":
        if raw.get("level") not in ("district", "township", "village", "grid") or not raw.get("node"):
            raise ValidationError("children needs node and level (district, township, village or grid)",
                                  field="targets.level")
        return TargetRule(kind, node=str(raw["node"]), level=str(raw["level"]))
    if kind == "department":
        if not raw.get("dept_type"):
            raise ValidationError("department needs dept_type, e.g. water", field="targets.dept_type")
        return TargetRule(kind, node=str(raw.get("node") or "") or None, dept_type=str(raw["dept_type"]))
    if kind == "list":
        units = raw.get("units")
        if not isinstance(units, list) or not units or not all(isinstance(u, str) for u in units):
            raise ValidationError("list needs units: a non-empty list of unit codes", field="targets.units")
        if len(units) > 100_000:
            raise ValidationError("at most 100,000 units", field="targets.units")
        return TargetRule(kind, units=tuple(dict.fromkeys(units)))
    poly = raw.get("polygon")
    if not isinstance(poly, dict) or poly.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValidationError("polygon needs a GeoJSON Polygon", field="targets.polygon")
    if raw.get("level") not in ("township", "village", "grid"):
        raise ValidationError("polygon needs level township, village or grid", field="targets.level")
    return TargetRule(kind, level=str(raw["level"]), polygon=poly)


def check_deadlines(now: datetime, sign_by: datetime, complete_by: datetime) -> None:
    if sign_by <= now:
        raise ValidationError("the sign-for deadline is in the past", field="sign_deadline")
    if complete_by <= now:
        raise ValidationError("the completion deadline is in the past", field="complete_deadline")
    if complete_by < sign_by:
        raise ValidationError("completion cannot be due before sign-for", field="complete_deadline")


TASK_MOVES = {"sign": ("delivered", "signed"), "start": ("signed", "in_progress"),
              "complete": ("in_progress", "completed")}


def task_move(state: str, action: str) -> str:
    if action == "complete" and state == "signed":
        return "completed"
    move = TASK_MOVES.get(action)
    if move is None:
        raise ValidationError(f"unknown action {action!r}; sign, start or complete", field="action")
    if state != move[0]:
        allowed = [a for a, (frm, _) in TASK_MOVES.items() if frm == state]
        raise IllegalTransition(f"cannot {action} a task that is {state}; allowed: {', '.join(allowed) or 'none'}",
                                field="action")
    return move[1]


def unit_for(level: str, code: str) -> str:
    """The unit that answers for a division: the grid's workstation, else the centre."""
    return f"G-{code}" if level == "grid" else (f"V-{code}" if level == "village" else f"C-{code}")
