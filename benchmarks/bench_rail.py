"""Issue 10 figures, the data high-speed rail: a full initial sync of 1,000,000 rows, and a
district warehouse's lag behind the city under 1,000 changes/s.

    # fresh city database with N residents (written through the change-log triggers)
    heavy test  .venv/bin/python benchmarks/bench_rail.py fill --database-url URL --rows 1000000
    # measured: snapshot of the residents table into an empty warehouse (then it follows the log)
    heavy bench .venv/bin/python benchmarks/bench_rail.py snapshot --database-url URL --to WAREHOUSE_URL
    # measured: a writer makes RATE changes/s for SECONDS while `rail sync --follow` runs in another process
    heavy bench .venv/bin/python benchmarks/bench_rail.py lag --database-url URL --to WAREHOUSE_URL \
        --rate 1000 --seconds 60

URLs: `sqlite:////path/city.db`, `postgresql+psycopg://postgres@127.0.0.1:5432/NAME` (the
database must exist; `fill` drops its public schema). Each step prints one JSON object. The
lag of a change = the time the warehouse transaction holding it committed minus the time the
city's trigger logged it (both clocks of this machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

COLS = ["id_number", "name", "gender", "birth_date", "ethnicity", "household_id", "household_role",
        "registered_address", "actual_address", "building_id", "grid_code", "phone", "status"]


def platform(url: str) -> Any:
    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings

    return bootstrap(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp(prefix="bench-rail-")), env="test"))


def row(i: int) -> tuple[Any, ...]:
    born = date(1940, 1, 1) + timedelta(days=(i * 7) % 29_000)
    return (f"5001{i:014d}", f"居民{i}", "M" if i % 2 else "F", born, "汉族", f"H{i // 3}", "head" if i % 3 == 0 else "spouse",
            "重庆市某区某街道1号", "重庆市某区某街道1号", None, f"500103001{(i % 300) + 1:03d}{(i % 7) + 1:03d}",
            f"139{i % 10**8:08d}", "active")


def cmd_fill(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    from cityos.core.migrate import upgrade
    from cityos.data import bulk
    from cityos.data import store as s

    p = platform(args.database_url)
    if p.db.is_postgres:
        with p.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(p.db)
    t0 = time.perf_counter()
    chunk = 50_000
    for start in range(0, args.rows, chunk):
        with p.db.begin() as conn:
            bulk.insert_rows(conn, s.residents, COLS, [row(i) for i in range(start, min(args.rows, start + chunk))])
    fill_s = time.perf_counter() - t0
    if p.db.is_postgres:
        with p.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    p.close()
    return {"rows": args.rows, "fill_s_logged": round(fill_s, 1)}


def _fresh_target(url: str) -> None:
    from cityos.core.db import Database

    db = Database(url)
    with db.begin() as conn:
        for t in ("residents", "rail_sync_state"):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{t}"')
    db.dispose()


def cmd_snapshot(args: argparse.Namespace) -> dict[str, Any]:
    from cityos.data.rail.sync import DatabaseSource, Sync, count_rows

    p = platform(args.database_url)
    _fresh_target(args.to)
    sync = Sync(DatabaseSource(p.db), "residents", args.to)
    t0 = time.perf_counter()
    result = sync.run()
    took = time.perf_counter() - t0
    sync.close()
    p.close()
    rows = count_rows(args.to, "residents")
    return {"initial_sync_s": round(took, 2), "rows": rows, "rows_per_s": round(rows / took),
            "snapshot_seq": result["snapshot"]["seq"], "target": args.to.split("://")[0]}


def _follower(source_url: str, target_url: str, stop: Any, ready: Any, out: Any) -> None:
    """`cityos rail sync --follow` in its own process; sends back each change's lag."""
    from cityos.core.db import Database
    from cityos.data.rail.sync import DatabaseSource, Step, Sync

    src = Database(source_url)
    sync = Sync(DatabaseSource(src), "residents", target_url)
    lags: list[float] = []
    batches: list[int] = []

    def on_step(step: Step) -> None:
        lags.extend(step.lags_s)
        if step.applied:
            batches.append(step.applied)

    ready.set()
    sync.run(follow=True, interval_s=0.05, should_stop=stop.is_set, on_step=on_step)
    out.put({"lags": lags, "batches": batches, "seq": int(sync.state()["seq"])})  # type: ignore[index]
    sync.close()
    src.dispose()


