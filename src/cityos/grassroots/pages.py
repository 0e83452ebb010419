"""Pages: the township command centre board, the responsibility list editor with version
diff, and the grid member's mobile pages (my tasks, patrol check-in, report a problem,
my grid's ledger)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from cityos.core.errors import CityOSError
from cityos.geo import store as geo_store
from cityos.geo.model import level_of
from cityos.grassroots import handlers as h
from cityos.grassroots import model as m
from cityos.identity.model import Actor
from cityos.identity.web import check_csrf, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(300, "/grassroots", "nav.grassroots")
add_nav(310, "/m/tasks", "nav.mytasks")


def _signin(request: Request) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _csrf(request: Request) -> str:
    return str(getattr(request.state, "csrf", ""))


def _home_township(request: Request, actor: Actor) -> str | None:
    scope = actor.scope("grassroots.read")
    if scope.empty:
        return None
    if scope.roots and len(scope.roots[0]) >= 9:
        return scope.roots[0][:9]
    prefix = scope.roots[0] if scope.roots else ""
    d = geo_store.divisions
    with get_platform(request).db.read() as conn:
        return conn.execute(select(d.c.code).where(d.c.level == "township", d.c.code.startswith(prefix))
                            .order_by(d.c.code).limit(1)).scalar()


@router.get("/grassroots")
def grassroots_home(request: Request) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    t = _home_township(request, actor)
    if t is None:
        return render(request, "grassroots/none.html", status_code=403)
    return RedirectResponse(f"/grassroots/board/{t}", status_code=303)


@router.get("/grassroots/board/{township}")
def board_page(request: Request, township: str) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    data = h.board(get_platform(request), actor, township)
    return render(request, "grassroots/board.html", b=data, sectors=m.SECTORS)


@router.get("/grassroots/lists/{list_id}")
def list_page(request: Request, list_id: int, diff: int | None = None, error: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    p = get_platform(request)
    detail = h.list_detail(p, actor, list_id)
    versions = h.versions(p, actor, detail["owner"])
    other = diff or next((v["id"] for v in versions if v["version"] < detail["version"]), None)
    changes = h.version_diff(p, actor, other, list_id) if other else None
    return render(request, "grassroots/list.html", lst=detail, versions=versions, changes=changes, posts=m.POSTS,
                  sectors=m.SECTORS, levels=m.LIST_LEVELS, freqs=list(m.FREQUENCIES), error=error,
                  can_edit=actor.can("resplist.edit", detail["owner"]), csrf=_csrf(request))


@router.post("/grassroots/lists/{list_id}/item")
def list_item_form(request: Request, list_id: int, key: str = Form(""), name_zh: str = Form(""), name_en: str = Form(""),
                   sector: str = Form(""), level: str = Form(""), categories: str = Form(""), role: str = Form(""),
                   frequency: str = Form("none"), legal_basis: str = Form(""), done_standard: str = Form(""),
                   csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    try:
        h.put_item(get_platform(request), actor, list_id, {
            "key": key, "name_zh": name_zh, "name_en": name_en, "sector": sector, "level": level,
            "categories": categories, "role": role, "frequency": frequency, "legal_basis": legal_basis,
            "done_standard": done_standard})
    except CityOSError as exc:
        return list_page(request, list_id, error=f"{exc.field}: {exc.message}")
    return RedirectResponse(f"/grassroots/lists/{list_id}", status_code=303)


@router.post("/grassroots/lists/{list_id}/import")
async def list_import_form(request: Request, list_id: int, file: UploadFile = File(...),
                           csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    try:
        h.import_items(get_platform(request), actor, list_id, file.filename or "", await file.read(5 * 1024 * 1024))
    except CityOSError as exc:
        return list_page(request, list_id, error=exc.message)
    return RedirectResponse(f"/grassroots/lists/{list_id}", status_code=303)


@router.post("/grassroots/lists/{list_id}/action")
def list_action_form(request: Request, list_id: int, action: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    try:
        h.transition(get_platform(request), actor, list_id, action)
    except CityOSError as exc:
        return list_page(request, list_id, error=exc.message)
    return RedirectResponse(f"/grassroots/lists/{list_id}", status_code=303)


@router.post("/grassroots/lists/new")
def list_new_form(request: Request, owner: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    created = h.create_version(get_platform(request), actor, owner)
    return RedirectResponse(f"/grassroots/lists/{created['id']}", status_code=303)


# --- the grid member's mobile pages ----------------------------------------------------------

def _my_grid(request: Request, actor: Actor) -> str | None:
    for g in actor.grants:
        if g.role in ("grid_member", "grid_member_part", "grid_instructor", "grid_head") and level_of(g.node) == "grid":
            return g.node
    return None


@router.get("/m/tasks")
def my_tasks_page(request: Request, done: str | None = None, error: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    tasks: list[dict[str, Any]] = h.my_tasks(get_platform(request), actor) if actor.can("patrol.checkin") else []
    return render(request, "grassroots/m_tasks.html", tasks=tasks, grid=_my_grid(request, actor), done=done,
                  error=error, csrf=_csrf(request))


@router.post("/m/tasks/{task_id}/checkin")
def checkin_form(request: Request, task_id: int, lon: str = Form(""), lat: str = Form(""), note: str = Form(""),
                 csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    try:
        r = get_platform(request).bus.handle(h.CheckIn(actor=actor, task_id=task_id, lon=lon, lat=lat, note=note or None))
    except CityOSError as exc:
        return my_tasks_page(request, error=exc.message)
    return RedirectResponse(f"/m/tasks?done={task_id}{'-far' if r['far'] else ''}", status_code=303)


@router.get("/m/report")
def report_page(request: Request, task_id: int | None = None, number: str | None = None,
                error: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    from cityos.governance import handlers as gov

    cats = sorted(gov.catalog(get_platform(request)).get().categories.values(), key=lambda c: c.code)
    return render(request, "grassroots/m_report.html", cats=cats, task_id=task_id, number=number, error=error,
                  csrf=_csrf(request))


@router.post("/m/report")
def report_form(request: Request, category: str = Form(""), description: str = Form(""), lon: str = Form(""),
                lat: str = Form(""), task_id: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    try:
        r = get_platform(request).bus.handle(h.ReportProblem(
            actor=actor, category=category, description=description, lon=lon or None, lat=lat or None,
            task_id=int(task_id) if task_id.isdigit() else None))
    except CityOSError as exc:
        return report_page(request, error=f"{exc.field}: {exc.message}")
    return RedirectResponse(f"/m/report?number={r['number']}", status_code=303)


@router.get("/m/ledger")
def ledger_page(request: Request, kind: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin(request)
    grid = _my_grid(request, actor)
    data = h.ledger_list(get_platform(request), actor, grid, kind or None) if grid else None
    return render(request, "grassroots/m_ledger.html", grid=grid, data=data, kinds=m.LEDGER_KINDS, kind=kind,
                  csrf=_csrf(request))


@router.post("/m/ledger")
def ledger_add_form(request: Request, kind: str = Form(""), label: str = Form(""), address: str = Form(""),
                    phone: str = Form(""), note: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    check_csrf(request, csrf_token)
    grid = _my_grid(request, actor)
    if grid:
        data: dict[str, Any] = {"address": address}
        if kind in ("household", "venue", "resident", "key_person"):
            data["phone"] = phone
        if kind == "key_person":
            data["group"] = note
        else:
            data["note"] = note
        h.ledger_write(get_platform(request), actor, grid, kind, label, data)
    return RedirectResponse("/m/ledger", status_code=303)
