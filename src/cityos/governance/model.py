"""The case loop (GB/T 30428 digital city management, 12345 practice). No IO.

Categories with their time limits, the working calendar, the case state machine
with its exceptions (return, reassign, co-handling, extension, park, rework, merge,
cancel, follow-up), routing decisions, and the indicator arithmetic.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cityos.core.errors import IllegalTransition, ValidationError

LOCAL = ZoneInfo("Asia/Shanghai")
KINDS = {"part": "部件", "event": "事件"}
LIMIT_TYPES = ("urgent_hours", "working_hours", "working_days", "calendar_days")
OWNER_LEVELS = ("grid", "township", "district", "city")
CATEGORY_COLUMNS = ["code", "kind", "class_code", "class_zh", "class_en", "name_zh", "name_en", "limit_value",
                    "limit_type", "owner_level", "dept_city", "dept_district", "sector_township", "public", "emergency",
                    "filing_condition", "closing_condition"]


@dataclass(frozen=True)
class Category:
    code: str
    kind: str
    class_code: str
    class_zh: str
    class_en: str
    name_zh: str
    name_en: str
    limit_value: int
    limit_type: str
    owner_level: str
    dept_city: str
    dept_district: str
    sector_township: str
    public: bool
    emergency: bool
    filing_condition: str
    closing_condition: str

    def as_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in CATEGORY_COLUMNS}


def parse_categories(text: str) -> list[Category]:
    """Read a category CSV; every bad row is named with its line and reason, or nothing is returned."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in CATEGORY_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(f"missing column(s): {', '.join(missing)}", field="columns")
    out: list[Category] = []
    problems: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        try:
            cat = _category(row)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if cat.code in seen:
            problems.append(f"line {line}: duplicate code {cat.code}")
        seen.add(cat.code)
        out.append(cat)
    if problems:
        raise ValidationError(f"{len(problems)} bad row(s), nothing imported: " + "; ".join(problems[:30]),
                              field="file", details=problems[:200])
    if not out:
        raise ValidationError("no categories in the file", field="file")
    return out


def _category(row: dict[str, str]) -> Category:
    code = (row.get("code") or "").strip()
    kind = (row.get("kind") or "").strip()
    if kind not in KINDS:
        raise ValueError(f"kind must be part or event, got {kind!r}")
    prefix = "P" if kind == "part" else "E"
    if len(code) != 5 or code[0] != prefix or not code[1:].isdigit():
        raise ValueError(f"code {code!r} must be {prefix} followed by 4 digits (class and subclass)")
    if code[1:3] != (row.get("class_code") or "").strip():
        raise ValueError(f"code {code} does not start with its class_code {row.get('class_code')!r}")
    try:
        limit = int(row.get("limit_value") or "")
    except ValueError:
        raise ValueError(f"limit_value must be a whole number, got {row.get('limit_value')!r}") from None
    if limit <= 0:
        raise ValueError("limit_value must be positive")
    lt = (row.get("limit_type") or "").strip()
    if lt not in LIMIT_TYPES:
        raise ValueError(f"limit_type must be one of {', '.join(LIMIT_TYPES)}, got {lt!r}")
    owner = (row.get("owner_level") or "").strip()
    if owner not in OWNER_LEVELS:
        raise ValueError(f"owner_level must be one of {', '.join(OWNER_LEVELS)}, got {owner!r}")
    for f in ("name_zh", "name_en", "class_zh", "class_en", "dept_city", "dept_district", "sector_township"):
        if not (row.get(f) or "").strip():
            raise ValueError(f"{f} is empty")
    flags = {}
    for f in ("public", "emergency"):
        v = (row.get(f) or "").strip().lower()
        if v not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"{f} must be 0 or 1, got {v!r}")
        flags[f] = v in ("1", "true", "yes")
    return Category(code, kind, code[1:3], row["class_zh"].strip(), row["class_en"].strip(), row["name_zh"].strip(),
                    row["name_en"].strip(), limit, lt, owner, row["dept_city"].strip(), row["dept_district"].strip(),
                    row["sector_township"].strip(), flags["public"], flags["emergency"],
                    (row.get("filing_condition") or "").strip(), (row.get("closing_condition") or "").strip())


