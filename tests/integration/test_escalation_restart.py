"""Timers live in the database: a real `cityos worker` is killed (SIGKILL) after a case
went overdue, a new one starts, and the case escalates exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.store import job_runs
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.identity.model import SYSTEM
from tests.integration.test_case_loop import grid_point

GRACE_S = 4


def _wait(what: str, check: Callable[[], bool], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CITYOS_DATABASE_URL": database_url, "CITYOS_LOG_LEVEL": "WARNING",
           "CITYOS_SWEEP_INTERVAL_S": "1", "CITYOS_ESCALATION_GRACE_S": str(GRACE_S), "CITYOS_JOB_LEASE_S": "2"}
    return subprocess.Popen([sys.executable, "-m", "cityos.cli", "worker", "--seconds", "90", "--name", "restart"],
                            env=env)


def test_a_killed_worker_does_not_lose_or_double_an_escalation(seeded: Platform, database_url: str) -> None:
    lon, lat, _grid = grid_point(seeded)
    case = h.report_case(seeded, h.ReportCase(SYSTEM, category="P0101", description="井盖缺失", lon=lon, lat=lat,
                                              source="grid"))
    cid = case["id"]
    with seeded.db.begin() as conn:  # a deadline just ahead, in real time
        current = store.get_case(conn, cid)
        assert current is not None
        store.update_case(conn, current, {"deadline": seeded.clock.now() + timedelta(seconds=1)})
        before = store.get_case(conn, cid)
    assert before is not None and before["owner_level"] == "district"  # escalates once, to the city, and stops there

    def row() -> dict[str, object]:
        with seeded.db.read() as conn:
            c = store.get_case(conn, cid)
            assert c is not None
            return {**c, "events": [e["action"] for e in store.events_of(conn, cid)]}

    first = _worker(database_url)
    try:
        _wait("the case to go overdue", lambda: bool(row()["overdue"]))
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        first.wait(10)
    assert first.returncode == -9
    mid = row()
    assert mid["events"].count("overdue") == 1 and "escalate" not in mid["events"]
    # The grace runs out while no worker is alive.
    overdue_at = mid["overdue_at"]
    assert overdue_at is not None
    while seeded.clock.now() < overdue_at + timedelta(seconds=GRACE_S + 0.5):  # type: ignore[operator]
        time.sleep(0.2)
    second = _worker(database_url)
    try:
        _wait("the escalation", lambda: "escalate" in row()["events"])
        escalated_at = seeded.clock.now()

        def sweeps_since() -> int:
            with seeded.db.read() as conn:
                return int(conn.execute(select(func.count()).select_from(job_runs).where(
                    job_runs.c.kind == "governance.sweep_overdue", job_runs.c.started_at > escalated_at)).scalar_one())

        _wait("three more sweeps", lambda: sweeps_since() >= 3)
    finally:
        second.terminate()
        second.wait(20)
    after = row()
    assert after["events"].count("escalate") == 1 and after["events"].count("overdue") == 1
    assert after["owner_level"] == "city" and after["escalation_level"] == 1
    with seeded.db.read() as conn:
        notices = conn.execute(select(store.notifications.c.kind).where(store.notifications.c.case_id == cid)).scalars().all()
    assert notices.count("case.supervise") == 1 and notices.count("case.overdue") == 1
