"""Pages: the emergency wall, the grid member's three-tap emergency report, and issuing
an instruction with its progress tree."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError
from cityos.governance import handlers as cases
from cityos.governance.command import handlers as h
from cityos.identity.web import check_csrf, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(300, "/command/emergencies", "nav.emergencies")
add_nav(310, "/command/instructions/new", "nav.instructions")


def _signed_in(request: Request) -> Any:
    actor = resolve_actor(request)
    return actor if actor.authenticated else None


@router.get("/command/emergencies")
def wall(request: Request) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    actor.require("case.read")
    return render(request, "command/wall.html")


@router.get("/m/emergency")
def phone_report(request: Request) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    actor.require("emergency.report")
    cats = [c for c in cases.catalog(get_platform(request)).get().categories.values() if c.emergency]
    grid = next((g.node for g in actor.grants if len(g.node) == 15), None)
    center = None
    if grid:
        from cityos.geo import store as geo_store

        with get_platform(request).db.read() as conn:
            row = geo_store.get(conn, grid)
        center = (row["center_lon"], row["center_lat"]) if row else None
    return render(request, "command/phone.html", categories=cats, center=center)


@router.get("/command/instructions/new")
def new_instruction(request: Request, error: str | None = None) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    actor.require("instruction.issue")
    from cityos.governance.model import LOCAL

    now = get_platform(request).clock.now().astimezone(LOCAL)  # the form speaks local time
    home = actor.primary().node if actor.primary() else "500000"
    return render(request, "command/new.html", error=error, node=home, csrf=getattr(request.state, "csrf", ""),
                  sign_by=(now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                  complete_by=(now + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))


def _local(raw: str, field: str) -> datetime:
    from cityos.core.errors import ValidationError
    from cityos.governance.model import LOCAL

    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError("must be a date and time", field=field) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=LOCAL)


@router.post("/command/instructions/new")
def issue(request: Request, title: str = Form(""), body: str = Form(""), node: str = Form(""), level: str = Form(""),
          urgency: str = Form("normal"), sign_by: str = Form(""), complete_by: str = Form(""),
          csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse("/login", status_code=303)
    check_csrf(request, csrf_token)
    try:
        out = get_platform(request).bus.handle(h.IssueInstruction(
            actor, title, body, {"kind": "children", "node": node.strip(), "level": level},
            _local(sign_by, "sign_deadline"), _local(complete_by, "complete_deadline"), urgency))
    except CityOSError as exc:
        return new_instruction(request, error=str(exc))
    return RedirectResponse(f"/command/instructions/{out['id']}", status_code=303)


@router.get("/command/instructions/{iid}")
def instruction_page(request: Request, iid: int) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    prog = h.instruction_progress(get_platform(request), actor, iid)
    return render(request, "command/progress.html", prog=prog, csrf=getattr(request.state, "csrf", ""))


@router.post("/command/instructions/{iid}/remind")
def remind(request: Request, iid: int, csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if actor is None:
        return RedirectResponse("/login", status_code=303)
    check_csrf(request, csrf_token)
    h.remind_laggards(get_platform(request), actor, iid)
    return RedirectResponse(f"/command/instructions/{iid}?reminded=1", status_code=303)
