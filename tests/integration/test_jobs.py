"""Durable jobs and the outbox, with real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core import jobs as jobq
from cityos.core.outbox import emit
from cityos.core.store import job_runs, jobs, outbox
from cityos.core.worker import Worker


def test_two_worker_processes_never_run_a_job_twice(platform: Platform, database_url: str) -> None:
    now = platform.clock.now()
    with platform.db.begin() as conn:
        for i in range(120):
            jobq.enqueue(conn, "core.probe", {"sleep_ms": 5, "n": i}, run_at=now, now=now)
    env = {**os.environ, "CITYOS_DATABASE_URL": database_url, "CITYOS_LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "cityos.cli", "worker", "--seconds", "60", "--name", f"w{i}"], env=env)
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with platform.db.read() as conn:
                left = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "core.probe", jobs.c.status != "done")).scalar_one()
            if left == 0:
                break
            time.sleep(0.3)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    with platform.db.read() as conn:
        effects = conn.execute(
            select(job_runs.c.job_id, func.count()).where(job_runs.c.kind == "core.probe.effect").group_by(job_runs.c.job_id)
        ).all()
        workers = conn.execute(select(job_runs.c.worker).where(job_runs.c.kind == "core.probe").distinct()).scalars().all()
    assert len(effects) == 120
    assert all(n == 1 for _, n in effects), "a job ran twice"
    assert sorted(workers) == ["w0", "w1"], "both workers should have taken a share"


def test_dedupe_retry_and_recurring(platform: Platform) -> None:
    now = platform.clock.now()
    calls: list[dict[str, object]] = []

    def flaky(payload: dict[str, object]) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("first try fails")

    platform.bus.register_job("test.flaky", flaky)
    with platform.db.begin() as conn:
        jobq.enqueue(conn, "test.flaky", {}, run_at=now, now=now, dedupe_key="timer:1")
        jobq.enqueue(conn, "test.flaky", {}, run_at=now, now=now, dedupe_key="timer:1")
        jobq.enqueue(conn, "core.probe", {}, run_at=now, now=now, interval_s=60, dedupe_key="recurring:probe")
    w = Worker(platform, name="t")
    w.run_jobs()
    assert len(calls) == 1
    with platform.db.read() as conn:
        row = conn.execute(select(jobs).where(jobs.c.dedupe_key == "timer:1")).mappings().one()
        rec = conn.execute(select(jobs).where(jobs.c.dedupe_key == "recurring:probe")).mappings().one()
    assert row["status"] == "pending" and row["attempts"] == 1 and "first try fails" in row["last_error"]
    assert rec["status"] == "pending" and rec["run_at"] >= now + timedelta(seconds=59)
    with platform.db.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == row["id"]).values(run_at=now))
    w.run_jobs()
    with platform.db.read() as conn:
        assert conn.execute(select(jobs.c.status).where(jobs.c.id == row["id"])).scalar_one() == "done"


def test_outbox_events_leave_only_after_commit(platform: Platform) -> None:
    seen: list[dict[str, object]] = []
    platform.bus.subscribe("test.happened", seen.append)
    now = platform.clock.now()
    try:
        with platform.db.begin() as conn:
            emit(conn, "test.happened", {"n": 1}, now)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with platform.db.begin() as conn:
        emit(conn, "test.happened", {"n": 2}, now)
    Worker(platform).relay_outbox()
    assert [e["n"] for e in seen] == [2]
    with platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))).scalar_one() == 0
