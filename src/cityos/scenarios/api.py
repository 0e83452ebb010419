"""Native API of "one thing" scenarios: definitions, grants, pre-fill, submissions, department queues."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.scenarios import handlers as h
from cityos.scenarios import programme, store
from cityos.scenarios import programme_handlers as ph
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1", tags=["scenarios"])


class DefinitionIn(BaseModel):
    source: str = Field(..., max_length=200_000, description="The scenario definition, YAML or JSON text")


class GrantIn(BaseModel):
    refs: list[str] = Field(..., min_length=1, max_length=100, description="DATASET.FIELD (or DATASET.*) to grant")


class SubmissionIn(BaseModel):
    form: dict[str, Any] = Field(default_factory=dict)
    materials: dict[str, dict[str, str]] = Field(default_factory=dict,
                                                 description="per matter: material code → file reference")
    consent: bool = Field(False, description="consent to pre-fill from the base databases")
    grid_code: str | None = Field(None, max_length=15)


class CorrectionIn(BaseModel):
    form: dict[str, Any] = Field(default_factory=dict)
    materials: dict[str, str] = Field(default_factory=dict)


class MatterActionIn(BaseModel):
    reason: str | None = Field(None, max_length=1000)


@router.get("/scenarios", summary="Published one-thing scenarios")
def list_scenarios(request: Request) -> dict[str, Any]:
    with get_platform(request).db.read() as conn:
        rows = store.list_definitions(conn)
    return {"scenarios": jsonable_encoder([{k: v for k, v in r.items() if k != "definition"} for r in rows])}


@router.post("/scenarios/validate", summary="Check a definition without publishing it (dependency layers on success)")
def validate(body: DefinitionIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("scenario.design")
    sc = h.validate_definition(body.source)
    return {"valid": True, "code": sc.code, "version": sc.version, "order": sc.order(), "definition": sc.as_dict()}


@router.post("/scenarios", status_code=201, summary="Publish a scenario version (published versions are immutable)")
def publish(request: Request, body: DefinitionIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.PublishScenario(actor, body.source))


@router.get("/scenarios/{code}", summary="The latest published version of a scenario, with its dependency layers")
def get_scenario(request: Request, code: str, version: int | None = None) -> dict[str, Any]:
    with get_platform(request).db.read() as conn:
        sc = h.load_scenario(get_platform(request), conn, code, version)
        grants = sorted(store.grants_of(conn, code))
    return {**sc.as_dict(), "order": sc.order(), "grants": grants}


@router.post("/scenarios/{code}/versions/{version}/retire", summary="Retire a published version")
def retire(request: Request, code: str, version: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.retire_scenario(get_platform(request), actor, code, version)


@router.post("/scenarios/{code}/grants", summary="Grant base-data fields a scenario may pre-fill from (data officer)")
def grant(request: Request, code: str, body: GrantIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.grant_data(get_platform(request), actor, code, body.refs)


@router.get("/scenarios/{code}/prefill", summary="The form pre-filled from the base databases, with consent")
def prefill(request: Request, code: str, consent: bool = False,
            actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.prefill(get_platform(request), actor, code, consent)


@router.post("/scenarios/{code}/submissions", status_code=201,
             summary="Apply once: one form, fanned out to every matter's department")
async def submit(request: Request, code: str, body: SubmissionIn,
                 idempotency_key: str | None = Header(None)) -> JSONResponse:
    def run() -> Any:
        actor = current_actor(request)  # the credential read and the submission in one worker-thread hop
        return get_platform(request).bus.handle(h.Submit(
            actor, code, body.form, body.materials, body.consent, body.grid_code, idempotency_key))

    return JSONResponse(await run_in_threadpool(run), status_code=201)


@router.get("/submissions", summary="My one-thing submissions")
def mine(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"submissions": jsonable_encoder(h.my_submissions(get_platform(request), actor))}


@router.get("/submissions/{number}", summary="A submission's status: every matter, its state, reason and e-licences")
def submission(request: Request, number: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return jsonable_encoder(h.status(get_platform(request), actor, number))


@router.post("/submissions/{number}/matters/{matter}/correction",
             summary="Correct the rejected part only and send it back to its department")
def correction(request: Request, number: str, matter: str, body: CorrectionIn,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.Correct(
        actor, number, matter, body.form, body.materials))


@router.get("/matters", summary="The matters waiting at my department (or in my scope)")
def queue(request: Request, state: list[str] = Query(["queued", "accepted"]), limit: int = 50, offset: int = 0,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    states = tuple(s for raw in state for s in raw.split(",") if s)
    return jsonable_encoder(h.department_queue(get_platform(request), actor, states, limit, offset))


@router.post("/matters/{matter_id}/{action}", summary="Accept, complete (issues the e-licences) or reject a matter")
def act(request: Request, matter_id: int, action: str, body: MatterActionIn | None = None,
        actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    reason = body.reason if body else None
    return get_platform(request).bus.handle(h.ActOnMatter(actor, matter_id, action, reason))


# --- the plan: systems, runways, core businesses, the three lists ------------------------------------

@router.get("/programme/systems", summary="The six application systems and their runways")
def systems(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("programme.read")
    with get_platform(request).db.read() as conn:
        runways = store.list_runways(conn)
    return {"systems": [{"code": c, "name_zh": zh, "name_en": en, "runways": [r for r in runways if r["system"] == c]}
                        for c, (zh, en) in programme.SYSTEMS.items()]}


@router.post("/programme/runways", status_code=201, summary="Add a runway to a system, with its ledger applications")
def add_runway(request: Request, body: dict[str, Any], actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return ph.add_runway(get_platform(request), actor, body)


@router.get("/programme/businesses", summary="Departments' core businesses and their business items")
def businesses(request: Request, unit: str | None = None, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("programme.read")
    with get_platform(request).db.read() as conn:
        rows = store.list_businesses(conn, actor.scope("programme.read"), unit)
    return {"businesses": jsonable_encoder(rows)}


@router.post("/programme/businesses", status_code=201, summary="Add a core business split into business items")
def add_business(request: Request, body: dict[str, Any], actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return ph.add_core_business(get_platform(request), actor, body)


@router.get("/programme/lists", summary="The three lists (demand, scenario, reform), filtered")
def lists(request: Request, kind: str | None = None, system: str | None = None, unit: str | None = None,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"items": jsonable_encoder(ph.list_items(get_platform(request), actor, kind, system, unit))}


@router.post("/programme/lists", summary="Add or change a list item (links: demand → scenario → reform)")
def save_item(request: Request, body: dict[str, Any], actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return ph.save_list_item(get_platform(request), actor, body)


@router.get("/programme/lists/export", summary="The lists as a spreadsheet (xlsx or csv)")
def export(request: Request, format: str = "xlsx", kind: str | None = None,
           actor: Actor = Depends(current_actor)) -> Response:
    data, media = ph.export_lists(get_platform(request), actor, kind, format)
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="lists.{format}"'})


@router.post("/programme/lists/import", summary="Load list items from xlsx or csv: every row or none")
async def import_lists(request: Request, file: UploadFile = File(...),
                       actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    data = await file.read()
    return await run_in_threadpool(ph.import_lists, get_platform(request), actor, data, file.filename or "")


@router.get("/programme/lists/{code}", summary="One list item")
def list_item(request: Request, code: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return jsonable_encoder(ph.get_list_item(get_platform(request), actor, code))


@router.get("/programme/boards", summary="Boards per system and per department, and the progress figures")
def boards(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return ph.boards(get_platform(request), actor)