def categories_csv(cats: list[Category]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CATEGORY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for c in cats:
        row = c.as_row()
        row["public"] = int(c.public)
        row["emergency"] = int(c.emergency)
        w.writerow(row)
    return buf.getvalue()


# --- the working calendar --------------------------------------------------------------

@dataclass(frozen=True)
class WorkCalendar:
    """Working days skip weekends and holidays, except make-up working days; working
    hours are 09:00-12:00 and 13:30-17:30 local time (7 hours)."""

    holidays: frozenset[date] = frozenset()
    makeup_days: frozenset[date] = frozenset()
    periods: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))

    def is_working_day(self, d: date) -> bool:
        if d in self.makeup_days:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local clock time `days` working days later (end of day if it starts off-hours)."""
        local = start.astimezone(LOCAL)
        d = local.date()
        n = 0
        while n < days:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n += 1
        end = datetime.combine(d, time(17, 30) if not self.is_working_day(local.date()) else local.time(), LOCAL)
        return end.astimezone(start.tzinfo)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        remaining = timedelta(hours=hours)
        cur = start.astimezone(LOCAL)
        for _ in range(3700):  # at most ten years of days; protects against a calendar with no working day
            if self.is_working_day(cur.date()):
                for a, b in self.periods:
                    pa = datetime.combine(cur.date(), a, LOCAL)
                    pb = datetime.combine(cur.date(), b, LOCAL)
                    if cur >= pb:
                        continue
                    s = max(cur, pa)
                    avail = pb - s
                    if remaining <= avail:
                        return (s + remaining).astimezone(start.tzinfo)
                    remaining -= avail
                    cur = pb
            cur = datetime.combine(cur.date() + timedelta(days=1), time(0, 0), LOCAL)
        raise ValidationError("the calendar has no working time in the next ten years", field="calendar")

    def deadline(self, start: datetime, value: int, limit_type: str) -> datetime:
        if limit_type == "urgent_hours":
            return start + timedelta(hours=value)
        if limit_type == "calendar_days":
            return start + timedelta(days=value)
        if limit_type == "working_hours":
            return self.add_working_hours(start, value)
        if limit_type == "working_days":
            return self.add_working_days(start, value)
        raise ValidationError(f"unknown limit type {limit_type!r}", field="limit_type")


# --- the case state machine ----------------------------------------------------------------

STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "closed", "evaluated",
          "parked", "cancelled", "merged")
OPEN_STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked")
STATE_ZH = {"collected": "已采集", "filed": "已立案", "dispatched": "已派遣", "signed": "已签收", "handling": "处置中",
            "reported": "已反馈", "verified": "已核查", "closed": "已结案", "evaluated": "已评价", "parked": "挂账",
            "cancelled": "已作废", "merged": "已并单"}


@dataclass(frozen=True)
class Action:
    name: str
    zh: str
    sources: tuple[str, ...]
    target: str | None  # None: the state does not change
    roles: tuple[str, ...]  # who may take it (at a node reaching the case)


_OPS = ("city_operator", "district_operator", "township_operator")
_DISPATCH = (*_OPS, "dispatcher")
_HANDLE = ("department_handler", "grid_head", "grid_member", "grid_member_part", *_OPS)
_VERIFY = ("verifier", "grid_head", "grid_member", *_OPS)

ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("file", "立案", ("collected",), "filed", _DISPATCH),
    Action("dispatch", "派遣", ("filed",), "dispatched", _DISPATCH),
    Action("sign", "签收", ("dispatched",), "signed", _HANDLE),
    Action("return", "回退", ("dispatched", "signed"), "filed", _HANDLE),
    Action("reassign", "改派", ("dispatched", "signed", "handling"), "dispatched", _DISPATCH),
    Action("start", "开始处置", ("signed",), "handling", _HANDLE),
    Action("report", "反馈", ("handling",), "reported", _HANDLE),
    Action("co_report", "协办反馈", ("dispatched", "signed", "handling", "reported"), None, _HANDLE),
    Action("verify", "核查通过", ("reported",), "verified", _VERIFY),
    Action("rework", "返工", ("reported",), "handling", _VERIFY),
    Action("close", "结案", ("verified",), "closed", _DISPATCH),
    Action("evaluate", "评价", ("closed",), "evaluated", (*_DISPATCH, "citizen")),
    Action("follow_up", "回访", ("closed", "evaluated"), None, _DISPATCH),
    Action("reopen", "重新处置", ("closed", "evaluated"), "handling", _DISPATCH),
    Action("request_extension", "申请延期", ("dispatched", "signed", "handling"), None, _HANDLE),
    Action("approve_extension", "批准延期", ("dispatched", "signed", "handling"), None, _DISPATCH),
    Action("reject_extension", "驳回延期", ("dispatched", "signed", "handling"), None, _DISPATCH),
    Action("park", "挂账", ("dispatched", "signed", "handling"), "parked", _DISPATCH),
    Action("unpark", "解除挂账", ("parked",), "handling", _DISPATCH),
    Action("merge", "并单", ("collected", "filed", "dispatched", "signed", "handling"), "merged", _DISPATCH),
    Action("cancel", "作废", ("collected", "filed"), "cancelled", _DISPATCH),
    Action("supervise", "督办", OPEN_STATES, None, _OPS),
    Action("remind", "催办", OPEN_STATES, None, _DISPATCH),
    Action("take_over", "上级接管", OPEN_STATES, None, _DISPATCH),
    Action("hand_down", "下派", ("collected", "filed"), None, _DISPATCH),
)}


@dataclass
class CaseState:
    """The part of a case the state machine needs."""

    state: str
    deadline: datetime | None = None
    handler_unit: str | None = None
    co_units: dict[str, bool] = field(default_factory=dict)  # unit -> reported?
    reported_by: str | None = None  # who reported back (may not verify)
    extension_pending: dict[str, Any] | None = None
    has_alarm_open: bool = False


def allowed_actions(state: str) -> list[str]:
    return [a.name for a in ACTIONS.values() if state in a.sources]


def check_action(case: CaseState, action: str, *, actor_roles: set[str], actor_name: str, now: datetime,
                 note: str | None = None, payload: dict[str, Any] | None = None) -> str:
    """Decide whether `action` may happen now; return the state after it, or raise naming why not."""
    a = ACTIONS.get(action)
    if a is None:
        raise ValidationError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}", field="action")
    payload = payload or {}
    if case.state not in a.sources:
        raise IllegalTransition(
            f"cannot {action} a case that is {case.state}; allowed now: {', '.join(allowed_actions(case.state)) or 'none'}",
            field="action", details={"state": case.state, "allowed": allowed_actions(case.state)})
    if not actor_roles & set(a.roles):
        from cityos.core.errors import Forbidden

        raise Forbidden(f"{action} ({a.zh}) needs one of the roles {', '.join(a.roles)}", field="role")
    if action in ("cancel", "return", "park", "rework", "reject_extension", "reopen", "merge") and not (note or "").strip():
        raise ValidationError(f"{action} needs a reason in the note", field="note")
    if action == "verify" and case.reported_by == actor_name:
        raise ValidationError("verification must be done by someone other than the handler who reported", field="actor")
    if action == "close":
        if any(not done for done in case.co_units.values()):
            waiting = [u for u, done in case.co_units.items() if not done]
            raise IllegalTransition(f"co-handling units have not reported: {', '.join(waiting)}", field="co_units")
        if case.has_alarm_open:
            raise IllegalTransition("the alarm behind this case is still active", field="alarm")
    if action == "request_extension":
        if case.extension_pending:
            raise IllegalTransition("an extension request is already waiting", field="action")
        if case.deadline is None or now >= case.deadline:
            raise ValidationError("an extension must be requested before the deadline", field="deadline")
        hours = payload.get("hours")
        if not isinstance(hours, int | float) or not 0 < hours <= 24 * 90:
            raise ValidationError("hours must be a number between 0 and 2160", field="hours")
    if action in ("approve_extension", "reject_extension") and not case.extension_pending:
        raise IllegalTransition("there is no extension request to decide", field="action")
    if action == "reassign" and not payload.get("unit"):
        raise ValidationError("reassign needs the new unit", field="unit")
    if action == "merge" and not payload.get("master_id"):
        raise ValidationError("merge needs the master case", field="master_id")
    if action == "follow_up" and payload.get("satisfied") not in (True, False):
        raise ValidationError("follow_up needs satisfied: true or false", field="satisfied")
    return a.target or case.state


# --- routing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutingDecision:
    level: str  # the level that owns the case
    node: str  # the division code of the owning level
    unit: str  # the responsible unit's code
    rule: str  # why: which rule matched

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "node": self.node, "unit": self.unit, "rule": self.rule}


def route_by_category(cat: Category, chain: dict[str, str | None]) -> RoutingDecision | None:
    """The category's responsibility mapping at the level that owns it."""
    level = cat.owner_level
    if level == "grid" and chain.get("grid"):
        g = str(chain["grid"])
        return RoutingDecision("grid", g, f"G-{g}", f"category {cat.code} is a grid-level matter: the grid's staff")
    if level in ("grid", "township") and chain.get("township"):
        t = str(chain["township"])
        return RoutingDecision("township", t, f"S-{t}-{cat.sector_township}",
                               f"category {cat.code} is handled by the township's {cat.sector_township} sector")
    if level in ("grid", "township", "district") and chain.get("district"):
        d = str(chain["district"])
        return RoutingDecision("district", d, f"D-{d}-{cat.dept_district}",
                               f"category {cat.code} maps to the district department {cat.dept_district}")
    if chain.get("city"):
        c = str(chain["city"])
        return RoutingDecision("city", c, f"D-{c}-{cat.dept_city}", f"category {cat.code} maps to the city department {cat.dept_city}")
    return None


