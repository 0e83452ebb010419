"""Operator pages of the case loop (queue, case detail, map of open cases) and the
handler's mobile pages (my tasks, sign, handle, report back with a photo).

Every page works in the signed-in actor's scope; every change is a POST form with the
session's CSRF token, handled by the same commands as the API (`handlers.Act`,
`handlers.attach`); a refused action is shown on the page, never as a server error.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from cityos.core.errors import CityOSError, NotFound, ValidationError
from cityos.geo.model import level_of
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.governance.model import ACTIONS, LOCAL, OPEN_STATES, STATES, allowed_actions
from cityos.identity import audit
from cityos.identity.model import GRID_STAFF, OPERATORS, Actor, mask_name, mask_phone
from cityos.identity.web import check_csrf, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(100, "/cases", "nav.cases")
add_nav(110, "/cases/map", "nav.case_map")
add_nav(120, "/m/cases", "nav.tasks")

PAGE_SIZE = 50
MAP_LIMIT = 5000
TASK_STATES = ("dispatched", "signed", "handling")
MOBILE_ACTIONS = ("sign", "start", "report", "return", "request_extension")
QUICK_ACTIONS = ("file", "dispatch")  # offered on the queue's rows
NOTE_REQUIRED = ("cancel", "return", "park", "rework", "reject_extension", "reopen", "merge")


def _signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def _signed_in(request: Request) -> Actor | None:
    actor = resolve_actor(request)
    return actor if actor.authenticated else None


def _local(value: datetime | None) -> str:
    return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if value else ""


def _safe_back(target: str | None, default: str) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else default


def _categories(request: Request) -> dict[str, Any]:
    return h.catalog(get_platform(request)).get().categories


def my_actions(actor: Actor, case: dict[str, Any]) -> list[str]:
    """The actions the case's state allows that this actor holds a role for."""
    roles = h._roles_at(actor, case["node"], case["handler_unit"])
    if case.get("reporter_user") and case["reporter_user"] == actor.username:
        roles.add("citizen")
    pending = bool(case.get("extension"))
    waiting_co = any(not done for done in (case.get("co_units") or {}).values())
    hidden = {"co_report"} if not waiting_co else set()
    hidden |= {"request_extension"} if pending else {"approve_extension", "reject_extension"}
    if case.get("owner_level") == "city":
        hidden.add("take_over")
    if case.get("owner_level") == "grid":
        hidden.add("hand_down")
    return [a for a in allowed_actions(case["state"]) if roles & set(ACTIONS[a].roles) and a not in hidden]


# --- the queue ---------------------------------------------------------------------------------

@router.get("/cases")
def queue_page(request: Request, state: str = "", category: str = "", overdue: str = "", node: str = "",
               q: str = "", page: int = 1) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    actor.require("case.read")
    return _queue(request, actor, {"state": state, "category": category, "overdue": overdue, "node": node, "q": q},
                  page)


def _queue(request: Request, actor: Actor, filters: dict[str, str], page: int, error: str | None = None,
           status: int = 200) -> Response:
    state, category, overdue, node, q = (filters.get(k, "") for k in ("state", "category", "overdue", "node", "q"))
    filters = {"state": state, "category": category, "overdue": overdue, "node": node, "q": q}
    problem = error
    page = max(1, page)
    rows: list[dict[str, Any]] = []
    total = 0
    counts: dict[str, int] = {}
    try:
        if state and state not in STATES:
            raise ValidationError(f"unknown state {state!r}", field="state")
        if node:
            level_of(node)
        if len(q) > 100:
            raise ValidationError("at most 100 characters", field="q")
        scope = actor.scope("case.read")
        where = store.case_filter(scope, state=state or None, category=category or None, node=node or None,
                                  overdue={"1": True, "0": False}.get(overdue), q=q or None)
        with get_platform(request).db.read() as conn:
            rows, total = store.list_cases(conn, where, PAGE_SIZE, (page - 1) * PAGE_SIZE)
            counts = store.counts_by_state(conn, store.case_filter(scope, node=node or None))
    except ValidationError as exc:
        problem = str(exc)
    base = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    here = "/cases" + (f"?{urlencode({**base, 'page': page})}" if base or page > 1 else "")
    items = [{**r, "quick": [a for a in my_actions(actor, r) if a in QUICK_ACTIONS]} for r in rows]
    return render(request, "governance/queue.html", status_code=400 if problem and not error else status,
                  cases=items, total=total, counts=counts, filters=filters, page=page, pages=pages,
                  prev_url=f"/cases?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
                  next_url=f"/cases?{urlencode({**base, 'page': page + 1})}" if page < pages else None,
                  here=here, states=STATES, categories=_categories(request), error=problem, fmt=_local,
                  csrf=getattr(request.state, "csrf", ""), state_url=lambda s: "/cases?" + urlencode({**base, "state": s,
                                                                                                      "page": 1}))


