"""Native API of grassroots governance: structure, lists, patrols, ledgers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from cityos.core.errors import ValidationError
from cityos.geo.model import level_of
from cityos.grassroots import handlers as h
from cityos.grassroots import model as m
from cityos.grassroots import store
from cityos.identity.model import Actor
from cityos.identity.store import in_scope
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1/grassroots", tags=["grassroots"])


@router.get("/staff", summary="Staff at a node and below (contacts masked outside the grids you serve)")
def staff(request: Request, node: str = Query(..., max_length=15), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.roster(get_platform(request), actor, node)


class StaffIn(BaseModel):
    node: str = Field(max_length=15)
    post: str = Field(max_length=24)
    name: str = Field(max_length=80)
    phone: str | None = Field(None, max_length=20)
    user_id: int | None = None
    sector: str | None = Field(None, max_length=12)


@router.post("/staff", status_code=201, summary="Add a staff member (sector lead, village head, grid 1+3+N)")
def add_staff(request: Request, body: StaffIn, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    return {"id": get_platform(request).bus.handle(h.AddStaff(actor=actor, **body.model_dump()))}


@router.get("/gaps", summary="Grids of a township without a full-time member")
def gaps(request: Request, township: str = Query(..., max_length=15), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.staffing_gaps(get_platform(request), actor, township)


@router.get("/board/{township}", summary="Township command centre: sectors, grids, staff on duty, cases, patrols")
def board(request: Request, township: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.board(get_platform(request), actor, township)


# --- lists ----------------------------------------------------------------------------------

@router.get("/lists", summary="Versions of a responsibility list (owner: the city for the template, or a township)")
def list_versions(request: Request, owner: str = Query(..., max_length=15),
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"owner": owner, "versions": h.versions(get_platform(request), actor, owner)}


class ListIn(BaseModel):
    owner: str = Field(max_length=15)
    adopt_template: bool = False
    note: str | None = Field(None, max_length=500)


@router.post("/lists", status_code=201, summary="A new draft version (a copy of the newest one, or of the template)")
def new_version(request: Request, body: ListIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.create_version(get_platform(request), actor, body.owner, note=body.note, adopt_template=body.adopt_template)


@router.get("/lists/diff", summary="What changed between two versions")
def diff(request: Request, a: int, b: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.version_diff(get_platform(request), actor, a, b)


@router.get("/lists/{list_id}", summary="One version with its items (and its deviations from the template)")
def get_list(request: Request, list_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.list_detail(get_platform(request), actor, list_id)


class ItemIn(BaseModel):
    key: str = Field(max_length=40)
    name_zh: str = Field(max_length=200)
    name_en: str = Field("", max_length=200)
    sector: str = Field(max_length=12)
    level: str = Field(max_length=12)
    categories: list[str] = Field(default_factory=list, max_length=50)
    role: str = Field(max_length=24)
    frequency: str = Field("none", max_length=12)
    legal_basis: str = Field("", max_length=500)
    done_standard: str = Field("", max_length=500)


@router.put("/lists/{list_id}/items", summary="Add or change one item of a draft")
def put_item(request: Request, list_id: int, body: ItemIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    row = body.model_dump()
    row["categories"] = " ".join(row["categories"])
    return h.put_item(get_platform(request), actor, list_id, row)


@router.delete("/lists/{list_id}/items/{key}", status_code=204, summary="Remove one item of a draft")
def delete_item(request: Request, list_id: int, key: str, actor: Actor = Depends(current_actor)) -> Response:
    h.delete_item(get_platform(request), actor, list_id, key)
    return Response(status_code=204)


@router.post("/lists/{list_id}/import", summary="Replace a draft's items from CSV or XLSX (all rows or none)")
async def import_items(request: Request, list_id: int, file: UploadFile = File(...),
                       actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    data = await file.read(5 * 1024 * 1024 + 1)
    if len(data) > 5 * 1024 * 1024:
        raise ValidationError("the file is larger than 5 MiB", field="file")
    return h.import_items(get_platform(request), actor, list_id, file.filename or "", data)


@router.get("/lists/{list_id}/export", summary="A version as CSV or XLSX", response_class=Response)
def export(request: Request, list_id: int, format: Literal["csv", "xlsx"] = "csv",
           actor: Actor = Depends(current_actor)) -> Response:
    lst, its = h.export_items(get_platform(request), actor, list_id)
    name = f"resplist-{lst['owner']}-v{lst['version']}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "xlsx":
        return Response(m.items_xlsx(its), headers=headers,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(m.items_csv(its), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/lists/{list_id}/actions/{action}", summary="submit (draft→review), return (review→draft), publish")
def list_action(request: Request, list_id: int, action: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.transition(get_platform(request), actor, list_id, action)


# --- patrols --------------------------------------------------------------------------------

def _day(v: str | None, field: str) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ValidationError("must be a date YYYY-MM-DD", field=field) from None


@router.get("/tasks/mine", summary="My patrol tasks for today (and yesterday's still open)")
def my_tasks(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"tasks": h.my_tasks(get_platform(request), actor)}


@router.get("/tasks", summary="Patrol tasks under a node on a day")
def tasks(request: Request, node: str = Query(..., max_length=15), day: str | None = None,
          status: str | None = None, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    level_of(node)
    actor.require("grassroots.read")
    the_day = _day(day, "day") or h.local_day(p.clock.now())
    if status is not None and status not in m.PATROL_STATES:
        raise ValidationError(f"must be one of {', '.join(m.PATROL_STATES)}", field="status")
    t = store.tasks
    conds = [t.c.node.startswith(node), t.c.day == the_day, in_scope(t.c.node, actor.scope("grassroots.read"))]
    if status:
        conds.append(t.c.status == status)
    with p.db.read() as conn:
        rows = store.list_tasks(conn, store.task_filter(*conds), limit=500)
    return {"day": the_day.isoformat(), "tasks": rows}


class CheckInIn(BaseModel):
    lon: float
    lat: float
    note: str | None = Field(None, max_length=2000)


@router.post("/tasks/{task_id}/checkin", summary="Check in on a patrol with location and notes (far away: flagged)")
def checkin(request: Request, task_id: int, body: CheckInIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return get_platform(request).bus.handle(h.CheckIn(actor=actor, task_id=task_id, **body.model_dump()))


class ProblemIn(BaseModel):
    category: str = Field(max_length=5)
    description: str = Field(max_length=4000)
    lon: float
    lat: float
    task_id: int | None = None


@router.post("/report", status_code=201, summary="Report a problem found on patrol as a case, in one step")
def report(request: Request, body: ProblemIn, actor: Actor = Depends(current_actor),
           idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    result = get_platform(request).bus.handle(h.ReportProblem(actor=actor, idempotency_key=idempotency_key,
                                                              **body.model_dump()))
    return JSONResponse(result, status_code=201)


@router.get("/patrol-stats", summary="Done, late, missed and open patrols per grid, village or township")
def patrol_stats(request: Request, node: str = Query(..., max_length=15), since: str | None = None,
                 until: str | None = None, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    today = h.local_day(p.clock.now())
    until_d = _day(until, "until") or today
    since_d = _day(since, "since") or until_d - timedelta(days=6)
    if since_d > until_d:
        raise ValidationError("must not be after until", field="since")
    return h.patrol_stats(p, actor, node, since_d, until_d)


# --- ledgers --------------------------------------------------------------------------------

@router.get("/ledger/{grid}", summary="A grid's ledger (personal fields masked unless role, scope and X-Purpose allow)")
def ledger(request: Request, grid: str, kind: str | None = None, limit: int = 100, offset: int = 0,
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.ledger_list(get_platform(request), actor, grid, kind, limit, offset)


class EntryIn(BaseModel):
    kind: str = Field(max_length=16)
    label: str = Field(max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    version: int | None = None


@router.post("/ledger/{grid}", status_code=201, summary="Add a ledger entry")
def ledger_add(request: Request, grid: str, body: EntryIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.ledger_write(get_platform(request), actor, grid, body.kind, body.label, body.data)


@router.put("/ledger/{grid}/{entry_id}", summary="Change a ledger entry (send the version you read)")
def ledger_put(request: Request, grid: str, entry_id: int, body: EntryIn,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.ledger_write(get_platform(request), actor, grid, body.kind, body.label, body.data, entry_id, body.version)


@router.delete("/ledger/{grid}/{entry_id}", status_code=204, summary="Remove a ledger entry (kept in its history)")
def ledger_del(request: Request, grid: str, entry_id: int, actor: Actor = Depends(current_actor)) -> Response:
    h.ledger_delete(get_platform(request), actor, entry_id)
    return Response(status_code=204)


@router.get("/ledger/{grid}/{entry_id}/history", summary="Every change of a ledger entry")
def ledger_hist(request: Request, grid: str, entry_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"history": h.ledger_history(get_platform(request), actor, entry_id)}