def territorial(chain: dict[str, str | None]) -> RoutingDecision | None:
    """属地兜底: a case no mapping claims goes to the lowest territorial centre."""
    for level in ("township", "district", "city"):
        code = chain.get(level)
        if code:
            return RoutingDecision(level, code, f"C-{code}", f"no list or mapping claims it: the territory catches it ({level} centre)")
    return None


LEVEL_UP = {"grid": "township", "township": "district", "district": "city", "city": None}


# --- indicators ------------------------------------------------------------------------------

@dataclass
class Stats:
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    handled_on_time: int = 0
    rework: int = 0
    returned: int = 0
    dispatched: int = 0
    dispatched_correct: int = 0
    handling_seconds: float = 0.0
    handled: int = 0
    public_total: int = 0
    public_responded: int = 0
    public_resolved: int = 0
    public_satisfied: int = 0
    public_evaluated: int = 0


def pct(n: float, d: float) -> float | None:
    return None if d == 0 else round(100.0 * n / d, 2)


def rates(s: Stats) -> dict[str, float | None]:
    """The indicators, with the denominators of DOMAIN.md (cases due in the period)."""
    return {
        "closure_rate": pct(s.closed, s.due),  # 结案率
        "on_time_closure_rate": pct(s.closed_on_time, s.due),  # 按期结案率
        "on_time_handling_rate": pct(s.handled_on_time, s.due),  # 按期处置率
        "rework_rate": pct(s.rework, s.handled),  # 返工率
        "return_rate": pct(s.returned, s.dispatched),  # 回退率
        "correct_dispatch_rate": pct(s.dispatched_correct, s.dispatched),  # 准确派遣率
        "mean_handling_hours": None if s.handled == 0 else round(s.handling_seconds / s.handled / 3600, 2),
        "response_rate": pct(s.public_responded, s.public_total),  # 响应率
        "resolution_rate": pct(s.public_resolved, s.public_total),  # 解决率
        "satisfaction_rate": pct(s.public_satisfied, s.public_evaluated),  # 满意率
    }