# --- the map of open cases -----------------------------------------------------------------------

@router.get("/cases/map")
def map_page(request: Request) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    actor.require("case.read")
    return render(request, "governance/map.html")


@router.get("/cases/map.json")
def map_points(request: Request, overdue: str = "") -> Response:
    """Open located cases in my scope as GeoJSON points (the newest MAP_LIMIT)."""
    actor = resolve_actor(request)
    actor.require("case.read")
    where = store.case_filter(actor.scope("case.read"), states=OPEN_STATES,
                              overdue={"1": True, "0": False}.get(overdue))
    with get_platform(request).db.read() as conn:
        rows = store.case_points(conn, where, MAP_LIMIT)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                 "properties": {"id": r["id"], "number": r["number"], "state": r["state"], "title": r["title"],
                                "category": r["category_code"], "overdue": bool(r["overdue"]),
                                "emergency": bool(r["emergency"]), "escalated": r["escalation_level"] > 0}}
                for r in rows]
    return JSONResponse({"type": "FeatureCollection", "features": features, "truncated": len(rows) >= MAP_LIMIT})


# --- the case detail ------------------------------------------------------------------------------

def _load(request: Request, actor: Actor, case_id: int) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                    list[dict[str, Any]]]:
    with get_platform(request).db.read() as conn:
        case = store.get_case(conn, case_id)
        if case is None or not actor.can("case.read", case["node"]):
            raise NotFound(f"no case {case_id} in your scope", field="case_id")
        return case, store.events_of(conn, case_id), store.attachments_of(conn, case_id)


def _detail(request: Request, actor: Actor, case_id: int, *, template: str, error: str | None = None,
            status: int = 200) -> Response:
    case, events, files = _load(request, actor, case_id)
    mine = my_actions(actor, case)
    if template == "governance/mobile_case.html":
        mine = [a for a in mine if a in MOBILE_ACTIONS]
    cat = _categories(request).get(case["category_code"])
    view = {**case, "reporter_name": mask_name(case["reporter_name"]), "reporter_phone": mask_phone(case["reporter_phone"])}
    return render(request, template, status_code=status, case=view, events=events, files=files, actions=mine,
                  category=cat, error=error, done=request.query_params.get("done"), fmt=_local,
                  note_required=NOTE_REQUIRED, csrf=getattr(request.state, "csrf", ""), states=STATES)


@router.get("/cases/{case_id:int}")
def case_page(request: Request, case_id: int) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    actor.require("case.read")
    return _detail(request, actor, case_id, template="governance/case.html")


def _payload(form: Any) -> dict[str, Any]:
    """The action's extra fields from the form, checked and typed."""
    out: dict[str, Any] = {}
    unit = str(form.get("unit") or "").strip()
    if unit:
        out["unit"] = unit[:40]
    co = [u.strip() for u in str(form.get("co_units") or "").replace("，", ",").split(",") if u.strip()]
    if co:
        out["co_units"] = co[:20]
    hours = str(form.get("hours") or "").strip()
    if hours:
        try:
            out["hours"] = float(hours)
        except ValueError:
            raise ValidationError(f"{hours!r} is not a number of hours", field="hours") from None
    sat = str(form.get("satisfied") or "")
    if sat in ("1", "0"):
        out["satisfied"] = sat == "1"
    level = str(form.get("level") or "").strip()
    if level:
        out["level"] = level
    return out


def _master_id(request: Request, raw: str) -> int:
    """A master case given by its number (or id)."""
    text = raw.strip()
    with get_platform(request).db.read() as conn:
        from sqlalchemy import select

        found = conn.execute(select(store.cases.c.id).where(store.cases.c.number == text)).scalar()
    if found is not None:
        return int(found)
    if text.isdigit() and len(text) < 12:
        return int(text)
    raise ValidationError(f"no case numbered {text!r}", field="master_id")


