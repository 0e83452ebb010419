"""Durable jobs and timers, kept in the database and run by `cityos worker`.

A job is claimed atomically: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
workers split the queue and never run one job twice; on SQLite the claiming
transaction holds the single write lock. A claimed job carries a lease: a worker that
dies mid-job leaves it to be claimed again when the lease ends, so job handlers are
written to be idempotent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection

from cityos.core.db import Database, upsert_insert
from cityos.core.store import job_runs, jobs

# How long a claimed job stays with a worker that may have died (CITYOS_JOB_LEASE_S, default 5 min).
LEASE = timedelta(seconds=float(os.environ.get("CITYOS_JOB_LEASE_S") or 300))


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    interval_s: int | None
    run_at: datetime


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime,
    now: datetime,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
    interval_s: int | None = None,
) -> None:
    """Schedule a job inside the caller's transaction.

    With a `dedupe_key` the job is created at most once (a timer for one case
    deadline, a recurring sweep): a second enqueue with the same key does nothing.
    """
    values = {
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "run_at": run_at,
        "attempts": 0,
        "max_attempts": max_attempts,
        "interval_s": interval_s,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    if dedupe_key is None:
        conn.execute(insert(jobs).values(**values))
        return
    conn.execute(upsert_insert(conn, jobs).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def cancel(conn: Connection, dedupe_key: str) -> None:
    conn.execute(
        update(jobs).where(jobs.c.dedupe_key == dedupe_key, jobs.c.status == "pending").values(status="cancelled")
    )


def claim(db: Database, worker: str, now: datetime, limit: int = 10) -> list[Job]:
    """Claim due jobs (and jobs whose lease ran out) for this worker."""
    due = or_(
        and_(jobs.c.status == "pending", jobs.c.run_at <= now),
        and_(jobs.c.status == "running", jobs.c.locked_at < now - LEASE),
    )
    with db.begin() as conn:
        q = select(jobs).where(due).order_by(jobs.c.run_at, jobs.c.id).limit(limit)
        if db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        rows = conn.execute(q).mappings().all()
        if not rows:
            return []
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_([r["id"] for r in rows]))
            .values(status="running", locked_by=worker, locked_at=now, attempts=jobs.c.attempts + 1)
        )
    return [
        Job(r["id"], r["kind"], r["payload"], r["attempts"] + 1, r["max_attempts"], r["interval_s"], r["run_at"])
        for r in rows
    ]


def finish(db: Database, job: Job, worker: str, started: datetime, now: datetime, error: str | None = None) -> str:
    """Record the outcome; reschedule recurring jobs and retry failed ones with back-off."""
    if error is None:
        outcome = "done"
        if job.interval_s:
            values: dict[str, Any] = {"status": "pending", "run_at": now + timedelta(seconds=job.interval_s),
                                      "attempts": 0, "locked_by": None, "locked_at": None, "last_error": None}
        else:
            values = {"status": "done", "finished_at": now, "locked_by": None}
    elif job.attempts < job.max_attempts:
        outcome = "retry"
        values = {"status": "pending", "run_at": now + timedelta(seconds=min(3600, 2**job.attempts)),
                  "locked_by": None, "locked_at": None, "last_error": error[:2000]}
    else:
        outcome = "failed"
        values = {"status": "failed", "finished_at": now, "last_error": error[:2000]}
    with db.begin() as conn:
        # Only the worker holding the lease may finish the job (a reclaimed job belongs to its new owner).
        conn.execute(update(jobs).where(jobs.c.id == job.id, jobs.c.locked_by == worker).values(**values))
        conn.execute(
            insert(job_runs).values(job_id=job.id, kind=job.kind, worker=worker, started_at=started,
                                    finished_at=now, outcome=outcome, error=error[:2000] if error else None)
        )
    return outcome


def counts(conn: Connection) -> dict[str, int]:
    from sqlalchemy import func

    rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
    return {str(s): int(n) for s, n in rows}
