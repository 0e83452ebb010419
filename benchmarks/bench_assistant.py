"""Assistant figures (issue 13): duplicate search over a million cases, classification speed.

    # build once (heavy, shared lock): migrate, seed S, bulk-insert N located cases
    .venv/bin/python benchmarks/bench_assistant.py --dir /tmp/bench-assistant --fill-only [--cases 1000000]
    # measure (exclusive lock, short)
    .venv/bin/python benchmarks/bench_assistant.py --dir /tmp/bench-assistant --reuse

The fill: N cases (default 1,000,000) spread over the S demo city's grids (each case within 250 m of
a grid centre), over the last 365 days, with subclasses and texts drawn from the labelled set
(`assistant/data/cases_eval.jsonl`), so the text similarities are realistic; 15 % of the cases repeat
the case before them (same subclass, another wording, 0-80 m and 0-24 h later): the duplicates to find. SQLite (a file under
--dir) or PostgreSQL (--engine postgresql: a database named after --dir's last part, COPY).

Measured:
- index_build_s: the first duplicate search of a process, which loads every located case into the
  space-time index (`AssistantService.dup_index`);
- duplicates: `assistant.handlers.duplicates` (index, one read by id, text scores) for Q random
  cases (system actor: the whole city in scope): p50/p95/p99 ms, candidates and results;
- recall: for each of those cases the exact answer by a full read of the 150 m x 72 h box from the
  database (no index, no limit) scored the same way; recall = found / exact over all queries;
- catch_up_ms: a duplicate search right after 1,000 new cases were inserted (the index catches up);
- classify: `assistant.handlers.classify` one text at a time (texts/s, p50/p95 ms).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

CASE_COLS = ["id", "number", "source", "category_code", "kind", "title", "description", "grid_code", "village_code",
             "township_code", "district_code", "node", "owner_level", "owner_node", "handler_unit", "co_units",
             "routing", "state", "deadline", "deadline_version", "overdue", "escalation_level", "emergency",
             "public", "rework_count", "return_count", "created_by", "created_at", "updated_at", "dispatched_at",
             "lon", "lat"]


REPEAT_SHARE = 0.15  # share of cases that repeat the report before them (a duplicate to find)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ms(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "p99": round(float(np.percentile(a, 99)), 2), "max": round(float(a.max()), 2)}


class Env:
    def __init__(self, directory: Path, engine: str, pg_admin: str) -> None:
        self.dir = directory
        self.engine = engine
        self.pg_admin = pg_admin
        self.dbname = "cityos_bench_" + "".join(ch if ch.isalnum() else "_" for ch in directory.name)
        if engine == "postgresql":
            self.url = pg_admin.rsplit("/", 1)[0] + "/" + self.dbname
        else:
            self.url = f"sqlite:///{directory}/cityos.db"
        self.env = dict(os.environ, CITYOS_DATABASE_URL=self.url, CITYOS_DATA_DIR=str(directory), CITYOS_ENV="dev",
                        CITYOS_LOG_LEVEL="WARNING")

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.engine == "postgresql":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
                c.execute(f'CREATE DATABASE "{self.dbname}"')
        else:
            Path(self.url.split("///", 1)[1]).unlink(missing_ok=True)
        cityos = str(Path(sys.executable).parent / "cityos")
        subprocess.run([cityos, "db", "upgrade"], env=self.env, check=True, capture_output=True)
        subprocess.run([cityos, "demo", "seed", "--scale", "S"], env=self.env, check=True, capture_output=True)

    def platform(self) -> Any:
        from cityos.bootstrap import bootstrap
        from cityos.core.config import Settings

        return bootstrap(Settings(database_url=self.url, data_dir=self.dir, env="dev"))


def grid_centres(p: Any) -> list[tuple[str, float, float]]:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    d = geo_store.divisions
    with p.db.read() as conn:
        rows = conn.execute(select(d.c.code, d.c.center_lon, d.c.center_lat).where(d.c.level == "grid")).all()
    return [(str(c), float(lon), float(lat)) for c, lon, lat in rows]


def _rows(n: int, grids: list[tuple[str, float, float]], now: datetime, first_id: int, seed: int,
          days: float = 365) -> Any:
    from cityos.assistant import evalset

    texts = [(r["category"], r["text"]) for r in evalset.load()]
    by_cat: dict[str, list[str]] = {}
    for cat, text in texts:
        by_cat.setdefault(cat, []).append(text)
    rnd = random.Random(seed)
    prev: tuple[str, float, float, str, datetime] | None = None
    for i in range(n):
        if prev is not None and rnd.random() < REPEAT_SHARE:
            # a repeat report of the previous case: another wording, 0-80 m and 0-24 h away
            g, plat, plon, cat, pcreated = prev
            r, a = 80 * math.sqrt(rnd.random()), rnd.random() * 2 * math.pi
            lat = plat + r * math.sin(a) / 111_320
            lon = plon + r * math.cos(a) / (111_320 * math.cos(math.radians(plat)))
            text = rnd.choice(by_cat[cat])
            created = min(now, pcreated + timedelta(seconds=rnd.random() * 86400))
        else:
            g, glon, glat = grids[rnd.randrange(len(grids))]
            r, a = 250 * math.sqrt(rnd.random()), rnd.random() * 2 * math.pi
            lat = glat + r * math.sin(a) / 111_320
            lon = glon + r * math.cos(a) / (111_320 * math.cos(math.radians(glat)))
            cat, text = texts[rnd.randrange(len(texts))]
            created = now - timedelta(seconds=rnd.random() * days * 86400)
        prev = (g, lat, lon, cat, created)
        cid = first_id + i
        yield (cid, f"A{cid:012d}", "grid", cat, "event" if cat[0] == "E" else "part", text[:40], text, g, g[:12],
               g[:9], g[:6], g, "district", g[:6], f"D-{g[:6]}-water", "{}", '{"rule": "bench"}',
               ("dispatched", "signed", "handling", "closed")[i % 4], created + timedelta(days=5), 1, False, 0,
               False, False, 0, 0, "bench", created, created, created, lon, lat)


def insert(env: Env, p: Any, n: int, seed: int, days: float = 365) -> float:
    from sqlalchemy import func, select

    from cityos.governance import store

    grids = grid_centres(p)
    now = datetime.now(UTC)
    with p.db.read() as conn:
        first = int(conn.execute(select(func.coalesce(func.max(store.cases.c.id), 0))).scalar_one()) + 1
    t0 = time.perf_counter()
    rows = _rows(n, grids, now, first, seed, days)
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

        con = sqlite3.connect(env.url.split("///", 1)[1])
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


def exact_duplicates(p: Any, case_id: int) -> set[int]:
    """The same answer without the index: every case of the 150 m x 72 h box read from the database."""
    from sqlalchemy import select

    from cityos.assistant import handlers as ah
    from cityos.assistant.model import DUP_HOURS, DUP_METRES, duplicate_score, metres_between
    from cityos.governance import store as gstore

    c = gstore.cases
    with p.db.read() as conn:
        case = gstore.get_case(conn, case_id)
        dlat = DUP_METRES / 111_320
        dlon = dlat / math.cos(math.radians(case["lat"]))
        w = timedelta(hours=DUP_HOURS)
        rows = conn.execute(select(c.c.id, c.c.lat, c.c.lon, c.c.created_at, c.c.category_code, c.c.description)
                            .where(c.c.id != case_id, c.c.state.not_in(("cancelled", "merged")),
                                   c.c.created_at.between(case["created_at"] - w, case["created_at"] + w),
                                   c.c.lat.between(case["lat"] - dlat, case["lat"] + dlat),
                                   c.c.lon.between(case["lon"] - dlon, case["lon"] + dlon))).mappings().all()
    if not rows:
        return set()
    enc = ah.service(p).classifier().encoder
    vecs = enc.encode([case["description"], *[r["description"] for r in rows]])
    sims = vecs[1:] @ vecs[0]
    th = ah.current_tuning().dup_threshold
    out = set()
    for r, sim in zip(rows, sims, strict=True):
        hours = abs((r["created_at"] - case["created_at"]).total_seconds()) / 3600
        m = metres_between(r["lon"], r["lat"], case["lon"], case["lat"])
        if duplicate_score(float(sim), r["category_code"] == case["category_code"], m, hours) >= th:
            out.add(int(r["id"]))
    return out


def measure(env: Env, queries: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from cityos.assistant import handlers as ah
    from cityos.governance import store as gstore
    from cityos.identity.model import SYSTEM

    p = env.platform()
    with p.db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(gstore.cases)).scalar_one())
        lo, hi = conn.execute(select(func.min(gstore.cases.c.id), func.max(gstore.cases.c.id))).one()
    out: dict[str, Any] = {"engine": env.engine, "cases": total}
    ah.service(p).classifier()  # built once per process; not part of the figures
    t0 = time.perf_counter()
    ix = ah.service(p).dup_index()
    out["index_build_s"] = round(time.perf_counter() - t0, 2)
    out["indexed_cases"] = len(ix)
    rnd = random.Random(seed)
    ids = [rnd.randint(int(lo), int(hi)) for _ in range(queries)]
    times, cands, found_n = [], [], []
    hits = exact_n = 0
    for cid in ids:
        t0 = time.perf_counter()
        res = ah.duplicates(p, SYSTEM, cid, limit=50)
        times.append(time.perf_counter() - t0)
        cands.append(res["candidates"])
        found = {d["id"] for d in res["duplicates"]}
        found_n.append(len(found))
        exact = exact_duplicates(p, cid)
        exact_n += len(exact)
        hits += len(found & exact)
    out["duplicates_ms"] = ms(times)
    out["queries"] = queries
    out["candidates_mean"] = round(float(np.mean(cands)), 1)
    out["duplicates_mean"] = round(float(np.mean(found_n)), 2)
    out["recall_vs_exact"] = round(hits / exact_n, 4) if exact_n else None
    out["exact_duplicates_total"] = exact_n
    # cases arriving: 1,000 new ones, then the next search catches the index up
    insert(env, p, 1000, seed + 1, days=0.01)
    with p.db.read() as conn:
        newest = int(conn.execute(select(func.max(gstore.cases.c.id))).scalar_one())
    t0 = time.perf_counter()
    res = ah.duplicates(p, SYSTEM, newest)
    out["catch_up_1000_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["indexed_after_catch_up"] = len(ah.service(p).dup_index())
    # classification, one text at a time through the handler (no location: no routing read)
    from cityos.assistant import evalset

    texts = [r["text"] for r in evalset.load("test")]
    ct = []
    for t in texts:
        t0 = time.perf_counter()
        ah.classify(p, SYSTEM, t)
        ct.append(time.perf_counter() - t0)
    out["classify_one_text"] = {"texts_per_s": round(len(ct) / sum(ct), 1), **ms(ct)}
    p.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True, help="where the database (SQLite) and data files live")
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-admin", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL",
                                                         "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--fill-only", action="store_true", help="build the database and stop")
    ap.add_argument("--reuse", action="store_true", help="measure on the database built by --fill-only")
    a = ap.parse_args()
    env = Env(a.dir.resolve(), a.engine, a.pg_admin)
    out: dict[str, Any] = {"machine": "2 cores", "load_before": os.getloadavg()}
    if not a.reuse:
        t0 = time.perf_counter()
        env.create()
        p = env.platform()
        out["fill_s"] = round(insert(env, p, a.cases, a.seed) + (time.perf_counter() - t0), 1)
        p.close()
        log(f"filled {a.cases} cases in {out['fill_s']}s")
    if not a.fill_only:
        out.update(measure(env, a.queries, a.seed))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
