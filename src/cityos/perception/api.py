"""Native API of perception: devices, telemetry (ingest and queries), rules, alarms,
risk points, dead letters. Every list is filtered to the caller's scope by grid code."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from cityos.core.errors import NotFound, ValidationError
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.perception import handlers as h
from cityos.perception import model as m
from cityos.perception import ogc as _ogc  # noqa: F401  (registers the OGC collections)
from cityos.perception import store
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1", tags=["perception"])


def device_out(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("code", "type", "name", "lon", "lat", "grid_code", "owner_unit", "risk_point",
                              "status", "last_seen", "created_at")}


def _limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise ValidationError("must be between 1 and 1000", field="limit")
    return limit


def _time(raw: str | None, name: str, default: datetime) -> datetime:
    if raw is None or raw == "":
        return default
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("must be an ISO 8601 date-time", field=name) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@router.get("/device-types", summary="Device types with their telemetry keys and units")
def device_types() -> dict[str, Any]:
    return {"types": [{"code": t.code, "zh": t.zh, "en": t.en, "keys": t.keys, "hazard_role": t.hazard_role}
                      for t in m.DEVICE_TYPES.values()]}


class DeviceIn(BaseModel):
    code: str = Field(max_length=64)
    type: str = Field(max_length=40)
    lon: float
    lat: float
    name: str = Field("", max_length=200)
    owner_unit: str | None = Field(None, max_length=40)
    risk_point: str | None = Field(None, max_length=64)
    status: str = "active"


@router.post("/devices", status_code=201, summary="Register a device (its credential is shown once)")
def create_device(request: Request, body: DeviceIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    row, secret = p.bus.handle(h.CreateDevice(actor, body.code, body.type, body.lon, body.lat, body.name,
                                              body.owner_unit, body.risk_point, body.status))
    return {**device_out(row), "credential": secret}


@router.get("/devices", summary="Devices within my scope")
def list_devices(request: Request, type: str | None = None, grid: str | None = None, risk_point: str | None = None,
                 status: str | None = None, limit: int = 100, offset: int = 0,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("device.read")
    p = get_platform(request)
    with p.db.read() as conn:
        rows, total = store.list_devices(conn, actor.scope("device.read"), type_=type, grid=grid,
                                         risk_point=risk_point, status=status, limit=_limit(limit),
                                         offset=max(0, offset))
    return {"total": total, "devices": [device_out(r) for r in rows]}


def _device(request: Request, actor: Actor, code: str) -> dict[str, Any]:
    actor.require("device.read")
    with get_platform(request).db.read() as conn:
        d = store.device(conn, code)
    if d is None or not actor.can("device.read", d["grid_code"]):
        raise NotFound(f"no device {code!r} in your scope", field="code")
    return d


@router.get("/devices/{code}", summary="One device")
def get_device(request: Request, code: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return device_out(_device(request, actor, code))


class StatusIn(BaseModel):
    status: str


@router.patch("/devices/{code}", summary="Change a device's status (active, maintenance, disabled)")
def patch_device(request: Request, code: str, body: StatusIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    p.bus.handle(h.UpdateDeviceStatus(actor, code, body.status))
    return device_out(_device(request, actor, code))


@router.post("/devices/{code}/telemetry", summary="Send telemetry (device credential in X-Device-Token, "
             "or a user/API key with telemetry.write)")
async def post_telemetry(request: Request, code: str) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    p = get_platform(request)
    raw = await request.body()
    token = request.headers.get("x-device-token")

    def work() -> dict[str, Any]:
        with p.db.read() as conn:
            d = store.device(conn, code)
        if token:
            if d is None or not d["secret_hash"] or not hmac.compare_digest(d["secret_hash"], h.secret_hash(token)):
                from cityos.core.errors import Unauthenticated

                raise Unauthenticated("the device credential does not match this device", field="X-Device-Token")
        else:
            from cityos.identity.web import resolve_actor

            actor = resolve_actor(request)
            actor.require("telemetry.write", d["grid_code"] if d else None)
            if d is None:
                raise NotFound(f"no device {code!r}", field="code")
        res = h.ingest(p, [h.Message(code, raw, "http")])
        if res.rejected:
            _, reason, msg = res.rejected[0]
            raise ValidationError(msg, field="payload", details={"reason": reason})
        return {"accepted": res.accepted, "readings": res.readings, "alarms": res.alarms}

    from cityos.perception.metrics import MESSAGES

    MESSAGES.labels("http").inc()
    return await run_in_threadpool(work)


@router.get("/devices/{code}/telemetry/latest", summary="The latest value of every key")
def telemetry_latest(request: Request, code: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    d = _device(request, actor, code)
    with get_platform(request).db.read() as conn:
        rows = store.latest_of(conn, d["code"])
    return {"device": code, "values": {r["key"]: {"ts": r["ts"], "value": r["value"]} for r in rows}}


@router.get("/devices/{code}/telemetry", summary="Raw readings of one key in a time range")
def telemetry_range(request: Request, code: str, key: str, since: str | None = None, until: str | None = None,
                    limit: int = 1000, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    d = _device(request, actor, code)
    p = get_platform(request)
    now = p.clock.now()
    t1 = _time(until, "until", now + timedelta(minutes=5))
    t0 = _time(since, "since", t1 - timedelta(hours=24))
    with p.db.read() as conn:
        rows = store.range_of(conn, d["code"], key, t0, t1, _limit(limit))
    return {"device": code, "key": key, "points": [{"ts": r["ts"], "value": r["value"]} for r in rows]}


@router.get("/devices/{code}/telemetry/aggregate", summary="Rollups (1m, 1h, 1d): min, max, avg, count, last")
def telemetry_aggregate(request: Request, code: str, key: str, bucket: str = "1h", since: str | None = None,
                        until: str | None = None, limit: int = 1000,
                        actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    if bucket not in store.BUCKETS:
        raise ValidationError(f"must be one of {', '.join(store.BUCKETS)}", field="bucket")
    d = _device(request, actor, code)
    p = get_platform(request)
    now = p.clock.now()
    t1 = _time(until, "until", now + timedelta(minutes=5))
    t0 = _time(since, "since", t1 - timedelta(days=7))
    with p.db.read() as conn:
        rows = store.rollups_of(conn, d["code"], key, bucket, t0, t1, _limit(limit))
    return {"device": code, "key": key, "bucket": bucket, "buckets": [
        {"start": r["start"], "min": r["min"], "max": r["max"], "avg": r["sum"] / r["count"], "count": r["count"],
         "last": r["last"]} for r in rows]}


class RuleIn(BaseModel):
    name: str = Field("", max_length=200)
    kind: str
    alarm_type: str = Field(max_length=60)
    severity: str
    device_type: str | None = None
    device_code: str | None = None
    key: str | None = None
    op: str = ">"
    limit: float = 0.0
    clear: float | None = None
    duration_s: int = 0
    count: int = 1


@router.post("/rules", status_code=201, summary="Create an alarm rule for a device type or one device")
def create_rule(request: Request, body: RuleIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    rid = p.bus.handle(h.CreateRule(actor, body.name, body.kind, body.alarm_type, body.severity, body.device_type,
                                    body.device_code, body.key, body.op, body.limit, body.clear, body.duration_s,
                                    body.count))
    with p.db.read() as conn:
        return {"rule": store.rule_by_id(conn, rid)}


@router.get("/rules", summary="Alarm rules")
def list_rules(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("device.read")
    with get_platform(request).db.read() as conn:
        return {"rules": store.all_rules(conn)}


def alarm_out(a: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if k != "active_key"}


@router.get("/alarms", summary="Alarms within my scope (newest first)")
def list_alarms(request: Request, status: str | None = None, device: str | None = None, active: bool = False,
                limit: int = 100, offset: int = 0, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("alarm.read")
    if status is not None and status not in m.STATUSES:
        raise ValidationError(f"must be one of {', '.join(m.STATUSES)}", field="status")
    with get_platform(request).db.read() as conn:
        rows, total = store.list_alarms(conn, actor.scope("alarm.read"), status=status, device=device,
                                        active_only=active, limit=_limit(limit), offset=max(0, offset))
    return {"total": total, "alarms": [alarm_out(a) for a in rows]}


@router.post("/alarms/{alarm_id}/ack", summary="Acknowledge an alarm")
def ack(request: Request, alarm_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return alarm_out(get_platform(request).bus.handle(h.AckAlarm(actor, alarm_id)))


@router.post("/alarms/{alarm_id}/clear", summary="Clear an alarm")
def clear(request: Request, alarm_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return alarm_out(get_platform(request).bus.handle(h.ClearAlarm(actor, alarm_id)))


class RiskPointIn(BaseModel):
    code: str = Field(max_length=64)
    name: str = Field("", max_length=200)
    kind: str = "landslide"
    polygon: dict[str, Any]
    households: int = 0
    people: int = 0
    monitor: str | None = Field(None, max_length=80)
    evacuation_route: str | None = Field(None, max_length=2000)
    shelter: str | None = Field(None, max_length=200)
    creep_mm_per_h: float = 0.05


def risk_point_out(r: dict[str, Any]) -> dict[str, Any]:
    return dict(r)


@router.post("/risk-points", status_code=201, summary="Register a geological-hazard risk point")
def create_risk_point(request: Request, body: RiskPointIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    row = get_platform(request).bus.handle(h.CreateRiskPoint(
        actor, body.code, body.name, body.kind, body.polygon, body.households, body.people, body.monitor,
        body.evacuation_route, body.shelter, body.creep_mm_per_h))
    return risk_point_out(row)


@router.get("/risk-points", summary="Risk points within my scope, with their warning level")
def list_risk_points(request: Request, level: str | None = None, limit: int = 100, offset: int = 0,
                     actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("hazard.read")
    if level is not None and level not in m.LEVELS:
        raise ValidationError(f"must be one of {', '.join(m.LEVELS)}", field="level")
    with get_platform(request).db.read() as conn:
        rows, total = store.list_risk_points(conn, actor.scope("hazard.read"), level, _limit(limit), max(0, offset))
    return {"total": total, "risk_points": [risk_point_out(r) for r in rows]}


@router.get("/dead-letters", summary="Rejected telemetry messages with their reason (newest first)")
def dead_letters(request: Request, limit: int = 100, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("device.admin")
    with get_platform(request).db.read() as conn:
        return {"dead_letters": store.list_dead_letters(conn, _limit(limit))}
