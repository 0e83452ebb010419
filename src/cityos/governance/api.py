"""Native API of the case loop (OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from cityos.core.errors import NotFound, ValidationError
from cityos.geo.model import level_of
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.governance.model import (
    ACTIONS,
    OPEN_STATES,
    STATE_ZH,
    allowed_actions,
    categories_csv,
    period_of,
    rates,
)
from cityos.identity import audit
from cityos.identity.model import Actor, mask_name, mask_phone
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1", tags=["cases"])


@router.get("/categories", summary="The case category catalogue (class/subclass, part or event)")
def categories(request: Request, kind: Literal["part", "event"] | None = None) -> dict[str, Any]:
    cats = h.catalog(get_platform(request)).get().categories.values()
    return {"categories": [c.as_row() for c in cats if kind is None or c.kind == kind]}


@router.get("/categories.csv", summary="The catalogue as CSV", response_class=Response)
def categories_export(request: Request) -> Response:
    cats = list(h.catalog(get_platform(request)).get().categories.values())
    return Response(categories_csv(cats), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="categories.csv"'})


@router.post("/categories/import", summary="Replace or extend the catalogue from CSV (all rows or none)")
async def categories_import(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV must be UTF-8 (bad byte at {exc.start})", field="file") from None
    return {"imported": h.import_categories(get_platform(request), actor, text)}


class CaseIn(BaseModel):
    category: str = Field(max_length=5, description="subclass code, e.g. P0101 or E0303")
    description: str = Field(max_length=4000)
    title: str | None = Field(None, max_length=200)
    lon: float | None = None
    lat: float | None = None
    node: str | None = Field(None, max_length=15, description="a division code, when there is no point")
    address: str | None = Field(None, max_length=300)
    source: Literal["grid", "hotline", "upper", "staff", "public"] = "staff"
    source_ref: str | None = Field(None, max_length=60)
    reporter_name: str | None = Field(None, max_length=80)
    reporter_phone: str | None = Field(None, max_length=20)
    emergency: bool | None = None


@router.post("/cases", status_code=201, summary="Report a case (Idempotency-Key honoured)")
async def create_case(request: Request, body: CaseIn,
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    def run() -> Any:
        actor = current_actor(request)  # the credential read and the intake in one worker-thread hop
        return get_platform(request).bus.handle(h.ReportCase(actor=actor, idempotency_key=idempotency_key,
                                                             **body.model_dump()))

    return JSONResponse(await run_in_threadpool(run), status_code=201)


def case_out(c: dict[str, Any], actor: Actor, *, personal: bool = False) -> dict[str, Any]:
    out = {k: c[k] for k in ("id", "number", "source", "source_ref", "category_code", "kind", "title", "description",
                             "lon", "lat", "address", "grid_code", "village_code", "township_code", "district_code",
                             "owner_level", "owner_node", "handler_unit", "co_units", "routing", "state", "deadline",
                             "overdue", "escalation_level", "emergency", "rework_count", "return_count", "master_id",
                             "extension", "satisfied", "created_at", "updated_at", "closed_at")}
    out["state_zh"] = STATE_ZH.get(c["state"], c["state"])
    out["reporter_name"] = c["reporter_name"] if personal else mask_name(c["reporter_name"])
    out["reporter_phone"] = c["reporter_phone"] if personal else mask_phone(c["reporter_phone"])
    return out


@router.get("/cases", summary="Cases in my scope, filtered")
def list_cases(request: Request, state: str | None = None, category: str | None = None, node: str | None = None,
               overdue: bool | None = None, source: str | None = None, q: str | None = Query(None, max_length=100),
               open_only: bool = False, limit: int = 50, offset: int = 0,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("case.read")
    if not 1 <= limit <= 500:
        raise ValidationError("must be between 1 and 500", field="limit")
    if node:
        level_of(node)
    where = store.case_filter(actor.scope("case.read"), state=state, category=category, node=node, overdue=overdue,
                              source=source, q=q, states=OPEN_STATES if open_only else None)
    with get_platform(request).db.read() as conn:
        rows, total = store.list_cases(conn, where, limit, max(0, offset))
    return {"total": total, "cases": [case_out(r, actor) for r in rows]}


@router.get("/cases/{case_id}", summary="One case with its timeline and the actions its state allows")
def get_case(request: Request, case_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    with p.db.begin() as conn:
        c = store.get_case(conn, case_id)
        if c is None or not actor.can("case.read", c["node"]):
            raise NotFound(f"no case {case_id} in your scope", field="case_id")
        personal = actor.may_see_personal(c["node"]) and bool(c["reporter_phone"] or c["reporter_name"])
        if personal:
            audit.record(conn, actor, "personal.read", "case", c["number"], p.clock.now(), node=c["node"])
        events = store.events_of(conn, case_id)
        files = store.attachments_of(conn, case_id)
    out = case_out(c, actor, personal=personal)
    out["timeline"] = [{k: e[k] for k in ("action", "from_state", "to_state", "at", "actor", "role", "note")}
                       for e in events]
    out["attachments"] = [{k: f[k] for k in ("id", "filename", "content_type", "size", "at", "actor")} for f in files]
    out["allowed_actions"] = [{"action": a, "zh": ACTIONS[a].zh} for a in allowed_actions(c["state"])]
    return out


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=2000)
    unit: str | None = Field(None, max_length=40)
    co_units: list[str] = Field(default_factory=list, max_length=20)
    hours: float | None = None
    master_id: int | None = None
    satisfied: bool | None = None
    level: str | None = Field(None, max_length=10)


@router.post("/cases/{case_id}/actions/{action}", summary="Take an action of the loop on a case")
def case_action(request: Request, case_id: int, action: str, body: ActionIn | None = None,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    b = body or ActionIn()
    payload = {k: v for k, v in b.model_dump().items() if k != "note" and v not in (None, [])}
    return get_platform(request).bus.handle(h.Act(actor, case_id, action, b.note, payload))


@router.post("/cases/{case_id}/attachments", status_code=201, summary="Attach a photo or document (10 MiB max)")
async def attach(request: Request, case_id: int, file: UploadFile = File(...),
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    data = await file.read(h.MAX_ATTACHMENT + 1)
    aid = h.attach(get_platform(request), actor, case_id, file.filename or "file", file.content_type or "", data)
    return {"id": aid, "size": len(data)}


@router.get("/queues/{node}", summary="A centre's queue: cases it owns, escalated to it, overdue below it")
def queue(request: Request, node: str, limit: int = 50, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    level_of(node)
    actor.require("case.read", node)
    p = get_platform(request)
    scope = actor.scope("case.read")
    with p.db.read() as conn:
        owned, n_owned = store.list_cases(conn, store.case_filter(scope, states=OPEN_STATES) &
                                          (store.cases.c.owner_node == node), limit, 0)
        escalated, n_esc = store.list_cases(conn, store.case_filter(scope, states=OPEN_STATES) &
                                            (store.cases.c.owner_node == node) & (store.cases.c.escalation_level > 0),
                                            limit, 0)
        overdue, n_over = store.list_cases(conn, store.case_filter(scope, node=node, overdue=True, states=OPEN_STATES),
                                           limit, 0)
    return {"node": node,
            "owned": {"total": n_owned, "cases": [case_out(c, actor) for c in owned]},
            "escalated": {"total": n_esc, "cases": [case_out(c, actor) for c in escalated]},
            "overdue_below": {"total": n_over, "cases": [case_out(c, actor) for c in overdue]}}


@router.get("/indicators", summary="Case-loop indicators for a node and months, with a ranking of the units below")
def indicators(request: Request, node: str, period: list[str] = Query(default_factory=list),
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    level_of(node)
    actor.require("case.read", node)
    p = get_platform(request)
    periods = period or [period_of(p.clock.now())]
    for per in periods:
        try:
            datetime.strptime(per, "%Y-%m")
        except ValueError:
            raise ValidationError(f"{per!r} is not a month like 2026-11", field="period") from None
    from cityos.geo import store as geo_store

    with p.db.read() as conn:
        kids = [k["code"] for k in geo_store.children(conn, node)]
        stats = store.stats_for(conn, [node, *kids], periods)
    own = stats.pop(node)
    ranking: list[dict[str, Any]] = [{"node": k, **rates(s), "due": s.due, "closed": s.closed} for k, s in stats.items()]
    ranking.sort(key=lambda r: (-float(r["on_time_closure_rate"] or -1), str(r["node"])))
    return {"node": node, "periods": periods, "counts": own.__dict__, "rates": rates(own), "ranking": ranking}


@router.get("/notifications", summary="My inbox and my units' inboxes")
def my_notifications(request: Request, after: int = 0, limit: int = 50,
                     actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    units = [g.unit for g in actor.grants if g.unit] + [f"C-{g.node}" for g in actor.grants] + \
        [f"G-{g.node}" for g in actor.grants if len(g.node) == 15]
    with get_platform(request).db.read() as conn:
        rows = store.inbox(conn, actor.username, units, after, min(max(limit, 1), 200))
    return {"notifications": rows}


@router.post("/hotline/import", summary="Import 12345 work orders from CSV (every row checked first; all or nothing)",
             tags=["cases"])
async def hotline_import(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Columns: number, received_at, category (code or name), description, address, lon and lat or
    division, caller_name, caller_phone. Send the CSV as the body (text/csv) or as the `file` of a form.
    A number imported before is skipped and listed under `duplicates`."""
    from cityos.governance.hotline import import_hotline

    actor.require_signed_in()
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationError("send the CSV as the form field `file`", field="file")
        raw = await upload.read()
    else:
        raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV must be UTF-8 (bad byte at {exc.start})", field="file") from None
    return import_hotline(get_platform(request), actor, text)


from cityos.governance import notify_api  # noqa: E402  (live inbox, mark read, webhooks)

router.include_router(notify_api.router)
