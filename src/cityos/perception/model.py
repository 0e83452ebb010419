"""Perception: device types, telemetry payloads, alarm rules, alarms and geological
hazard levels. Plain classes and functions, no IO (unit-tested in tests/unit)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cityos.core.errors import IllegalTransition, ValidationError

# --- device types ---------------------------------------------------------------


@dataclass(frozen=True)
class DeviceType:
    code: str
    zh: str
    en: str
    keys: dict[str, str]  # telemetry key -> unit
    hazard_role: str | None = None  # "rain" | "displacement" | None: what it tells the hazard models


DEVICE_TYPES: dict[str, DeviceType] = {t.code: t for t in (
    DeviceType("crack_meter", "裂缝计", "Crack meter", {"crack_mm": "mm", "temp_c": "°C"}, "displacement"),
    DeviceType("tilt_meter", "倾角计", "Tilt meter", {"tilt_x_deg": "°", "tilt_y_deg": "°"}),
    DeviceType("gnss", "GNSS 位移监测站", "GNSS displacement station",
               {"disp_mm": "mm", "dx_mm": "mm", "dy_mm": "mm", "dz_mm": "mm"}, "displacement"),
    DeviceType("rain_gauge", "雨量计", "Rain gauge", {"rain_mm": "mm"}, "rain"),
    DeviceType("water_level", "水位计", "Water level gauge", {"level_m": "m"}),
    DeviceType("gas", "燃气浓度监测仪", "Gas detector", {"ch4_pct_lel": "%LEL"}),
    DeviceType("smoke", "烟感", "Smoke detector", {"smoke": "bool", "battery_pct": "%"}),
    DeviceType("manhole_cover", "智能井盖", "Manhole cover sensor", {"tilt_deg": "°", "open": "bool"}),
    DeviceType("camera", "视频监控", "Camera", {"online": "bool", "motion": "bool"}),
)}

DEVICE_STATUSES = ("active", "maintenance", "disabled")


def check_device_code(code: str) -> str:
    code = code.strip()
    if not code or len(code) > 64 or not all(c.isalnum() or c in "-_." for c in code):
        raise ValidationError("use 1-64 letters, digits, '-', '_' or '.'", field="code")
    return code


def check_device_type(code: str) -> DeviceType:
    t = DEVICE_TYPES.get(code)
    if t is None:
        raise ValidationError(f"unknown device type {code!r}; types: {', '.join(DEVICE_TYPES)}", field="type")
    return t


# --- telemetry payloads -----------------------------------------------------------

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_FUTURE = timedelta(minutes=5)
MAX_POINTS = 1000


class BadPayload(Exception):
    """A payload that cannot be accepted: `reason` is a short machine word, `message` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Point:
    ts: datetime
    values: dict[str, float]


