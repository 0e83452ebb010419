"""Command screen figures (issue 14) at L scale: first full render and drill-downs with a
million open cases, and the server's work per live update with 50 screens open.

    # build the database (under `heavy test`), then measure it (under `heavy bench`)
    .venv/bin/python benchmarks/bench_dashboard.py --engine postgresql --cases 1000000 --phase fill
    .venv/bin/python benchmarks/bench_dashboard.py --engine postgresql --phase measure
    .venv/bin/python benchmarks/bench_dashboard.py --engine sqlite --cases 1000000 --phase fill
    .venv/bin/python benchmarks/bench_dashboard.py --engine sqlite --phase measure
    # --phase all: fill, measure, drop

Fill: a database (PostgreSQL `--db-name`, default cityos_bench_dashboard, made through
--pg-admin; SQLite: `--dir`/cityos.db) migrated and seeded with the L demo city's
divisions (41 districts, 1,031 townships, 11,000 villages, 62,000 grids), units and users,
the case catalogue, and perception's devices and risk points (the bulky steps that the
screen does not read at L are skipped: base databases, grassroots, ledger, demo cases).
Then N open cases are bulk-inserted straight into `cases` (COPY on PostgreSQL,
executemany on SQLite): random grids, every category of the catalogue, all eight open
states, 1 % overdue, 0.5 % emergency. A bulk load bypasses the case handlers, so the
open-case counters are then recounted with `store.rebuild_case_counts` (what
`cityos dashboard rebuild-counters` runs), timed.

Measure: times `dashboard.handlers.figures` (everything GET /api/v1/dashboard/{node}
computes) for the city (first call in the process, then the median of 5) and for one
district, township, village and grid (first and median of 5), with the time of each panel
of the city's and the district's screen. Live: a `DashboardHub` with S screens (default
50) on varied nodes; K cases are reported one by one through the case handler, each
followed by one `poll_once`; reports the poll's wall and CPU time per update with 1 screen
and with S screens (one of them on the city), and the time the screens that show the new
case take to fetch their figures again (each does, at most once a second). Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_cases import CASE_COLS, log

KEEP_STEPS = ("divisions", "units and users", "case catalogue", "perception devices and risk points")
OPEN_STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked")


class Target:
    def __init__(self, a: argparse.Namespace) -> None:
        self.engine = a.engine
        self.pg_admin = a.pg_admin
        self.dir = Path(a.dir)
        if a.engine == "postgresql":
            self.url = a.pg_admin.rsplit("/", 1)[0] + "/" + a.db_name
        else:
            self.url = f"sqlite:///{self.dir / 'cityos.db'}"
        self.db_name = a.db_name

    def create(self) -> None:
        self.drop()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.engine == "postgresql":
            self._admin(f'CREATE DATABASE "{self.db_name}"')

    def drop(self) -> None:
        if self.engine == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        shutil.rmtree(self.dir, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin, autocommit=True) as c:
            c.execute(sql)

    def platform(self) -> Any:
        from cityos.bootstrap import bootstrap
        from cityos.core.config import Settings

        return bootstrap(Settings(database_url=self.url, data_dir=self.dir, env="dev", geo_index_ttl_s=3600,
                                  log_level="WARNING"))


def _actor() -> Any:
    from cityos.identity.model import Actor, Grant

    return Actor(user_id=1, username="bench", grants=(Grant("city_operator", "500000"),), via="session")


def grid_centres(p: Any) -> list[tuple[str, float, float]]:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    d = geo_store.divisions
    with p.db.read() as conn:
        rows = conn.execute(select(d.c.code, d.c.center_lon, d.c.center_lat).where(d.c.level == "grid")).all()
    return [(str(c), float(lon), float(lat)) for c, lon, lat in rows]


def level_counts(p: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from cityos.geo import store as geo_store

    d = geo_store.divisions
    with p.db.read() as conn:
        return {str(lv): int(n) for lv, n in conn.execute(select(d.c.level, func.count()).group_by(d.c.level))}


# --- fill ---------------------------------------------------------------------------------------------

def _rows(n: int, grids: list[str], cats: list[tuple[str, str]], now: datetime, first_id: int) -> Any:
    rnd = random.Random(11)
    for i in range(n):
        g = grids[rnd.randrange(len(grids))]
        code, kind = cats[rnd.randrange(len(cats))]
        state = OPEN_STATES[rnd.randrange(len(OPEN_STATES))]
        dispatched = state not in ("collected", "filed")
        overdue = dispatched and rnd.random() < 0.01
        deadline = (now - timedelta(hours=rnd.randrange(1, 48)) if overdue else
                    now + timedelta(hours=rnd.randrange(1, 24 * 20))) if dispatched else None
        created = now - timedelta(days=rnd.randrange(0, 30), minutes=rnd.randrange(0, 1440))
        cid = first_id + i
        yield (cid, f"B{cid:012d}", "grid", code, kind, "bench", "bench case", g, g[:12], g[:9], g[:6], g,
               "district", g[:6], f"D-{g[:6]}-water", "{}", '{"rule": "bench"}', state, deadline, 1, overdue, 0,
               rnd.random() < 0.005, False, 0, 0, "bench", created, created, created if dispatched else None)


def fill(t: Target, n: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from cityos.core.migrate import upgrade
    from cityos.demo.seed import load_steps, resolve_scale, run_seed
    from cityos.governance import store

    t.create()
    p = t.platform()
    upgrade(p.db)
    t0 = time.perf_counter()
    run_seed(p, resolve_scale("L"), 1, skip=[s.name for s in load_steps() if s.name not in KEEP_STEPS])
    seed_s = time.perf_counter() - t0
    log(f"seeded L ({', '.join(KEEP_STEPS)}) in {seed_s:.1f}s")
    grids = [g for g, _x, _y in grid_centres(p)]
    with p.db.read() as conn:
        cats = [(str(c), str(k)) for c, k in conn.execute(select(store.case_categories.c.code,
                                                                 store.case_categories.c.kind))]
        first = int(conn.execute(select(func.coalesce(func.max(store.cases.c.id), 0))).scalar_one()) + 1
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    rows = _rows(n, grids, cats, now, first)
    if t.engine == "postgresql":
        raw = p.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY cases ({', '.join(CASE_COLS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            cur.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))")
            raw.commit()
        finally:
            raw.close()
    else:
        import sqlite3

        con = sqlite3.connect(t.url.split("///", 1)[1])
        ph = ", ".join("?" for _ in CASE_COLS)
        batch: list[tuple[Any, ...]] = []
        for r in rows:
            batch.append(tuple(x.replace(tzinfo=None).isoformat(sep=" ") if isinstance(x, datetime) else x for x in r))
            if len(batch) == 50_000:
                con.executemany(f"INSERT INTO cases ({', '.join(CASE_COLS)}) VALUES ({ph})", batch)
                batch.clear()
        if batch:
            con.executemany(f"INSERT INTO cases ({', '.join(CASE_COLS)}) VALUES ({ph})", batch)
        con.commit()
        con.close()
    load_s = time.perf_counter() - t0
    log(f"inserted {n} open cases in {load_s:.1f}s")
    t0 = time.perf_counter()
    with p.db.begin() as conn:
        counter_rows = store.rebuild_case_counts(conn)
    rebuild_s = time.perf_counter() - t0
    log(f"rebuilt {counter_rows} counter rows in {rebuild_s:.1f}s")
    with p.db.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    out = {"engine": t.engine, "open_cases": n, "divisions": level_counts(p), "seed_s": round(seed_s, 1),
           "bulk_insert_s": round(load_s, 1), "rebuild_counters_s": round(rebuild_s, 1),
           "counter_rows": counter_rows}
    p.close()
    (t.dir / "fill.json").write_text(json.dumps(out))
    return out


# --- measure -----------------------------------------------------------------------------------------

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


def panels(p: Any, node: str) -> dict[str, float]:
    """Median ms of each query of the screen (what `figures` runs, one by one)."""
    from cityos.dashboard import handlers as h
    from cityos.dashboard import store
    from cityos.governance import store as gov_store

    roots = None
    periods = h.months_back(p.clock.now(), 6)
    with p.db.read() as conn:
        kids = [k["code"] for k in store.children(conn, node)]
    parts: dict[str, Any] = {
        "children": lambda c: store.children(c, node),
        "case_figures": lambda c: store.case_figures(c, node, roots),
        "alarms": lambda c: store.alarm_figures(c, node, roots),
        "hazards": lambda c: store.hazard_board(c, node, roots),
        "instructions": lambda c: store.instructions_in_flight(c, node, roots),
        "emergencies": lambda c: store.emergencies_open(c, node, roots),
        "enterprises": lambda c: store.enterprises_by_industry(c, node, roots),
        "recent_cases": lambda c: store.recent_cases(c, node, roots),
        "stats": lambda c: gov_store.stats_for(c, [node, *kids], periods),
        "trend": lambda c: [gov_store.stats_for(c, [node], [per]) for per in periods],
        "series": lambda c: store.series_for(c, [node]),
    }
    out = {}
    for name, fn in parts.items():
        def once(fn: Any = fn) -> None:
            with p.db.read() as conn:
                fn(conn)
        out[name] = timed(once, 3)[1]
    return out


def bench_render(p: Any) -> dict[str, Any]:
    from cityos.dashboard import handlers as h

    actor = _actor()
    g = sorted(g for g, _lon, _lat in grid_centres(p))[len(grid_centres(p)) // 2]
    out: dict[str, Any] = {}
    for label, node in (("city", g[:2] + "0000"), ("district", g[:6]), ("township", g[:9]), ("village", g[:12]),
                        ("grid", g)):
        first, median = timed(lambda node=node: h.figures(p, actor, node))
        out[label] = {"node": node, "first_ms": first, "median_ms": median,
                      "open": h.figures(p, actor, node)["totals"]["open"]}
    out["panels_ms"] = {"city": panels(p, g[:2] + "0000"), "district": panels(p, g[:6])}
    return out


def bench_live(p: Any, screens: int, updates: int) -> dict[str, Any]:
    from cityos.dashboard.live import DashboardHub
    from cityos.governance import handlers as gh
    from cityos.identity.model import SYSTEM

    grids = grid_centres(p)
    nodes = sorted({g[:n] for g, _x, _y in grids for n in (6, 9, 12)})
    p.geo.index()  # the spatial index a running server already has

    from cityos.dashboard import handlers as dh

    actor = _actor()

    async def run(n_screens: int) -> dict[str, float]:
        hub = DashboardHub(p, 1.0)
        subs = [await hub.subscribe(nodes[(i * 7919) % len(nodes)] if i else "500000", None) for i in range(n_screens)]
        if hub._task is not None:
            hub._task.cancel()
        walls, cpus, refresh, refreshed = [], [], [], []
        for i in range(updates):
            _g, lon, lat = grids[(i * 104729) % len(grids)]
            await asyncio.to_thread(lambda lon=lon, lat=lat: p.bus.handle(gh.ReportCase(
                actor=SYSTEM, category="P0101", description="bench", lon=lon, lat=lat, source="staff")))
            t0, c0 = time.perf_counter(), time.process_time()
            pushed = await hub.poll_once()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            assert pushed >= 1
            # The screens showing the new case each fetch their figures again (at most once a second).
            shown = [s for s in subs if not s.queue.empty()]
            t0 = time.perf_counter()
            for s in shown:
                while not s.queue.empty():
                    s.queue.get_nowait()
                await asyncio.to_thread(dh.figures, p, actor, s.node)
            refresh.append(time.perf_counter() - t0)
            refreshed.append(len(shown))
        return {"screens": n_screens, "poll_wall_ms_median": round(statistics.median(walls) * 1000, 2),
                "poll_cpu_ms_median": round(statistics.median(cpus) * 1000, 2), "polls": hub.queries,
                "screens_refreshed_per_update_mean": round(statistics.mean(refreshed), 2),
                "refresh_ms_per_update_median": round(statistics.median(refresh) * 1000, 1)}

    return {"one_screen": asyncio.run(run(1)), "many_screens": asyncio.run(run(screens))}


def measure(t: Target, screens: int, updates: int) -> dict[str, Any]:
    p = t.platform()
    try:
        filled = json.loads((t.dir / "fill.json").read_text()) if (t.dir / "fill.json").exists() else {}
        out = {"engine": t.engine, "fill": filled, "load_average": os.getloadavg(),
               "render": bench_render(p), "live": bench_live(p, screens, updates)}
    finally:
        p.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--db-name", default="cityos_bench_dashboard")
    ap.add_argument("--dir", default=None, help="data dir (SQLite file); default /tmp/cityos-bench-dashboard-ENGINE")
    ap.add_argument("--phase", choices=("fill", "measure", "all"), default="all")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--screens", type=int, default=50)
    ap.add_argument("--updates", type=int, default=20)
    a = ap.parse_args()
    a.dir = a.dir or f"/tmp/cityos-bench-dashboard-{a.engine}"
    t = Target(a)
    out: dict[str, Any] = {}
    if a.phase in ("fill", "all"):
        out["fill"] = fill(t, a.cases)
    if a.phase in ("measure", "all"):
        out = measure(t, a.screens, a.updates)
    print(json.dumps(out, indent=2, default=str))
    if a.phase == "all":
        t.drop()


if __name__ == "__main__":
    sys.exit(main())
