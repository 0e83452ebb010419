"""The rail's door, `/rail/v1/`: feeds, subscriptions (apply, decide, webhook) and the
change feed read with a cursor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from cityos.core.errors import ValidationError
from cityos.data.rail import handlers as h
from cityos.data.rail import model
from cityos.data.rail import store as rs
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/rail/v1", tags=["rail"])
ACTIONS = ("approve", "reject", "suspend", "resume", "revoke")


@router.get("/feeds", summary="The change feeds, their owners and heads")
def feeds(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    with get_platform(request).db.read() as conn:
        heads = rs.heads(conn)
    return {"feeds": [{"dataset": f.name, "catalog": f.catalog, "owner": f.owner, "key": f.key,
                       "personal_fields": sorted(f.personal), "head": heads.get(f.name, 0)}
                      for f in model.FEEDS.values()]}


@router.post("/subscriptions", status_code=201,
             summary="Apply for a feed (purpose, level masked|full); applying again returns the live subscription")
def apply(request: Request, body: dict[str, Any] = Body(...), actor: Actor = Depends(current_actor)) -> JSONResponse:
    return JSONResponse(h.apply(get_platform(request), actor, body), status_code=201)


@router.get("/subscriptions", summary="Your subscriptions with their lag (owned=true: those to your department's feeds)")
def subscriptions(request: Request, owned: bool = False, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    if owned:
        actor.require("rail.approve")
        return {"subscriptions": h.owned_subscriptions(p, actor)}
    return {"subscriptions": h.my_subscriptions(p, actor)}


@router.post("/subscriptions/{sub_id}/{action}", summary="approve, reject, suspend, resume or revoke (data officer)")
def decide(request: Request, sub_id: int, action: str, body: dict[str, Any] | None = Body(None),
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValidationError(f"must be one of {', '.join(ACTIONS)}", field="action")
    return h.decide(get_platform(request), actor, sub_id, action, body or {})


@router.put("/subscriptions/{sub_id}/webhook",
            summary="Register the URL changes are pushed to (url null clears it); returns the signing secret once")
def webhook(request: Request, sub_id: int, body: dict[str, Any] = Body(...),
            actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    return h.set_webhook(get_platform(request), actor, sub_id, body)


@router.get("/{dataset}/changes", summary="Changes after a cursor (after=SEQ), oldest first; `next` is the next cursor")
def changes(request: Request, dataset: str, after: str | None = Query(None), limit: str | None = Query(None),
            actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.read_changes(get_platform(request), actor, dataset, after, limit)
