"""Native API of identity: tokens, me, users and roles, API keys, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field

from cityos.core.errors import ValidationError
from cityos.identity import handlers as h
from cityos.identity import store
from cityos.identity.model import ROLES, Actor, mask_id_number, mask_phone
from cityos.identity.web import client_ip, current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1", tags=["identity"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


@router.post("/auth/token", summary="Exchange a user name and password for a bearer token (1 hour)")
def token(request: Request, username: str = Form(...), password: str = Form(...),
          scope: str = Form("*")) -> TokenOut:
    p = get_platform(request)
    actor = p.bus.handle(h.SignIn(username, password, client_ip(request)))
    scopes = tuple(s for s in scope.split() if s) or ("*",)
    cid, secret = p.bus.handle(h.CreateCredential(actor, username, "sign-in token", "token", scopes))
    with p.db.read() as conn:
        cred = store.credential_by_id(conn, cid)
    return TokenOut(access_token=secret, expires_at=cred["expires_at"] if cred else None)


@router.get("/auth/check", summary="A protected no-op: 200 when the credential is valid")
async def check(actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    # async: no IO here (the credential was read by the dependency), so no second thread hop
    actor.require_signed_in()
    return {"ok": True, "user": actor.username}


@router.get("/ping", summary="An open no-op (compare with /auth/check)")
def ping() -> dict[str, bool]:
    return {"ok": True}


def _grant_out(g: Any) -> dict[str, Any]:
    role = ROLES.get(g.role if hasattr(g, "role") else g["role"])
    gd = g if isinstance(g, dict) else {"id": g.id, "role": g.role, "node": g.node, "unit_code": g.unit}
    return {"id": gd["id"], "role": gd["role"], "node": gd["node"], "unit": gd.get("unit_code"),
            "role_zh": role.zh if role else None, "role_en": role.en if role else None}


@router.get("/me", summary="Who am I, with my roles and where they reach")
def me(actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"username": actor.username, "display_name": actor.display_name, "authenticated": actor.authenticated,
            "via": actor.via, "grants": [_grant_out(g) for g in actor.grants],
            "key_scopes": sorted(actor.key_scopes) if actor.key_scopes is not None else None}


def user_out(u: dict[str, Any], grants: list[dict[str, Any]], show_personal: bool) -> dict[str, Any]:
    return {
        "username": u["username"], "display_name": u["display_name"], "home_node": u["home_node"],
        "active": u["active"], "locked": u["locked_until"] is not None,
        "phone": u["phone"] if show_personal else mask_phone(u["phone"]),
        "id_number": u["id_number"] if show_personal else mask_id_number(u["id_number"]),
        "grants": [_grant_out(g) for g in grants],
    }


@router.get("/users", summary="Users within my scope")
def list_users(request: Request, q: str | None = None, limit: int = 50, offset: int = 0,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("user.read")
    if not 1 <= limit <= 500:
        raise ValidationError("must be between 1 and 500", field="limit")
    p = get_platform(request)
    scope = actor.scope("user.read")
    with p.db.begin() as conn:
        rows, total = store.list_users(conn, scope, q, limit, max(0, offset))
        grants = store.grants_of(conn, [r["id"] for r in rows])
        out = []
        seen_personal = []
        for r in rows:
            visible = actor.may_see_personal(r["home_node"])
            if visible and (r["phone"] or r["id_number"]):
                seen_personal.append(r["username"])
            out.append(user_out(r, grants[r["id"]], visible))
        if seen_personal:
            from cityos.identity import audit

            audit.record(conn, actor, "personal.read", "user", ",".join(seen_personal)[:120], p.clock.now(),
                         details={"count": len(seen_personal)})
    return {"total": total, "users": out}


class UserIn(BaseModel):
    username: str = Field(max_length=80)
    display_name: str = Field("", max_length=200)
    password: str | None = Field(None, max_length=200)
    home_node: str = Field(max_length=15)
    phone: str | None = Field(None, max_length=20)
    id_number: str | None = Field(None, max_length=18)
    grants: list[tuple[str, str]] = []


@router.post("/users", status_code=201, summary="Create a user (administrators, within their scope)")
def create_user(request: Request, body: UserIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    p.bus.handle(h.CreateUser(actor, body.username, body.display_name, body.password, body.home_node, body.phone,
                              body.id_number, list(body.grants)))
    return {"username": body.username}


class GrantIn(BaseModel):
    role: str = Field(max_length=40)
    node: str = Field(max_length=15)
    unit: str | None = Field(None, max_length=40)


@router.post("/users/{username}/roles", status_code=201, summary="Grant a role at a node")
def grant(request: Request, username: str, body: GrantIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    gid = get_platform(request).bus.handle(h.GrantRole(actor, username, body.role, body.node, body.unit))
    return {"id": gid, "username": username, "role": body.role, "node": body.node}


@router.delete("/roles/{grant_id}", status_code=204, summary="Revoke a role grant")
def revoke(request: Request, grant_id: int, actor: Actor = Depends(current_actor)) -> None:
    get_platform(request).bus.handle(h.RevokeRole(actor, grant_id))


class KeyIn(BaseModel):
    name: str = Field(max_length=120)
    username: str | None = Field(None, max_length=80)
    scopes: list[str] = ["*"]
    expires_at: datetime | None = None


@router.post("/apikeys", status_code=201, summary="Create an API key (shown once)")
def create_key(request: Request, body: KeyIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()  # any signed-in user may make keys for themself
    cid, secret = get_platform(request).bus.handle(
        h.CreateCredential(actor, body.username or actor.username, body.name, "api_key", tuple(body.scopes),
                           body.expires_at))
    return {"id": cid, "key": secret, "scopes": body.scopes}


@router.delete("/apikeys/{credential_id}", status_code=204, summary="Revoke an API key or token")
def revoke_key(request: Request, credential_id: int, actor: Actor = Depends(current_actor)) -> None:
    get_platform(request).bus.handle(h.RevokeCredential(actor, credential_id))


@router.get("/audit", summary="Search the audit log (auditors, within scope)")
def audit_search(request: Request, actor_name: str | None = None, object_type: str | None = None,
                 object_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 100, offset: int = 0, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require("audit.read")
    if not 1 <= limit <= 1000:
        raise ValidationError("must be between 1 and 1000", field="limit")
    p = get_platform(request)
    with p.db.read() as conn:
        rows, total = store.search_audit(conn, actor=actor_name, object_type=object_type, object_id=object_id,
                                         since=since, until=until, scope=actor.scope("audit.read"), limit=limit,
                                         offset=max(0, offset))
    return {"total": total, "records": [
        {k: r[k] for k in ("id", "at", "actor", "role", "node", "action", "object_type", "object_id", "ip", "purpose",
                           "details", "seal_seq")} for r in rows]}
