"""The one-screen command view (一屏掌控) of a centre, at any level of its scope."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityos.dashboard.api import check_node, home_node
from cityos.dashboard.handlers import breadcrumb
from cityos.identity.web import resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(50, "/dashboard", "nav.dashboard")


@router.get("/dashboard")
def mine(request: Request) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    node = home_node(actor)
    return screen(request, node)


@router.get("/dashboard/{node}")
def screen(request: Request, node: str) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    check_node(actor, node)  # outside scope: Forbidden -> the 403 page, nothing of the node shown
    layout = request.query_params.get("layout", "desk")
    return render(request, "dashboard/screen.html", node=node, crumbs=breadcrumb(get_platform(request), node),
                  layout="wall" if layout == "wall" else "desk")
