"""Pages of perception: the device map, the alarm console (ack/clear) and the hazard
page with risk points coloured by their warning level."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError
from cityos.identity.web import check_csrf, resolve_actor
from cityos.perception import handlers as h
from cityos.perception import store
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(300, "/perception/devices", "nav.devices")
add_nav(310, "/perception/alarms", "nav.alarms")
add_nav(320, "/perception/hazards", "nav.hazards")


@router.get("/perception/devices")
def device_map(request: Request) -> Response:
    return render(request, "perception/devices.html")


@router.get("/perception/hazards")
def hazards(request: Request) -> Response:
    actor = resolve_actor(request)
    rows: list[dict[str, object]] = []
    if actor.can("hazard.read"):
        with get_platform(request).db.read() as conn:
            rows, _ = store.list_risk_points(conn, actor.scope("hazard.read"), None, 500, 0)
    return render(request, "perception/hazards.html", risk_points=rows)


@router.get("/perception/alarms")
def alarms(request: Request, all: bool = False, error: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    rows: list[dict[str, object]] = []
    total = 0
    if actor.can("alarm.read"):
        with get_platform(request).db.read() as conn:
            rows, total = store.list_alarms(conn, actor.scope("alarm.read"), status=None, device=None,
                                            active_only=not all, limit=200, offset=0)
    return render(request, "perception/alarms.html", alarms=rows, total=total, show_all=all, error=error,
                  csrf=getattr(request.state, "csrf", ""), can_ack=actor.can("alarm.ack"))


@router.post("/perception/alarms/{alarm_id}/{action}")
def alarm_action(request: Request, alarm_id: int, action: str, csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    p = get_platform(request)
    try:
        check_csrf(request, csrf_token)
        if action == "ack":
            p.bus.handle(h.AckAlarm(actor, alarm_id))
        elif action == "clear":
            p.bus.handle(h.ClearAlarm(actor, alarm_id))
        else:
            return Response(status_code=404)
    except CityOSError as exc:
        return alarms(request, all=True, error=exc.message)
    return RedirectResponse("/perception/alarms?all=true", status_code=303)
