"""Issue 9 figures: population import, package_search p95, datastore_search by key p95.

Three steps, so that only the measured part holds the machine (`heavy bench`):

    # once: a CSV of valid population rows (grid codes of the S city)
    .venv/bin/python benchmarks/bench_data.py make-csv --rows 10000000 --csv /work/helpers/data/people-10m.csv
    # fresh database: schema, S divisions, the catalog with 5,000 extra datasets
    .venv/bin/python benchmarks/bench_data.py fill --database-url URL
    # measured: `cityos data import`'s code path (validation, rejects, staging, merge)
    .venv/bin/python benchmarks/bench_data.py import --database-url URL --csv FILE
    # measured: package_search and datastore_search by key through the real app (in-process HTTP)
    .venv/bin/python benchmarks/bench_data.py search --database-url URL

URL is e.g. `sqlite:////work/helpers/data/bench.db` or
`postgresql+psycopg://postgres@127.0.0.1:5432/bench_data` (the database must exist; `fill`
drops its public schema). Each step prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WORDS = ["人口", "法人", "证照", "信用", "交通", "水务", "环境", "教育", "医疗", "应急", "城管", "规划"]


def p95(xs: list[float]) -> float:
    return round(statistics.quantiles(xs, n=100)[94] * 1000, 2)


def platform(url: str, data_dir: Path) -> Any:
    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings

    return bootstrap(Settings(database_url=url, data_dir=data_dir, env="test"))


def grid_codes(p: Any) -> list[str]:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    with p.db.read() as conn:
        return sorted(conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid"))
                      .scalars())


def setup_schema(p: Any) -> None:
    from sqlalchemy import text

    from cityos.core.migrate import upgrade
    from cityos.demo.scales import SCALES
    from cityos.demo.seed import SeedContext
    from cityos.geo.seed import seed_divisions

    if p.db.is_postgres:
        with p.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(p.db)
    seed_divisions(SeedContext(p, SCALES["S"], 1), lambda n: None)


def key_of(i: int) -> str:
    """The ID number on row i (from 0) of the benchmark's CSV."""
    from cityos.data.model import make_id_number

    born = date(1940, 1, 1) + timedelta(days=(i // 500) % 29_000)
    return make_id_number(f"5001{1 + (i // (500 * 29_000)) % 99:02d}", born, i % 500, i % 2 == 1)


def make_csv(path: Path, rows: int, grids: list[str]) -> None:
    from cityos.data.generator import RESIDENT_COLS

    base = date(1940, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(RESIDENT_COLS)
        for i in range(rows):
            grid = grids[i % len(grids)]
            born = base + timedelta(days=(i // 500) % 29_000)
            male = i % 2 == 1
            idn = key_of(i)
            w.writerow((idn, f"居民{i}", "M" if male else "F", born.isoformat(), "汉族", f"H{i // 3}",
                        "head" if i % 3 == 0 else "spouse", "重庆市某区某街道1号", "重庆市某区某街道1号", "",
                        grid, f"139{i % 10**8:08d}", "active"))


def cmd_make_csv(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
    p = platform(f"sqlite:///{tmp}/grids.db", tmp / "data")
    setup_schema(p)
    grids = grid_codes(p)
    p.close()
    t0 = time.perf_counter()
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_csv(path, args.rows, grids)
    return {"csv": str(path), "rows": args.rows, "csv_mb": round(path.stat().st_size / 1e6, 1),
            "csv_generate_s": round(time.perf_counter() - t0, 1)}


def cmd_fill(args: argparse.Namespace, p: Any) -> dict[str, Any]:
    from cityos.data import catalog
    from cityos.data.model import DatasetMeta

    setup_schema(p)
    now = p.clock.now()
    orgs = [o[0] for o in catalog.ORGS]
    with p.db.begin() as conn:
        catalog.install_defaults(conn, now, now.date())
        for i in range(args.datasets):
            w = WORDS[i % len(WORDS)]
            catalog.save(conn, DatasetMeta(f"ds-{i:05d}", f"{w}数据集 {i}", orgs[i % len(orgs)], f"{w} dataset number {i}",
                                           "department", "conditional", "not_open", "monthly", "L2",
                                           [w, f"t{i % 50}"], ["department"]), now, create=True)
    if p.db.is_postgres:
        with p.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would soon after such a fill
    return {"datasets": args.datasets}


def cmd_import(args: argparse.Namespace, p: Any) -> dict[str, Any]:
    from cityos.data.importer import run_import
    from cityos.identity.model import SYSTEM

    path = Path(args.csv)
    seen = [0]

    def progress(n: int, total: int | None) -> None:
        seen[0] += n

    t0, c0 = time.perf_counter(), time.process_time()
    result = run_import(p, SYSTEM, "population", str(path), reject_limit=0, resume=False, progress=progress)
    wall = time.perf_counter() - t0
    rows = int(result["accepted"]) + int(result["rejected"])
    return {"csv_mb": round(path.stat().st_size / 1e6, 1), "import_s": round(wall, 1),
            "import_cpu_s_this_process": round(time.process_time() - c0, 1),
            "import_cpu_s_children": round(sum(os.times()[2:4]), 1),
            "import_rows_per_s": round(rows / wall), "import_status": result["status"],
            "accepted": result["accepted"], "rejected": result["rejected"], "progress_rows": seen[0],
            "error": result.get("error"), "phases_s": result.get("phases_s")}


def cmd_search(args: argparse.Namespace, p: Any) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    import cityos.data.api as data_api
    from cityos.data import catalog
    from cityos.data import store as s
    from cityos.identity.model import SYSTEM
    from cityos.web.app import create_app

    out: dict[str, Any] = {}
    orgs = [o[0] for o in catalog.ORGS]
    with TestClient(create_app(p)) as client:
        times, cpu = [], []
        queries = [{"q": WORDS[i % len(WORDS)], "rows": 10, "facet.field": '["organization","tags"]'} for i in
                   range(args.samples)]
        for i, q in enumerate(queries):
            if i % 3 == 1:
                q["fq"] = f"organization:{orgs[i % len(orgs)]}"
            t, c = time.perf_counter(), time.process_time()
            r = client.get("/api/3/action/package_search", params=q)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert r.status_code == 200, r.text
        out["package_search_p95_ms"] = p95(times)
        out["package_search_median_ms"] = round(statistics.median(times) * 1000, 2)
        out["package_search_cpu_p95_ms"] = p95(cpu)
        out["package_search_count_example"] = r.json()["result"]["count"]
        # datastore_search by key, as the system (no scope filter), over the imported rows:
        # keys of the benchmark's CSV spread over the whole file (rows_hint = rows imported).
        keys = [key_of(i) for i in range(0, args.rows_hint, max(1, args.rows_hint // args.samples))][:args.samples]
        with p.db.read() as conn:
            ids = list(conn.execute(select(s.residents.c.id_number).where(s.residents.c.id_number.in_(keys)))
                       .scalars())
        random.Random(9).shuffle(ids)
        out["keys_sampled"] = len(ids)
        orig = data_api.ckan_actor
        data_api.ckan_actor = lambda p_, request: SYSTEM  # type: ignore[assignment]
        times, cpu = [], []
        try:
            for idn in ids:
                t, c = time.perf_counter(), time.process_time()
                r = client.get("/api/3/action/datastore_search",
                               params={"resource_id": "residents", "filters": json.dumps({"id_number": idn})})
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                assert r.status_code == 200 and r.json()["result"]["total"] == 1, r.text
        finally:
            data_api.ckan_actor = orig
        out["datastore_search_by_key_p95_ms"] = p95(times)
        out["datastore_search_by_key_median_ms"] = round(statistics.median(times) * 1000, 2)
        out["datastore_search_by_key_cpu_p95_ms"] = p95(cpu)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["make-csv", "fill", "import", "search"])
    ap.add_argument("--rows", type=int, default=1_000_000, help="make-csv: rows to write")
    ap.add_argument("--csv", default="/work/helpers/data/people-10m.csv")
    ap.add_argument("--datasets", type=int, default=5_000)
    ap.add_argument("--database-url", default="sqlite:////work/helpers/data/bench-data.db")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--rows-hint", type=int, default=10_000_000,
                    help="search: about how many residents there are (spreads the sampled keys)")
    args = ap.parse_args()
    out: dict[str, Any] = {"step": args.step, "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}
    if args.step == "make-csv":
        out.update(cmd_make_csv(args))
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
        p = platform(args.database_url, data_dir)
        out["engine"] = p.db.engine.dialect.name
        out.update({"fill": cmd_fill, "import": cmd_import, "search": cmd_search}[args.step](args, p))
        p.close()
    out["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
