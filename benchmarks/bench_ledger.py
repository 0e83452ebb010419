"""Ledger figures (issue 11): faceted search over N resources (default 1,000,000) and the
impact graph of a component with 10,000 dependents, on SQLite and/or PostgreSQL.

    .venv/bin/python benchmarks/bench_ledger.py                       # both engines, 1M
    .venv/bin/python benchmarks/bench_ledger.py --engine sqlite --n 200000
    # fill once (shared load), measure later, again and again (exclusive):
    .venv/bin/python benchmarks/bench_ledger.py --engine sqlite --keep /tmp/ledger.db --fill-only
    .venv/bin/python benchmarks/bench_ledger.py --engine sqlite --keep /tmp/ledger.db --reuse

PostgreSQL: a fresh database is created from CITYOS_BENCH_PG_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/test) and dropped afterwards (kept with --keep NAME). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from cityos.core.db import Database
from cityos.core.migrate import upgrade
from cityos.identity.model import Actor, Grant
from cityos.ledger import model, store

TYPES = [("application", 0.10), ("cloud", 0.15), ("network", 0.05), ("perception", 0.45), ("data", 0.20),
         ("component", 0.05)]
STATES = [("online", 0.70), ("offline", 0.06), ("draft", 0.08), ("submitted", 0.04), ("approved", 0.04),
          ("retired", 0.08)]
TAGS = [f"tag{i:02d}" for i in range(30)]
CITY = "500000"
DISTRICTS = [f"5001{i:02d}" for i in range(1, 42)]


def pick(rng: random.Random, table: list[tuple[str, float]]) -> str:
    x, acc = rng.random(), 0.0
    for v, w in table:
        acc += w
        if x < acc:
            return v
    return table[-1][0]


_COLS = ("id", "code", "rtype", "kind", "name_zh", "name_en", "owner_unit", "level", "division_code", "description",
         "contacts", "attributes", "identity_key", "state", "endpoint", "health_url", "created_by", "created_at",
         "updated_at")


def generate(n: int, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]:
    """Rows as tuples in _COLS order (ids 1..n; JSON columns as text), and (resource id, tag, type)."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rows, tag_rows = [], []
    for i in range(n):
        rtype = pick(rng, TYPES)
        lv = rng.random()
        if lv < 0.10:
            level, div, owner = "city", CITY, f"D-{CITY}-{rng.randrange(84):02d}"
        else:
            d = rng.choice(DISTRICTS)
            if lv < 0.40:
                level, div, owner = "district", d, f"D-{d}-{rng.randrange(30):02d}"
            else:
                t = f"{d}{rng.randrange(1, 26):03d}"
                level, div, owner = "township", t, f"C-{t}"
        created = now - timedelta(days=rng.randrange(1500))
        code = f"R{i:07d}"
        rows.append((i + 1, code, rtype, None, f"资源{i}", f"Resource {i}", owner, level, div, "", "[]", "{}", code,
                     pick(rng, STATES), None, None, "bench", created, created))
        for tg in rng.sample(TAGS, rng.choice((0, 1, 1, 2))):
            tag_rows.append((i + 1, tg, rtype))
    return rows, tag_rows


