"""Grassroots figures: one day's patrol generation for the whole city, and the routing
decision by the responsibility lists.

    .venv/bin/python benchmarks/bench_grassroots.py --scale L [--db postgresql://...]

Seeds the divisions of the scale straight into a fresh database (`cityos.demo.city.generate`
+ `cityos.geo.store.upsert`), the case catalogue, then the grassroots seed step (staff for
every grid, the city template published, two township extensions). Measures:
  (a) `generate_patrols` for one day over every township, village and grid (tasks/s), and
      the same day again (idempotent: nothing new);
  (b) `route_by_lists` latency per decision (µs: mean, p50, p95, p99) over random grids and
      covered categories, with the per-process list cache warm.
Prints one JSON object; progress goes to stderr. Default database: a SQLite file in /tmp;
with --db a PostgreSQL URL, its public schema is dropped and made anew (use a scratch database).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values_us: list[float]) -> dict[str, float]:
    a = np.asarray(values_us)
    return {k: round(float(v), 1) for k, v in (("mean", a.mean()), ("p50", np.percentile(a, 50)),
                                               ("p95", np.percentile(a, 95)), ("p99", np.percentile(a, 99)))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="L")
    ap.add_argument("--db", default=None)
    ap.add_argument("--decisions", type=int, default=20_000)
    ap.add_argument("--reuse", default=None, help="a SQLite file of an earlier run: skip seeding, measure again")
    args = ap.parse_args()

    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings
    from cityos.core.db import Database
    from cityos.core.migrate import upgrade
    from cityos.demo.city import generate
    from cityos.demo.scales import SCALES
    from cityos.demo.seed import SeedContext
    from cityos.geo import store as geo_store
    from cityos.governance.handlers import catalog
    from cityos.governance.seed import seed_catalogue
    from cityos.grassroots import handlers as h
    from cityos.grassroots import store
    from cityos.grassroots.seed import seed_grassroots

    scale = SCALES[args.scale.upper()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grassroots-"))
    url = args.db or f"sqlite:///{args.reuse or tmp / 'bench.db'}"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://")
    db = Database(url)
    if db.is_postgres and not args.reuse:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    if not args.reuse:
        upgrade(db)
    db.dispose()
    p = bootstrap(Settings(database_url=url, data_dir=tmp / "data", env="test", geo_index_ttl_s=3600.0))
    out: dict[str, Any] = {"scale": scale.name, "engine": "postgresql" if p.db.is_postgres else "sqlite",
                           "machine": "2 cores"}
    if not args.reuse:
        t0 = time.perf_counter()
        now = p.clock.now()
        with p.db.begin() as conn:
            n_div = geo_store.upsert(conn, generate(scale, 1), now)
        out["divisions"] = n_div
        out["seed_divisions_s"] = round(time.perf_counter() - t0, 1)
        log(f"divisions: {n_div} in {out['seed_divisions_s']} s")
        ctx = SeedContext(p, scale, 1)
        seed_catalogue(ctx, lambda n: None)
        t0 = time.perf_counter()
        seeded = seed_grassroots(ctx, lambda n: None)
        out["seed_grassroots_s"] = round(time.perf_counter() - t0, 1)
        log(f"grassroots seed: {seeded} in {out['seed_grassroots_s']} s")
    with p.db.read() as conn:
        out["staff"] = int(conn.execute(select(func.count()).select_from(store.staff)).scalar_one())

    day = date(2026, 11, 25)  # a Wednesday; weekly and monthly items fall on spread days
    with p.db.begin() as conn:
        conn.execute(store.tasks.delete())
    t0 = time.perf_counter()
    created = h.generate_patrols(p, day)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = h.generate_patrols(p, day)
    second = time.perf_counter() - t0
    out["patrols"] = {"day": day.isoformat(), "tasks": created, "seconds": round(first, 1),
                      "tasks_per_s": round(created / first), "again_new_tasks": again, "again_seconds": round(second, 1)}
    log(f"patrols: {out['patrols']}")

    cats = catalog(p).get().categories
    with p.db.read() as conn:
        grids = conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid")).scalars().all()
        lists = h.LISTS.get(conn)
    covered = sorted({c for idx in lists.by_owner.values() for c in idx.by_category})
    rng = np.random.default_rng(7)
    picks = [(grids[int(i)], covered[int(j)]) for i, j in zip(rng.integers(len(grids), size=args.decisions),
                                                              rng.integers(len(covered), size=args.decisions), strict=True)]
    times: list[float] = []
    hits = 0
    with p.db.read() as conn:
        for g, c in picks:
            chain: dict[str, str | None] = {"city": g[:2] + "0000", "district": g[:6], "township": g[:9],
                                            "village": g[:12], "grid": g}
            t0 = time.perf_counter()
            d = h.route_by_lists(conn, cats[c], chain)
            times.append((time.perf_counter() - t0) * 1e6)
            hits += d is not None
    out["routing"] = {"decisions": len(times), "decided_by_lists": hits, "covered_categories": len(covered),
                      "latency_us": pct(times), "latency_us_warm": pct(times[len(times) // 2:])}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    p.close()


if __name__ == "__main__":
    main()
