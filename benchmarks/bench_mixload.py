"""Mixed load on a multi-process deployment (issue 15): N API, N worker and N ingest processes
against one PostgreSQL and a private Mosquitto, for a given time, then the exactly-once checks
and `cityos audit verify`.

    .venv/bin/python benchmarks/bench_mixload.py --seconds 600            # the 10-minute run
    .venv/bin/python benchmarks/bench_mixload.py --seconds 20 --compare   # + a 1/1/1 run to compare

The database is a copy of a seeded S city kept as a template (`<prefix>_seeded`, built once
with `cityos demo seed --scale S` when missing: build it under `heavy test` with --prepare).
Prints one JSON object: rates per kind, accepted vs stored counts, timers, answers by status,
the checks' problems (none means zero loss and no doubles), the audit verification.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Broker, load, pg_admin, pg_database_from, pg_seeded_template
from benchmarks.mixload import (
    City,
    Deployment,
    MixedLoad,
    Plan,
    audit_verify,
    check,
    create_timer_rule,
    digest,
    settle,
)


def run_once(admin: str, template: str, name: str, plan: Plan, apis: int, workers: int, ingests: int,
             tag: str, keep: bool = False) -> dict[str, Any]:
    url = pg_database_from(admin, template, name)
    broker = Broker(persistent=True)
    broker.start()
    data = Path(tempfile.mkdtemp(prefix="cityos-mix-"))
    dep = Deployment(url, broker.url, data, apis=apis, workers=workers, ingests=ingests)
    try:
        dep.up()
        create_timer_rule(dep.api_ports[0])
        time.sleep(1.0)  # the ingest processes subscribe
        city = City.read(url)
        mix = MixedLoad(dep.api_ports, broker.url, city, plan, tag=tag)
        t0 = time.time()
        ledger = mix.run()
        load_end = load()
        try:
            settled: Any = round(settle(url, ledger, timeout=300), 1)
        except TimeoutError as exc:  # still check and report what is there
            settled = str(exc)
        result = {"processes": {"api": apis, "worker": workers, "ingest": ingests}, "load_avg_end": load_end,
                  "settle_s": settled, **ledger.summary(), "checks": check(url, ledger, tag),
                  "tracebacks_in_logs": dep.tracebacks(), "wall_s": round(time.time() - t0, 1)}
        result["digest"] = digest(url, tag)
        dep.down()
        result["audit_verify"] = audit_verify(dep.env)
        return result
    finally:
        dep.down()
        broker.close()
        if not keep:
            pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--prefix", default="rel_scaleout")
    ap.add_argument("--prepare", action="store_true", help="only build the seeded template database")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--case-rate", type=float, default=8.0)
    ap.add_argument("--msg-rate", type=float, default=200.0)
    ap.add_argument("--instruction-every", type=float, default=5.0)
    ap.add_argument("--timer-every", type=float, default=2.0)
    ap.add_argument("--timers", type=int, default=40)
    ap.add_argument("--procs", type=int, default=2, help="API, worker and ingest processes of each kind")
    ap.add_argument("--compare", action="store_true", help="run the same load on 1/1/1 processes and compare")
    args = ap.parse_args()
    template = pg_seeded_template(args.pg_admin, f"{args.prefix}_seeded")
    if args.prepare:
        print(json.dumps({"template": template}))
        return
    plan = Plan(seconds=args.seconds, case_rate=args.case_rate, msg_rate=args.msg_rate,
                instruction_every_s=args.instruction_every, timer_every_s=args.timer_every, timer_devices=args.timers)
    out: dict[str, Any] = {"bench": "mixload", "plan": plan.__dict__, "load_avg_start": load(),
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    multi = run_once(args.pg_admin, template, f"{args.prefix}_mix", plan, args.procs, args.procs, args.procs, "mix")
    out["multi"] = multi
    if args.compare:
        single = run_once(args.pg_admin, template, f"{args.prefix}_one", plan, 1, 1, 1, "mix")
        out["single"] = single
        out["identical"] = single["digest"] == multi["digest"]
        if not out["identical"]:
            out["differs_in"] = [k for k in multi["digest"] if multi["digest"][k] != single["digest"][k]]
        single.pop("digest")
    multi.pop("digest")
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
