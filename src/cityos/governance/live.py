"""Live inbox: one shared reader per process fans new notifications out to every
server-sent-events connection of that process.

When it reads: at once after any transaction that wrote notifications has committed
(`core.db.signal(conn, "notifications")` in `store.notify`; in this process directly, from
other processes through PostgreSQL LISTEN/NOTIFY, see `core.wakeup`), and otherwise every
`CITYOS_SSE_POLL_S` as a fallback (the only way another process's writes are seen on
SQLite). Wake-ups that come while a read runs are folded into one more read, so a burst
of commits costs a few queries, not one per commit and never one per client.

Cost: one `id > n` query per read whatever the number of open streams, plus one catch-up
query when a stream (re)connects with `Last-Event-ID`. Each row is matched in memory
against the connections' user and units. The reads run on a thread limiter and a
database connection of their own, so a burst of requests queueing for worker threads or
pooled connections does not hold up the streams.

Ids are handed out before commit on PostgreSQL, so a notice with a lower id can
appear after a higher one. The reader therefore keeps a low-water mark: it asks
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

import anyio
import anyio.to_thread

from cityos.core.db import Database
from cityos.core.wakeup import Wakeup
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
        self.queries = 0  # reads run (for the figures and the tests)
        self.wakeup: Wakeup | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._db: Database | None = None
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, user: str, units: list[str]) -> Subscription:
        """A new stream; every notice for it that commits after this returns is pushed to its queue."""
        sub = Subscription(user, frozenset(units))
        self.subs.add(sub)  # from here on the reader does not stop
        try:
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(1)
            if self._db is None:  # its own connection: a read never queues behind requests for the shared pool
                self._db = Database(self.p.db.url, pool_size=1)
            if self.wakeup is None:  # listen before taking the mark: nothing commits unheard in between
                self.wakeup = Wakeup(self.p.db, "notifications")
            if self.low is None:
                low = await anyio.to_thread.run_sync(self._max_id, limiter=self._limiter)
                if self.low is None:
                    self.low = low
        except BaseException:
            self.subs.discard(sub)
            raise
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def _max_id(self) -> int:
        assert self._db is not None
        with self._db.read() as conn:
            return ns.max_notification_id(conn)

    def _fetch(self, after: int) -> list[dict[str, Any]]:
        assert self._db is not None
        with self._db.read() as conn:
            return ns.newer_than(conn, after, BATCH)

    async def _run(self) -> None:
        assert self.wakeup is not None
        try:
            while self.subs:
                self.wakeup.event.clear()  # a commit from here on wakes the next read
                try:
                    await self.poll_once()
                except Exception:  # the database may be away for a moment; streams stay open
                    from cityos.core.logging import get_logger

                    get_logger("cityos.live").warning("live.poll_failed", exc_info=True)
                await self.wakeup.wait(self.poll_s)
        finally:
            # Nobody listens: stop reading; the next subscriber starts afresh from the newest id.
            # (No await in here: a subscriber arriving now finds either the running reader or none.)
            self.low = None
            self.seen.clear()
            self.hole_since.clear()
            if self.wakeup is not None:
                self.wakeup.close()
                self.wakeup = None
            if self._db is not None:
                self._db.dispose()
                self._db = None

    async def poll_once(self) -> int:
        assert self.low is not None
        rows = await anyio.to_thread.run_sync(self._fetch, self.low, limiter=self._limiter)
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