async def _act(request: Request, case_id: int, *, template: str, default_back: str) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    action = str(form.get("action") or "")
    back = _safe_back(str(form.get("next") or ""), default_back)
    p = get_platform(request)
    try:
        payload = _payload(form)
        if form.get("master"):
            payload["master_id"] = _master_id(request, str(form.get("master")))
        photo = form.get("photo")
        if isinstance(photo, UploadFile) and photo.filename:
            data = await photo.read(h.MAX_ATTACHMENT + 1)
            if data:
                h.attach(p, actor, case_id, photo.filename, photo.content_type or "", data)
        note = str(form.get("note") or "").strip() or None
        p.bus.handle(h.Act(actor, case_id, action, note, payload))
    except NotFound:
        raise
    except CityOSError as exc:
        if back == "/cases" or back.startswith("/cases?"):  # a quick action on the queue: show the error there
            params = dict(parse_qsl(urlsplit(back).query))
            page = int(params["page"]) if params.get("page", "").isdigit() else 1
            return _queue(request, actor, params, page, error=f"{action}: {exc}", status=exc.status)
        return _detail(request, actor, case_id, template=template, error=f"{action}: {exc}", status=exc.status)
    sep = "&" if "?" in back else "?"
    on_queue = back == "/cases" or back.startswith("/cases?")
    return RedirectResponse(back if on_queue else f"{back}{sep}done={quote(action)}", status_code=303)


@router.post("/cases/{case_id:int}/act")
async def act_form(request: Request, case_id: int) -> Response:
    return await _act(request, case_id, template="governance/case.html", default_back=f"/cases/{case_id}")


@router.post("/cases/{case_id:int}/attach")
async def attach_form(request: Request, case_id: int) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("choose a file to upload", field="file")
        data = await upload.read(h.MAX_ATTACHMENT + 1)
        h.attach(get_platform(request), actor, case_id, upload.filename, upload.content_type or "", data)
    except NotFound:
        raise
    except CityOSError as exc:
        return _detail(request, actor, case_id, template="governance/case.html", error=f"upload: {exc}",
                       status=exc.status)
    return RedirectResponse(f"/cases/{case_id}?done=attach", status_code=303)


@router.get("/cases/{case_id:int}/files/{attachment_id:int}")
def case_file(request: Request, case_id: int, attachment_id: int) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    case, _events, _files = _load(request, actor, case_id)
    p = get_platform(request)
    with p.db.read() as conn:
        f = store.attachment(conn, attachment_id)
    if f is None or f["case_id"] != case_id or not Path(f["path"]).exists():
        raise NotFound(f"no file {attachment_id} on case {case_id}", field="attachment_id")
    with p.db.begin() as conn:
        audit.record(conn, actor, "case.file.read", "case", case["number"], p.clock.now(), node=case["node"],
                     details={"attachment": attachment_id})
    return FileResponse(f["path"], media_type=f["content_type"],
                        headers={"Cache-Control": "private, max-age=3600",
                                 "Content-Disposition": f"inline; filename*=UTF-8''{quote(f['filename'])}"})


# --- the handler's mobile pages --------------------------------------------------------------------

def task_scope(actor: Actor) -> tuple[list[str], list[str], list[str]]:
    """(units, unit prefixes, grids): what 'mine' means for each of the actor's grants."""
    units: list[str] = []
    prefixes: list[str] = []
    grids: list[str] = []
    for g in actor.grants_for("case.read"):
        if g.unit:
            units.append(g.unit)
        elif g.role == "department_handler":
            prefixes.append(f"D-{g.node}-")
            if level_of(g.node) == "township":
                prefixes.append(f"S-{g.node}-")
        elif g.role in GRID_STAFF:
            prefixes.append(f"G-{g.node}")
            if level_of(g.node) == "grid":
                grids.append(g.node)
        elif g.role in (*OPERATORS, "dispatcher"):
            units.append(f"C-{g.node}")
    return units, prefixes, grids


@router.get("/m/cases")
def tasks_page(request: Request) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    actor.require("case.read")
    units, prefixes, grids = task_scope(actor)
    where = store.task_filter(actor.scope("case.read"), units, prefixes, grids, TASK_STATES)
    with get_platform(request).db.read() as conn:
        rows, total = store.list_cases(conn, where, 100, 0, order="deadline")
    return render(request, "governance/tasks.html", cases=rows, total=total, fmt=_local,
                  categories=_categories(request))


@router.get("/m/cases/{case_id:int}")
def mobile_case(request: Request, case_id: int) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return _signin(request)
    actor.require("case.read")
    return _detail(request, actor, case_id, template="governance/mobile_case.html")


@router.post("/m/cases/{case_id:int}/act")
async def mobile_act(request: Request, case_id: int) -> Response:
    return await _act(request, case_id, template="governance/mobile_case.html", default_back=f"/m/cases/{case_id}")
