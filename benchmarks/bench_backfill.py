"""Backfill benchmark: `cityos perception backfill FILE` of N historical readings.

    # once (heavy test): seed the database (S scale) and write the file
    CITYOS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/backfill_bench \\
        .venv/bin/python benchmarks/bench_backfill.py --fill-only --make /tmp/history.csv --readings 10000000
    # measured (heavy bench): empty the telemetry tables, run the real command, then again (idempotent)
    CITYOS_DATABASE_URL=... .venv/bin/python benchmarks/bench_backfill.py --file /tmp/history.csv --rerun

The file: every active device of the seeded city (outside risk points) reports each of
its keys every --every seconds, back from now, until N readings (CSV, ISO 8601 times).
The figure is the wall time of the command (a separate process), and the counts it
left: raw readings, and the 1-minute rollups' total count (must equal the raw count).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from cityos.perception.simulate import normal_values


def make_file(p: object, path: str, n: int, every: int) -> int:
    import random

    from cityos.perception import model as m
    from cityos.perception import store

    with p.db.read() as conn:  # type: ignore[attr-defined]
        devs = [(str(c), str(t)) for c, t in conn.execute(select(store.devices.c.code, store.devices.c.type).where(
            store.devices.c.status == "active", store.devices.c.risk_point.is_(None)).order_by(store.devices.c.code))]
    series = [(c, t, k) for c, t in devs for k in m.DEVICE_TYPES[t].keys]
    steps = -(-n // len(series))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=every * steps + 60)
    rng = random.Random(1)
    written = 0
    with open(path, "w") as f:
        f.write("device_code,key,ts,value\n")
        for s in range(steps):
            ts = (start + timedelta(seconds=every * s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            vals: dict[str, dict[str, float]] = {}
            lines = []
            for c, t, k in series:
                if written >= n:
                    break
                v = vals.get(c)
                if v is None:
                    v = vals[c] = normal_values(t, rng, 0.0)
                lines.append(f"{c},{k},{ts},{v[k]}\n")
                written += 1
            f.write("".join(lines))
    return written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fill-only", action="store_true", help="migrate and seed (S) the database")
    ap.add_argument("--make", help="write a CSV file of --readings readings")
    ap.add_argument("--readings", type=int, default=10_000_000)
    ap.add_argument("--every", type=int, default=10, help="seconds between a series' readings")
    ap.add_argument("--file", help="backfill this file (measured)")
    ap.add_argument("--rerun", action="store_true", help="run the same file again (idempotent re-run)")
    args = ap.parse_args()
    url = os.environ.get("CITYOS_DATABASE_URL", "")
    if not url:
        sys.exit("set CITYOS_DATABASE_URL to a database the benchmark may wipe")
    os.environ["CITYOS_LOG_LEVEL"] = "WARNING"
    from cityos.bootstrap import bootstrap
    from cityos.perception import store

    p = bootstrap()
    if args.fill_only:
        from cityos.core.migrate import upgrade
        from cityos.demo.seed import resolve_scale, run_seed

        upgrade(p.db)
        run_seed(p, resolve_scale("S"), 1)
    if args.make:
        t0 = time.perf_counter()
        n = make_file(p, args.make, args.readings, args.every)
        print(json.dumps({"file": args.make, "readings": n, "bytes": os.path.getsize(args.make),
                          "seconds": round(time.perf_counter() - t0, 1)}))
    if not args.file:
        return
    pg = p.db.engine.dialect.name == "postgresql"
    with p.db.begin() as conn:
        for t in ("perception_readings", "perception_rollups", "perception_latest"):
            conn.execute(text(f"TRUNCATE {t}" if pg else f"DELETE FROM {t}"))
    if pg:
        with p.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE perception_rollups"))
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    runs = []
    for _ in range(2 if args.rerun else 1):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "cityos.cli", "perception", "backfill", args.file],
                             capture_output=True, text=True, env={**os.environ})
        dt = time.perf_counter() - t0
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        runs.append({"seconds": round(dt, 1), "output": out.stdout.strip()})
    with p.db.read() as conn:
        raw = int(conn.execute(select(func.count()).select_from(store.readings)).scalar_one())
        minute = int(conn.execute(select(func.coalesce(func.sum(store.rollups.c.count), 0))
                                  .where(store.rollups.c.bucket == "1m")).scalar_one())
        day = int(conn.execute(select(func.coalesce(func.sum(store.rollups.c.count), 0))
                               .where(store.rollups.c.bucket == "1d")).scalar_one())
    print(json.dumps({
        "engine": p.db.engine.dialect.name, "file": args.file, "bytes": os.path.getsize(args.file),
        "runs": runs, "readings_per_s_first_run": round(raw / runs[0]["seconds"]),
        "stored_readings": raw, "rollup_1m_count": minute, "rollup_1d_count": day,
        "cores": os.cpu_count(), "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }, indent=2))
    p.close()


if __name__ == "__main__":
    main()