def pct(xs: list[float], q: int) -> float:
    return round(statistics.quantiles(xs, n=100)[q - 1], 3) if len(xs) > 1 else (xs[0] if xs else 0.0)


def cmd_lag(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import delete, update

    from cityos.data import store as s
    from cityos.data.rail import store as rs
    from cityos.data.rail.sync import DatabaseSource, Sync

    p = platform(args.database_url)
    # Catch up first (not measured): the warehouse starts level with the city.
    sync = Sync(DatabaseSource(p.db), "residents", args.to)
    sync.run()
    sync.close()
    with p.db.read() as conn:
        existing = int(conn.execute(s.residents.select().with_only_columns(
            s.residents.c.id_number).order_by(s.residents.c.id_number.desc()).limit(1)).scalar_one()[4:])
    ctx = mp.get_context("spawn")
    stop, ready, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_follower, args=(args.database_url, args.to, stop, ready, out))
    proc.start()
    ready.wait(60)
    rng = random.Random(7)
    per_tx = args.per_tx
    tx_per_s = args.rate / per_tx
    next_new = existing + 1
    inserted: list[int] = []
    made = 0
    t0 = time.perf_counter()
    behind_max = 0.0
    k = 0
    while True:
        due = t0 + k / tx_per_s
        now = time.perf_counter()
        if now - t0 >= args.seconds:
            break
        if due > now:
            time.sleep(due - now)
        else:
            behind_max = max(behind_max, now - due)
        with p.db.begin() as conn:
            for _ in range(per_tx):
                r = rng.random()
                if r < 0.3 or not inserted:  # a new resident
                    conn.execute(s.residents.insert().values(dict(zip(COLS, row(next_new), strict=True))))
                    inserted.append(next_new)
                    next_new += 1
                elif r < 0.4:  # a resident leaves
                    gone = inserted.pop(rng.randrange(len(inserted)))
                    conn.execute(delete(s.residents).where(s.residents.c.id_number == f"5001{gone:014d}"))
                else:  # a phone number changes
                    i = rng.randrange(existing)
                    conn.execute(update(s.residents).where(s.residents.c.id_number == f"5001{i:014d}")
                                 .values(phone=f"138{rng.randrange(10**8):08d}"))
                made += 1
        k += 1
    wrote_s = time.perf_counter() - t0
    with p.db.read() as conn:
        head = rs.head(conn, "residents")
    # Let the follower reach the head, then stop it.
    from cityos.core.db import Database

    target = Database(args.to)
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        with target.read() as conn:
            seq = int(conn.exec_driver_sql("SELECT seq FROM rail_sync_state").scalar_one())
        if seq >= head:
            break
        time.sleep(0.05)
    target.dispose()
    stop.set()
    got = out.get(timeout=120)
    proc.join(60)
    p.close()
    lags = got["lags"]
    return {"changes": made, "write_s": round(wrote_s, 1), "changes_per_s": round(made / wrote_s),
            "changes_per_transaction": per_tx, "writer_max_behind_schedule_s": round(behind_max, 3),
            "changes_synced": len(lags), "warehouse_seq": got["seq"], "city_head": head,
            "lag_p50_s": pct(lags, 50), "lag_p99_s": pct(lags, 99), "lag_max_s": round(max(lags), 3) if lags else None,
            "lag_mean_s": round(statistics.fmean(lags), 3) if lags else None,
            "warehouse_batches": len(got["batches"]),
            "changes_per_batch_median": statistics.median(got["batches"]) if got["batches"] else 0,
            "target": args.to.split("://")[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["fill", "snapshot", "lag"])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--to", help="the warehouse database URL")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=1000, help="lag: changes per second")
    ap.add_argument("--per-tx", type=int, default=10, help="lag: changes per city transaction")
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    out: dict[str, Any] = {"step": args.step, "source": args.database_url.split("://")[0],
                           "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}
    out.update({"fill": cmd_fill, "snapshot": cmd_snapshot, "lag": cmd_lag}[args.step](args))
    out["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
