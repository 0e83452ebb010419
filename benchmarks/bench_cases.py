"""Case loop figures (issue 4): intake through the native API, the overdue sweep over
a million open cases, indicator queries over ten million cases' worth of counters.

    .venv/bin/python benchmarks/bench_cases.py --engine postgresql [--part intake|sweep|indicators|all]
    .venv/bin/python benchmarks/bench_cases.py --engine sqlite

Each run uses a fresh database: a SQLite file in a temporary directory, or a new
PostgreSQL database created through --pg-admin (default
postgresql://postgres@127.0.0.1:5432/test) and dropped afterwards. It is migrated
and seeded with the S demo city (`cityos db upgrade`, `cityos demo seed --scale S`).

- intake: `cityos serve --workers W` on a free port; C concurrent httpx clients
  (asyncio, one process) POST /api/v1/cases for T seconds with API keys of the city
  operator (points: random grid centres of the city; source "grid", so each case is
  located, routed, stored, filed and dispatched with its events, a notice, an outbox
  event and an audit record in one transaction). The first 3 s are a warm-up.
  The rate limits of 0002_identity are per key and per client address; the client
  spreads the load over several keys and X-Forwarded-For addresses (uvicorn trusts
  them from 127.0.0.1) so they do not trip. Reports cases/s, p50/p99 latency.
- sweep: bulk-inserts N open cases (default 1,000,000) straight into `cases`
  (PostgreSQL COPY; SQLite executemany), D of them (default 10,000) past their
  deadline, then times `governance.handlers.sweep_overdue` (flags the due ones with
  their events and notices), and a second sweep that finds nothing new.
- indicators: bulk-inserts `case_stats` rows for 24 months over an L-sized tree
  (1 city, 41 districts, 1,025 townships, 11,275 villages, 67,650 grids) whose
  counters add up to 10,000,000 cases, then times `store.stats_for` for the city and
  its 41 districts over 12 months (what GET /api/v1/indicators runs), and the
  ranking of all 1,025 townships over 12 months.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform as pyplatform
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

CATEGORIES = ["P0101", "P0102", "P0103", "E0101", "E0102", "E0201"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else "cityos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "mean": round(float(a.mean()), 2), "max": round(float(a.max()), 2)}


class Env:
    """A fresh, migrated, seeded database and the environment that points at it.

    With `keep` the database is named by it (PostgreSQL `cityos_bench_cases_KEEP`, SQLite
    /tmp/cityos_bench_cases_KEEP/cityos.db) and left in place: `reuse` opens it as it is
    (fill under `heavy test` once, measure under `heavy bench` as often as needed)."""

    def __init__(self, engine: str, pg_admin: str, keep: str | None = None, reuse: bool = False) -> None:
        self.engine = engine
        self.pg_admin = pg_admin
        self.keep = keep
        if keep:
            data = Path(tempfile.gettempdir()) / f"cityos_bench_cases_{keep}"
            data.mkdir(exist_ok=True)
            self.data_dir = str(data)
            self.tmp: tempfile.TemporaryDirectory[str] | None = None
        else:
            self.tmp = tempfile.TemporaryDirectory(prefix="bench-cases-")
            self.data_dir = self.tmp.name
        self.dbname = f"cityos_bench_cases_{keep or os.getpid()}"
        if engine == "postgresql":
            import psycopg

            if not reuse:
                with psycopg.connect(pg_admin, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
                    c.execute(f'CREATE DATABASE "{self.dbname}"')
            self.url = pg_admin.rsplit("/", 1)[0] + "/" + self.dbname
        else:
            self.url = f"sqlite:///{self.data_dir}/cityos.db"
            if not reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.data_dir}/cityos.db{suffix}").unlink(missing_ok=True)
        self.env = dict(os.environ, CITYOS_DATABASE_URL=self.url, CITYOS_DATA_DIR=self.data_dir, CITYOS_ENV="dev",
                        CITYOS_LOG_LEVEL="WARNING", CITYOS_RATE_LIMIT_IP_PER_MINUTE="100000000",
                        CITYOS_RATE_LIMIT_KEY_PER_MINUTE="100000000",
                        # 32+ requests in flight per process each read their credential on a connection
                        # of their own: a pool of 10 (+10) made them queue for one.
                        CITYOS_DB_POOL_SIZE=os.environ.get("CITYOS_DB_POOL_SIZE", "30"))
        if reuse:
            return
        subprocess.run([cityos_bin(), "db", "upgrade"], env=self.env, check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run([cityos_bin(), "demo", "seed", "--scale", "S"], env=self.env, check=True, capture_output=True)
        log(f"seeded S in {time.perf_counter() - t0:.1f}s ({engine})")

    def platform(self) -> Any:
        from cityos.bootstrap import bootstrap
        from cityos.core.config import Settings

        return bootstrap(Settings(database_url=self.url, data_dir=Path(self.data_dir), env="dev"))

    def close(self) -> None:
        if self.keep:
            return
        if self.engine == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        if self.tmp is not None:
            self.tmp.cleanup()


def grid_centres(p: Any) -> list[tuple[str, float, float]]:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    d = geo_store.divisions
    with p.db.read() as conn:
        rows = conn.execute(select(d.c.code, d.c.center_lon, d.c.center_lat).where(d.c.level == "grid")).all()
    return [(str(c), float(lon), float(lat)) for c, lon, lat in rows]


# --- intake -------------------------------------------------------------------------------------------

def _proc_cpu() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, command name, CPU ticks so far) of every process (Linux /proc)."""
    out: dict[int, tuple[int, str, int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            raw = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        f = raw[raw.rindex(")") + 2:].split()
        out[int(d)] = (int(f[1]), name, int(f[11]) + int(f[12]))
    return out


def _cpu_split(before: dict[int, tuple[int, str, int]], after: dict[int, tuple[int, str, int]], server: int,
               seconds: float) -> dict[str, Any]:
    """Share of the machine's CPU (all cores = 100 %) over the window: server processes, PostgreSQL,
    the load generator, everything else."""
    tick = os.sysconf("SC_CLK_TCK") * seconds * (os.cpu_count() or 1)
    tree = {server}
    for _ in range(4):
        tree |= {pid for pid, (ppid, _n, _t) in after.items() if ppid in tree}
    split = {"server": 0.0, "postgres": 0.0, "load_generator": 0.0, "other": 0.0}
    others: dict[str, float] = {}
    for pid, (_ppid, name, t) in after.items():
        d = t - before.get(pid, (0, "", 0))[2]
        if d <= 0:
            continue
        key = ("server" if pid in tree else "postgres" if name.startswith("postgres")
               else "load_generator" if name == "wrk" else "other")
        split[key] += d
        if key == "other":
            others[name] = others.get(name, 0.0) + d
    out: dict[str, Any] = {k: round(100 * v / tick, 1) for k, v in split.items()}
    # Who the "other" share was (another process on the shared machine makes a run not comparable).
    out["other_top"] = {n: round(100 * v / tick, 1) for n, v in sorted(others.items(), key=lambda x: -x[1])[:4]}
    return out


def bench_intake(env: Env, clients: int, seconds: float, workers: int, keys: int, load: str = "httpx",
                 wrk_threads: int = 1, profile: str | None = None) -> dict[str, Any]:
    from sqlalchemy import func, select

    from cityos.governance import store
    from cityos.identity.handlers import CreateCredential
    from cityos.identity.model import SYSTEM

    p = env.platform()
    secrets_ = [p.bus.handle(CreateCredential(SYSTEM, "city.operator", f"bench{i}-{os.getpid()}", "api_key", ("*",),
                                              None))[1] for i in range(keys)]
    grids = grid_centres(p)
    with p.db.read() as conn:
        cases_before = int(conn.execute(select(func.count()).select_from(store.cases)).scalar_one())
    port = free_port()
    server = subprocess.Popen([cityos_bin(), "serve", "--port", str(port), "--workers", str(workers)], env=env.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        if load == "wrk":
            result = _wrk(base, secrets_, grids, clients, seconds, wrk_threads, server.pid, profile)
        else:
            before = _proc_cpu()
            result = asyncio.run(_load(base, secrets_, grids, clients, seconds))
            result["cpu_percent_of_machine"] = _cpu_split(before, _proc_cpu(), server.pid, seconds + 3)
    finally:
        server.terminate()
        server.wait(20)
    with p.db.read() as conn:
        result["cases_in_database_added"] = int(conn.execute(select(func.count()).select_from(store.cases))
                                                .scalar_one()) - cases_before
    p.close()
    return {"clients": clients, "server_workers": workers, "load_generator": load, **result}


WRK_LUA = """
local keys = {KEYS}
local grids = {GRIDS}
local cats = {CATS}
local n = 0
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = math.random(1, 100000) statuses = {} end
function request()
  n = n + 1
  local g = grids[(n % #grids) + 1]
  local body = string.format('{"category":"%s","description":"bench case %d","lon":%s,"lat":%s,"source":"grid"}',
                             cats[(n % #cats) + 1], n, g[1], g[2])
  return wrk.format("POST", "/api/v1/cases", {["Content-Type"] = "application/json", ["X-API-Key"] = keys[(n % #keys) + 1]}, body)
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    for k, v in pairs(st) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "statuses": {%s}, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": %d}\\n',
    summary.requests, summary.duration, table.concat(parts, ", "), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


def _wrk(base: str, keys: list[str], grids: list[tuple[str, float, float]], clients: int, seconds: float,
         threads: int, server_pid: int, profile: str | None = None) -> dict[str, Any]:
    """Closed-loop load with wrk (C): `clients` connections each with one request in flight."""
    lua = (WRK_LUA.replace("{KEYS}", "{" + ", ".join(f'"{k}"' for k in keys) + "}")
           .replace("{GRIDS}", "{" + ", ".join(f"{{{lon!r}, {lat!r}}}" for _c, lon, lat in grids) + "}")
           .replace("{CATS}", "{" + ", ".join(f'"{c}"' for c in CATEGORIES) + "}"))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        threads = min(threads, clients)
        warm = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", "3s", "-s", f.name, base],
                              capture_output=True, text=True)
        if warm.returncode or "WRKJSON" not in warm.stdout:
            raise RuntimeError(warm.stdout + warm.stderr)
        spy = None
        if profile:  # py-spy (pip install py-spy) samples the server processes while wrk runs
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server_pid),
                                    "--subprocesses", "--nonblocking", "-r", "50", "-d", f"{max(1, seconds - 1):g}",
                                    "-f", "raw", "-o", profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = _proc_cpu()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "30s",
                              "-s", f.name, base], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        cpu = _cpu_split(before, _proc_cpu(), server_pid, wall)
        # wrk has exited (and left /proc) by now: its CPU from the children's usage.
        kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["load_generator"] = round(100 * (kids_after.ru_utime + kids_after.ru_stime - kids.ru_utime - kids.ru_stime)
                                      / (wall * (os.cpu_count() or 1)), 1)
        if spy is not None:
            spy.wait(60)
    finally:
        os.unlink(f.name)
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    ok = int(r["statuses"].get("201", 0))
    secs = r["duration_us"] / 1e6
    return {"seconds": round(secs, 1), "cases": ok, "cases_per_s": round(ok / secs, 1),
            "latency_ms": {"p50": r["p50_us"] / 1000, "p90": r["p90_us"] / 1000, "p99": r["p99_us"] / 1000,
                           "mean": round(r["mean_us"] / 1000, 2), "max": r["max_us"] / 1000},
            "statuses": r["statuses"], "socket_errors": r["errors"], "cpu_percent_of_machine": cpu}


async def _load(base: str, keys: list[str], grids: list[tuple[str, float, float]], clients: int,
                seconds: float) -> dict[str, Any]:
    rnd = random.Random(7)
    warm = 3.0
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    t_start = time.perf_counter()
    t_measure = t_start + warm
    t_end = t_measure + seconds
    done_measured = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        async def one(i: int) -> None:
            nonlocal done_measured
            n = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                _code, lon, lat_ = grids[rnd.randrange(len(grids))]
                headers = {"X-API-Key": keys[(i + n) % len(keys)],
                           "X-Forwarded-For": f"10.{i % 250}.{n % 250}.{rnd.randrange(1, 250)}"}
                body = {"category": CATEGORIES[n % len(CATEGORIES)], "description": f"bench case {i}-{n}",
                        "lon": lon, "lat": lat_, "source": "grid"}
                n += 1
                try:
                    r = await http.post("/api/v1/cases", json=body, headers=headers)
                    code = r.status_code
                    if code != 201 and len(errors) < 5:
                        errors.append(r.text[:200])
                except httpx.HTTPError as exc:
                    code = 0
                    if len(errors) < 5:
                        errors.append(repr(exc))
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    statuses[code] = statuses.get(code, 0) + 1
                    if code == 201:
                        lat.append(t1 - t0)
                        done_measured += 1

        await asyncio.gather(*(one(i) for i in range(clients)))
    return {"seconds": seconds, "cases": done_measured, "cases_per_s": round(done_measured / seconds, 1),
            "latency_ms": ms(lat) if lat else None, "statuses": statuses, "errors": errors}


# --- the overdue sweep ------------------------------------------------------------------------------------

CASE_COLS = ["id", "number", "source", "category_code", "kind", "title", "description", "grid_code", "village_code",
             "township_code", "district_code", "node", "owner_level", "owner_node", "handler_unit", "co_units",
             "routing", "state", "deadline", "deadline_version", "overdue", "escalation_level", "emergency",
             "public", "rework_count", "return_count", "created_by", "created_at", "updated_at", "dispatched_at"]


def _case_rows(n: int, due: int, grids: list[str], now: datetime, first_id: int) -> Any:
    rnd = random.Random(11)
    due_every = max(1, n // max(due, 1)) if due else 0
    flagged = 0
    for i in range(n):
        g = grids[rnd.randrange(len(grids))]
        is_due = due_every and i % due_every == 0 and flagged < due
        flagged += bool(is_due)
        deadline = now - timedelta(minutes=rnd.randrange(1, 600)) if is_due else \
            now + timedelta(hours=rnd.randrange(1, 24 * 20))
        created = now - timedelta(days=rnd.randrange(0, 30), minutes=rnd.randrange(0, 1440))
        cid = first_id + i
        yield (cid, f"B{cid:012d}", "grid", "P0101", "part", "bench", "bench case", g, g[:12], g[:9], g[:6], g,
               "district", g[:6], f"D-{g[:6]}-water", "{}", '{"rule": "bench"}',
               ("dispatched", "signed", "handling")[i % 3], deadline, 1, False, 0, False, False, 0, 0, "bench",
               created, created, created)


def bulk_cases(env: Env, p: Any, n: int, due: int) -> float:
    from sqlalchemy import func, select

    from cityos.governance import store

    grids = [g for g, _lon, _lat in grid_centres(p)]
    now = datetime.now(UTC)
    with p.db.read() as conn:
        first = int(conn.execute(select(func.coalesce(func.max(store.cases.c.id), 0))).scalar_one()) + 1
    t0 = time.perf_counter()
    rows = _case_rows(n, due, grids, now, first)
    if env.engine == "postgresql":
        raw = p.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY cases ({', '.join(CASE_COLS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            cur.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))")
            raw.commit()
            cur.execute("ANALYZE cases")
            raw.commit()
        finally:
            raw.close()
    else:
        import sqlite3

        path = env.url.split("///", 1)[1]
        con = sqlite3.connect(path)
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
        con.execute("ANALYZE")
        con.close()
    return time.perf_counter() - t0


def reset_sweep(p: Any) -> None:
    """Undo a previous sweep of the bench's cases (for --reuse): unflag them, drop what it wrote,
    recount the counters."""
    from sqlalchemy import text

    from cityos.governance import store

    with p.db.begin() as conn:
        conn.execute(text("UPDATE cases SET overdue = false, overdue_at = NULL WHERE overdue AND created_by = 'bench'"))
        conn.execute(text("DELETE FROM case_events WHERE action = 'overdue'"))
        conn.execute(text("DELETE FROM notifications WHERE kind = 'case.overdue'"))
        conn.execute(text("DELETE FROM outbox WHERE topic = 'notification.channel'"))
        store.rebuild_case_counts(conn)
    if p.db.is_postgres:
        with p.db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE cases"))


def fill_sweep(env: Env, n: int, due: int) -> dict[str, Any]:
    from cityos.governance import store

    p = env.platform()
    load_s = bulk_cases(env, p, n, due)
    with p.db.begin() as conn:
        store.rebuild_case_counts(conn)
    log(f"inserted {n} open cases in {load_s:.1f}s")
    p.close()
    return {"open_cases": n, "due": due, "bulk_insert_s": round(load_s, 1)}


def bench_sweep(env: Env, n: int, due: int, reuse: bool) -> dict[str, Any]:
    from cityos.governance import handlers as h

    out: dict[str, Any] = {"open_cases": n, "due": due} if reuse else fill_sweep(env, n, due)
    p = env.platform()
    if reuse:
        reset_sweep(p)
    t0 = time.perf_counter()
    first = h.sweep_overdue(p)
    out["sweep_s"] = round(time.perf_counter() - t0, 3)
    out["flagged"] = first["overdue"]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        again = h.sweep_overdue(p)
        runs.append(time.perf_counter() - t0)
    out["idle_sweep_ms"] = ms(runs)
    out["idle_flagged"] = again["overdue"]
    p.close()
    return out


# --- indicators -------------------------------------------------------------------------------------------

def _tree(city: str) -> dict[str, list[str]]:
    districts = [f"{city[:2]}{i:04d}" for i in range(1, 42)]
    townships = [f"{d}{t:03d}" for d in districts for t in range(1, 26)]
    villages = [f"{t}{v:03d}" for t in townships for v in range(1, 12)]
    grids = [f"{v}{g:03d}" for v in villages for g in range(1, 7)]
    return {"city": [city], "district": districts, "township": townships, "village": villages, "grid": grids}


def bench_indicators(env: Env, total_cases: int, months: int) -> dict[str, Any]:
    from cityos.governance import store

    fields = store.STAT_FIELDS
    city = "500000"
    tree = _tree(city)
    rng = np.random.default_rng(5)
    periods = [f"{2025 + (m // 12)}-{m % 12 + 1:02d}" for m in range(months)]
    per_grid = total_cases / (len(tree["grid"]) * months)
    p = env.platform()
    t0 = time.perf_counter()
    n_rows = 0
    buf = io.StringIO()
    grand = 0
    for period in periods:
        due = rng.poisson(per_grid, len(tree["grid"]))
        grand += int(due.sum())
        cols = {"due": due, "closed": rng.binomial(due, 0.93), "closed_on_time": rng.binomial(due, 0.76),
                "handled_on_time": rng.binomial(due, 0.8), "rework": rng.binomial(due, 0.05),
                "returned": rng.binomial(due, 0.03), "dispatched": due, "dispatched_correct": rng.binomial(due, 0.97),
                "handling_seconds": due * rng.uniform(3600, 86400, len(due)), "handled": rng.binomial(due, 0.95),
                "public_total": rng.binomial(due, 0.4)}
        cols["public_responded"] = rng.binomial(cols["public_total"], 0.98)
        cols["public_resolved"] = rng.binomial(cols["public_total"], 0.85)
        cols["public_evaluated"] = rng.binomial(cols["public_total"], 0.6)
        cols["public_satisfied"] = rng.binomial(cols["public_evaluated"], 0.9)
        mat = np.stack([np.asarray(cols[f], dtype=float) for f in fields], axis=1)
        level_rows: dict[str, np.ndarray] = {"grid": mat}
        # Sum upward: 6 grids per village, 11 villages per township, 25 townships per district, 41 per city.
        level_rows["village"] = mat.reshape(-1, 6, len(fields)).sum(axis=1)
        level_rows["township"] = level_rows["village"].reshape(-1, 11, len(fields)).sum(axis=1)
        level_rows["district"] = level_rows["township"].reshape(-1, 25, len(fields)).sum(axis=1)
        level_rows["city"] = level_rows["district"].sum(axis=0, keepdims=True)
        for level, codes in tree.items():
            vals = level_rows[level]
            for code, row in zip(codes, vals, strict=True):
                buf.write(period + "\t" + code + "\t" + "\t".join(
                    (f"{v:.1f}" if f == "handling_seconds" else str(int(v))) for f, v in zip(fields, row, strict=True))
                    + "\n")
                n_rows += 1
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    buf.seek(0)
    if env.engine == "postgresql":
        raw = p.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY case_stats (period, node, {', '.join(fields)}) FROM STDIN") as copy:
                while chunk := buf.read(1 << 20):
                    copy.write(chunk)
            raw.commit()
            cur.execute("ANALYZE case_stats")
            raw.commit()
        finally:
            raw.close()
    else:
        import sqlite3

        con = sqlite3.connect(env.url.split("///", 1)[1])
        ph = ", ".join("?" for _ in range(len(fields) + 2))
        con.executemany(f"INSERT INTO case_stats (period, node, {', '.join(fields)}) VALUES ({ph})",
                        (line.rstrip("\n").split("\t") for line in buf))
        con.commit()
        con.execute("ANALYZE")
        con.close()
    load_s = time.perf_counter() - t0
    log(f"case_stats: {n_rows} rows ({grand} cases) generated in {gen_s:.1f}s, loaded in {load_s:.1f}s")
    year = periods[-12:]
    city_q, town_q = [], []
    for _ in range(30):
        t = time.perf_counter()
        with p.db.read() as conn:
            res = store.stats_for(conn, [city, *tree["district"]], year)
        city_q.append(time.perf_counter() - t)
        t = time.perf_counter()
        with p.db.read() as conn:
            store.stats_for(conn, tree["township"], year)
        town_q.append(time.perf_counter() - t)
    p.close()
    return {"case_stats_rows": n_rows, "cases_counted": grand, "months": months, "load_s": round(load_s, 1),
            "city_due_12_months": res[city].due,
            "city_and_41_districts_12_months_ms": ms(city_q), "ranking_1025_townships_12_months_ms": ms(town_q)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-admin", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL",
                                                         "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--part", choices=["intake", "sweep", "indicators", "all"], default="all")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--server-workers", type=int, default=2)
    ap.add_argument("--keys", type=int, default=16)
    ap.add_argument("--open-cases", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=10_000)
    ap.add_argument("--stats-cases", type=int, default=10_000_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--keep", help="name the database and keep it (fill once, measure with --reuse)")
    ap.add_argument("--reuse", action="store_true", help="use the kept database as it is (needs --keep)")
    ap.add_argument("--fill-only", action="store_true", help="seed and fill the kept database, measure nothing")
    ap.add_argument("--load", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx",
                    help="intake load generator (wrk: Debian package, C, a fraction of the CPU of httpx)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--profile", help="with wrk: py-spy's collapsed stacks of the server to this file")
    a = ap.parse_args()
    if (a.reuse or a.fill_only) and not a.keep:
        ap.error("--reuse and --fill-only need --keep NAME")
    out: dict[str, Any] = {"engine": a.engine, "machine": {"cpus": os.cpu_count(), "python": pyplatform.python_version(),
                                                           "system": pyplatform.platform()}}
    env = Env(a.engine, a.pg_admin, a.keep, a.reuse)
    try:
        if a.fill_only:
            if a.part in ("sweep", "all"):
                out["sweep_fill"] = fill_sweep(env, a.open_cases, a.due)
            print(json.dumps(out, indent=2, default=str))
            return
        if a.part in ("intake", "all"):
            out["intake"] = bench_intake(env, a.clients, a.seconds, a.server_workers, a.keys, a.load, a.wrk_threads,
                                       a.profile)
            log(json.dumps(out["intake"]))
        if a.part in ("sweep", "all"):
            out["sweep"] = bench_sweep(env, a.open_cases, a.due, a.reuse)
            log(json.dumps(out["sweep"]))
        if a.part in ("indicators", "all"):
            out["indicators"] = bench_indicators(env, a.stats_cases, a.months)
    finally:
        env.close()
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
