"""The subscriber's lag view (`/rail`): one's own subscriptions with their lag, applying for a
feed, and, for a data officer, the subscriptions to their department's feeds to decide on."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError
from cityos.data.rail import handlers as h
from cityos.data.rail import model
from cityos.identity.web import check_csrf, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(410, "/rail", "nav.rail")


def _page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse("/login?next=/rail", status_code=303)
    p = get_platform(request)
    mine = h.my_subscriptions(p, actor)
    owned = h.owned_subscriptions(p, actor)
    partial = request.headers.get("hx-request") == "true"
    return render(request, "rail/table.html" if partial else "rail/index.html", status_code=status_code, mine=mine,
                  owned=owned, feeds=model.feed_names(), levels=model.LEVELS, error=error,
                  csrf=str(getattr(request.state, "csrf", "")), can_decide=actor.can("rail.approve"))


@router.get("/rail")
def rail_page(request: Request) -> Response:
    return _page(request)


@router.post("/rail/apply")
def apply_form(request: Request, dataset: str = Form(""), purpose: str = Form(""), level: str = Form("masked"),
               csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse("/login?next=/rail", status_code=303)
    check_csrf(request, csrf_token)
    try:
        h.apply(get_platform(request), actor, {"dataset": dataset, "purpose": purpose, "level": level})
    except CityOSError as exc:
        return _page(request, error=str(exc), status_code=exc.status)
    return RedirectResponse("/rail", status_code=303)


@router.post("/rail/subscriptions/{sub_id}/{action}")
def decide_form(request: Request, sub_id: int, action: str, csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse("/login?next=/rail", status_code=303)
    check_csrf(request, csrf_token)
    try:
        h.decide(get_platform(request), actor, sub_id, action, {})
    except CityOSError as exc:
        return _page(request, error=str(exc), status_code=exc.status)
    return RedirectResponse("/rail", status_code=303)
