"""Pages of the data service interfaces: the marketplace (search, documentation, try it), the
bundled application, the owner's approvals and the owner's usage dashboard."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError, NotFound
from cityos.data.services import gateway, handlers, model, store
from cityos.identity.model import Actor
from cityos.identity.web import check_csrf, client_ip, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(410, "/ds", "nav.ds")
OWNERS = model.OWNERS


def _signed_in(request: Request) -> Actor | Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return actor


def _csrf(request: Request) -> str:
    return str(getattr(request.state, "csrf", ""))


@router.get("/ds")
def market(request: Request, q: str = Query("", max_length=100), owner: str = "", sharing: str = "") -> Response:
    p = get_platform(request)
    with p.db.read() as conn:
        items = store.search_interfaces(conn, q or None, owner or None, sharing or None)
    return render(request, "ds/market.html", items=items, q=q, owner=owner, sharing=sharing, owners=OWNERS,
                  sharings=model.SHARING)


def _definition(p: Any, code: str, version: int | None = None) -> tuple[dict[str, Any], model.Definition,
                                                                          list[dict[str, Any]]]:
    with p.db.read() as conn:
        i = store.interface(conn, code)
        if i is None:
            raise NotFound(f"no interface {code!r}", field="code")
        versions = store.versions_of(conn, code)
    live = [v for v in versions if v["status"] == "published"]
    pick = next((v for v in versions if v["version"] == version), None) if version else (live[-1] if live else
                                                                                          versions[-1])
    if pick is None:
        raise NotFound(f"no version {version} of {code}", field="version")
    return i, model.parse_definition(pick["definition"], store.READABLE_COLUMNS), versions


@router.get("/ds/i/{code}")
def interface_page(request: Request, code: str, version: int | None = None) -> Response:
    p = get_platform(request)
    i, d, versions = _definition(p, code, version)
    resolve_actor(request)
    example = "&".join(f"{prm.name}={prm.example or ''}" for prm in d.params if prm.required)
    return render(request, "ds/interface.html", i=i, d=d, versions=versions, csrf=_csrf(request),
                  base=str(request.base_url).rstrip("/"), example=example, result=None)


@router.post("/ds/i/{code}/try")
async def try_it(request: Request, code: str) -> Response:
    """Calls the gateway as the consumer whose key is typed in (logged and counted like any call)."""
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    p = get_platform(request)
    _definition(p, code)  # 404 for an unknown interface
    raw = {k: str(v) for k, v in form.items() if k not in ("csrf_token", "api_key") and str(v) != ""}
    from fastapi.concurrency import run_in_threadpool

    ans = await run_in_threadpool(gateway.call, p, str(form.get("api_key") or "") or None, code, raw, client_ip(request))
    body = json.dumps(json.loads(ans.body), ensure_ascii=False, indent=2)
    return render(request, "ds/try_result.html", status=ans.status, body=body)


@router.get("/ds/apply")
def apply_page(request: Request, interfaces: list[str] | None = Query(None)) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    with p.db.read() as conn:
        items = [i for i in store.search_interfaces(conn, None, None, None) if i["sharing"] != "not_shared"]
        consumers = [c for c in store.consumers(conn) if actor.can("ds.apply", c["node"]) or
                     actor.can("ds.approve", c["node"])]
    return render(request, "ds/apply.html", items=items, chosen=set(interfaces or []), consumers=consumers,
                  csrf=_csrf(request), owners=OWNERS, error=None, result=None)


@router.post("/ds/apply")
async def apply_submit(request: Request) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    p = get_platform(request)
    chosen = [str(v) for v in form.getlist("interfaces")]
    consumer = str(form.get("consumer") or "")
    error = None
    result = None
    from fastapi.concurrency import run_in_threadpool

    try:
        if consumer == "__new__":
            made = await run_in_threadpool(p.bus.handle, handlers.RegisterConsumer(
                actor, str(form.get("new_code") or ""), str(form.get("new_name") or ""),
                str(form.get("new_department") or ""), str(form.get("new_ledger_code") or "") or None))
            consumer = made["code"]
        try:
            expected = int(str(form.get("expected_daily") or "0"))
        except ValueError:
            expected = 0
        result = await run_in_threadpool(p.bus.handle, handlers.Apply(
            actor, consumer, tuple(chosen), str(form.get("purpose") or ""), str(form.get("legal_basis") or ""),
            expected))
    except CityOSError as exc:
        error = exc
    with p.db.read() as conn:
        items = [i for i in store.search_interfaces(conn, None, None, None) if i["sharing"] != "not_shared"]
        consumers = [c for c in store.consumers(conn) if actor.can("ds.apply", c["node"]) or
                     actor.can("ds.approve", c["node"])]
    return render(request, "ds/apply.html", items=items, chosen=set(chosen), consumers=consumers, csrf=_csrf(request),
                  owners=OWNERS, error=error, result=result, status_code=400 if error else 200)


@router.post("/ds/consumers/{code}/credentials")
async def credentials_page(request: Request, code: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    p = get_platform(request)
    from fastapi.concurrency import run_in_threadpool

    creds = await run_in_threadpool(p.bus.handle, handlers.IssueCredentials(actor, code))
    return render(request, "ds/credentials.html", creds=creds, consumer=code)


@router.get("/ds/approvals")
def approvals_page(request: Request, owner: str = "", status: str = "pending") -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    actor.require("ds.approve", handlers.city_node(p))
    with p.db.read() as conn:
        grants = store.list_grants(conn, owner=owner or None, status=status or None)
    return render(request, "ds/approvals.html", grants=grants, owner=owner, status=status, owners=OWNERS,
                  states=model.GRANT_STATES, csrf=_csrf(request))


@router.post("/ds/grants/{grant_id}/{action}")
async def decide_page(request: Request, grant_id: int, action: str) -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    p = get_platform(request)

    def num(name: str) -> int | None:
        v = str(form.get(name) or "").strip()
        return int(v) if v.isdigit() else None

    from fastapi.concurrency import run_in_threadpool

    await run_in_threadpool(p.bus.handle, handlers.Decide(
        actor, grant_id, action, str(form.get("reason") or "") or None, num("daily_quota"), num("rate_per_minute"),
        form.get("plain_personal") == "on"))
    back = str(form.get("back") or "/ds/approvals")
    return RedirectResponse(back if back.startswith("/ds/") else "/ds/approvals", status_code=303)


@router.get("/ds/usage")
def usage_page(request: Request, owner: str = "", interface: str = "") -> Response:
    actor = _signed_in(request)
    if isinstance(actor, Response):
        return actor
    p = get_platform(request)
    u = handlers.usage(p, actor, since=None, until=None, owner=owner or None, code=interface or None, consumer=None)
    with p.db.read() as conn:
        calls = store.recent_calls(conn, owner=owner or None, code=interface or None, limit=30)
        grants = store.list_grants(conn, owner=owner or None, status="active")
    top = max((r["calls"] + r["errors"] for r in u["by_consumer"]), default=0)
    return render(request, "ds/usage.html", u=u, calls=calls, grants=grants, owner=owner, interface=interface,
                  owners=OWNERS, top=top)
