"""Live inbox: one shared poller per process fans new notifications out to every
server-sent-events connection of that process.

Cost: a process with N open streams runs one query per poll interval (1 s by
default), whatever N is, plus one catch-up query when a stream (re)connects with
`Last-Event-ID`. Each row is matched in memory against the connections' user and
units. With several API processes, each runs its own poller: P processes cost P
queries per second.

Ids are handed out before commit on PostgreSQL, so a notice with a lower id can
appear after a higher one. The poller therefore keeps a low-water mark: it asks
for every id above the highest id below which it has seen them all, skips those
it already pushed, and steps over a hole in the ids only after `SETTLE_S` (a
transaction that writes a notice commits well within that; a rolled-back id stays a
hole for good). With no holes the query returns only new rows.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from cityos.governance import notify_store as ns

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

SETTLE_S = 5.0
BATCH = 1000
QUEUE_MAX = 1000


@dataclass(eq=False)
class Subscription:
    user: str
    units: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    dropped: int = 0

    def wants(self, row: dict[str, Any]) -> bool:
        return row["recipient_user"] == self.user or (row["recipient_unit"] is not None and row["recipient_unit"] in self.units)


class LiveHub:
    """The poller of one process (one event loop)."""

    def __init__(self, p: Platform, poll_s: float) -> None:
        self.p = p
        self.poll_s = poll_s
        self.subs: set[Subscription] = set()
        self.low: int | None = None  # every id <= low has been seen (or given up on)
        self.seen: set[int] = set()  # ids above low already pushed
        self.hole_since: dict[int, float] = {}  # first missing id above low -> when it was first missed
        self.queries = 0  # polls run (for the figures)
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, user: str, units: list[str]) -> Subscription:
        if self.low is None:
            self.low = await anyio.to_thread.run_sync(self._max_id)
        sub = Subscription(user, frozenset(units))
        self.subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def _max_id(self) -> int:
        with self.p.db.read() as conn:
            return ns.max_notification_id(conn)

    def _fetch(self, after: int) -> list[dict[str, Any]]:
        with self.p.db.read() as conn:
            return ns.newer_than(conn, after, BATCH)

    async def _run(self) -> None:
        while self.subs:
            try:
                await self.poll_once()
            except Exception:  # the database may be away for a moment; streams stay open
                from cityos.core.logging import get_logger

                get_logger("cityos.live").warning("live.poll_failed", exc_info=True)
            await asyncio.sleep(self.poll_s)
        # Nobody listens: stop polling; the next subscriber starts afresh from the newest id.
        self.low = None
        self.seen.clear()
        self.hole_since.clear()

    async def poll_once(self) -> int:
        assert self.low is not None
        rows = await anyio.to_thread.run_sync(self._fetch, self.low)
        self.queries += 1
        pushed = 0
        for row in rows:
            if row["id"] in self.seen:
                continue
            self.seen.add(row["id"])
            pushed += 1
            for sub in list(self.subs):
                if sub.wants(row):
                    try:
                        sub.queue.put_nowait(row)
                    except asyncio.QueueFull:
                        sub.dropped += 1  # a stalled client; it catches up with Last-Event-ID
        self._advance(time.monotonic())
        return pushed

    def _advance(self, now: float) -> None:
        assert self.low is not None
        while self.seen:
            nxt = self.low + 1
            if nxt in self.seen:
                self.seen.discard(nxt)
                self.low = nxt
                self.hole_since.pop(nxt, None)
                continue
            first = min(self.seen)
            since = self.hole_since.setdefault(nxt, now)
            if now - since < SETTLE_S:
                break
            self.hole_since.pop(nxt, None)
            self.low = first - 1  # the hole settled: step over it


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, LiveHub]] = weakref.WeakKeyDictionary()


def hub_for(p: Platform, poll_s: float) -> LiveHub:
    """The hub of this process's event loop for this platform."""
    loop = asyncio.get_running_loop()
    hubs = _HUBS.setdefault(loop, {})
    hub = hubs.get(id(p))
    if hub is None or hub.p is not p:
        hub = LiveHub(p, poll_s)
        hubs[id(p)] = hub
    return hub


def sse(row: dict[str, Any]) -> str:
    """One notification as a server-sent event."""
    import json

    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    return f"id: {row['id']}\nevent: notification\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
