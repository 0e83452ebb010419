"""Issue 9 figures: population import, package_search p95, datastore_search by key p95.

    .venv/bin/python benchmarks/bench_data.py --rows 1000000                       # SQLite file in a temp dir
    .venv/bin/python benchmarks/bench_data.py --rows 1000000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench

The database is created from scratch (schema, the S city's divisions for grid codes),
a CSV of valid population rows is generated, imported with `cityos data import`'s
code path (validation, reject file, staging, merge), then 5,000 datasets are added to
the catalog and the two API calls are timed through the real app (in-process HTTP).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any


def p95(xs: list[float]) -> float:
    return round(statistics.quantiles(xs, n=100)[94] * 1000, 2)


def make_csv(path: Path, rows: int, grids: list[str]) -> None:
    from cityos.data.generator import RESIDENT_COLS
    from cityos.data.model import make_id_number

    base = date(1940, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(RESIDENT_COLS)
        for i in range(rows):
            grid = grids[i % len(grids)]
            born = base + timedelta(days=(i // 500) % 29_000)
            area = f"5001{1 + (i // (500 * 29_000)) % 99:02d}"
            male = i % 2 == 1
            idn = make_id_number(area, born, i % 500, male)
            w.writerow((idn, f"居民{i}", "M" if male else "F", born.isoformat(), "汉族", f"H{i // 3}",
                        "head" if i % 3 == 0 else "spouse", "重庆市某区某街道1号", "重庆市某区某街道1号", "",
                        grid, f"139{i % 10**8:08d}", "active"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--datasets", type=int, default=5_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()

    from sqlalchemy import select, text

    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings
    from cityos.core.migrate import upgrade
    from cityos.data import catalog
    from cityos.data.importer import run_import
    from cityos.data.model import DatasetMeta
    from cityos.demo.scales import SCALES
    from cityos.demo.seed import SeedContext
    from cityos.geo import store as geo_store
    from cityos.geo.seed import seed_divisions
    from cityos.identity.model import SYSTEM

    tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    p = bootstrap(Settings(database_url=url, data_dir=tmp / "data", env="test"))
    if p.db.is_postgres:
        with p.db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(p.db)
    seed_divisions(SeedContext(p, SCALES["S"], 1), lambda n: None)
    with p.db.read() as conn:
        grids = list(conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid"))
                     .scalars())
    now = p.clock.now()
    with p.db.begin() as conn:
        catalog.install_defaults(conn, now, now.date())
    import os

    out: dict[str, Any] = {"engine": p.db.engine.dialect.name, "rows": args.rows,
                           "load_average_at_start": round(os.getloadavg()[0], 1)}

    path = tmp / "people.csv"
    t0 = time.perf_counter()
    make_csv(path, args.rows, grids)
    out["csv_generate_s"] = round(time.perf_counter() - t0, 1)
    out["csv_mb"] = round(path.stat().st_size / 1e6, 1)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_import(p, SYSTEM, "population", str(path), reject_limit=0)
    out["import_s"] = round(time.perf_counter() - t0, 1)
    out["import_cpu_s_this_process"] = round(time.process_time() - c0, 1)
    out["import_rows_per_s"] = round(args.rows / out["import_s"])
    out["import_status"] = result["status"]
    out["accepted"] = result["accepted"]

    # 5,000 datasets in the catalog.
    orgs = [o[0] for o in catalog.ORGS]
    words = ["人口", "法人", "证照", "信用", "交通", "水务", "环境", "教育", "医疗", "应急", "城管", "规划"]
    with p.db.begin() as conn:
        for i in range(args.datasets):
            w = words[i % len(words)]
            catalog.save(conn, DatasetMeta(f"ds-{i:05d}", f"{w}数据集 {i}", orgs[i % len(orgs)], f"{w} dataset number {i}",
                                           "department", "conditional", "not_open", "monthly", "L2",
                                           [w, f"t{i % 50}"], ["department"]), now, create=True)

    from fastapi.testclient import TestClient

    from cityos.web.app import create_app

    with TestClient(create_app(p)) as client:
        times, cpu = [], []
        queries = [{"q": words[i % len(words)], "rows": 10, "facet.field": '["organization","tags"]'} for i in
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
        # datastore_search by key, as the system (no scope filter), over the imported rows.
        with p.db.read() as conn:
            from cityos.data import store as s

            ids = list(conn.execute(select(s.residents.c.id_number).limit(args.samples * 20)).scalars())[::20]
        import cityos.data.api as data_api
        from cityos.identity.model import SYSTEM as SYS

        orig = data_api.ckan_actor
        data_api.ckan_actor = lambda p_, request: SYS  # type: ignore[assignment]
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
    print(json.dumps(out, ensure_ascii=False))
    p.close()


if __name__ == "__main__":
    main()
