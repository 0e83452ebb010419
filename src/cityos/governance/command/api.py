"""Native API: instructions (一键智达), emergency direct reports (直报快响), duty rosters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from cityos.governance.command import handlers as h
from cityos.governance.command import store
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1", tags=["command"])


class InstructionIn(BaseModel):
    title: str = Field(max_length=200)
    body: str = Field(max_length=20_000)
    urgency: Literal["normal", "urgent", "critical"] = "normal"
    targets: dict[str, Any] = Field(description="{kind: children|department|list|polygon, ...}")
    sign_deadline: datetime
    complete_deadline: datetime


@router.post("/instructions", status_code=201,
             summary="Issue an instruction to every target at once (Idempotency-Key honoured)")
def issue(request: Request, body: InstructionIn, actor: Actor = Depends(current_actor),
          idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.IssueInstruction(actor, body.title, body.body, body.targets,
                                                               body.sign_deadline, body.complete_deadline, body.urgency,
                                                               idempotency_key=idempotency_key))


@router.get("/instructions/{iid}", summary="Progress of an instruction: counts by level, the relay tree, laggards")
def progress(request: Request, iid: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.instruction_progress(get_platform(request), actor, iid)


@router.post("/instructions/{iid}/remind", summary="Remind every laggard at once")
def remind(request: Request, iid: int, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    return {"reminded": h.remind_laggards(get_platform(request), actor, iid)}


class RelayIn(InstructionIn):
    pass


@router.post("/instruction-tasks/{tid}/relay", status_code=201, summary="Relay a task down the own subtree")
def relay(request: Request, tid: int, body: RelayIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.IssueInstruction(actor, body.title, body.body, body.targets,
                                                               body.sign_deadline, body.complete_deadline, body.urgency,
                                                               relay_of_task=tid))


class TaskIn(BaseModel):
    report: str | None = Field(None, max_length=4000)


@router.post("/instruction-tasks/{tid}/{action}", summary="Sign for, start or complete an instruction task")
def task_action(request: Request, tid: int, action: Literal["sign", "start", "complete"], body: TaskIn | None = None,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.MoveTask(actor, tid, action, (body or TaskIn()).report))


class EmergencyIn(BaseModel):
    category: str = Field(max_length=5)
    description: str = Field(max_length=4000)
    lon: float
    lat: float
    casualties: int = Field(0, ge=0, le=100_000)
    media: list[str] = Field(default_factory=list, max_length=20)
    ack_minutes: int = Field(5, ge=1, le=120)


@router.post("/emergencies", status_code=201, summary="Direct emergency report: rings all four levels at once")
def emergency(request: Request, body: EmergencyIn, actor: Actor = Depends(current_actor),
              idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.ReportEmergency(
        actor, body.category, body.description, body.lon, body.lat, body.casualties, body.media, "grid",
        body.ack_minutes, idempotency_key))


@router.get("/emergencies", summary="Emergency reports in my scope (the emergency wall)")
def emergencies(request: Request, limit: int = 50, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("case.read")
    scope = actor.scope("case.read")
    with get_platform(request).db.read() as conn:
        rows = store.reports_for_nodes(conn, None if scope.all else list(scope.roots), min(max(limit, 1), 200))
        out = [{**r, "rings": store.rings_of(conn, r["id"])} for r in rows]
    return {"emergencies": out}


@router.get("/emergencies/{rid}", summary="An emergency's response timeline, to the second")
def emergency_timeline(request: Request, rid: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.timeline(get_platform(request), actor, rid)


@router.post("/emergencies/{rid}/rings/{ring_id}/ack", summary="Acknowledge a ringing level (the person on duty)")
def ack(request: Request, rid: int, ring_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.acknowledge(get_platform(request), actor, rid, ring_id)


@router.post("/emergencies/{rid}/on-site", summary="The first responder is on site")
def arrive(request: Request, rid: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.on_site(get_platform(request), actor, rid)


class DutyIn(BaseModel):
    unit: str = Field(max_length=40)
    username: str = Field(max_length=80)
    position: int = 1
    starts_at: datetime
    ends_at: datetime


@router.post("/duty", status_code=201, summary="Put someone on a unit's duty roster")
def duty(request: Request, body: DutyIn, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    return {"id": h.set_duty(get_platform(request), actor, body.unit, body.username, body.position, body.starts_at,
                             body.ends_at)}


@router.get("/duty/{unit}", summary="Who is on duty at a unit now")
def on_duty(request: Request, unit: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    p = get_platform(request)
    with p.db.read() as conn:
        return {"unit": unit, "on_duty": store.on_duty(conn, unit, p.clock.now())}


class HandoverIn(BaseModel):
    to_user: str = Field(max_length=80)


@router.post("/duty/{unit}/handover", status_code=201, summary="Hand the duty over to a successor")
def handover(request: Request, unit: str, body: HandoverIn, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    return {"id": h.hand_over(get_platform(request), actor, unit, body.to_user)}
