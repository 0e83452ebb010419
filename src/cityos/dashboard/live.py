"""Live screens: one shared poller per process reads new cases, alarms and emergency
reports (three indexed `id > n` queries per interval, whatever the number of screens)
and fans each row out to the screens whose node and scope contain it.

Ids are handed out before commit on PostgreSQL, so a row with a lower id may commit
after a higher one was seen; such a late row is not pushed live (the screen's next
full refresh shows it). The screens refresh their figures on each pushed event."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from cityos.dashboard import store
from cityos.geo.model import is_within

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

QUEUE_MAX = 200


@dataclass(eq=False)
class Screen:
    node: str
    roots: tuple[str, ...] | None  # None: the whole city
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    dropped: int = 0

    def wants(self, row: dict[str, Any]) -> bool:
        code = row.get("node")
        if not code or not is_within(code, self.node):
            return False
        return self.roots is None or any(code.startswith(r) for r in self.roots)


class DashboardHub:
    def __init__(self, p: Platform, poll_s: float) -> None:
        self.p = p
        self.poll_s = poll_s
        self.screens: set[Screen] = set()
        self.after: dict[str, int] | None = None
        self.queries = 0
        self.matches = 0
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, node: str, roots: tuple[str, ...] | None) -> Screen:
        if self.after is None:
            self.after = await anyio.to_thread.run_sync(self._max)
        s = Screen(node, roots)
        self.screens.add(s)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return s

    def unsubscribe(self, s: Screen) -> None:
        self.screens.discard(s)

    def _max(self) -> dict[str, int]:
        with self.p.db.read() as conn:
            return store.max_ids(conn)

    def _fetch(self, after: dict[str, int]) -> list[dict[str, Any]]:
        with self.p.db.read() as conn:
            return store.new_rows(conn, after)

    async def _run(self) -> None:
        while self.screens:
            try:
                await self.poll_once()
            except Exception:  # the database may be away for a moment; screens stay open
                from cityos.core.logging import get_logger

                get_logger("cityos.dashboard").warning("dashboard.poll_failed", exc_info=True)
            await asyncio.sleep(self.poll_s)
        self.after = None

    async def poll_once(self) -> int:
        assert self.after is not None
        rows = await anyio.to_thread.run_sync(self._fetch, dict(self.after))
        self.queries += 1
        for row in rows:
            table = row.pop("table")
            self.after[table] = max(self.after[table], int(row["id"]))
            self.fan_out(row)
        return len(rows)

    def fan_out(self, row: dict[str, Any]) -> None:
        for s in list(self.screens):
            self.matches += 1
            if s.wants(row):
                try:
                    s.queue.put_nowait(row)
                except asyncio.QueueFull:
                    s.dropped += 1


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, DashboardHub]] = weakref.WeakKeyDictionary()


def hub_for(p: Platform, poll_s: float) -> DashboardHub:
    loop = asyncio.get_running_loop()
    hubs = _HUBS.setdefault(loop, {})
    hub = hubs.get(id(p))
    if hub is None or hub.p is not p:
        hub = DashboardHub(p, poll_s)
        hubs[id(p)] = hub
    return hub
