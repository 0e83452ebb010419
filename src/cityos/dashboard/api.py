"""The dashboard's API: all figures of a node's screen, its live stream, and indicator series."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from cityos.core.errors import ValidationError
from cityos.dashboard import handlers as h
from cityos.dashboard import store
from cityos.dashboard.live import hub_for
from cityos.geo.model import level_of
from cityos.governance.settings import case_settings
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])


def home_node(actor: Actor) -> str:
    """The node a signed-in centre's screen opens on: its highest case.read grant."""
    actor.require("case.read")
    s = actor.scope("case.read")
    if s.all:
        from cityos.geo.model import level_of as _lv

        city = next((g.node for g in actor.grants if _lv(g.node) == "city"), None)
        return city or next(g.node for g in actor.grants)[:2] + "0000"
    return s.roots[0]


def check_node(actor: Actor, node: str) -> None:
    level_of(node)
    actor.require("case.read", node)


@router.get("", summary="My centre's screen: which node it opens on")
def mine(actor: Actor = Depends(current_actor)) -> dict[str, str]:
    return {"node": home_node(actor)}


@router.get("/series", summary="Indicator series loaded for a node")
def list_series(request: Request, node: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    check_node(actor, node)
    with get_platform(request).db.read() as conn:
        return {"series": store.series_for(conn, [node])}


@router.post("/series/import", summary="Import indicator series from CSV (name,unit,source,node,period,value); "
                                       "all rows or none")
async def import_series(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV must be UTF-8 (bad byte at {exc.start})", field="file") from None
    return {"imported": h.import_series(get_platform(request), actor, text)}


@router.get("/{node}", summary="Every figure of a node's screen (cases, alarms, hazards, instructions, economy)")
def dashboard(request: Request, node: str, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    check_node(actor, node)
    return h.figures(get_platform(request), actor, node)


@router.get("/{node}/stream", summary="New cases, alarms and emergency reports under a node, as server-sent events",
            response_class=StreamingResponse)
async def stream(request: Request, node: str, actor: Actor = Depends(current_actor)) -> StreamingResponse:
    check_node(actor, node)
    p = get_platform(request)
    settings = case_settings()
    hub = hub_for(p, min(settings.sse_poll_s, 1.0))  # screens are not woken on commit: they keep polling
    roots = h.scope_roots(actor)
    heartbeat = settings.sse_heartbeat_s

    async def events() -> AsyncIterator[str]:
        screen = await hub.subscribe(node, roots)
        try:
            yield "retry: 3000\nevent: hello\ndata: {}\n\n"
            while True:
                try:
                    row = await asyncio.wait_for(screen.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                yield f"event: {row['kind']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        finally:
            hub.unsubscribe(screen)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
