"""Pages of the ledger: search with facets, resource page, registration and approval
forms, the bundled application cart, the statistics board."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError, ValidationError
from cityos.identity.model import Actor
from cityos.identity.web import check_csrf, resolve_actor
from cityos.ledger import handlers as h
from cityos.ledger import model, store
from cityos.ledger.api import resource_detail, search_resources, visible_application
from cityos.web.deps import get_platform
from cityos.web.i18n import pick_lang, t
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(600, "/ledger", "nav.ledger")
add_nav(610, "/ledger/stats", "nav.ledger_stats")


def _signed_in(request: Request) -> Actor | Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return actor


def _csrf(request: Request) -> str:
    return str(getattr(request.state, "csrf", ""))


@router.get("/ledger")
def search_page(request: Request, q: str | None = Query(None, max_length=100), type: list[str] | None = Query(None),
                state: list[str] | None = Query(None), owner: list[str] | None = Query(None),
                level: list[str] | None = Query(None), tag: list[str] | None = Query(None),
                cart: list[str] | None = Query(None), offset: int = 0) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    filters = {"type": type or [], "state": state or [], "owner": owner or [], "level": level or [], "tag": tag or []}
    result = search_resources(get_platform(request), actor, q, filters["type"], filters["state"], filters["owner"],
                              filters["level"], filters["tag"], 50, offset)

    def toggle(facet: str, value: str) -> str:
        params: list[tuple[str, str]] = [("q", q)] if q else []
        for f, values in filters.items():
            vs = [v for v in values if not (f == facet and v == value)]
            if f == facet and value not in values:
                vs.append(value)
            params.extend((f, v) for v in vs)
        params.extend(("cart", c) for c in cart or [])
        return "/ledger?" + urlencode(params)

    return render(request, "ledger/search.html", result=result, q=q or "", filters=filters, toggle=toggle,
                  cart=cart or [], types=model.TYPES, offset=offset)


@router.get("/ledger/r/{code}")
def resource_page(request: Request, code: str, error: str | None = None) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    r = resource_detail(p, actor, code)
    with p.db.read() as conn:
        row = store.by_code(conn, code)
        impact = len(store.walk(conn, row["id"], "impact")) if row else 0
    can = {a: actor.can(model.ACTION_PERMISSION[a], r["division_code"]) for a in r["allowed_actions"]}
    return render(request, "ledger/resource.html", r=r, impact=impact, can=can, csrf=_csrf(request), error=error,
                  types=model.TYPES, needs_reason=model.NEEDS_REASON,
                  attributes_json=json.dumps(r["attributes"], ensure_ascii=False, indent=2))


@router.post("/ledger/r/{code}/action")
def action_form(request: Request, code: str, action: str = Form(""), reason: str = Form(""),
                csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    check_csrf(request, csrf_token)
    try:
        get_platform(request).bus.handle(h.Transition(actor, code, action, reason.strip() or None))
    except CityOSError as exc:
        return resource_page(request, code, error=str(exc))
    return RedirectResponse(f"/ledger/r/{code}", status_code=303)


@router.post("/ledger/r/{code}/uses")
def uses_form(request: Request, code: str, uses: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    check_csrf(request, csrf_token)
    try:
        get_platform(request).bus.handle(h.AddDependency(actor, code, uses.strip()))
    except CityOSError as exc:
        return resource_page(request, code, error=str(exc))
    return RedirectResponse(f"/ledger/r/{code}", status_code=303)


def _new_form(request: Request, actor: Actor, values: dict[str, Any], error: str | None, status: int = 200) -> Response:
    schemas = {t: json.dumps(s, ensure_ascii=False) for t, s in model.SCHEMAS.items()}
    return render(request, "ledger/new.html", values=values, error=error, types=model.TYPES, levels=model.LEVELS,
                  schemas=schemas, csrf=_csrf(request), status_code=status)


@router.get("/ledger/new")
def new_page(request: Request) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    actor.require("ledger.register")
    g = actor.primary()
    return _new_form(request, actor, {"type": "application", "level": "city", "division_code": g.node if g else "",
                                      "attributes": "{\n  \"url\": \"https://\"\n}"}, None)


@router.post("/ledger/new")
def new_submit(request: Request, code: str = Form(""), type: str = Form(""), name_zh: str = Form(""),
               name_en: str = Form(""), owner_unit: str = Form(""), level: str = Form(""),
               division_code: str = Form(""), tags: str = Form(""), description: str = Form(""),
               contact: str = Form(""), attributes: str = Form("{}"), uses: str = Form(""),
               csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    check_csrf(request, csrf_token)
    values = {"code": code, "type": type, "name_zh": name_zh, "name_en": name_en, "owner_unit": owner_unit,
              "level": level, "division_code": division_code, "tags": tags, "description": description,
              "contact": contact, "attributes": attributes, "uses": uses}
    try:
        try:
            attrs = json.loads(attributes or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"resource {code}: the attributes are not valid JSON ({exc.msg}, line {exc.lineno})",
                                  field="attributes") from None
        new = model.NewResource(code.strip(), type, name_zh, name_en, owner_unit, level, division_code.strip(), attrs,
                                                description, tuple(t.strip() for t in tags.replace("，", ",").split(",") if t.strip()),
                                ({"name": contact.strip()},) if contact.strip() else ())
        get_platform(request).bus.handle(h.RegisterResource(
            actor, new, tuple(u.strip() for u in uses.split(",") if u.strip())))
    except CityOSError as exc:
        return _new_form(request, actor, values, str(exc), exc.status)
    return RedirectResponse(f"/ledger/r/{code.strip()}", status_code=303)


@router.get("/ledger/cart")
def cart_page(request: Request, cart: list[str] | None = Query(None), error: str | None = None) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    codes = list(dict.fromkeys(cart or []))
    p = get_platform(request)
    with p.db.read() as conn:
        found = store.by_codes(conn, codes) if codes else {}
    items = [found[c] for c in codes if c in found]
    g = actor.primary()
    return render(request, "ledger/cart.html", items=items, error=error, csrf=_csrf(request),
                  unit=(f"C-{g.node}" if g else ""), back="/ledger?" + urlencode([("cart", c) for c in codes]))


@router.post("/ledger/cart")
def cart_submit(request: Request, cart: list[str] = Form([]), unit: str = Form(""), purpose: str = Form(""),
                csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    check_csrf(request, csrf_token)
    try:
        out = get_platform(request).bus.handle(h.ApplyBundle(actor, unit, purpose, tuple((c, {}) for c in cart)))
    except CityOSError as exc:
        return cart_page(request, cart, error=str(exc))
    return RedirectResponse(f"/ledger/applications/{out['id']}", status_code=303)


@router.get("/ledger/applications/{app_id}")
def application_page(request: Request, app_id: int, error: str | None = None) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    a = visible_application(get_platform(request), actor, app_id)
    can = {i["code"]: actor.can("ledger.approve", i["division_code"]) for i in a["items"]}
    return render(request, "ledger/application.html", a=a, can=can, csrf=_csrf(request), error=error)


@router.post("/ledger/applications/{app_id}/decide")
def decide_form(request: Request, app_id: int, code: str = Form(""), decision: str = Form(""),
                reason: str = Form(""), csrf_token: str = Form("")) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    check_csrf(request, csrf_token)
    try:
        get_platform(request).bus.handle(h.DecideItem(actor, app_id, code, decision == "approve",
                                                      reason.strip() or None))
    except CityOSError as exc:
        return application_page(request, app_id, error=str(exc))
    return RedirectResponse(f"/ledger/applications/{app_id}", status_code=303)


@router.get("/ledger/approvals")
def approvals_page(request: Request) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    scope = actor.scope("ledger.approve")
    with p.db.read() as conn:
        rows, _total, _f = store.search(conn, scope, q=None, filters={"state": ["submitted"]}, tag_list=[], limit=100,
                                        offset=0) if not scope.empty else ([], 0, {})
        rows = [r for r in rows if scope.contains(r["division_code"])]
        apps = store.list_applications(conn, applicant=actor.username, approver_scope=None if scope.empty else scope)
    return render(request, "ledger/approvals.html", submitted=rows, apps=apps)


@router.get("/ledger/stats")
def stats_page(request: Request) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    actor.require("ledger.read")
    scope = actor.scope("ledger.read")
    with get_platform(request).db.read() as conn:
        st = store.stats(conn, scope)
        st["growth"] = store.growth(conn, scope)
        found = store.orphans(conn, scope, limit=50)
    lang = pick_lang(request)
    chart = {
        "type": {"title": t("ledger.facet.type", lang), "data": [[t(f"rtype.{k}", lang), n] for k, n in st["rtype"].items()]},
        "state": {"title": t("ledger.facet.state", lang), "data": [[t(f"state.{k}", lang), n] for k, n in st["state"].items()]},
        "level": {"title": t("ledger.facet.level", lang), "data": [[t(f"level.{k}", lang), n] for k, n in st["level"].items()]},
        "growth": {"title": t("ledger.growth", lang), "data": [[g["month"], g["total"]] for g in st["growth"]]},
    }
    return render(request, "ledger/stats.html", st=st, chart=json.dumps(chart, ensure_ascii=False), orphans=found,
                  types=model.TYPES)
