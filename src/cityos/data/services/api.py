"""Doors of the data service interfaces: the gateway `/ds/v1/{code}`, its OpenAPI document,
the OAuth2 token endpoint, and the native management API under `/api/v1/ds/`."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from cityos.core import idempotency
from cityos.core.errors import CityOSError, NotFound, ValidationError
from cityos.data.services import gateway, handlers, model, openapi, store
from cityos.identity.model import Actor
from cityos.identity.web import client_ip, current_actor, presented_secret
from cityos.web.deps import get_platform

router = APIRouter()
TAG = "data services"


# --- the gateway ------------------------------------------------------------------------------

@router.get("/ds/v1/openapi.json", tags=[TAG], summary="OpenAPI of every published interface")
def ds_openapi(request: Request) -> JSONResponse:
    p = get_platform(request)
    with p.db.read() as conn:
        docs = store.published_definitions(conn)
    defs = [model.parse_definition(d, store.READABLE_COLUMNS) for d in docs]
    return JSONResponse(openapi.document(defs, str(request.base_url).rstrip("/")))


@router.post("/ds/v1/token", tags=[TAG], summary="OAuth2 client credentials: a bearer token for a consumer")
async def ds_token(request: Request) -> JSONResponse:
    form = await request.form()
    client_id = str(form.get("client_id") or "")
    client_secret = str(form.get("client_secret") or "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _oauth_error("invalid_client", "malformed Basic credentials", 401)
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "grant_type must be client_credentials", 400)
    p = get_platform(request)
    try:
        token = await run_in_threadpool(handlers.client_token, p, client_id, client_secret)
    except CityOSError as exc:
        return _oauth_error("invalid_client", exc.message, 401)
    return JSONResponse(token, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _oauth_error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": message}, status_code=status,
                        headers={"Cache-Control": "no-store"})


@router.get("/ds/v1/{code}", tags=[TAG], summary="Call a data service interface",
            description="Authenticated by the consumer's API key (`X-API-Key`) or a bearer token from "
                        "`/ds/v1/token`; parameters as the interface's documentation says (`/ds/v1/openapi.json`); "
                        "optional `version`, `page`, `page_size`.")
def ds_call(request: Request, code: str) -> Response:
    p = get_platform(request)
    raw = dict(request.query_params)
    ans = gateway.call(p, presented_secret(request), code, raw, client_ip(request), request.headers.get("x-purpose"))
    return Response(ans.body, status_code=ans.status, media_type="application/json", headers=ans.headers)


# --- interfaces -----------------------------------------------------------------------------------

@router.get("/api/v1/ds/interfaces", tags=[TAG], summary="Search the published interfaces")
def list_interfaces(request: Request, q: str | None = None, owner: str | None = None,
                    sharing: str | None = None) -> dict[str, Any]:
    p = get_platform(request)
    with p.db.read() as conn:
        items = store.search_interfaces(conn, q, owner, sharing)
    return {"count": len(items), "items": jsonable_encoder(items)}


@router.get("/api/v1/ds/interfaces/{code}", tags=[TAG], summary="An interface with its versions")
def show_interface(request: Request, code: str) -> dict[str, Any]:
    p = get_platform(request)
    with p.db.read() as conn:
        i = store.interface(conn, code)
        if i is None:
            raise NotFound(f"no interface {code!r}", field="code")
        versions = store.versions_of(conn, code)
    return jsonable_encoder({**i, "versions": versions})


async def _documents(request: Request) -> list[dict[str, Any]]:
    body = (await request.body()).decode("utf-8", errors="replace")
    if not body.strip():
        raise ValidationError("send a definition (YAML or JSON) as the request body", field="body")
    return handlers.load_documents(body)


@router.post("/api/v1/ds/interfaces/validate", tags=[TAG], summary="Check definitions without publishing")
async def validate_interfaces(request: Request) -> dict[str, Any]:
    docs = await _documents(request)
    defs = handlers.validate(docs)
    return {"valid": True, "interfaces": [{"code": d.code, "version": d.version, "sharing": d.sharing} for d in defs]}


@router.post("/api/v1/ds/interfaces", tags=[TAG], status_code=201,
             summary="Publish definitions (YAML or JSON body; each a new immutable version)")
async def publish_interfaces(request: Request, actor: Actor = Depends(current_actor)) -> JSONResponse:
    p = get_platform(request)
    actor.require("ds.publish", handlers.city_node(p))  # who may publish, before the body is read
    docs = await _documents(request)
    out = await run_in_threadpool(p.bus.handle, handlers.Publish(actor, docs))
    return JSONResponse({"published": out}, status_code=201)


@router.post("/api/v1/ds/interfaces/{code}/versions/{version}/retire", tags=[TAG], summary="Retire a version")
def retire_version(request: Request, code: str, version: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return dict(get_platform(request).bus.handle(handlers.Retire(actor, code, version)))


# --- consumers, applications, grants -------------------------------------------------------------------

class ConsumerIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    department: str = Field(min_length=1, max_length=100)
    ledger_code: str | None = Field(None, max_length=64)


@router.post("/api/v1/ds/consumers", tags=[TAG], status_code=201, summary="Register a consumer (an application)")
def create_consumer(request: Request, body: ConsumerIn, idempotency_key: str | None = Header(None),
                    actor: Actor = Depends(current_actor)) -> JSONResponse:
    p = get_platform(request)
    return _idempotent(request, f"ds.consumer:{actor.username}", idempotency_key, body.model_dump(), lambda: p.bus.handle(
        handlers.RegisterConsumer(actor, body.code, body.name, body.department, body.ledger_code)))


@router.get("/api/v1/ds/consumers", tags=[TAG], summary="Consumers and their grants")
def list_consumers(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    p = get_platform(request)
    with p.db.read() as conn:
        items = [c for c in store.consumers(conn) if actor.can("ds.usage", c["node"]) or actor.can("ds.apply", c["node"])]
        for c in items:
            c.pop("client_secret_hash", None)
            c["grants"] = store.list_grants(conn, consumer_id=c["id"])
    return {"count": len(items), "items": jsonable_encoder(items)}


@router.post("/api/v1/ds/consumers/{code}/credentials", tags=[TAG], status_code=201,
             summary="Issue (rotate) the consumer's API key and OAuth2 client secret; shown once")
def consumer_credentials(request: Request, code: str, actor: Actor = Depends(current_actor)) -> JSONResponse:
    out = get_platform(request).bus.handle(handlers.IssueCredentials(actor, code))
    return JSONResponse(out, status_code=201, headers={"Cache-Control": "no-store"})


class ApplicationIn(BaseModel):
    consumer: str = Field(min_length=1, max_length=64)
    interfaces: list[str] = Field(min_length=1, max_length=100)
    purpose: str = Field(min_length=1, max_length=500)
    legal_basis: str = Field(min_length=1, max_length=500)
    expected_daily: int = Field(ge=1, le=50_000_000)


@router.post("/api/v1/ds/applications", tags=[TAG], status_code=201,
             summary="Apply for one or more interfaces at once (unconditional ones are granted at once)")
def create_application(request: Request, body: ApplicationIn, idempotency_key: str | None = Header(None),
                       actor: Actor = Depends(current_actor)) -> JSONResponse:
    p = get_platform(request)
    return _idempotent(request, f"ds.apply:{actor.username}", idempotency_key, body.model_dump(), lambda: p.bus.handle(
        handlers.Apply(actor, body.consumer, tuple(body.interfaces), body.purpose, body.legal_basis,
                       body.expected_daily)))


@router.get("/api/v1/ds/grants", tags=[TAG], summary="Grants, e.g. an owner's pending applications")
def list_grants(request: Request, owner: str | None = None, status: str | None = None,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    actor.require("ds.approve", handlers.city_node(p))
    with p.db.read() as conn:
        items = store.list_grants(conn, owner=owner, status=status)
    return {"count": len(items), "items": jsonable_encoder(items)}


class DecisionIn(BaseModel):
    reason: str | None = Field(None, max_length=500)
    daily_quota: int | None = Field(None, ge=1, le=100_000_000)
    rate_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    plain_personal: bool | None = None


@router.post("/api/v1/ds/grants/{grant_id}/{action}", tags=[TAG],
             summary="approve, reject, suspend, resume or revoke a grant")
def decide_grant(request: Request, grant_id: int, action: str, body: DecisionIn = Body(default_factory=DecisionIn),
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    if action not in model.ACTIONS:
        raise ValidationError(f"must be one of {', '.join(model.ACTIONS)}", field="action")
    return dict(get_platform(request).bus.handle(handlers.Decide(
        actor, grant_id, action, body.reason, body.daily_quota, body.rate_per_minute, body.plain_personal)))


# --- usage --------------------------------------------------------------------------------------------------

@router.get("/api/v1/ds/usage", tags=[TAG], summary="Calls per interface and consumer (an owner's view: ?owner=)")
def ds_usage(request: Request, owner: str | None = None, interface: str | None = None, consumer: str | None = None,
             since: date | None = None, until: date | None = None,
             actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    return jsonable_encoder(handlers.usage(p, actor, since=since, until=until, owner=owner, code=interface,
                                           consumer=consumer))


@router.get("/api/v1/ds/calls", tags=[TAG], summary="The latest calls (the call log; no parameter values)")
def ds_calls(request: Request, owner: str | None = None, interface: str | None = None, limit: int = 50,
             actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    actor.require("ds.usage", handlers.city_node(p))
    with p.db.read() as conn:
        items = store.recent_calls(conn, code=interface, owner=owner, limit=max(1, min(limit, 500)))
    return {"count": len(items), "items": jsonable_encoder(items)}


def _idempotent(request: Request, scope: str, key: str | None, body: Any, run: Any) -> JSONResponse:
    p = get_platform(request)
    key = idempotency.check_key(key)
    digest = idempotency.request_hash(body)
    if key:
        with p.db.read() as conn:
            seen = idempotency.lookup(conn, scope, key, digest)
        if seen:
            return JSONResponse(seen[1], status_code=seen[0])
    result = jsonable_encoder(run())
    if key:
        # A secret issued with the answer is shown once: a replay answers without it.
        kept = {**result, "credentials": {"issued": True, "note": "shown once, at the first answer"}} if isinstance(
            result, dict) and result.get("credentials") else result
        with p.db.begin() as conn:
            idempotency.remember(conn, scope, key, digest, 201, kept, p.clock.now())
    return JSONResponse(result, status_code=201, headers={"Cache-Control": "no-store"})
