"""Pages of "one thing": the citizen portal (choose, one pre-filled form, track, download e-licences),
the department's queue, the scenario designer's view with the dependency graph, and the boards."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from cityos.core.errors import CityOSError, ValidationError
from cityos.identity.model import Actor
from cityos.identity.web import check_csrf, resolve_actor
from cityos.scenarios import handlers as h
from cityos.scenarios import model, programme, store
from cityos.scenarios import programme_handlers as ph
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(700, "/services", "nav.services")
add_nav(710, "/services/queue", "nav.services_queue")
add_nav(720, "/programme", "nav.programme")


def _signed_in(request: Request) -> Actor | Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return actor


def _csrf(request: Request) -> str:
    return str(getattr(request.state, "csrf", ""))


def graph(sc: model.Scenario, states: dict[str, str] | None = None) -> dict[str, Any]:
    """Boxes in dependency layers (left to right) and the arrows between them, for an inline SVG."""
    w, hgt, gap_x, gap_y = 190, 46, 60, 22
    boxes: dict[str, dict[str, Any]] = {}
    layers = sc.order()
    for x, layer in enumerate(layers):
        for y, code in enumerate(layer):
            m = sc.matter(code)
            boxes[code] = {"code": code, "x": 10 + x * (w + gap_x), "y": 10 + y * (hgt + gap_y), "w": w, "h": hgt,
                           "zh": m.name_zh, "en": m.name_en, "dept": m.department,
                           "state": (states or {}).get(code, "")}
    edges = [{"x1": boxes[r]["x"] + w, "y1": boxes[r]["y"] + hgt / 2, "x2": boxes[m.code]["x"],
              "y2": boxes[m.code]["y"] + hgt / 2} for m in sc.matters for r in m.requires]
    width = 20 + len(layers) * (w + gap_x) - gap_x
    height = 20 + max(len(layer) for layer in layers) * (hgt + gap_y) - gap_y
    return {"boxes": list(boxes.values()), "edges": edges, "width": width, "height": height}


@router.get("/services")
def portal(request: Request) -> Response:
    p = get_platform(request)
    with p.db.read() as conn:
        rows = [r for r in store.list_definitions(conn) if r["status"] == "published"]
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest[r["code"]] = r
    actor = resolve_actor(request)
    mine = h.my_submissions(p, actor) if actor.authenticated else []
    return render(request, "scenarios/portal.html", scenarios=list(latest.values()), mine=mine)


@router.get("/services/apply/{code}")
def apply_page(request: Request, code: str, consent: bool = False) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    with p.db.read() as conn:
        sc = h.load_scenario(p, conn, code)
    values: dict[str, Any] = {}
    error = None
    if consent:
        try:
            values = h.prefill(p, actor, code, True)["values"]
        except CityOSError as exc:
            error = str(exc)
    return render(request, "scenarios/apply.html", sc=sc, values=values, consent=consent, csrf=_csrf(request),
                  error=error, graph=graph(sc), idem=uuid.uuid4().hex)


@router.post("/services/apply/{code}")
async def apply_submit(request: Request, code: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    with p.db.read() as conn:
        sc = h.load_scenario(p, conn, code)
    values: dict[str, Any] = {}
    for f in sc.fields:
        raw = form.get(f"f_{f.name}")
        if raw is None or not str(raw).strip():
            continue
        if f.type == "number":
            try:
                values[f.name] = float(str(raw)) if "." in str(raw) else int(str(raw))
            except ValueError:
                values[f.name] = str(raw)  # check_form names it
        elif f.type == "bool":
            values[f.name] = str(raw) in ("1", "true", "on")
        else:
            values[f.name] = str(raw)
    materials: dict[str, dict[str, str]] = {}
    consent = form.get("consent") == "on"
    try:
        for m in sc.matters:
            for x in m.materials:
                up = form.get(f"m_{m.code}_{x.code}")
                if isinstance(up, UploadFile):
                    data = await up.read()
                    if data:
                        ref = h.store_material(p, actor, up.filename or "", up.content_type or "", data)["ref"]
                        materials.setdefault(m.code, {})[x.code] = ref
        out = p.bus.handle(h.Submit(actor, code, values, materials, consent, None,
                                    str(form.get("idempotency_key") or "") or None))
    except CityOSError as exc:
        return render(request, "scenarios/apply.html", status_code=exc.status, sc=sc, values=values, consent=consent,
                      csrf=_csrf(request), error=str(exc), error_field=exc.field, graph=graph(sc),
                      idem=uuid.uuid4().hex)
    return RedirectResponse(f"/services/s/{out['number']}", status_code=303)


@router.get("/services/s/{number}")
def track(request: Request, number: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    st = h.status(p, actor, number)
    with p.db.read() as conn:
        sc = h.load_scenario(p, conn, st["scenario"], st["version"])
    return render(request, "scenarios/track.html", st=st, sc=sc, csrf=_csrf(request),
                  graph=graph(sc, {m["code"]: m["state"] for m in st["matters"]}),
                  error=request.query_params.get("error"))


@router.post("/services/s/{number}/correct/{matter}")
async def correct(request: Request, number: str, matter: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    fields = {k[2:]: str(v) for k, v in form.items() if k.startswith("f_") and str(v).strip()}
    materials: dict[str, str] = {}
    try:
        for k, v in form.items():
            if k.startswith("m_") and isinstance(v, UploadFile):
                data = await v.read()
                if data:
                    materials[k[2:]] = h.store_material(p, actor, v.filename or "", v.content_type or "", data)["ref"]
        p.bus.handle(h.Correct(actor, number, matter, fields, materials))
    except CityOSError as exc:
        from urllib.parse import quote

        return RedirectResponse(f"/services/s/{number}?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/services/s/{number}", status_code=303)


@router.get("/services/licence/{licence_no}")
def licence(request: Request, licence_no: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    row = h.licence_for(get_platform(request), actor, licence_no)
    if request.query_params.get("format") == "json":
        import json

        body = json.dumps(row, ensure_ascii=False, default=str, indent=2)
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{licence_no}.json"'})
    return render(request, "scenarios/licence.html", lic=row)


@router.get("/services/queue")
def queue(request: Request, state: str = "queued,accepted") -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    states = tuple(s for s in state.split(",") if s)
    q = h.department_queue(p, actor, states, 100, 0)
    return render(request, "scenarios/queue.html", q=q, csrf=_csrf(request), state=state,
                  error=request.query_params.get("error"))


@router.post("/services/queue/{matter_id}")
async def act(request: Request, matter_id: int) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    try:
        get_platform(request).bus.handle(h.ActOnMatter(actor, matter_id, str(form.get("action") or ""),
                                                       str(form.get("reason") or "") or None))
    except CityOSError as exc:
        from urllib.parse import quote

        return RedirectResponse(f"/services/queue?error={quote(str(exc))}", status_code=303)
    return RedirectResponse("/services/queue", status_code=303)


@router.get("/services/design/{code}")
def design(request: Request, code: str, version: int | None = None) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    actor.require("scenario.design")
    p = get_platform(request)
    with p.db.read() as conn:
        sc = h.load_scenario(p, conn, code, version)
        row = store.definition(conn, code, sc.version)
        grants = sorted(store.grants_of(conn, code))
    return render(request, "scenarios/design.html", sc=sc, source=row["source"] if row else "", graph=graph(sc),
                  grants=grants, csrf=_csrf(request), result=None, error=None)


@router.post("/services/design/{code}")
async def design_check(request: Request, code: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    actor.require("scenario.design")
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    p = get_platform(request)
    source = str(form.get("source") or "")
    with p.db.read() as conn:
        current = h.load_scenario(p, conn, code)
        grants = sorted(store.grants_of(conn, code))
    try:
        sc = h.validate_definition(source)
        result = "published" if form.get("publish") == "1" else "valid"
        if result == "published":
            p.bus.handle(h.PublishScenario(actor, source))
        return render(request, "scenarios/design.html", sc=sc, source=source, graph=graph(sc), grants=grants,
                      csrf=_csrf(request), result=result, error=None)
    except ValidationError as exc:
        return render(request, "scenarios/design.html", status_code=400, sc=current, source=source,
                      graph=graph(current), grants=grants, csrf=_csrf(request), result=None, error=str(exc))


@router.get("/programme")
def programme_page(request: Request, kind: str | None = None, system: str | None = None) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    b = ph.boards(p, actor)
    items = ph.list_items(p, actor, kind or None, system or None, None)
    return render(request, "scenarios/programme.html", b=b, items=items, kind=kind or "", system=system or "",
                  systems=programme.SYSTEMS, kinds=programme.LIST_KINDS, states=programme.LIST_STATES)