def _number(key: str, v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if not isinstance(v, int | float):
        raise BadPayload("wrong_type", f"value of {key!r} must be a number or a boolean, not {type(v).__name__}")
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        raise BadPayload("not_finite", f"value of {key!r} is not a finite number")
    return f


def _values(obj: Any, dtype: DeviceType | None) -> dict[str, float]:
    if not isinstance(obj, dict) or not obj:
        raise BadPayload("malformed", "values must be a non-empty object of key: number")
    out: dict[str, float] = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not k or len(k) > 64:
            raise BadPayload("malformed", f"bad telemetry key {k!r}")
        if dtype is not None and k not in dtype.keys:
            raise BadPayload("unknown_key", f"{dtype.code} has no telemetry key {k!r}; keys: {', '.join(dtype.keys)}")
        out[k] = _number(k, v)
    return out


def parse_payload(raw: bytes | str | Any, now: datetime, dtype: DeviceType | None = None,
                  stamp: datetime | None = None) -> list[Point]:
    """Parse one telemetry message: `{"key": value, ...}` (stamped `stamp`, when it was
    received, or else `now`), or
    `{"ts": <epoch ms>, "values": {...}}`, or a list of the latter.

    Raises BadPayload (oversized, malformed, wrong types, NaN, far-future timestamps).
    """
    if isinstance(raw, bytes | str):
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise BadPayload("oversized", f"payload of {len(raw)} bytes is over {MAX_PAYLOAD_BYTES}")
        try:
            obj = json.loads(raw, parse_constant=lambda c: float("nan"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadPayload("malformed", f"not JSON: {exc}") from None
    else:
        obj = raw
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise BadPayload("malformed", "empty list")
    if len(items) > MAX_POINTS:
        raise BadPayload("oversized", f"{len(items)} points in one message; at most {MAX_POINTS}")
    points: list[Point] = []
    for item in items:
        if not isinstance(item, dict):
            raise BadPayload("malformed", "each point must be an object")
        if "values" in item:
            ts_raw = item.get("ts")
            if isinstance(ts_raw, bool) or not isinstance(ts_raw, int | float) or not math.isfinite(ts_raw):
                raise BadPayload("bad_timestamp", "ts must be epoch milliseconds (a number)")
            try:
                ts = datetime.fromtimestamp(ts_raw / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                raise BadPayload("bad_timestamp", f"ts {ts_raw} is out of range") from None
            if ts > now + MAX_FUTURE:
                raise BadPayload("future_timestamp", f"ts {ts.isoformat()} is more than {MAX_FUTURE} ahead of now")
            extra = set(item) - {"ts", "values"}
            if extra:
                raise BadPayload("malformed", f"unexpected fields {sorted(extra)} beside ts and values")
            points.append(Point(ts, _values(item["values"], dtype)))
        elif isinstance(obj, list):
            raise BadPayload("malformed", "list items must be {\"ts\": ..., \"values\": {...}}")
        else:
            points.append(Point(stamp or now, _values(item, dtype)))
    return points


# --- alarms ------------------------------------------------------------------------

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")
SEVERITY_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
ACTIVE = ("ACTIVE_UNACK", "ACTIVE_ACK")
STATUSES = ("ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED_UNACK", "CLEARED_ACK")


def check_severity(s: str) -> str:
    if s not in SEVERITIES:
        raise ValidationError(f"must be one of {', '.join(SEVERITIES)}", field="severity")
    return s


def ack_status(status: str) -> str:
    """The status after an acknowledgement."""
    if status == "ACTIVE_UNACK":
        return "ACTIVE_ACK"
    if status == "CLEARED_UNACK":
        return "CLEARED_ACK"
    raise IllegalTransition(f"an alarm in {status} cannot be acknowledged (already acknowledged)", field="status")


def clear_status(status: str) -> str:
    """The status after the alarm's condition has cleared (or an operator cleared it)."""
    if status == "ACTIVE_UNACK":
        return "CLEARED_UNACK"
    if status == "ACTIVE_ACK":
        return "CLEARED_ACK"
    raise IllegalTransition(f"an alarm in {status} is already cleared", field="status")


# --- rules -------------------------------------------------------------------------

RULE_KINDS = ("threshold", "duration", "repeat", "rate", "stale", "inactivity")
OPS = (">", ">=", "<", "<=")


def _cmp(op: str, a: float, b: float) -> bool:
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


@dataclass(frozen=True)
class Rule:
    """An alarm rule for a device type or one device.

    kinds: `threshold` (value op limit; clears when the value passes `clear` the
    other way: hysteresis), `duration` (breached continuously for `duration_s`),
    `repeat` (breached `count` readings in a row), `rate` (change per minute op
    limit), `stale` (key not reported for `duration_s`), `inactivity` (device silent
    for `duration_s`).
    """

    id: int
    kind: str
    alarm_type: str
    severity: str
    key: str | None = None
    op: str = ">"
    limit: float = 0.0
    clear: float | None = None  # hysteresis clear level; default = limit
    duration_s: int = 0
    count: int = 1

    def breached(self, v: float) -> bool:
        return _cmp(self.op, v, self.limit)

    def cleared(self, v: float) -> bool:
        """Back on the safe side of the clear level (past the limit, then some, for hysteresis)."""
        level = self.limit if self.clear is None else self.clear
        return not _cmp(self.op, v, level) and not (v == level and self.op in (">", "<"))


def check_rule(kind: str, key: str | None, op: str, limit: float, clear: float | None, duration_s: int,
               count: int, severity: str, alarm_type: str) -> None:
    if kind not in RULE_KINDS:
        raise ValidationError(f"must be one of {', '.join(RULE_KINDS)}", field="kind")
    check_severity(severity)
    if not alarm_type or len(alarm_type) > 60:
        raise ValidationError("must be 1-60 characters", field="alarm_type")
    if kind != "inactivity" and not key:
        raise ValidationError(f"a {kind} rule needs a telemetry key", field="key")
    if op not in OPS:
        raise ValidationError(f"must be one of {' '.join(OPS)}", field="op")
    if not math.isfinite(limit):
        raise ValidationError("must be a finite number", field="limit")
    if clear is not None:
        if not math.isfinite(clear):
            raise ValidationError("must be a finite number", field="clear")
        if (op in (">", ">=") and clear > limit) or (op in ("<", "<=") and clear < limit):
            raise ValidationError("the clear level must lie on the safe side of the limit (hysteresis)",
                                  field="clear")
    if kind in ("duration", "stale", "inactivity") and not 1 <= duration_s <= 30 * 86400:
        raise ValidationError("must be between 1 second and 30 days", field="duration_s")
    if kind == "repeat" and not 1 <= count <= 10_000:
        raise ValidationError("must be between 1 and 10000", field="count")


@dataclass
class Outcome:
    """What a rule decided: raise (with severity and details), clear, and/or a timer to set."""

    raise_alarm: bool = False
    clear_alarm: bool = False
    timer_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def on_reading(rule: Rule, state: dict[str, Any], ts: datetime, v: float) -> Outcome:
    """Feed one reading of the rule's key (readings arrive in time order per device).
    `state` (JSON-able, kept in the database) is updated in place."""
    out = Outcome(details={"key": rule.key, "value": v, "ts": _iso(ts)})
    last_ts = _dt(state.get("last_ts"))
    if last_ts is not None and ts < last_ts:
        return Outcome()  # late reading: the rule has already moved past it
    prev_v, state["last_ts"], state["last_v"] = state.get("last_v"), _iso(ts), v
    active = bool(state.get("active"))
    if rule.kind == "rate":
        if prev_v is None or last_ts is None or ts == last_ts:
            return out
        per_min = (v - float(prev_v)) / ((ts - last_ts).total_seconds() / 60)
        out.details["rate_per_min"] = per_min
        breach, safe = rule.breached(per_min), rule.cleared(per_min)
    else:
        breach, safe = rule.breached(v), rule.cleared(v)
    if rule.kind in ("threshold", "rate"):
        if breach and not active:
            out.raise_alarm = True
        elif safe and active:
            out.clear_alarm = True
    elif rule.kind == "repeat":
        state["n"] = int(state.get("n", 0)) + 1 if breach else 0
        if breach and state["n"] >= rule.count and not active:
            out.raise_alarm = True
        elif safe and active:
            out.clear_alarm = True
    elif rule.kind == "duration":
        if breach:
            since = _dt(state.get("since"))
            if since is None:
                since = ts
                state["since"] = _iso(ts)
                out.timer_at = ts + timedelta(seconds=rule.duration_s)
            if not active and ts - since >= timedelta(seconds=rule.duration_s):
                out.raise_alarm = True
                out.details["since"] = _iso(since)
        else:
            state.pop("since", None)
            if safe and active:
                out.clear_alarm = True
    elif rule.kind == "stale":
        if active:
            out.clear_alarm = True
        out.timer_at = ts + timedelta(seconds=rule.duration_s)
    if out.raise_alarm:
        state["active"] = True
    if out.clear_alarm:
        state["active"] = False
    return out


def on_readings(rule: Rule, state: dict[str, Any], series: list[tuple[datetime, float]]) -> list[Outcome]:
    """Feed a batch of the rule's readings (time order): the same as `on_reading` for each,
    returning only the outcomes that do something (raise, clear, or set a timer).

    Threshold and repeat rules, the common ones, run a tight loop that keeps the state in
    local variables and builds details only for a raise or clear."""
    if rule.kind not in ("threshold", "repeat") or not series:
        outs = [on_reading(rule, state, ts, v) for ts, v in series]
        return [o for o in outs if o.raise_alarm or o.clear_alarm or o.timer_at is not None]
    last_ts = _dt(state.get("last_ts"))
    active = bool(state.get("active"))
    n = int(state.get("n", 0))
    op, limit = rule.op, rule.limit
    level = limit if rule.clear is None else rule.clear
    repeat = rule.kind == "repeat"
    out: list[Outcome] = []
    last_v = state.get("last_v")
    moved = False
    for ts, v in series:
        if last_ts is not None and ts < last_ts:
            continue  # late reading: the rule has already moved past it
        last_ts, last_v, moved = ts, v, True
        breach = (v > limit) if op == ">" else (v >= limit) if op == ">=" else (v < limit) if op == "<" else (v <= limit)
        if repeat:
            n = n + 1 if breach else 0
        if breach and not active and (not repeat or n >= rule.count):
            active = True
            out.append(Outcome(raise_alarm=True, details={"key": rule.key, "value": v, "ts": _iso(ts)}))
        elif active and not _cmp(op, v, level) and not (v == level and op in (">", "<")):  # Rule.cleared
            active = False
            out.append(Outcome(clear_alarm=True, details={"key": rule.key, "value": v, "ts": _iso(ts)}))
    if moved:
        assert last_ts is not None
        state["last_ts"], state["last_v"], state["active"] = _iso(last_ts), last_v, active
        if repeat:
            state["n"] = n
    return out


def on_timer(rule: Rule, state: dict[str, Any], now: datetime) -> Outcome:
    """A durable timer came due (or a sweep runs): duration, stale and inactivity rules."""
    out = Outcome()
    if state.get("active"):
        return out
    if rule.kind == "duration":
        since = _dt(state.get("since"))
        if since is not None and now - since >= timedelta(seconds=rule.duration_s):
            out.raise_alarm = True
            out.details = {"key": rule.key, "since": _iso(since), "value": state.get("last_v"),
                           "for_s": rule.duration_s}
    elif rule.kind in ("stale", "inactivity"):
        last = _dt(state.get("last_ts"))
        if last is not None and now - last >= timedelta(seconds=rule.duration_s):
            out.raise_alarm = True
            out.details = {"key": rule.key, "last_ts": _iso(last), "silent_s": int((now - last).total_seconds())}
    if out.raise_alarm:
        state["active"] = True
    return out


def next_due(rule: Rule, state: dict[str, Any]) -> datetime | None:
    """When this rule's timer should next look (None: nothing to wait for)."""
    if state.get("active"):
        return None
    if rule.kind == "duration":
        since = _dt(state.get("since"))
        return since + timedelta(seconds=rule.duration_s) if since else None
    if rule.kind in ("stale", "inactivity"):
        last = _dt(state.get("last_ts"))
        return last + timedelta(seconds=rule.duration_s) if last else None
    return None


def on_activity(rule: Rule, state: dict[str, Any], ts: datetime) -> Outcome:
    """Any message from the device (inactivity rules): clear if it was silent, rearm the timer."""
    out = Outcome(timer_at=ts + timedelta(seconds=rule.duration_s))
    last = _dt(state.get("last_ts"))
    if last is None or ts >= last:
        state["last_ts"] = _iso(ts)
    if state.get("active"):
        out.clear_alarm = True
        state["active"] = False
    return out


# --- geological hazards ---------------------------------------------------------------

LEVELS = ("none", "blue", "yellow", "orange", "red")
LEVEL_RANK = {lv: i for i, lv in enumerate(LEVELS)}
LEVEL_SEVERITY = {"blue": "WARNING", "yellow": "MINOR", "orange": "MAJOR", "red": "CRITICAL"}

# One county's published rainfall plan: level -> mm within 1/3/6/24 h (DOMAIN.md).
RAIN_WINDOWS_H = (1, 3, 6, 24)
RAIN_THRESHOLDS: dict[str, tuple[float, float, float, float]] = {
    "blue": (35, 55, 70, 100),
    "yellow": (45, 75, 95, 130),
    "orange": (60, 100, 120, 160),
    "red": (80, 120, 150, 200),
}


def rainfall_level(sums: dict[int, float]) -> str:
    """Multi-window rainfall: the highest level any window reaches ({hours: mm})."""
    best = "none"
    for level, limits in RAIN_THRESHOLDS.items():
        if any(sums.get(h, 0.0) >= mm for h, mm in zip(RAIN_WINDOWS_H, limits, strict=True)):
            best = level
    return best


def tangent_angle(points: list[tuple[float, float]], v0: float) -> float | None:
    """Improved tangent angle (degrees) at the end of a displacement-time curve.

    `points` are (hours, mm), oldest first; `v0` is the constant-velocity rate (mm/h)
    of the slope's creep phase. The curve is normalised by v0 (T = S / v0, so the
    constant-velocity phase runs at 45°) and the angle is arctan of the slope of the
    recent part of the normalised curve (least squares over the last points).
    """
    if len(points) < 2 or v0 <= 0:
        return None
    recent = points[-6:]
    n = len(recent)
    mt = sum(t for t, _ in recent) / n
    ms = sum(s for _, s in recent) / n
    den = sum((t - mt) ** 2 for t, _ in recent)
    if den == 0:
        return None
    v = sum((t - mt) * (s - ms) for t, s in recent) / den
    return math.degrees(math.atan(v / v0))


def displacement_level(alpha: float | None) -> str:
    """α ≈ 45° creep → blue; 45° < α < 80° → yellow; 80° ≤ α < 85° → orange; α ≥ 85° → red.
    Below 40° (no or decelerating movement) → none. A tolerance of 2° around 45° counts as creep."""
    if alpha is None or alpha < 40:
        return "none"
    if alpha <= 47:
        return "blue"
    if alpha < 80:
        return "yellow"
    if alpha < 85:
        return "orange"
    return "red"


def combined_level(indicators: dict[str, str]) -> str:
    """The risk point's level from its indicators ({indicator name: level}).

    Rule (fixed thresholds alone give many false alarms, so indicators must agree):
    the combined level is the highest level L such that either
      * at least two indicators stand at L or above, or
      * one indicator stands at L and a second stands at the level just below L;
    and a single indicator on its own (all others at none) raises at most yellow.
    So one noisy sensor reading red yields yellow; red needs a second indicator at
    orange or above (another displacement sensor, or the rainfall).
    """
    ranks = sorted((LEVEL_RANK[lv] for lv in indicators.values()), reverse=True)
    if not ranks:
        return "none"
    top = ranks[0]
    second = ranks[1] if len(ranks) > 1 else 0
    level = max(min(top, LEVEL_RANK["yellow"]), min(top, second + 1))
    return LEVELS[level]


def raises_case(old: str, new: str) -> bool:
    """A rise to orange or above is handed to the case loop (perception.hazard_raised)."""
    return LEVEL_RANK[new] >= LEVEL_RANK["orange"] and LEVEL_RANK[new] > LEVEL_RANK[old]
