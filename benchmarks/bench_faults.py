"""Scripted fault runs (issue 15): a 2 API / 2 worker / 2 ingest deployment under the mixed load
of benchmarks/mixload.py, and one fault at a random moment of each run:

- api:     kill -9 an API process (a supervisor starts it again 1 s later)
- worker:  kill -9 a worker (started again 1 s later; what it held comes back when its lease ends)
- ingest:  kill -9 an ingest process (started again 1 s later with its persistent MQTT session)
- mqtt:    restart the (private, persistent) Mosquitto: down for 2 s
- queue:   both ingest processes away for 12 s while telemetry keeps coming (the broker queues it
           on disk), the broker restarted meanwhile; both workers away too (the outbox backs up)
- postgres: stop PostgreSQL for 4 s and start it again (only with --postgres, under
           `heavy bench`: everyone's tests use that server)

After each run: the exactly-once checks of mixload.check, the answers by status (no 500; 503
while the database was away), the APIs back without a restart, and the recovery time: from the
moment the fault ends (process restarted, broker or database back) until the deployment has
caught up (every reading acknowledged before the fault stored, the killed process's held work
done, an API answering 2xx again). Loopback only, bounded in time. Prints one JSON object.

    .venv/bin/python benchmarks/bench_faults.py [--faults api,worker,ingest,mqtt,queue] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Broker, load, pg_admin, pg_database_from, pg_seeded_template
from benchmarks.mixload import PASSWORD, City, Deployment, MixedLoad, Plan, check, create_timer_rule, settle
from benchmarks.mixload import acked as is_acked

LEASE_S = 10  # job and outbox leases of the deployment (default 300 s / 60 s)


class Watch:
    """Polls, four times a second: each API's /readyz and an authenticated read; stored readings."""

    def __init__(self, dep: Deployment, url: str) -> None:
        self.dep = dep
        self.eng = create_engine(url, pool_pre_ping=True)
        self.statuses: dict[str, dict[str, int]] = {}
        self.ok_at: dict[int, float] = {}  # api -> last time it answered 2xx
        self.readings: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self.t0 = time.time()
        with httpx.Client(base_url=f"http://127.0.0.1:{dep.api_ports[0]}", timeout=10) as c:
            tok = c.post("/api/v1/auth/token", data={"username": "city.operator", "password": PASSWORD}).json()
        self.headers = {"Authorization": f"Bearer {tok['access_token']}"}
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def stored(self) -> int:
        with self.eng.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM perception_readings WHERE ts >= :t"),
                                 {"t": _dt(self.t0)}).scalar_one())

    def run(self) -> None:
        while not self._stop.is_set():
            for i, port in enumerate(self.dep.api_ports):
                for path, h in (("/readyz", {}), ("/api/v1/cases?limit=1", self.headers)):
                    try:
                        code = str(httpx.get(f"http://127.0.0.1:{port}{path}", headers=h, timeout=3).status_code)
                    except httpx.HTTPError:
                        code = "no connection"
                    st = self.statuses.setdefault(path.split("?")[0], {})
                    st[code] = st.get(code, 0) + 1
                    if code.startswith("2") and path != "/readyz":
                        self.ok_at[i] = time.time()
            with contextlib.suppress(Exception):  # the database is away: no figure this time
                self.readings.append((time.time(), self.stored()))
            self._stop.wait(0.25)

    def first_ok_after(self, t: float, timeout: float = 60) -> float | None:
        """Seconds from t until every API answered an authenticated read with 2xx."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.ok_at.get(i, 0) > t for i in range(len(self.dep.api_ports))):
                return max(self.ok_at.values()) - t
            time.sleep(0.1)
        return None

    def caught_up(self, target: int, since: float, timeout: float = 120) -> float | None:
        """Seconds from `since` until at least `target` readings were stored."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t, n in self.readings:
                if t >= since and n >= target:
                    return t - since
            time.sleep(0.2)
        return None

    def close(self) -> None:
        self._stop.set()
        self.th.join(5)
        self.eng.dispose()


def _dt(t: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t - 1, UTC)


def acked(mix: MixedLoad) -> int:
    """Readings in messages the broker has acknowledged so far (timer spikes included)."""
    pub = mix.pub
    return 0 if pub is None else sum(n for _t, _b, n, info in list(pub.sent) if is_acked(info))


def held_by(url: str, worker: str) -> int:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by = :w"),
                                 {"w": worker}).scalar_one())
    finally:
        eng.dispose()


def pg_ctl(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True,
                   capture_output=True, timeout=120)


