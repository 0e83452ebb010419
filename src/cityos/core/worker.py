"""`cityos worker`: relays the outbox to subscribers and runs due jobs, in a loop.

Several workers may run against one PostgreSQL: claims skip rows another worker
holds. State lives only in the database, so a worker can be killed at any moment.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import traceback
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from cityos.core import jobs as jobq
from cityos.core import outbox
from cityos.core.errors import Unavailable
from cityos.core.logging import get_logger
from cityos.core.store import job_runs

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

log = get_logger("cityos.worker")


class Worker:
    def __init__(self, platform: Platform, name: str | None = None, batch: int = 20) -> None:
        self.p = platform
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self._stop = False

    def stop(self, *_: Any) -> None:
        self._stop = True

    def run_once(self) -> int:
        """One pass: relay pending events, then run due jobs. Returns how much was done."""
        return self.relay_outbox() + self.run_jobs()

    def relay_outbox(self) -> int:
        now = self.p.clock.now()
        events = outbox.claim_batch(self.p.db, now, limit=self.batch * 5)
        done: list[int] = []
        for ev in events:
            try:
                for sub in self.p.bus.subscribers(ev.topic):
                    sub({"id": ev.id, "topic": ev.topic, **ev.payload})
                done.append(ev.id)
            except Exception as exc:
                log.warning("event.failed", event_id=ev.id, topic=ev.topic, error=str(exc))
                outbox.mark_failed(self.p.db, ev, f"{type(exc).__name__}: {exc}", self.p.clock.now())
        outbox.mark_published(self.p.db, done, self.p.clock.now())
        return len(events)

    def run_jobs(self) -> int:
        claimed = jobq.claim(self.p.db, self.name, self.p.clock.now(), limit=self.batch)
        for job in claimed:
            started = self.p.clock.now()
            handler = self.p.bus.job_handler(job.kind)
            error: str | None = None
            if handler is None:
                error = f"no handler for job kind {job.kind!r}"
            else:
                try:
                    handler({**job.payload, "_job_id": job.id})
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning("job.failed", job_id=job.id, kind=job.kind, error=error,
                                trace=traceback.format_exc(limit=5))
            outcome = jobq.finish(self.p.db, job, self.name, started, self.p.clock.now(), error)
            log.info("job.finished", job_id=job.id, kind=job.kind, outcome=outcome)
        return len(claimed)

    def ensure_recurring(self) -> None:
        """Make sure every recurring job has its row (idempotent; any worker may do it)."""
        now = self.p.clock.now()
        with self.p.db.begin() as conn:
            for kind, every in self.p.bus.recurring.items():
                jobq.enqueue(conn, kind, {}, run_at=now, now=now, interval_s=every, dedupe_key=f"recurring:{kind}")

    def run_forever(self, idle_sleep: float = 0.5, max_seconds: float | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.ensure_recurring()
        log.info("worker.started", worker=self.name, kinds=self.p.bus.job_kinds)
        t0 = time.monotonic()
        while not self._stop and (max_seconds is None or time.monotonic() - t0 < max_seconds):
            try:
                n = self.run_once()
            except Unavailable as exc:
                log.warning("worker.database_unavailable", error=str(exc))
                n = 0
                time.sleep(2)
            if n == 0:
                time.sleep(idle_sleep)
        log.info("worker.stopped", worker=self.name)


def probe_job(platform: Platform) -> Any:
    """`core.probe`: a diagnostic job that records that it ran (used to check that
    workers are alive and that a job runs exactly once across workers)."""

    def handle(payload: dict[str, Any]) -> None:
        sleep_ms = int(payload.get("sleep_ms", 0))
        if sleep_ms:
            time.sleep(min(sleep_ms, 10_000) / 1000)
        now: datetime = platform.clock.now()
        with platform.db.begin() as conn:
            conn.execute(insert(job_runs).values(job_id=payload["_job_id"], kind="core.probe.effect",
                                                 worker=f"pid:{os.getpid()}", started_at=now, finished_at=now,
                                                 outcome="done"))

    return handle


def _wire(platform: Platform) -> None:
    platform.bus.register_job("core.probe", probe_job(platform))


from cityos.bootstrap import wiring  # noqa: E402  (bootstrap imports this module lazily)

wiring(_wire)
