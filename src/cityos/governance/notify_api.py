"""Notification doors of the native API: the live inbox (server-sent events),
marking read, and outgoing webhooks. Included by `governance.api` under /api/v1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from cityos.core.errors import NotFound, ValidationError
from cityos.governance import notify_store as ns
from cityos.governance import webhooks as wh
from cityos.governance.live import hub_for, sse
from cityos.governance.settings import case_settings
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(tags=["notifications"])
CATCH_UP = 500


def units_of(actor: Actor) -> list[str]:
    """The units whose inbox this actor reads (as in `GET /api/v1/notifications`)."""
    units = [g.unit for g in actor.grants if g.unit] + [f"C-{g.node}" for g in actor.grants] + \
        [f"G-{g.node}" for g in actor.grants if len(g.node) == 15]
    return sorted(set(units))


def _last_id(header: str | None, after: int | None) -> int | None:
    raw = header if header not in (None, "") else (str(after) if after is not None else None)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise ValidationError("must be a notification id (a whole number)", field="Last-Event-ID")
    return int(raw)


@router.get("/notifications/stream", summary="My inbox live, as server-sent events (text/event-stream)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`id:` is the notification id; reconnect with `Last-Event-ID` to catch up; "
                                            "a comment line every 15 s keeps the stream open"}})
async def stream(request: Request, after: int | None = Query(None, ge=0, description="catch up after this id"),
                 last_event_id: str | None = Header(None, alias="Last-Event-ID"),
                 actor: Actor = Depends(current_actor)) -> StreamingResponse:
    actor.require_signed_in()
    p = get_platform(request)
    last = _last_id(last_event_id, after)
    units = units_of(actor)
    settings = case_settings()
    hub = hub_for(p, settings.sse_poll_s)
    heartbeat = settings.sse_heartbeat_s

    def catch_up(after_id: int) -> list[dict[str, Any]]:
        with p.db.read() as conn:
            return ns.inbox_after(conn, actor.username, units, after_id, CATCH_UP)

    async def events() -> AsyncIterator[str]:
        sub = await hub.subscribe(actor.username, units)
        sent: set[int] = set()
        try:
            yield f": connected as {actor.username}\nretry: 3000\n\n"
            if last is not None:
                for row in await anyio.to_thread.run_sync(catch_up, last):
                    sent.add(row["id"])
                    yield sse(row)
            while True:
                try:
                    row = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if row["id"] in sent:
                    continue
                if len(sent) > 10_000:
                    sent.clear()
                sent.add(row["id"])
                yield sse(row)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/notifications/unread", summary="How many of my notifications are unread")
def unread(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    actor.require_signed_in()
    with get_platform(request).db.read() as conn:
        return {"unread": ns.unread_count(conn, actor.username, units_of(actor))}


@router.post("/notifications/{notification_id}/read", summary="Mark one of my notifications read")
def mark_one_read(request: Request, notification_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    actor.require_signed_in()
    p = get_platform(request)
    units = units_of(actor)
    with p.db.begin() as conn:
        if ns.get_notification(conn, notification_id, actor.username, units) is None:
            raise NotFound(f"no notification {notification_id} for you", field="notification_id")
        ns.mark_read(conn, actor.username, units, [notification_id], p.clock.now())
        row = ns.get_notification(conn, notification_id, actor.username, units)
    assert row is not None
    return {"id": notification_id, "read_at": row["read_at"]}


class ReadIn(BaseModel):
    ids: list[int] | None = Field(None, max_length=1000, description="ids to mark; leave out with all=true")
    all: bool = False


@router.post("/notifications/read", summary="Mark several (or all) of my notifications read")
def mark_read(request: Request, body: ReadIn, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    actor.require_signed_in()
    if body.ids is None and not body.all:
        raise ValidationError("give ids, or all=true", field="ids")
    if body.ids is not None and body.all:
        raise ValidationError("give ids or all=true, not both", field="ids")
    p = get_platform(request)
    with p.db.begin() as conn:
        n = ns.mark_read(conn, actor.username, units_of(actor), body.ids, p.clock.now())
    return {"marked": n}


class WebhookIn(BaseModel):
    url: str = Field(max_length=500, description="http(s) URL that receives POSTed JSON events")
    topics: list[str] = Field(max_length=10, description=f"any of {', '.join(wh.TOPICS)}")
    secret: str | None = Field(None, min_length=16, max_length=200, description="left out: one is generated")
    description: str | None = Field(None, max_length=200)
    active: bool = True


class WebhookPatch(BaseModel):
    url: str | None = Field(None, max_length=500)
    topics: list[str] | None = Field(None, max_length=10)
    description: str | None = Field(None, max_length=200)
    active: bool | None = None
    rotate_secret: bool = False


@router.post("/webhooks", status_code=201, summary="Register an outgoing webhook (the answer shows its secret once)")
def create_webhook(request: Request, body: WebhookIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return wh.create_webhook(get_platform(request), actor, body.url, body.topics, body.secret, body.description,
                             body.active)


@router.get("/webhooks", summary="Webhooks (mine; all of them for a system administrator)")
def list_webhooks(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"webhooks": wh.list_webhooks(get_platform(request), actor), "topics": list(wh.TOPICS)}


@router.patch("/webhooks/{webhook_id}", summary="Change a webhook, switch it off or on, or rotate its secret")
def update_webhook(request: Request, webhook_id: int, body: WebhookPatch,
                   actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return wh.update_webhook(get_platform(request), actor, webhook_id, body.model_dump())


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Remove a webhook", response_class=Response)
def delete_webhook(request: Request, webhook_id: int, actor: Actor = Depends(current_actor)) -> Response:
    wh.delete_webhook(get_platform(request), actor, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", summary="The latest delivery attempts of a webhook")
def deliveries(request: Request, webhook_id: int, limit: int = 50,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"deliveries": wh.webhook_deliveries(get_platform(request), actor, webhook_id, limit)}
