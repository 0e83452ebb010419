"""Pages: sign-in, sign-out, my profile, user and role administration, audit search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError, ValidationError
from cityos.identity import handlers as h
from cityos.identity import store
from cityos.identity.api import user_out
from cityos.identity.model import ROLES
from cityos.identity.web import SESSION_COOKIE, check_csrf, client_ip, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(800, "/admin/users", "nav.users")
add_nav(810, "/audit", "nav.audit")


def _signin_redirect(request: Request) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _safe_next(target: str | None) -> str:
    # Only local paths, so the sign-in form cannot be used to send people elsewhere.
    return target if target and target.startswith("/") and not target.startswith("//") else "/me"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "identity/login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/me")) -> Response:
    p = get_platform(request)
    try:
        actor = p.bus.handle(h.SignIn(username, password, client_ip(request)))
    except CityOSError as exc:
        return render(request, "identity/login.html", status_code=exc.status, next=_safe_next(next),
                      error=exc.message, username=username)
    token, _csrf = h.start_session(p, actor)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", max_age=h.SESSION_HOURS * 3600,
                    secure=p.settings.env == "production" or request.url.scheme == "https")
    return resp


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token and actor.authenticated:
        check_csrf(request, csrf_token)
        h.end_session(get_platform(request), token, actor)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/me")
def me(request: Request) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin_redirect(request)
    with get_platform(request).db.read() as conn:
        keys = store.credentials_of(conn, actor.user_id or 0)
    return render(request, "identity/me.html", roles=ROLES, keys=keys, csrf=getattr(request.state, "csrf", ""))


@router.get("/admin/users")
def users_page(request: Request, q: str | None = None, error: str | None = None) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin_redirect(request)
    actor.require("user.read")
    with get_platform(request).db.read() as conn:
        rows, total = store.list_users(conn, actor.scope("user.read"), q, 200, 0)
        grants = store.grants_of(conn, [r["id"] for r in rows])
    users = [user_out(r, grants[r["id"]], False) for r in rows]
    return render(request, "identity/users.html", users=users, total=total, q=q or "", roles=ROLES,
                  can_grant=actor.can("role.grant"), csrf=getattr(request.state, "csrf", ""), error=error)


@router.post("/admin/users/grant")
def grant_form(request: Request, username: str = Form(""), role: str = Form(""), node: str = Form(""),
               csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin_redirect(request)
    check_csrf(request, csrf_token)
    try:
        get_platform(request).bus.handle(h.GrantRole(actor, username.strip(), role, node.strip()))
    except CityOSError as exc:
        return users_page(request, error=str(exc))
    return RedirectResponse(f"/admin/users?q={username}", status_code=303)


@router.post("/admin/users/revoke")
def revoke_form(request: Request, grant_id: int = Form(...), csrf_token: str = Form("")) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin_redirect(request)
    check_csrf(request, csrf_token)
    try:
        get_platform(request).bus.handle(h.RevokeRole(actor, grant_id))
    except CityOSError as exc:
        return users_page(request, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


def _when(raw: str | None, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        from datetime import UTC

        dt = datetime.fromisoformat(raw)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError("must be a date or date-time like 2026-11-25T09:00", field=field) from None


@router.get("/audit")
def audit_page(request: Request, actor_name: str | None = None, object_type: str | None = None,
               object_id: str | None = None, since: str | None = None, until: str | None = None,
               offset: int = 0) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return _signin_redirect(request)
    actor.require("audit.read")
    filters: dict[str, Any] = {"actor_name": actor_name or "", "object_type": object_type or "",
                               "object_id": object_id or "", "since": since or "", "until": until or ""}
    try:
        s, u = _when(since, "since"), _when(until, "until")
    except ValidationError as exc:
        return render(request, "identity/audit.html", records=[], total=0, filters=filters, error=str(exc),
                      offset=0, status_code=400)
    with get_platform(request).db.read() as conn:
        rows, total = store.search_audit(conn, actor=actor_name or None, object_type=object_type or None,
                                         object_id=object_id or None, since=s, until=u,
                                         scope=actor.scope("audit.read"), limit=100, offset=max(0, offset))
    return render(request, "identity/audit.html", records=rows, total=total, filters=filters, error=None,
                  offset=offset)