def period_of(when: datetime) -> str:
    """The month (local time) a moment belongs to, e.g. '2026-11'."""
    return when.astimezone(LOCAL).strftime("%Y-%m")


def event_deltas(action: str, at: datetime, payload: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    """How one case event moves the indicator counters, per (period, node).

    Closure figures count in the period of the case's deadline (the denominator is the
    cases due in the period); dispatch, handling and public-service figures count in
    the period the event happened. Nodes are the case's division chain plus its unit.
    """
    nodes: list[str] = list(payload.get("nodes") or [])
    out: dict[tuple[str, str], dict[str, float]] = {}

    def add(period: str, **fields: float) -> None:
        for n in nodes:
            d = out.setdefault((period, n), {})
            for k, v in fields.items():
                d[k] = d.get(k, 0) + v

    def parse(v: Any) -> datetime | None:
        return datetime.fromisoformat(v) if isinstance(v, str) else None

    deadline = parse(payload.get("deadline"))
    here = period_of(at)
    if action == "create" and payload.get("public"):
        add(here, public_total=1)
    elif action == "dispatch":
        if payload.get("first") and deadline:
            add(period_of(deadline), due=1)
            add(here, dispatched=1, dispatched_correct=1)
            if payload.get("public"):
                add(here, public_responded=1)
    elif action == "reassign":
        if payload.get("first_error"):  # the first dispatch went to the wrong unit
            add(here, dispatched_correct=-1)
    elif action == "return":
        add(here, returned=1)
        if payload.get("first_error"):
            add(here, dispatched_correct=-1)
    elif action == "approve_extension":
        old = parse(payload.get("old_deadline"))
        if old and deadline and period_of(old) != period_of(deadline):
            add(period_of(old), due=-1)
            add(period_of(deadline), due=1)
    elif action == "report" and payload.get("first"):
        dispatched = parse(payload.get("dispatched_at"))
        add(here, handled=1, handling_seconds=(at - dispatched).total_seconds() if dispatched else 0)
        if deadline:
            add(period_of(deadline), handled_on_time=1 if at <= deadline else 0)
    elif action == "rework":
        add(here, rework=1)
    elif action == "close" and deadline:
        add(period_of(deadline), closed=1, closed_on_time=1 if at <= deadline else 0)
        if payload.get("public"):
            add(here, public_resolved=1)
    elif action in ("evaluate", "follow_up") and payload.get("public") and payload.get("satisfied") is not None:
        add(here, public_evaluated=1, public_satisfied=1 if payload["satisfied"] else 0)
    return {k: v for k, v in out.items() if any(v.values())}
