"""Server-rendered pages: the layout every later page extends, home and the division map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from cityos.geo import store as geo_store
from cityos.web.deps import get_platform
from cityos.web.i18n import LANGS, pick_lang, t

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


# Top navigation: (order, path, label key). A context's pages module adds its entries.
NAV: list[tuple[int, str, str]] = [(0, "/", "nav.home"), (10, "/map", "nav.map"), (1000, "/docs", "nav.api")]


def add_nav(order: int, path: str, label_key: str) -> None:
    if (order, path, label_key) not in NAV:
        NAV.append((order, path, label_key))
        NAV.sort()


def _actor(request: Request) -> Any:
    from cityos.core.errors import CityOSError
    from cityos.identity.web import resolve_actor

    try:
        return resolve_actor(request)
    except CityOSError:
        return None


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    lang = pick_lang(request)
    p = get_platform(request)
    response = templates.TemplateResponse(
        request, name,
        {"lang": lang, "t": lambda key: t(key, lang), "langs": LANGS, "tile_url": p.settings.tile_url or "",
         "nav": NAV, "actor": _actor(request), **context},
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    with get_platform(request).db.read() as conn:
        counts = geo_store.count_by_level(conn)
    return render(request, "home.html", counts=counts)


@router.get("/map", response_class=HTMLResponse)
def division_map(request: Request) -> Response:
    return render(request, "map.html")
