"""Scale-out on real engines (issue 15): 2 API, 2 worker and 2 ingest processes against one
PostgreSQL and one Mosquitto take a mixed load — case intake with repeated idempotency keys,
transitions, MQTT telemetry (QoS 1), instruction fan-out, timers that come due — and every
accepted item is stored exactly once, every timer fires once, and the database ends up the
same as after a single-process run of the same load."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.common import Broker, pg_admin, pg_database_from
from benchmarks.mixload import City, Deployment, MixedLoad, Plan, check, create_timer_rule, digest, settle

from tests.conftest import _PG_BASE, ENGINE, PG_URL

pytestmark = [
    pytest.mark.skipif(ENGINE != "postgresql", reason="several processes share one database: PostgreSQL only "
                       "(SQLite has one writer and no SKIP LOCKED; it is the single-machine engine)"),
    pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
                       reason="needs the mosquitto broker binary for a private broker"),
]

PLAN = Plan(seconds=6, case_rate=6, msg_rate=100, instruction_every_s=2.0, timer_every_s=0.5, timer_devices=6,
            concurrency=8)


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    yield b
    b.close()


def run(template: str, name: str, broker: Broker, tmp: Path, procs: int) -> dict[str, Any]:
    assert PG_URL
    url = pg_database_from(PG_URL, template, name)
    dep = Deployment(url, broker.url, tmp / name, apis=procs, workers=procs, ingests=procs)
    try:
        dep.up()
        create_timer_rule(dep.api_ports[0])
        ledger = MixedLoad(dep.api_ports, broker.url, City.read(url), PLAN, tag="mix").run()
        settle(url, ledger, timeout=60)
        return {"ledger": ledger, "checks": check(url, ledger, "mix"), "digest": digest(url, "mix"),
                "tracebacks": dep.tracebacks()}
    finally:
        dep.down()
        pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_of_each_process_store_everything_once_like_one_of_each(_seeded_template: str, broker: Broker,
                                                                     tmp_path: Path) -> None:
    multi = run(_seeded_template, f"{_PG_BASE}_mix2", broker, tmp_path, 2)
    ledger = multi["ledger"]
    assert multi["checks"]["problems"] == [], multi["checks"]
    assert multi["tracebacks"] == {}
    # The load did what it says: every kind of work was accepted, keys were repeated (some at once).
    assert len(ledger.cases) >= 30 and ledger.repeats_same_id >= 5 and ledger.repeats_other_id == 0
    assert len(ledger.transitions) == 2 * len(ledger.cases)
    assert len(ledger.instructions) >= 3 and len(ledger.timers) == PLAN.timer_devices
    assert ledger.readings >= 500 and "500" not in ledger.statuses
    assert multi["checks"]["stored"]["timer_alarms"] == PLAN.timer_devices

    single = run(_seeded_template, f"{_PG_BASE}_mix1", broker, tmp_path, 1)
    assert single["checks"]["problems"] == [], single["checks"]
    assert single["digest"] == multi["digest"]
