"""Perception use cases: devices, risk points, rules, alarms (ack/clear), telemetry
ingest in batches (one transaction per batch), durable rule timers, hazard levels."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cityos.core import jobs as jobq
from cityos.core.errors import NotFound, ValidationError
from cityos.core.outbox import emit
from cityos.identity import audit
from cityos.identity.model import OPERATORS, SYSTEM, Actor, allow
from cityos.perception import model as m
from cityos.perception import store
from cityos.perception.metrics import ALARMS_RAISED, DEAD_LETTERS, INGEST_BATCH_SECONDS, READINGS

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from cityos.bootstrap import Platform

GRID_STAFF = ("grid_head", "grid_member", "grid_member_part", "grid_instructor")
DEVICE_READERS = (*OPERATORS, *GRID_STAFF, "system_admin", "resource_admin", "dispatcher", "department_handler")
allow(DEVICE_READERS, "device.read", "alarm.read", "hazard.read")
allow(("system_admin", "resource_admin"), "device.admin", "telemetry.write", "rule.admin")
allow(("system_admin",), "hazard.admin")
allow((*OPERATORS, "dispatcher", "system_admin"), "alarm.ack")

RAW_RETENTION = timedelta(days=400)
MINUTE_RETENTION = timedelta(days=31)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _locate_grid(p: Platform, lon: float, lat: float, fieldname: str = "location") -> str:
    loc = p.geo.locate(lon, lat)
    grid = loc.code_at("grid")
    if grid is None:
        raise ValidationError(f"({lon}, {lat}) lies outside every grid of the city", field=fieldname)
    return grid


# --- devices --------------------------------------------------------------------------

@dataclass(frozen=True)
class CreateDevice:
    actor: Actor
    code: str
    type: str
    lon: float
    lat: float
    name: str = ""
    owner_unit: str | None = None
    risk_point: str | None = None
    status: str = "active"


def create_device(p: Platform, cmd: CreateDevice) -> tuple[dict[str, Any], str]:
    """Register a device; returns it and its credential (shown once)."""
    code = m.check_device_code(cmd.code)
    dtype = m.check_device_type(cmd.type)
    if cmd.status not in m.DEVICE_STATUSES:
        raise ValidationError(f"must be one of {', '.join(m.DEVICE_STATUSES)}", field="status")
    grid = _locate_grid(p, cmd.lon, cmd.lat)
    cmd.actor.require("device.admin", grid)
    now = p.clock.now()
    secret = "dev_" + secrets.token_urlsafe(24)
    with p.db.begin() as conn:
        if store.device(conn, code):
            from cityos.core.errors import Conflict

            raise Conflict(f"device {code!r} already exists", field="code")
        if cmd.owner_unit:
            from sqlalchemy import select

            from cityos.identity.store import org_units

            if conn.execute(select(org_units.c.code).where(org_units.c.code == cmd.owner_unit)).first() is None:
                raise ValidationError(f"no organisational unit {cmd.owner_unit!r}", field="owner_unit")
        if cmd.risk_point and store.risk_point(conn, cmd.risk_point) is None:
            raise ValidationError(f"no risk point {cmd.risk_point!r}", field="risk_point")
        row = {"code": code, "type": dtype.code, "name": cmd.name or f"{dtype.zh} {code}", "lon": cmd.lon,
               "lat": cmd.lat, "grid_code": grid, "owner_unit": cmd.owner_unit, "risk_point": cmd.risk_point,
               "status": cmd.status, "secret_hash": secret_hash(secret), "last_seen": None, "created_at": now}
        store.insert_device(conn, row)
        audit.record(conn, cmd.actor, "device.create", "device", code, now, node=grid,
                     details={"type": dtype.code, "risk_point": cmd.risk_point})
    return row, secret


@dataclass(frozen=True)
class UpdateDeviceStatus:
    actor: Actor
    code: str
    status: str


def update_device_status(p: Platform, cmd: UpdateDeviceStatus) -> None:
    if cmd.status not in m.DEVICE_STATUSES:
        raise ValidationError(f"must be one of {', '.join(m.DEVICE_STATUSES)}", field="status")
    now = p.clock.now()
    with p.db.begin() as conn:
        dev = store.device(conn, cmd.code)
        if dev is None or not cmd.actor.can("device.read", dev["grid_code"]):
            raise NotFound(f"no device {cmd.code!r}", field="code")
        cmd.actor.require("device.admin", dev["grid_code"])
        store.update_device(conn, cmd.code, {"status": cmd.status})
        audit.record(conn, cmd.actor, "device.status", "device", cmd.code, now, node=dev["grid_code"],
                     details={"from": dev["status"], "to": cmd.status})


# --- risk points -----------------------------------------------------------------------

@dataclass(frozen=True)
class CreateRiskPoint:
    actor: Actor
    code: str
    name: str
    kind: str
    polygon: dict[str, Any]
    households: int = 0
    people: int = 0
    monitor: str | None = None
    evacuation_route: str | None = None
    shelter: str | None = None
    creep_mm_per_h: float = 0.05


RISK_KINDS = ("landslide", "rockfall", "debris_flow", "subsidence", "dangerous_rock")


def create_risk_point(p: Platform, cmd: CreateRiskPoint) -> dict[str, Any]:
    import shapely.geometry

    code = m.check_device_code(cmd.code)
    if cmd.kind not in RISK_KINDS:
        raise ValidationError(f"must be one of {', '.join(RISK_KINDS)}", field="kind")
    try:
        geom = shapely.geometry.shape(cmd.polygon)
    except Exception as exc:  # shapely raises several types for bad GeoJSON
        raise ValidationError(f"not a GeoJSON polygon: {exc}", field="polygon") from None
    if geom.geom_type != "Polygon" or not geom.is_valid or geom.is_empty:
        raise ValidationError("must be a valid GeoJSON Polygon", field="polygon")
    if cmd.households < 0 or cmd.people < 0:
        raise ValidationError("must not be negative", field="people" if cmd.people < 0 else "households")
    if not 0 < cmd.creep_mm_per_h < 1000:
        raise ValidationError("must be a positive rate in mm/h", field="creep_mm_per_h")
    c = geom.representative_point()
    grid = _locate_grid(p, c.x, c.y, "polygon")
    cmd.actor.require("hazard.admin", grid)
    now = p.clock.now()
    row = {"code": code, "name": cmd.name or code, "kind": cmd.kind, "polygon": shapely.geometry.mapping(geom),
           "lon": c.x, "lat": c.y, "grid_code": grid, "households": cmd.households, "people": cmd.people,
           "monitor": cmd.monitor, "evacuation_route": cmd.evacuation_route, "shelter": cmd.shelter,
           "creep_mm_per_h": cmd.creep_mm_per_h, "level": "none", "indicators": {}, "level_at": None,
           "created_at": now}
    row["polygon"] = {"type": "Polygon", "coordinates": [[list(pt) for pt in ring] for ring in row["polygon"]["coordinates"]]}
    with p.db.begin() as conn:
        if store.risk_point(conn, code):
            from cityos.core.errors import Conflict

            raise Conflict(f"risk point {code!r} already exists", field="code")
        store.insert_risk_point(conn, row)
        audit.record(conn, cmd.actor, "risk_point.create", "risk_point", code, now, node=grid)
    return row


# --- rules ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CreateRule:
    actor: Actor
    name: str
    kind: str
    alarm_type: str
    severity: str
    device_type: str | None = None
    device_code: str | None = None
    key: str | None = None
    op: str = ">"
    limit: float = 0.0
    clear: float | None = None
    duration_s: int = 0
    count: int = 1


def create_rule(p: Platform, cmd: CreateRule) -> int:
    if (cmd.device_type is None) == (cmd.device_code is None):
        raise ValidationError("give either a device type or a device code", field="device_type")
    m.check_rule(cmd.kind, cmd.key, cmd.op, cmd.limit, cmd.clear, cmd.duration_s, cmd.count, cmd.severity,
                 cmd.alarm_type)
    now = p.clock.now()
    with p.db.begin() as conn:
        node: str | None = None
        if cmd.device_code is not None:
            dev = store.device(conn, cmd.device_code)
            if dev is None:
                raise ValidationError(f"no device {cmd.device_code!r}", field="device_code")
            node = dev["grid_code"]
            dtype = m.DEVICE_TYPES[dev["type"]]
        else:
            dtype = m.check_device_type(str(cmd.device_type))
        if cmd.key is not None and cmd.key not in dtype.keys:
            raise ValidationError(f"{dtype.code} has no key {cmd.key!r}; keys: {', '.join(dtype.keys)}", field="key")
        cmd.actor.require("rule.admin", node)
        rid = store.insert_rule(conn, {
            "name": cmd.name or f"{cmd.kind} {cmd.key or ''}", "device_type": cmd.device_type,
            "device_code": cmd.device_code, "kind": cmd.kind, "key": cmd.key, "op": cmd.op, "limit": cmd.limit,
            "clear": cmd.clear, "duration_s": cmd.duration_s, "count": cmd.count, "severity": cmd.severity,
            "alarm_type": cmd.alarm_type, "enabled": True, "created_at": now})
        audit.record(conn, cmd.actor, "rule.create", "rule", rid, now, node=node, details={"kind": cmd.kind})
    return rid


def rule_of(row: dict[str, Any]) -> m.Rule:
    return m.Rule(id=int(row["id"]), kind=row["kind"], alarm_type=row["alarm_type"], severity=row["severity"],
                  key=row["key"], op=row["op"], limit=float(row["limit"]),
                  clear=None if row["clear"] is None else float(row["clear"]), duration_s=int(row["duration_s"]),
                  count=int(row["count"]))


# --- alarms ----------------------------------------------------------------------------------

def raise_alarm(conn: Connection, *, subject: str, device_code: str | None, risk_point: str | None, grid: str,
                alarm_type: str, severity: str, rule_id: int | None, details: dict[str, Any],
                now: datetime) -> tuple[int, bool]:
    """Raise or update the one active alarm of this subject and type. Returns (id, created)."""
    key = f"{subject}|{alarm_type}"
    cur = store.active_alarm(conn, key)
    if cur is not None:
        store.update_alarm(conn, cur["id"], {"severity": severity, "last_at": now, "count": cur["count"] + 1,
                                             "details": details})
        return int(cur["id"]), False
    aid = store.insert_alarm(conn, {
        "device_code": device_code, "risk_point": risk_point, "alarm_type": alarm_type, "severity": severity,
        "status": "ACTIVE_UNACK", "active_key": key, "grid_code": grid, "rule_id": rule_id, "first_at": now,
        "last_at": now, "count": 1, "details": details})
    ALARMS_RAISED.labels(severity).inc()
    emit(conn, "perception.alarm_raised", {"alarm_id": aid, "device_code": device_code, "risk_point": risk_point,
                                           "alarm_type": alarm_type, "severity": severity, "grid": grid}, now)
    return aid, True


def clear_active(conn: Connection, subject: str, alarm_type: str, by: str, now: datetime) -> int | None:
    cur = store.active_alarm(conn, f"{subject}|{alarm_type}")
    if cur is None:
        return None
    store.update_alarm(conn, cur["id"], {"status": m.clear_status(cur["status"]), "active_key": None,
                                         "cleared_at": now, "cleared_by": by})
    return int(cur["id"])


@dataclass(frozen=True)
class AckAlarm:
    actor: Actor
    alarm_id: int


@dataclass(frozen=True)
class ClearAlarm:
    actor: Actor
    alarm_id: int


def _load_alarm(conn: Connection, actor: Actor, alarm_id: int) -> dict[str, Any]:
    a = store.alarm(conn, alarm_id)
    if a is None or not actor.can("alarm.read", a["grid_code"]):
        if not actor.authenticated:
            actor.require("alarm.read")
        raise NotFound(f"no alarm {alarm_id}", field="alarm_id")
    actor.require("alarm.ack", a["grid_code"])
    return a


def ack_alarm(p: Platform, cmd: AckAlarm) -> dict[str, Any]:
    now = p.clock.now()
    with p.db.begin() as conn:
        a = _load_alarm(conn, cmd.actor, cmd.alarm_id)
        status = m.ack_status(a["status"])
        store.update_alarm(conn, a["id"], {"status": status, "acked_at": now, "acked_by": cmd.actor.username})
        audit.record(conn, cmd.actor, "alarm.ack", "alarm", a["id"], now, node=a["grid_code"])
        return {**a, "status": status, "acked_at": now, "acked_by": cmd.actor.username}


def clear_alarm(p: Platform, cmd: ClearAlarm) -> dict[str, Any]:
    now = p.clock.now()
    with p.db.begin() as conn:
        a = _load_alarm(conn, cmd.actor, cmd.alarm_id)
        status = m.clear_status(a["status"])
        store.update_alarm(conn, a["id"], {"status": status, "active_key": None, "cleared_at": now,
                                           "cleared_by": cmd.actor.username})
        if a["rule_id"] is not None and a["device_code"]:
            # An operator's clear re-arms the rule: the next breach raises a new alarm.
            st = store.states_for(conn, [(int(a["rule_id"]), a["device_code"])])
            for k, s in st.items():
                s["active"] = False
                s.pop("since", None)
                s["n"] = 0
                store.save_states(conn, {k: s}, now)
        audit.record(conn, cmd.actor, "alarm.clear", "alarm", a["id"], now, node=a["grid_code"])
        return {**a, "status": status, "cleared_at": now, "cleared_by": cmd.actor.username}


# --- ingest -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    device_code: str
    payload: Any  # bytes from MQTT, or already-parsed JSON from HTTP
    source: str = "mqtt"
    topic: str | None = None
    received_at: datetime | None = None  # stamps points sent without a ts (default: the batch's now)


@dataclass
class IngestResult:
    accepted: int = 0  # messages accepted
    readings: int = 0  # new readings stored
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (message index, reason, message)
    alarms: list[int] = field(default_factory=list)


def _payload_text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload[:4096].decode("utf-8", "replace")
    import json

    try:
        return json.dumps(payload, ensure_ascii=False)[:4096]
    except (TypeError, ValueError):
        return repr(payload)[:4096]


def ingest(p: Platform, messages: list[Message]) -> IngestResult:
    """Validate and store a batch of telemetry messages in one transaction.

    Bad messages go to the dead-letter table with their reason (and are counted);
    the good ones are stored, rolled up and run through the rules. When this returns
    the batch is committed: only then may the caller acknowledge it."""
    import time

    t0 = time.perf_counter()
    now = p.clock.now()
    res = IngestResult()
    dead: list[dict[str, Any]] = []
    with p.db.begin() as conn:
        devs = store.devices_by_codes(conn, [msg.device_code for msg in messages])
        rows: dict[tuple[str, str, datetime], float] = {}
        oldest = now - RAW_RETENTION
        for i, msg in enumerate(messages):
            dev = devs.get(msg.device_code)
            try:
                if dev is None:
                    raise m.BadPayload("unknown_device", f"no device {msg.device_code!r}")
                if dev["status"] == "disabled":
                    raise m.BadPayload("disabled_device", f"device {msg.device_code!r} is disabled")
                points = m.parse_payload(msg.payload, now, m.DEVICE_TYPES.get(dev["type"]), stamp=msg.received_at)
                for pt in points:
                    if pt.ts < oldest:
                        raise m.BadPayload("too_old", f"ts {pt.ts.isoformat()} is older than the retention")
            except m.BadPayload as bad:
                res.rejected.append((i, bad.reason, bad.message))
                dead.append({"received_at": now, "source": msg.source, "topic": msg.topic,
                             "device_code": msg.device_code[:64], "reason": bad.reason, "message": bad.message[:2000],
                             "payload": _payload_text(msg.payload)})
                continue
            res.accepted += 1
            code = dev["code"]
            for pt in points:
                ts = pt.ts
                for k, v in pt.values.items():
                    rows[(code, k, ts)] = v  # one row per (device, key, ts): the last one in the batch wins
        readings = [(d, k, t, v) for (d, k, t), v in rows.items()]
        new = store.insert_readings(conn, readings)
        store.update_rollups(conn, new)
        store.update_latest(conn, new)
        seen: dict[str, datetime] = {}
        for d, _k, t, _v in readings:
            prev = seen.get(d)
            if prev is None or t > prev:
                seen[d] = t
        store.touch_devices(conn, seen)
        store.insert_dead_letters(conn, dead)
        res.readings = len(new)
        res.alarms = _run_rules(p, conn, devs, new, seen, now)
        _evaluate_hazards(p, conn, devs, new, now)
    READINGS.inc(len(new))
    for _, reason, _msg in res.rejected:
        DEAD_LETTERS.labels(reason).inc()
    INGEST_BATCH_SECONDS.observe(time.perf_counter() - t0)
    return res


def _apply(conn: Connection, p: Platform, rule: m.Rule, dev: dict[str, Any], out: m.Outcome,
           now: datetime, st: dict[str, Any]) -> int | None:
    aid: int | None = None
    if out.raise_alarm:
        aid, _ = raise_alarm(conn, subject=dev["code"], device_code=dev["code"], risk_point=dev["risk_point"],
                             grid=dev["grid_code"], alarm_type=rule.alarm_type, severity=rule.severity,
                             rule_id=rule.id, details=out.details, now=now)
    if out.clear_alarm:
        clear_active(conn, dev["code"], rule.alarm_type, "rule", now)
    if out.timer_at is not None:
        # One pending timer per rule and device: while one is pending, the timer itself
        # looks again (at next_due) when it fires, so busy devices do not pile up jobs.
        pending = st.get("timer")
        if pending is None or datetime.fromisoformat(pending) < now:
            at = max(out.timer_at, now)
            _schedule(conn, rule, dev["code"], at, now, st)
    return aid


def _schedule(conn: Connection, rule: m.Rule, code: str, at: datetime, now: datetime, st: dict[str, Any]) -> None:
    jobq.enqueue(conn, "perception.rule_timer", {"rule_id": rule.id, "device_code": code},
                 run_at=at, now=now, dedupe_key=f"ptimer:{rule.id}:{code}:{at.isoformat()}")
    st["timer"] = at.isoformat()


def _run_rules(p: Platform, conn: Connection, devs: dict[str, dict[str, Any]], new: list[store.Reading],
               seen: dict[str, datetime], now: datetime) -> list[int]:
    if not seen:
        return []
    active_devs = {c: devs[c] for c in seen}
    rule_rows = store.rules_for(conn, {d["type"] for d in active_devs.values()}, active_devs)
    if not rule_rows:
        return []
    by_type: dict[str, list[m.Rule]] = {}
    by_code: dict[str, list[m.Rule]] = {}
    for r in rule_rows:
        if r["device_code"] is not None:
            by_code.setdefault(r["device_code"], []).append(rule_of(r))
        else:
            by_type.setdefault(r["device_type"], []).append(rule_of(r))
    by_dev: dict[str, list[m.Rule]] = {}
    for code, d in active_devs.items():
        rs = [*by_code.get(code, ()), *by_type.get(d["type"], ())]
        if rs:
            by_dev[code] = sorted(rs, key=lambda r: r.id)
    # Only readings of keys some rule watches are grouped (most keys have no rule).
    watched = {(code, r.key) for code, rs in by_dev.items() for r in rs if r.key}
    by_key: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for dc, k, t, v in new:
        if (dc, k) in watched:
            by_key.setdefault((dc, k), []).append((t, v))
    for series in by_key.values():
        series.sort(key=lambda tv: tv[0])
    states = store.states_for(conn, [(r.id, c) for c, rs in by_dev.items() for r in rs], lock=True)
    raised: list[int] = []
    touched: dict[tuple[int, str], dict[str, Any]] = {}
    for code, rs in by_dev.items():
        dev = active_devs[code]
        for rule in rs:
            st = states.get((rule.id, code), {})
            if rule.kind == "inactivity":
                out = m.on_activity(rule, st, seen[code])
                _apply(conn, p, rule, dev, out, now, st)
            else:
                for out in m.on_readings(rule, st, by_key.get((code, str(rule.key)), [])):
                    aid = _apply(conn, p, rule, dev, out, now, st)
                    if aid is not None:
                        raised.append(aid)
            touched[(rule.id, code)] = st
    store.save_states(conn, touched, now)
    return raised


def rule_timer(p: Platform) -> Any:
    """Job `perception.rule_timer`: a duration/stale/inactivity timer came due (idempotent)."""

    def handle(payload: dict[str, Any]) -> None:
        now = p.clock.now()
        with p.db.begin() as conn:
            rrow = store.rule_by_id(conn, int(payload["rule_id"]))
            dev = store.device(conn, str(payload["device_code"]))
            if rrow is None or dev is None or not rrow["enabled"]:
                return
            rule = rule_of(rrow)
            k = (rule.id, dev["code"])
            st = store.states_for(conn, [k], lock=True).get(k, {})
            out = m.on_timer(rule, st, now)
            out.timer_at = None
            st.pop("timer", None)
            _apply(conn, p, rule, dev, out, now, st)
            due = m.next_due(rule, st)
            if due is not None and due > now:  # activity since this timer was set: look again then
                _schedule(conn, rule, dev["code"], due, now, st)
            store.save_states(conn, {k: st}, now)

    return handle


# --- hazards ---------------------------------------------------------------------------------

def _evaluate_hazards(p: Platform, conn: Connection, devs: dict[str, dict[str, Any]], new: list[store.Reading],
                      now: datetime) -> None:
    with_role = {c for c, d in devs.items() if d["risk_point"] and m.DEVICE_TYPES[d["type"]].hazard_role}
    if not with_role:
        return
    touched = sorted({devs[d]["risk_point"] for d in {r[0] for r in new} & with_role})
    for code in touched:
        evaluate_risk_point(p, conn, code, now)


DISPLACEMENT_KEYS = {"crack_meter": "crack_mm", "gnss": "disp_mm"}


def evaluate_risk_point(p: Platform, conn: Connection, code: str, now: datetime) -> str:
    """Recompute a risk point's level from its rain gauges and displacement sensors."""
    rp = store.risk_point(conn, code)
    if rp is None:
        return "none"
    members, _ = store.list_devices(conn, SYSTEM.scope("device.read"), type_=None, grid=None, risk_point=code,
                                    status="active", limit=1000, offset=0)
    indicators: dict[str, str] = {}
    details: dict[str, Any] = {}
    for d in members:
        role = m.DEVICE_TYPES[d["type"]].hazard_role
        if role == "rain":
            sums = {h: store.sum_since(conn, [d["code"]], "rain_mm", now - timedelta(hours=h)) for h in m.RAIN_WINDOWS_H}
            indicators[d["code"]] = m.rainfall_level(sums)
            details[d["code"]] = {"rain_mm": sums, "level": indicators[d["code"]]}
        elif role == "displacement":
            series = store.series_since(conn, d["code"], DISPLACEMENT_KEYS[d["type"]], now - timedelta(hours=24))
            if not series:
                continue
            t0 = series[0][0]
            pts = [((t - t0).total_seconds() / 3600, v) for t, v in series]
            alpha = m.tangent_angle(pts, float(rp["creep_mm_per_h"]))
            indicators[d["code"]] = m.displacement_level(alpha)
            details[d["code"]] = {"alpha_deg": alpha, "level": indicators[d["code"]]}
    level = m.combined_level(indicators)
    old = rp["level"]
    if level == old:
        if details != rp["indicators"]:
            store.set_risk_level(conn, code, level, details, rp["level_at"] or now)
        return level
    store.set_risk_level(conn, code, level, details, now)
    alarm_id: int | None = None
    if level == "none":
        clear_active(conn, f"rp:{code}", "hazard", "rule", now)
    else:
        alarm_id, _ = raise_alarm(conn, subject=f"rp:{code}", device_code=None, risk_point=code,
                                  grid=rp["grid_code"], alarm_type="hazard", severity=m.LEVEL_SEVERITY[level],
                                  rule_id=None, details={"level": level, "indicators": details}, now=now)
    if m.raises_case(old, level):
        emit(conn, "perception.hazard_raised", {
            "risk_point": code, "level": level, "location": {"lon": rp["lon"], "lat": rp["lat"]},
            "grid": rp["grid_code"], "alarm_id": alarm_id, "name": rp["name"], "people": rp["people"],
            "households": rp["households"]}, now)
    return level


def retention(p: Platform) -> Any:
    def handle(payload: dict[str, Any]) -> None:
        now = p.clock.now()
        with p.db.begin() as conn:
            store.apply_retention(conn, now - RAW_RETENTION, now - MINUTE_RETENTION)

    return handle


def _wire(p: Platform) -> None:
    bus = p.bus
    bus.register(CreateDevice, lambda c: create_device(p, c))
    bus.register(UpdateDeviceStatus, lambda c: update_device_status(p, c))
    bus.register(CreateRiskPoint, lambda c: create_risk_point(p, c))
    bus.register(CreateRule, lambda c: create_rule(p, c))
    bus.register(AckAlarm, lambda c: ack_alarm(p, c))
    bus.register(ClearAlarm, lambda c: clear_alarm(p, c))
    bus.register_job("perception.rule_timer", rule_timer(p))
    bus.register_recurring("perception.retention", retention(p), 3600)


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
