"""Open311 GeoReport v2 figures (issue 5): GET requests over 1,000,000 cases, POST throughput
against the native API.

    # build the database once (1,000,000 public cases; minutes), under `heavy test`:
    .venv/bin/python benchmarks/bench_open311.py --engine sqlite --fill-only
    # measure on it (seconds to a few minutes), under `heavy bench`:
    .venv/bin/python benchmarks/bench_open311.py --engine sqlite --reuse [--part get|post|all]

The database is kept between runs: a SQLite file under --dir (default
/tmp/cityos-bench-open311) or the PostgreSQL database `cityos_bench_open311` on the
server of --pg-admin. `--fill-only` makes it anew: `cityos db upgrade`, `cityos demo
seed --scale S`, then bulk inserts (PostgreSQL COPY, SQLite executemany) of N cases
(default 1,000,000, all source `public`, i.e. all visible through Open311) spread like
a city's year of reports:
  - created_at over the last 365 days, more by day than by night and on weekdays;
  - categories: the public subclasses of the catalogue, Zipf-weighted (a few common,
    a long tail of rare ones);
  - state by age: most cases older than a month are closed or evaluated, recent ones
    are spread over the open states; a few are parked, cancelled or merged;
  - place: a random grid of the S demo city, point near its centre, the district's
    units as handlers;
  - 60 % with an `open311_requests` row (the rest came by app or hotline);
  - 3 events each (create, dispatch, and a last one with a note for closed cases).
`--fill-only --reuse` keeps the rows and only runs `cityos db upgrade` and ANALYZE
(to apply a new migration to an existing fill).

Measured part (`--reuse`), over a real server (`cityos serve`) on a free port of 127.0.0.1:
  - get: one process, one keep-alive httpx connection, requests one after another: each
    query type of GET /open311/v2/requests.{json,xml} R times (default 40), all interleaved
    in random order; p50/p95/p99 and the mean number of requests returned.
  - post: C concurrent clients (asyncio) for T seconds a run, POST
    /open311/v2/requests.json (form body, api_key) and POST /api/v1/cases (JSON,
    X-API-Key), both with source `public`, the same categories and grid points and the
    same keys of city.operator (so the credential check costs the same); runs in ABBA
    order after a 3 s warm-up of each door, so the machine's drift cancels out;
    requests/s of each door and the ratio. `--server-workers` sets uvicorn's processes
    (default 1).
Prints one JSON object; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as pyplatform
import random
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

DBNAME = "cityos_bench_open311"
# Public realtime services without required attributes, so both doors take the same body.
POST_CODES = ["E0401", "E0205", "P0201", "E0303"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else "cityos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def stats_ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "mean": round(float(a.mean()), 1),
            "max": round(float(a.max()), 1)}


class Env:
    """The kept benchmark database and the environment that points at it."""

    def __init__(self, engine: str, pg_admin: str, directory: Path) -> None:
        self.engine = engine
        self.pg_admin = pg_admin
        self.dir = directory / engine
        self.dir.mkdir(parents=True, exist_ok=True)
        if engine == "postgresql":
            self.url = pg_admin.rsplit("/", 1)[0] + "/" + DBNAME
        else:
            self.url = f"sqlite:///{self.dir}/cityos.db"
        self.env = dict(os.environ, CITYOS_DATABASE_URL=self.url, CITYOS_DATA_DIR=str(self.dir), CITYOS_ENV="dev",
                        CITYOS_LOG_LEVEL="WARNING", CITYOS_RATE_LIMIT_IP_PER_MINUTE="100000000",
                        CITYOS_RATE_LIMIT_KEY_PER_MINUTE="100000000")

    def create(self) -> None:
        if self.engine == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)')
                c.execute(f'CREATE DATABASE "{DBNAME}"')
        else:
            for f in self.dir.glob("cityos.db*"):
                f.unlink()
        self.upgrade()
        t0 = time.perf_counter()
        subprocess.run([cityos_bin(), "demo", "seed", "--scale", "S"], env=self.env, check=True, capture_output=True)
        log(f"seeded S in {time.perf_counter() - t0:.1f}s ({self.engine})")

    def upgrade(self) -> None:
        t0 = time.perf_counter()
        subprocess.run([cityos_bin(), "db", "upgrade"], env=self.env, check=True, capture_output=True)
        log(f"db upgrade in {time.perf_counter() - t0:.1f}s")

    def platform(self) -> Any:
        from cityos.bootstrap import bootstrap
        from cityos.core.config import Settings

        return bootstrap(Settings(database_url=self.url, data_dir=self.dir, env="dev"))


# --- the fill ---------------------------------------------------------------------------------------------

CASE_COLS = ["id", "number", "source", "category_code", "kind", "title", "description", "lon", "lat", "address",
             "grid_code", "village_code", "township_code", "district_code", "node", "owner_level", "owner_node",
             "handler_unit", "co_units", "routing", "state", "deadline", "deadline_version", "overdue",
             "escalation_level", "emergency", "public", "reporter_name", "reporter_phone", "rework_count",
             "return_count", "master_id", "created_by", "created_at", "updated_at", "dispatched_at", "closed_at"]
REQ_COLS = ["case_id", "service_code", "attributes", "email", "device_id", "media_url", "api_user", "created_at"]
EVENT_COLS = ["case_id", "action", "from_state", "to_state", "at", "actor", "role", "node", "note", "payload", "counted"]
OPEN = ["collected", "filed", "dispatched", "signed", "handling", "reported", "verified"]
NOTES = ["已修复，现场恢复正常", "已清理完毕", "已转交责任单位处理", "经核查情况属实，已处置", "已联系当事人整改"]


class Fill:
    """Rows of a year of public reports, generated in one pass."""

    def __init__(self, p: Any, n: int, seed: int) -> None:
        from sqlalchemy import select

        from cityos.geo import store as geo_store
        from cityos.governance import handlers as h
        from cityos.identity.store import org_units

        self.n = n
        self.rng = np.random.default_rng(seed)
        d = geo_store.divisions
        with p.db.read() as conn:
            self.grids = [(str(c), float(x), float(y)) for c, x, y in conn.execute(
                select(d.c.code, d.c.center_lon, d.c.center_lat).where(d.c.level == "grid").order_by(d.c.code))]
            units = conn.execute(select(org_units.c.code, org_units.c.division_code)
                                 .where(org_units.c.kind == "department")).all()
        self.units: dict[str, list[str]] = {}
        for code, div in units:
            self.units.setdefault(str(div)[:6], []).append(str(code))
        self.all_units = [u for us in self.units.values() for u in us] or [None]
        cats = [c for c in h.catalog(p).get().categories.values() if c.public]
        cats.sort(key=lambda c: c.code)
        self.cats = cats
        w = 1 / np.arange(1, len(cats) + 1) ** 1.1  # Zipf-like popularity
        self.rng.shuffle(w)
        self.cat_w = w / w.sum()
        self.now = datetime.now(UTC).replace(microsecond=0)

    def generate(self, first_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rng, n = self.rng, self.n
        # Days back (uniform over the year) and an hour of day weighted towards daytime.
        days = rng.integers(0, 365, n)
        hour_w = np.array([1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 2, 1], dtype=float)
        hours = rng.choice(24, n, p=hour_w / hour_w.sum())
        secs = rng.integers(0, 3600, n)
        ages = days * 86400 + hours * 3600 + secs  # seconds back from now (approximate hour-of-day)
        ages.sort()
        ages = ages[::-1]  # ids grow with time, like the real sequence
        cat_idx = rng.choice(len(self.cats), n, p=self.cat_w)
        grid_idx = rng.integers(0, len(self.grids), n)
        jitter = rng.normal(0, 0.0015, (n, 2))
        u = rng.random(n)
        cases: list[tuple[Any, ...]] = []
        reqs: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        routing = '{"rule": "bench"}'
        for i in range(n):
            cid = first_id + i
            created = self.now - timedelta(seconds=int(ages[i]))
            age_days = ages[i] / 86400
            cat = self.cats[cat_idx[i]]
            g, lon, lat = self.grids[grid_idx[i]]
            # Older cases are mostly done; a few stay parked, were cancelled or merged.
            p_closed = 0.2 if age_days < 1 else 0.55 if age_days < 7 else 0.85 if age_days < 30 else 0.97
            r = u[i]
            if r < p_closed:
                state = "evaluated" if r < p_closed * 0.4 else "closed"
            elif r > 0.995:
                state = ("cancelled", "merged", "parked")[cid % 3]
            else:
                state = OPEN[min(len(OPEN) - 1, int(age_days)) if age_days < 7 else cid % len(OPEN)]
            closed = state in ("closed", "evaluated", "cancelled")
            updated = created + timedelta(hours=float(1 + (cid % 97))) if closed else created + timedelta(minutes=5)
            updated = min(updated, self.now)
            deadline = created + timedelta(hours=float(cat.limit_value) * (24 if "days" in cat.limit_type else 1))
            units = self.units.get(g[:6]) or self.all_units
            owner = {"grid": g, "township": g[:9], "district": g[:6], "city": g[:2] + "0000"}
            unit = units[cid % len(units)]
            master = first_id + i - 1 if state == "merged" and i else None
            cases.append((cid, created.strftime("%Y%m%d") + f"{cid:08d}", "public", cat.code, cat.kind, cat.name_zh,
                          f"{cat.name_zh}：市民反映第 {cid} 号问题", lon + jitter[i, 0], lat + jitter[i, 1],
                          f"{g} 附近", g, g[:12], g[:9], g[:6], g, cat.owner_level, owner[cat.owner_level], unit, "[]", routing, state,
                          deadline, 1, False, 0, False, True, None, None, 0, 0, master, "bench", created, updated,
                          created + timedelta(minutes=2), updated if closed else None))
            if cid % 5 < 3:
                reqs.append((cid, cat.code, "{}", f"r{cid}@example.cn", f"dev-{cid % 9973}",
                             f"https://media.example.cn/{cid}.jpg" if cid % 4 == 0 else None, "citizen", created))
            events.append((cid, "create", None, "collected", created, "bench", "citizen", g, None, "{}", True))
            events.append((cid, "dispatch", "filed", "dispatched", created + timedelta(minutes=2), "bench",
                           "dispatcher", g, "派遣至责任单位", "{}", True))
            if closed:
                events.append((cid, "close", "verified", state, updated, "bench", "city_operator", g,
                               NOTES[cid % len(NOTES)], "{}", True))
            else:
                events.append((cid, "sign", "dispatched", "signed", created + timedelta(minutes=4), "bench",
                               "department_handler", g, None, "{}", True))
        return cases, reqs, events


def _sqlite_value(x: Any) -> Any:
    if isinstance(x, datetime):
        return x.strftime("%Y-%m-%d %H:%M:%S.%f")
    return x


def fill(env: Env, n: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from cityos.governance import store

    p = env.platform()
    try:
        with p.db.read() as conn:
            first = int(conn.execute(select(func.coalesce(func.max(store.cases.c.id), 0))).scalar_one()) + 1
        t0 = time.perf_counter()
        cases, reqs, events = Fill(p, n, seed).generate(first)
        gen_s = time.perf_counter() - t0
        log(f"generated {len(cases)} cases, {len(reqs)} requests, {len(events)} events in {gen_s:.1f}s")
        t0 = time.perf_counter()
        tables = [("cases", CASE_COLS, cases), ("open311_requests", REQ_COLS, reqs), ("case_events", EVENT_COLS, events)]
        if env.engine == "postgresql":
            raw = p.db.engine.raw_connection()
            try:
                cur = raw.cursor()
                for name, cols, rows in tables:
                    with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                raw.commit()
            finally:
                raw.close()
            import psycopg

            with psycopg.connect(env.url, autocommit=True) as c:
                c.execute("VACUUM ANALYZE")
        else:
            import sqlite3

            con = sqlite3.connect(env.url.split("///", 1)[1])
            for name, cols, rows in tables:
                ph = ", ".join("?" for _ in cols)
                sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({ph})"
                for k in range(0, len(rows), 50_000):
                    con.executemany(sql, [tuple(_sqlite_value(x) for x in r) for r in rows[k:k + 50_000]])
            con.commit()
            con.execute("ANALYZE")
            con.close()
        load_s = time.perf_counter() - t0
        log(f"loaded in {load_s:.1f}s")
        return {"cases": len(cases), "open311_requests": len(reqs), "case_events": len(events),
                "generate_s": round(gen_s, 1), "load_s": round(load_s, 1)}
    finally:
        p.close()


def analyze(env: Env) -> None:
    if env.engine == "postgresql":
        import psycopg

        with psycopg.connect(env.url, autocommit=True) as c:
            c.execute("ANALYZE")
    else:
        import sqlite3

        con = sqlite3.connect(env.url.split("///", 1)[1])
        con.execute("ANALYZE")
        con.close()


# --- the server -----------------------------------------------------------------------------------------

class Server:
    def __init__(self, env: Env, workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([cityos_bin(), "serve", "--port", str(self.port), "--workers", str(workers)],
                                     env=env.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode()[-2000:] if self.proc.stderr else ""
                raise RuntimeError(f"server did not start: {err}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _keys(env: Env, n: int) -> list[str]:
    from cityos.identity.handlers import CreateCredential
    from cityos.identity.model import SYSTEM

    p = env.platform()
    try:
        return [str(p.bus.handle(CreateCredential(SYSTEM, "city.operator", f"bench311-{os.getpid()}-{i}", "api_key",
                                                  ("*",), None))[1]) for i in range(n)]
    finally:
        p.close()


# --- GET --------------------------------------------------------------------------------------------------

def w3c(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_queries(env: Env, rng: random.Random) -> dict[str, list[dict[str, str]]]:
    """Per query type, a pool of parameter sets drawn from the data."""
    from sqlalchemy import func, select

    from cityos.governance import store

    c = store.cases
    p = env.platform()
    try:
        with p.db.read() as conn:
            hi = int(conn.execute(select(func.max(c.c.id))).scalar_one())
            lo = int(conn.execute(select(func.min(c.c.id)).where(c.c.source == "public")).scalar_one())
            ids = [rng.randrange(lo, hi + 1) for _ in range(2000)]
            numbers = [str(x) for x in conn.execute(select(c.c.number).where(c.c.id.in_(ids))).scalars()]
            counts = conn.execute(select(c.c.category_code, func.count()).where(c.c.source == "public")
                                  .group_by(c.c.category_code).order_by(func.count().desc())).all()
    finally:
        p.close()
    codes = [str(k) for k, _ in counts]
    common, rare = codes[:5], codes[-10:]
    now = datetime.now(UTC)

    def window(days: int) -> dict[str, str]:
        end = now - timedelta(days=rng.uniform(0, 365 - days), hours=rng.uniform(0, 24))
        return {"start_date": w3c(end - timedelta(days=days)), "end_date": w3c(end)}

    n = 30
    q: dict[str, list[dict[str, str]]] = {
        "default": [{} for _ in range(n)],
        "ids_1": [{"service_request_id": rng.choice(numbers)} for _ in range(n)],
        "ids_20": [{"service_request_id": ",".join(rng.sample(numbers, 20))} for _ in range(n)],
        "service_code_common": [{"service_code": rng.choice(common)} for _ in range(n)],
        "service_code_rare": [{"service_code": rng.choice(rare)} for _ in range(n)],
        "service_code_3": [{"service_code": ",".join(rng.sample(codes, 3))} for _ in range(n)],
        "status_open": [{"status": "open"} for _ in range(n)],
        "status_closed": [{"status": "closed"} for _ in range(n)],
        "window_7d": [window(7) for _ in range(n)],
        "window_90d": [window(90) for _ in range(n)],
        "window_90d_open": [{**window(90), "status": "open"} for _ in range(n)],
        "window_30d_code_closed": [{**window(30), "service_code": rng.choice(codes), "status": "closed"}
                                   for _ in range(n)],
        "window_90d_common_code_open": [{**window(90), "service_code": rng.choice(common), "status": "open"}
                                        for _ in range(n)],
        "window_7d_rare_code_open": [{**window(7), "service_code": rng.choice(rare), "status": "open"}
                                     for _ in range(n)],
        "start_date_only": [{"start_date": window(90)["start_date"]} for _ in range(n)],
    }
    return q


def bench_get(env: Env, repeats: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    pools = get_queries(env, rng)
    plan = [(name, fmt) for name in pools for fmt in ("json", "xml")] * repeats
    rng.shuffle(plan)
    server = Server(env, 1)
    times: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    errors: list[str] = []
    load_start = loadavg()
    try:
        with httpx.Client(base_url=server.base, timeout=60) as http:
            for name in pools:  # warm-up: every type once (first request builds caches)
                http.get("/open311/v2/requests.json", params=pools[name][0])
            t_all = time.perf_counter()
            for name, fmt in plan:
                params = rng.choice(pools[name])
                t0 = time.perf_counter()
                r = http.get(f"/open311/v2/requests.{fmt}", params=params)
                dt = time.perf_counter() - t0
                key = f"{name}.{fmt}"
                if r.status_code != 200:
                    if len(errors) < 5:
                        errors.append(f"{key} {params} {r.status_code} {r.text[:200]}")
                    continue
                times.setdefault(key, []).append(dt)
                if fmt == "json":
                    sizes.setdefault(name, []).append(len(r.json()))
            wall = time.perf_counter() - t_all
    finally:
        server.stop()
    out: dict[str, Any] = {}
    for name in pools:
        for fmt in ("json", "xml"):
            key = f"{name}.{fmt}"
            if key in times:
                out[key] = {**stats_ms(times[key]), "n": len(times[key])}
        if name in sizes:
            out[name + ".json"]["returned_mean"] = round(float(np.mean(sizes[name])), 1)
    worst = max((v["p95"] for v in out.values()), default=None)
    return {"requests": len(plan), "wall_s": round(wall, 1), "loadavg_1m_start": load_start,
            "loadavg_1m_end": loadavg(), "worst_p95_ms": worst, "by_query": out, "errors": errors}


# --- POST -------------------------------------------------------------------------------------------------

def bench_post(env: Env, clients: int, seconds: float, workers: int, nkeys: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    keys = _keys(env, nkeys)
    p = env.platform()
    try:
        d = geo_store.divisions
        with p.db.read() as conn:
            grids = [(float(x), float(y)) for x, y in conn.execute(
                select(d.c.center_lon, d.c.center_lat).where(d.c.level == "grid"))]
    finally:
        p.close()
    server = Server(env, workers)
    load_start = loadavg()
    runs = []
    try:
        for door in ("open311", "native"):  # warm-up of both doors (pools, caches, compiled statements)
            asyncio.run(_post_load(server.base, door, keys, grids, clients, 3.0, seed))
        for door in ("open311", "native", "native", "open311"):  # ABBA: drift of the machine cancels out
            runs.append({"door": door, "loadavg_1m": loadavg(),
                         **asyncio.run(_post_load(server.base, door, keys, grids, clients, seconds, seed))})
            log(json.dumps(runs[-1]))
    finally:
        server.stop()
    o = [r["requests_per_s"] for r in runs if r["door"] == "open311"]
    nat = [r["requests_per_s"] for r in runs if r["door"] == "native"]
    ratio = round(sum(o) / sum(nat), 3) if sum(nat) else None
    return {"clients": clients, "seconds_each": seconds, "server_workers": workers, "runs": runs,
            "open311_per_s": round(sum(o) / len(o), 1), "native_per_s": round(sum(nat) / len(nat), 1),
            "ratio_open311_to_native": ratio, "loadavg_1m_start": load_start, "loadavg_1m_end": loadavg()}


async def _post_load(base: str, door: str, keys: list[str], grids: list[tuple[float, float]], clients: int,
                     seconds: float, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    warm = 2.0
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    t_measure = time.perf_counter() + warm
    t_end = t_measure + seconds
    done = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        async def one(i: int) -> None:
            nonlocal done
            n = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                lon, la = grids[rnd.randrange(len(grids))]
                code = POST_CODES[(i + n) % len(POST_CODES)]
                key = keys[(i + n) % len(keys)]
                headers = {"X-Forwarded-For": f"10.{i % 250}.{n % 250}.{rnd.randrange(1, 250)}"}
                text = f"bench 路面塌陷 {i}-{n}"
                n += 1
                try:
                    if door == "open311":
                        r = await http.post("/open311/v2/requests.json", headers=headers, data={
                            "api_key": key, "service_code": code, "lat": str(la), "long": str(lon),
                            "description": text, "email": "bench@example.cn", "device_id": f"dev-{i}"})
                        ok = 200
                    else:
                        r = await http.post("/api/v1/cases", headers={**headers, "X-API-Key": key}, json={
                            "category": code, "description": text, "lon": lon, "lat": la, "source": "public"})
                        ok = 201
                    code_ = r.status_code
                    if code_ != ok and len(errors) < 5:
                        errors.append(r.text[:200])
                except httpx.HTTPError as exc:
                    code_, ok = 0, -1
                    if len(errors) < 5:
                        errors.append(repr(exc))
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    statuses[code_] = statuses.get(code_, 0) + 1
                    if code_ == ok:
                        lat.append(t1 - t0)
                        done += 1

        await asyncio.gather(*(one(i) for i in range(clients)))
    return {"requests": done, "requests_per_s": round(done / seconds, 1),
            "latency_ms": stats_ms(lat) if lat else None, "statuses": statuses, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-admin", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL",
                                                         "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--dir", type=Path, default=Path("/tmp/cityos-bench-open311"))
    ap.add_argument("--fill-only", action="store_true", help="build the database and stop")
    ap.add_argument("--reuse", action="store_true", help="use the database of an earlier --fill-only")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--part", choices=["get", "post", "all"], default="all")
    ap.add_argument("--repeats", type=int, default=40, help="GET: requests per query type and format")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--server-workers", type=int, default=1)
    ap.add_argument("--keys", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    env = Env(a.engine, a.pg_admin, a.dir)
    out: dict[str, Any] = {"engine": a.engine, "database": env.url,
                           "machine": {"cpus": os.cpu_count(), "python": pyplatform.python_version()}}
    if a.fill_only or not a.reuse:
        if a.fill_only and a.reuse:
            env.upgrade()
            analyze(env)
            out["upgraded"] = True
        else:
            env.create()
            out["fill"] = fill(env, a.cases, a.seed)
        if a.fill_only:
            print(json.dumps(out, indent=2))
            return
    if a.part in ("get", "all"):
        out["get"] = bench_get(env, a.repeats, a.seed)
        log(f"GET worst p95 {out['get']['worst_p95_ms']} ms")
    if a.part in ("post", "all"):
        out["post"] = bench_post(env, a.clients, a.seconds, a.server_workers, a.keys, a.seed)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