def _bulk(db: Database, rows: list[tuple[Any, ...]], tag_rows: list[tuple[int, str, str]]) -> None:
    """The resources and tags straight through the driver: COPY on PostgreSQL, executemany of
    tuples on SQLite (the FTS triggers and every index are maintained as in production)."""
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.engine.dialect.name == "postgresql":
            with cur.copy(f"COPY ledger_resources ({', '.join(_COLS)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
                for r in rows:
                    cp.write_row(r)
            with cur.copy("COPY ledger_tags (resource_id, tag, rtype) FROM STDIN") as cp:  # type: ignore[attr-defined]
                for t in tag_rows:
                    cp.write_row(t)
            cur.execute("SELECT setval(pg_get_serial_sequence('ledger_resources', 'id'), %s)", (len(rows),))
        else:
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-1000000")
            fmt = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for SQLite DATETIME
            sql = f"INSERT INTO ledger_resources ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"
            for i in range(0, len(rows), 50_000):
                cur.executemany(sql, [(*r[:17], r[17].replace(tzinfo=None).strftime(fmt),
                                       r[18].replace(tzinfo=None).strftime(fmt)) for r in rows[i:i + 50_000]])
            cur.executemany("INSERT INTO ledger_tags (resource_id, tag, rtype) VALUES (?, ?, ?)", tag_rows)
        raw.commit()
    finally:
        raw.close()


def load(db: Database, n: int, deps: int) -> dict[str, float]:
    t0 = time.perf_counter()
    rows, tag_rows = generate(n)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    _bulk(db, rows, tag_rows)
    t_bulk = time.perf_counter() - t0
    with db.begin() as conn:
        # One component with `deps` dependents: half use it directly, half through one of those.
        now = datetime(2026, 11, 1, tzinfo=UTC)
        comp = int(conn.execute(insert(store.resources).values(
            code="CMP-hub", rtype="component", kind=None, name_zh="枢纽组件", name_en="Hub", owner_unit=f"D-{CITY}-00",
            level="city", division_code=CITY, description="", contacts=[], attributes={"key": "hub"},
            identity_key='["hub"]', state="online", endpoint=None, health_url=None, created_by="bench",
            created_at=now, updated_at=now).returning(store.resources.c.id)).scalar_one())
        apps = [r[0] for r in rows if r[2] == "application"][:deps]
        half = len(apps) // 2
        dep_rows = [{"from_id": a, "to_id": comp, "note": "", "created_by": "bench", "created_at": now}
                    for a in apps[:half]]
        dep_rows += [{"from_id": a, "to_id": apps[k % half], "note": "", "created_by": "bench", "created_at": now}
                     for k, a in enumerate(apps[half:])]
        conn.execute(insert(store.dependencies), dep_rows)
        store.rebuild_counts(conn)
    with db.engine.connect() as c:
        if db.engine.dialect.name == "postgresql":
            c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            c.execute(text("ANALYZE"))
            c.commit()
    return {"generate_s": round(t_gen, 1), "bulk_s": round(t_bulk, 1), "load_s": round(time.perf_counter() - t0, 1),
            "dependents": len(apps)}


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm
    xs = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    xs.sort()
    return {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(xs[int(len(xs) * 0.95) - 1], 2),
            "max_ms": round(xs[-1], 2), "runs": runs}


def measure(db: Database, runs: int) -> dict[str, Any]:
    rng = random.Random(3)
    assert model.READERS  # importing the model registers who may read the ledger (else every scope is empty)
    everyone = Actor(None, "bench", via="system").scope("ledger.read")
    district = Actor(1, "d", grants=(Grant("resource_admin", DISTRICTS[3]),)).scope("ledger.read")
    township = Actor(1, "t", grants=(Grant("resource_admin", DISTRICTS[5] + "007"),)).scope("ledger.read")
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "all_no_filter": lambda: {"scope": everyone, "filters": {}},
        "type": lambda: {"scope": everyone, "filters": {"rtype": [pick(rng, TYPES)]}},
        "type_state_level": lambda: {"scope": everyone, "filters": {
            "rtype": [pick(rng, TYPES)], "state": [pick(rng, STATES)], "level": [rng.choice(["city", "district",
                                                                                          "township"])]}},
        "owner": lambda: {"scope": everyone, "filters": {"owner_unit": [f"D-{rng.choice(DISTRICTS)}-{rng.randrange(30):02d}"]}},
        "tag_and_type": lambda: {"scope": everyone, "filters": {"rtype": [pick(rng, TYPES)]}, "tags": [rng.choice(TAGS)]},
        "district_scope_type_state": lambda: {"scope": district, "filters": {"rtype": [pick(rng, TYPES)],
                                                                             "state": [pick(rng, STATES)]}},
        "township_scope": lambda: {"scope": township, "filters": {}},
        "text_query": lambda: {"scope": everyone, "filters": {}, "q": f"资源{rng.randrange(10_000, 99_999)}"},
        # A common substring (in ~111,000 names): counted over the newest 10,000 matches.
        "text_query_common": lambda: {"scope": everyone, "filters": {}, "q": f"资源{rng.randrange(1, 10)}"},
    }
    out: dict[str, Any] = {}
    all_times: list[float] = []
    for name, make in cases.items():
        xs = []
        for _ in range(runs):
            c = make()
            t0 = time.perf_counter()
            with db.read() as conn:
                store.search(conn, c["scope"], q=c.get("q"), filters=c["filters"], tag_list=c.get("tags", []),
                             limit=20, offset=0)
            xs.append((time.perf_counter() - t0) * 1000)
        xs.sort()
        all_times.extend(xs)
        out[name] = {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(xs[int(len(xs) * 0.95) - 1], 2)}
    all_times.sort()
    out["all_searches_p95_ms"] = round(all_times[int(len(all_times) * 0.95) - 1], 2)
    with db.read() as conn:
        hub = store.by_code(conn, "CMP-hub")
        assert hub is not None

    def impact() -> None:
        with db.read() as conn:
            nodes = store.walk(conn, hub["id"], "impact")
        assert len(nodes) >= 10_000 or len(nodes) > 0

    out["impact_graph"] = timed(impact, max(5, runs // 4))
    with db.read() as conn:
        out["impact_graph"]["nodes"] = len(store.walk(conn, hub["id"], "impact"))
    return out


def open_db(engine: str, keep: str | None, fresh: bool) -> tuple[Database, Callable[[], None]]:
    """The database to fill or measure: `keep` names a SQLite file or a PostgreSQL database that
    outlives the run (`--fill-only` then `--reuse`); without it a temporary one, removed after."""
    if engine == "sqlite":
        path = keep or os.path.join(tempfile.mkdtemp(prefix="bench-ledger-"), "bench.db")
        if fresh and os.path.exists(path):
            os.remove(path)
        return Database(f"sqlite:///{path}"), (lambda: None) if keep else (lambda: os.remove(path))
    import psycopg

    admin = os.environ.get("CITYOS_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = keep or f"cityos_bench_ledger_{os.getpid()}"
    if fresh:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
    db = Database(admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name)

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return db, (lambda: None) if keep else drop


def run_engine(engine: str, n: int, deps: int, runs: int, keep: str | None, mode: str) -> dict[str, Any]:
    db, cleanup = open_db(engine, keep, fresh=mode != "reuse")
    try:
        figures: dict[str, Any] = {"engine": engine}
        if mode != "reuse":
            upgrade(db)
            figures.update({"resources": n, **load(db, n, deps)})
        else:
            with db.read() as conn:
                figures["resources"] = int(conn.execute(text("SELECT count(*) FROM ledger_resources")).scalar_one())
        if mode != "fill":
            figures["load_average"] = os.getloadavg()
            figures.update(measure(db, runs))
        return figures
    finally:
        db.dispose()
        cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--deps", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--keep", help="SQLite file or PostgreSQL database name kept after the run (one engine)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--fill-only", action="store_true", help="fill --keep and stop (run under heavy test)")
    mode.add_argument("--reuse", action="store_true", help="measure --keep as filled before (under heavy bench)")
    a = ap.parse_args()
    engines = ["sqlite", "postgresql"] if a.engine == "both" else [a.engine]
    if (a.fill_only or a.reuse) and (not a.keep or len(engines) != 1):
        ap.error("--fill-only and --reuse need --keep and one --engine")
    run_mode = "fill" if a.fill_only else "reuse" if a.reuse else "all"
    results = [run_engine(e, a.n, a.deps, a.runs, a.keep, run_mode) for e in engines]
    json.dump({"benchmark": "ledger", "results": results}, sys.stdout, ensure_ascii=False, indent=2)
    print()


if __name__ == "__main__":
    main()
