"""Native API of the ledger under /api/v1/ledger/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from cityos.core import idempotency
from cityos.core.errors import NotFound, ValidationError
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.ledger import handlers as h
from cityos.ledger import model, store
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

PUBLIC_FIELDS = ("code", "rtype", "kind", "name_zh", "name_en", "owner_unit", "level", "division_code", "state",
                 "endpoint", "created_at", "updated_at")


def resource_out(r: dict[str, Any], tag_list: list[str] | None = None) -> dict[str, Any]:
    out = {k: r[k] for k in PUBLIC_FIELDS}
    out["type"] = out.pop("rtype")
    if tag_list is not None:
        out["tags"] = tag_list
    return out


def _split(values: list[str] | None) -> list[str]:
    return [v for raw in values or [] for v in raw.split(",") if v]


@router.get("/types", summary="Resource types, their attribute schemas and the lifecycle")
def types() -> dict[str, Any]:
    return {"types": [{"type": t, "zh": zh, "en": en, "schema": model.SCHEMAS[t], "identity": model.IDENTITY[t],
                       "may_use": sorted(model.MAY_USE[t])} for t, (zh, en) in model.TYPES.items()],
            "states": list(model.STATES),
            "actions": {a: {"from": list(f), "to": to} for a, (f, to) in model.ACTIONS.items()}}


def search_resources(p: Any, actor: Actor, q: str | None, rtype: list[str], state: list[str], owner: list[str],
                     level: list[str], tag: list[str], limit: int, offset: int) -> dict[str, Any]:
    actor.require("ledger.read")
    if not 1 <= limit <= 200:
        raise ValidationError("must be between 1 and 200", field="limit")
    for name, values, allowed in (("type", rtype, model.TYPES), ("state", state, model.STATES),
                                  ("level", level, model.LEVELS)):
        for v in values:
            if v not in allowed:
                raise ValidationError(f"unknown {name} {v!r}; one of {', '.join(allowed)}", field=name)
    with p.db.read() as conn:
        rows, total, facets = store.search(conn, actor.scope("ledger.read"), q=(q or "").strip() or None,
                                           filters={"rtype": rtype, "state": state, "owner_unit": owner,
                                                    "level": level}, tag_list=tag, limit=limit, offset=max(0, offset))
        tag_map = store.tags_of(conn, [r["id"] for r in rows])
    facets["type"] = facets.pop("rtype")
    facets["owner"] = facets.pop("owner_unit")
    return {"total": total, "total_capped": bool(q or tag) and total >= 10_000,
            "resources": [resource_out(r, tag_map[r["id"]]) for r in rows], "facets": facets}


@router.get("/resources", summary="Search the ledger with facets (type, state, owner, level, tags)")
def list_resources(request: Request, q: str | None = Query(None, max_length=100),
                   type: list[str] | None = Query(None), state: list[str] | None = Query(None),
                   owner: list[str] | None = Query(None), level: list[str] | None = Query(None),
                   tag: list[str] | None = Query(None), limit: int = 20, offset: int = 0,
                   actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return search_resources(get_platform(request), actor, q, _split(type), _split(state), _split(owner),
                            _split(level), _split(tag), limit, offset)


class ContactIn(BaseModel):
    name: str = Field(max_length=80)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=120)


class ResourceIn(BaseModel):
    code: str = Field(max_length=64)
    type: str = Field(max_length=20)
    name_zh: str = Field(max_length=200)
    name_en: str = Field("", max_length=200)
    owner_unit: str = Field(max_length=40)
    level: str = Field(max_length=10)
    division_code: str = Field(max_length=15)
    description: str = Field("", max_length=4000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)
    attributes: dict[str, Any] = Field(default_factory=dict)
    uses: list[str] = Field(default_factory=list, max_length=100)


def to_new(body: ResourceIn) -> model.NewResource:
    return model.NewResource(body.code.strip(), body.type, body.name_zh, body.name_en, body.owner_unit, body.level,
                             body.division_code, body.attributes, body.description, tuple(body.tags),
                             tuple(c.model_dump(exclude_none=True) for c in body.contacts))


def _idempotent(request: Request, scope: str, key: str | None, body: Any, run: Any) -> JSONResponse:
    p = get_platform(request)
    key = idempotency.check_key(key)
    digest = idempotency.request_hash(body)
    if key:
        with p.db.read() as conn:
            seen = idempotency.lookup(conn, scope, key, digest)
        if seen:
            return JSONResponse(seen[1], status_code=seen[0])
    result = jsonable_encoder(run())
    if key:
        with p.db.begin() as conn:
            idempotency.remember(conn, scope, key, digest, 201, result, p.clock.now())
    return JSONResponse(result, status_code=201)


@router.post("/resources", status_code=201, summary="Register a resource (as a draft)")
def register(request: Request, body: ResourceIn, idempotency_key: str | None = Header(None),
             actor: Actor = Depends(current_actor)) -> JSONResponse:
    p = get_platform(request)
    return _idempotent(request, f"ledger.register:{actor.username}", idempotency_key, body.model_dump(),
                       lambda: p.bus.handle(h.RegisterResource(actor, to_new(body), tuple(body.uses))))


def load_visible(p: Any, actor: Actor, code: str) -> dict[str, Any]:
    actor.require("ledger.read")
    scope = actor.scope("ledger.read")
    with p.db.read() as conn:
        r = store.by_code(conn, code)
    if r is None or not (scope.contains(r["division_code"]) or (r["level"] == "city" and r["state"] == "online")):
        raise NotFound(f"no resource {code!r} in the ledger (or not in your scope)", field="code")
    return r


def resource_detail(p: Any, actor: Actor, code: str) -> dict[str, Any]:
    r = load_visible(p, actor, code)
    with p.db.read() as conn:
        out = resource_out(r, store.tags_of(conn, [r["id"]])[r["id"]])
        out.update(description=r["description"], contacts=r["contacts"], attributes=r["attributes"],
                   health_url=r["health_url"], created_by=r["created_by"])
        out["allowed_actions"] = model.allowed_actions(r["state"])
        out["needs"] = store.walk(conn, r["id"], "needs", max_depth=1)
        out["dependents"] = store.walk(conn, r["id"], "impact", max_depth=1)
        out["history"] = store.history(conn, r["id"])
        out["grants"] = store.grants_for(conn, r["id"])
        since = p.clock.now() - timedelta(days=366)
        probes = store.probes_of(conn, r["id"], since)
    out["availability"] = model.monthly_availability(
        model.Probe(x["at"], x["ok"], x["latency_ms"]) for x in probes)
    out["last_probe"] = probes[-1] if probes else None
    return out


@router.get("/resources/{code}", summary="One resource: attributes, dependencies both ways, history, health")
def get_resource(request: Request, code: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return resource_detail(get_platform(request), actor, code)


class ActionIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


@router.post("/resources/{code}/actions/{action}",
             summary="Lifecycle: submit, approve, reject, publish, take_offline, retire")
def act(request: Request, code: str, action: str, body: ActionIn | None = None,
        actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return dict(get_platform(request).bus.handle(h.Transition(actor, code, action, body.reason if body else None)))


class UsesIn(BaseModel):
    uses: str = Field(max_length=64)
    note: str = Field("", max_length=200)


@router.post("/resources/{code}/uses", status_code=201, summary="Declare that a resource uses another")
def add_uses(request: Request, code: str, body: UsesIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return dict(get_platform(request).bus.handle(h.AddDependency(actor, code, body.uses, body.note)))


@router.delete("/resources/{code}/uses/{other}", status_code=204, summary="Stop using a resource")
def remove_uses(request: Request, code: str, other: str, actor: Actor = Depends(current_actor)) -> None:
    get_platform(request).bus.handle(h.RemoveDependency(actor, code, other))


@router.get("/resources/{code}/graph", summary="What it needs (direction=needs) or what would break (impact)")
def graph(request: Request, code: str, direction: str = "impact", depth: int = 20,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    if direction not in ("needs", "impact"):
        raise ValidationError("must be needs or impact", field="direction")
    if not 1 <= depth <= 50:
        raise ValidationError("must be between 1 and 50", field="depth")
    p = get_platform(request)
    r = load_visible(p, actor, code)
    with p.db.read() as conn:
        nodes = store.walk(conn, r["id"], direction, max_depth=depth)
    by_type: dict[str, int] = {}
    for n in nodes:
        by_type[n["rtype"]] = by_type.get(n["rtype"], 0) + 1
    return {"code": code, "direction": direction, "count": len(nodes), "by_type": by_type,
            "nodes": [{k: n[k] for k in ("code", "rtype", "state", "name_zh", "owner_unit", "depth")}
                      for n in nodes[:2000]]}


@router.get("/orphans", summary="Unused resources and resources that use something retired")
def orphans(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("ledger.read")
    with get_platform(request).db.read() as conn:
        return store.orphans(conn, actor.scope("ledger.read"))


class ItemIn(BaseModel):
    code: str = Field(max_length=64)
    request: dict[str, Any] = Field(default_factory=dict)


class ApplicationIn(BaseModel):
    unit: str = Field(max_length=40)
    purpose: str = Field(max_length=500)
    items: list[ItemIn] = Field(max_length=50)


@router.post("/applications", status_code=201, summary="Apply for several resources at once (bundled)")
def apply(request: Request, body: ApplicationIn, idempotency_key: str | None = Header(None),
          actor: Actor = Depends(current_actor)) -> JSONResponse:
    p = get_platform(request)
    return _idempotent(request, f"ledger.apply:{actor.username}", idempotency_key, body.model_dump(),
                       lambda: p.bus.handle(h.ApplyBundle(actor, body.unit, body.purpose,
                                                          tuple((i.code, i.request) for i in body.items))))


@router.get("/applications", summary="My applications and those waiting for my decision")
def applications(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    approver = actor.scope("ledger.approve")
    with get_platform(request).db.read() as conn:
        rows = store.list_applications(conn, applicant=actor.username,
                                       approver_scope=None if approver.empty else approver)
    return {"applications": rows}


def visible_application(p: Any, actor: Actor, app_id: int) -> dict[str, Any]:
    actor.require_signed_in()
    with p.db.read() as conn:
        a = store.application(conn, app_id)
    approver = actor.scope("ledger.approve")
    if a is None or not (a["applicant"] == actor.username
                         or any(approver.contains(i["division_code"]) for i in a["items"])):
        raise NotFound(f"no application {app_id} (or not yours to see)", field="application_id")
    return a


@router.get("/applications/{app_id}", summary="One application with its items")
def get_application(request: Request, app_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return visible_application(get_platform(request), actor, app_id)


class DecisionIn(BaseModel):
    approve: bool
    reason: str | None = Field(None, max_length=500)


@router.post("/applications/{app_id}/items/{code}/decision", summary="The owner approves or rejects its part")
def decide(request: Request, app_id: int, code: str, body: DecisionIn,
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return dict(get_platform(request).bus.handle(h.DecideItem(actor, app_id, code, body.approve, body.reason)))


@router.get("/stats", summary="The one-book view: counts by type, state, owner, level; growth per month")
def stats(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("ledger.read")
    scope = actor.scope("ledger.read")
    with get_platform(request).db.read() as conn:
        out = store.stats(conn, scope)
        out["growth"] = store.growth(conn, scope)
    return out


EXPORT_COLUMNS = ("code", "rtype", "kind", "name_zh", "name_en", "owner_unit", "level", "division_code", "state",
                  "created_at")


def _export_rows(request: Request, actor: Actor) -> list[dict[str, Any]]:
    actor.require("ledger.read")
    with get_platform(request).db.read() as conn:
        return store.export_rows(conn, actor.scope("ledger.read"))


@router.get("/export.csv", summary="The ledger in scope as CSV")
def export_csv(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for r in _export_rows(request, actor):
        w.writerow([r[c].isoformat() if c == "created_at" else r[c] for c in EXPORT_COLUMNS])
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})


@router.get("/export.xlsx", summary="The ledger in scope and its statistics as XLSX")
def export_xlsx(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    from openpyxl import Workbook

    rows = _export_rows(request, actor)
    with get_platform(request).db.read() as conn:
        st = store.stats(conn, actor.scope("ledger.read"))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "resources"
    ws.append(list(EXPORT_COLUMNS))
    for r in rows:
        ws.append([r[c].replace(tzinfo=None) if c == "created_at" else r[c] for c in EXPORT_COLUMNS])
    summary = wb.create_sheet("statistics")
    summary.append(["facet", "value", "count"])
    for facet in store.FACETS:
        for k, n in st[facet].items():
            summary.append([facet, k, n])
    buf = io.BytesIO()
    wb.save(buf)
    return Response(buf.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})
