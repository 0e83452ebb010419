"""Wake a live poller as soon as a write it waits for has committed.

A transaction that writes rows live readers wait for calls `cityos.core.db.signal(conn,
channel)`. After it commits, `Wakeup.wait` of every poller on that channel returns:

- in the same process at once (`Database.on_commit` hands the news to the event loop);
- in other processes (more API processes, the worker) through PostgreSQL LISTEN/NOTIFY:
  one listening connection per poller, so per process and channel, not per client.

Pollers still poll every `timeout` seconds: on SQLite that is how another process's
writes are seen, and everywhere it covers a lost connection or a missed signal. A
wake-up carries no data; the poller reads what is new itself, so nothing rides on it
but speed.
"""

from __future__ import annotations

import asyncio
import contextlib

from cityos.core.db import Database
from cityos.core.logging import get_logger

RECONNECT_S = 2.0

log = get_logger("cityos.wakeup")


class Wakeup:
    """An event set by the commits that signal `channel`; belongs to one event loop."""

    def __init__(self, db: Database, channel: str) -> None:
        if not channel.isidentifier() or not channel.islower():
            raise ValueError(f"channel {channel!r}: lower-case letters, digits and _ only")
        self.db = db
        self.channel = channel
        self.event = asyncio.Event()
        self.wakes = 0  # wake-ups received (for the tests and the figures)
        self.listening = False  # a LISTEN connection is up (PostgreSQL)
        self._loop = asyncio.get_running_loop()
        self._remove = db.on_commit(channel, self._from_thread)
        self._listener: asyncio.Task[None] | None = None
        if db.is_postgres:
            self._listener = self._loop.create_task(self._listen())

    def _from_thread(self) -> None:
        # Called in the committing thread (a request's worker thread) or, rarely, the loop's own.
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.wakes += 1
        self.event.set()

    async def wait(self, timeout: float) -> bool:
        """Until a wake-up or `timeout` seconds; True when woken. Clears the event."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            woken = True
        except TimeoutError:
            woken = False
        self.event.clear()
        return woken

    async def _listen(self) -> None:
        import psycopg

        conninfo = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN cityos_{self.channel}")
                    self.listening = True
                    self._wake()  # what committed while nobody listened: read it now
                    async for _ in conn.notifies():
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: the poll carries on, listen again soon
                log.warning("wakeup.listen_failed", channel=self.channel, exc_info=True)
            finally:
                self.listening = False
            await asyncio.sleep(RECONNECT_S)

    def close(self) -> None:
        """Stop hearing commits (the LISTEN connection closes as its task is cancelled)."""
        self._remove()
        if self._listener is not None:
            self._listener.cancel()
