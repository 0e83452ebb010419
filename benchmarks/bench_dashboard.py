"""Command screen figures (issue 14): first full render and drill-downs with many open
cases, and the server's work per live update with 50 screens open.

    .venv/bin/python benchmarks/bench_dashboard.py --engine postgresql --cases 1000000
    .venv/bin/python benchmarks/bench_dashboard.py --engine sqlite --cases 200000

A fresh database seeded with the S demo city (as benchmarks/bench_cases.py), then N open
cases bulk-inserted into `cases` (COPY on PostgreSQL). Times `dashboard.handlers.figures`
(everything GET /api/v1/dashboard/{node} computes) for the city (first call = cold, then
the median of 5) and for one district, township and village (drill-down, median of 5).
Live: a `DashboardHub` with S screens (default 50) on varied nodes; K cases are inserted
one by one and each followed by one `poll_once`; reports the poll's wall and CPU time per
update, with 1 screen and with S screens (the queries do not depend on S; only the
in-memory match does). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cases import Env, bulk_cases, grid_centres, log


def _actor() -> Any:
    from cityos.identity.model import Actor, Grant

    return Actor(user_id=1, username="bench", grants=(Grant("city_operator", "500000"),), via="session")


def timed(fn: Any, n: int = 5) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return round(first * 1000, 1), round(statistics.median(runs) * 1000, 1)


def bench_render(p: Any) -> dict[str, Any]:
    from cityos.dashboard import handlers as h

    actor = _actor()
    grids = sorted(g for g, _lon, _lat in grid_centres(p))
    g = grids[0]
    city = g[:2] + "0000"
    out: dict[str, Any] = {}
    for label, node in (("city", city), ("district", g[:6]), ("township", g[:9]), ("village", g[:12])):
        first, median = timed(lambda node=node: h.figures(p, actor, node))
        out[label] = {"first_ms": first, "median_ms": median}
    return out


def bench_live(p: Any, screens: int, updates: int) -> dict[str, Any]:
    from cityos.dashboard.live import DashboardHub
    from cityos.governance import handlers as gh
    from cityos.identity.model import SYSTEM

    grids = grid_centres(p)
    nodes = sorted({g[:n] for g, _x, _y in grids for n in (6, 9, 12)})

    async def run(n_screens: int) -> dict[str, float]:
        hub = DashboardHub(p, 1.0)
        for i in range(n_screens):
            await hub.subscribe(nodes[i % len(nodes)], None)
        if hub._task is not None:
            hub._task.cancel()
        walls, cpus = [], []
        for i in range(updates):
            _g, lon, lat = grids[i % len(grids)]
            await asyncio.to_thread(lambda lon=lon, lat=lat: p.bus.handle(gh.ReportCase(
                actor=SYSTEM, category="P0101", description="bench", lon=lon, lat=lat, source="staff")))
            t0, c0 = time.perf_counter(), time.process_time()
            pushed = await hub.poll_once()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            assert pushed >= 1
        return {"screens": n_screens, "poll_wall_ms_median": round(statistics.median(walls) * 1000, 2),
                "poll_cpu_ms_median": round(statistics.median(cpus) * 1000, 2), "queries": hub.queries}

    return {"one_screen": asyncio.run(run(1)), "many_screens": asyncio.run(run(screens))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--screens", type=int, default=50)
    ap.add_argument("--updates", type=int, default=20)
    a = ap.parse_args()
    env = Env(a.engine, a.pg_admin)
    try:
        p = env.platform()
        load_s = bulk_cases(env, p, a.cases, a.cases // 100)
        log(f"inserted {a.cases} open cases in {load_s:.1f}s")
        out = {"engine": a.engine, "open_cases": a.cases, "bulk_insert_s": round(load_s, 1),
               "render": bench_render(p), "live": bench_live(p, a.screens, a.updates)}
        print(json.dumps(out, indent=2))
    finally:
        env.close()


if __name__ == "__main__":
    main()