def inject(fault: str, dep: Deployment, broker: Broker, mix: MixedLoad, watch: Watch, url: str,
           rng: random.Random) -> dict[str, Any]:
    """Do the fault; return what was under way and the recovery time."""
    before = acked(mix)
    under_way = {"cases_accepted": len(mix.ledger.cases), "readings_acknowledged": before,
                 "instructions_accepted": len(mix.ledger.instructions)}
    if fault == "api":
        i = rng.randrange(len(dep.api_ports))
        dep.kill("api", i)
        time.sleep(1)
        dep.restart("api", i)
        back = time.time()
        return {**under_way, "what": f"kill -9 api {i}, restarted 1 s later",
                "recovery_s": watch.first_ok_after(back), "note": "the other API answered all along"}
    if fault == "worker":
        i = rng.randrange(dep.counts["worker"])
        dep.kill("worker", i)
        held = held_by(url, f"{dep.group}-w{i}")
        time.sleep(1)
        dep.restart("worker", i)
        back = time.time()
        deadline = back + 120
        while held_by(url, f"{dep.group}-w{i}") and time.time() < deadline:
            time.sleep(0.2)
        return {**under_way, "what": f"kill -9 worker {i} ({held} job(s) it held), restarted 1 s later",
                "recovery_s": round(time.time() - back, 1) if held else 0.0,
                "note": f"held jobs wait for their lease ({LEASE_S} s here, CITYOS_JOB_LEASE_S)"}
    if fault == "ingest":
        i = rng.randrange(dep.counts["ingest"])
        dep.kill("ingest", i)
        time.sleep(1)
        dep.restart("ingest", i)
        back = time.time()
        return {**under_way, "what": f"kill -9 ingest {i}, restarted 1 s later (same MQTT session)",
                "recovery_s": _r(watch.caught_up(acked(mix), back))}
    if fault == "mqtt":
        broker.stop()
        time.sleep(2)
        broker.start()
        back = time.time()
        return {**under_way, "what": "Mosquitto stopped (SIGTERM, persistence saved) for 2 s, started again",
                "recovery_s": _r(watch.caught_up(before, back))}
    if fault == "queue":
        for j in range(dep.counts["ingest"]):
            dep.procs[("ingest", j)].terminate()
        for j in range(dep.counts["worker"]):
            dep.procs[("worker", j)].terminate()
        for proc in [p for (role, _j), p in dep.procs.items() if role in ("ingest", "worker")]:
            proc.wait(30)
        time.sleep(6)
        queued = acked(mix)
        broker.stop()  # the queue is on disk now
        broker.start()
        time.sleep(6)
        queued = acked(mix) - under_way["readings_acknowledged"]
        for j in range(dep.counts["ingest"]):
            dep.restart("ingest", j)
        for j in range(dep.counts["worker"]):
            dep.restart("worker", j)
        back = time.time()
        eng = create_engine(url)
        with eng.connect() as c:
            backlog = c.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one()
        rec = watch.caught_up(acked(mix), back)
        deadline = time.time() + 120
        while time.time() < deadline:
            with eng.connect() as c:
                if not c.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one():
                    break
            time.sleep(0.2)
        out_s = time.time() - back
        eng.dispose()
        return {**under_way, "what": f"ingest and workers away 12 s: {queued} readings queued at the broker "
                                     f"(restarted meanwhile, queue on disk), {backlog} outbox events backed up",
                "recovery_s": _r(max(rec or 0, out_s) if rec is not None else None)}
    if fault == "postgres":
        try:
            pg_ctl("stop")
            time.sleep(4)
        finally:
            pg_ctl("start")
        back = time.time()
        return {**under_way, "what": "PostgreSQL stopped for 4 s (fast shutdown), started again",
                "recovery_s": _r(watch.first_ok_after(back)),
                "ingest_caught_up_s": _r(watch.caught_up(before, back))}
    raise ValueError(fault)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def run_fault(fault: str, admin: str, template: str, prefix: str, plan: Plan, seed: int) -> dict[str, Any]:
    name = f"{prefix}_fault_{fault}"
    url = pg_database_from(admin, template, name)
    broker = Broker(persistent=True)
    broker.start()
    data = Path(tempfile.mkdtemp(prefix=f"cityos-fault-{fault}-"))
    dep = Deployment(url, broker.url, data, job_lease_s=LEASE_S, outbox_lease_s=LEASE_S)
    rng = random.Random(seed)
    watch = None
    try:
        dep.up()
        create_timer_rule(dep.api_ports[0])
        time.sleep(1)
        mix = MixedLoad(dep.api_ports, broker.url, City.read(url), plan, tag="mix")
        watch = Watch(dep, url)
        runner = threading.Thread(target=mix.run, daemon=True)
        runner.start()
        at = rng.uniform(0.25, 0.6) * plan.seconds
        time.sleep(at)
        info = inject(fault, dep, broker, mix, watch, url, rng)
        runner.join(600)
        settle_s = settle(url, mix.ledger, timeout=180)
        result = {"fault": fault, "at_s": round(at, 1), **info, "settle_after_load_s": round(settle_s, 1),
                  "load_avg": load(), **mix.ledger.summary(), "checks": check(url, mix.ledger, "mix"),
                  "probe_answers": watch.statuses, "tracebacks_in_logs": dep.tracebacks(),
                  "restarts": dep.restarts}
        return result
    finally:
        if watch is not None:
            watch.close()
        dep.down()
        broker.close()
        pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--prefix", default="rel_scaleout")
    ap.add_argument("--faults", default="api,worker,ingest,mqtt,queue")
    ap.add_argument("--postgres", action="store_true", help="also restart PostgreSQL (exclusive: heavy bench)")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    template = pg_seeded_template(args.pg_admin, f"{args.prefix}_seeded")
    faults = [f for f in args.faults.split(",") if f] + (["postgres"] if args.postgres else [])
    plan = Plan(seconds=args.seconds, case_rate=6, msg_rate=150, instruction_every_s=3, timer_devices=10)
    out: dict[str, Any] = {"bench": "faults", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "load_avg_start": load(), "plan": plan.__dict__, "runs": []}
    for k, fault in enumerate(faults):
        try:
            out["runs"].append(run_fault(fault, args.pg_admin, template, args.prefix, plan, args.seed + k))
        except Exception as exc:
            out["runs"].append({"fault": fault, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(out["runs"][-1], default=str), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
