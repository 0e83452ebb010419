"""Locate a point in the demo city: batch throughput, single-point latency, baselines.

    .venv/bin/python benchmarks/bench_locate.py --scale L [--seed 1]

Runs on ONE core: the process pins itself to one CPU and numeric libraries get one
thread. Measures, on the demo city of the scale:
  (a) `GeoIndex.locate_many` throughput (points/s) over random points in the city's box;
  (b) `GeoIndex.locate` latency per single point (µs: mean, p50, p95, p99);
  (c) baselines in the same run: an unindexed shapely loop (each point tested with
      `contains_xy` against the array of every grid polygon), and, when PostgreSQL with
      PostGIS is reachable, ST_Contains over a GiST index (single-point queries and a
      batch join) in a database of its own (`bench_postgis`, dropped and made anew).
Checks that single, batch and baselines agree on the baseline sample. Prints one JSON
object; progress goes to stderr.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import shapely  # noqa: E402

from cityos.demo.city import BBOX, generate  # noqa: E402
from cityos.demo.scales import SCALES  # noqa: E402
from cityos.geo.index import GeoIndex  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DB = "bench_postgis"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def pct(values_us: list[float]) -> dict[str, float]:
    a = np.asarray(values_us)
    return {
        "mean": round(float(a.mean()), 2),
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
    }


def bench_batch(index: GeoIndex, lons: np.ndarray, lats: np.ndarray, repeats: int) -> tuple[dict[str, Any], np.ndarray]:
    rates = []
    out = np.empty(0, dtype=object)
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = index.locate_many(lons, lats)
        rates.append(len(lons) / (time.perf_counter() - t0))
    return {
        "points": len(lons),
        "repeats": repeats,
        "points_per_s_median": round(statistics.median(rates)),
        "points_per_s_best": round(max(rates)),
        "inside_share": round(float(np.mean(out != None)), 4),  # noqa: E711 (element-wise on an object array)
    }, out


def bench_single(index: GeoIndex, lons: np.ndarray, lats: np.ndarray) -> dict[str, Any]:
    xs, ys = lons.tolist(), lats.tolist()
    for x, y in zip(xs[:2000], ys[:2000], strict=True):  # warm up (and fill the chain cache as a server would)
        index.locate(x, y)
    clock = time.perf_counter_ns
    locate_ns, leaf_ns = [], []
    for x, y in zip(xs, ys, strict=True):
        t0 = clock()
        index.locate(x, y)
        locate_ns.append(clock() - t0)
    for x, y in zip(xs, ys, strict=True):
        t0 = clock()
        index.leaf_at(x, y)
        leaf_ns.append(clock() - t0)
    floor = []
    for _ in range(2000):  # what the timer itself costs
        t0 = clock()
        floor.append(clock() - t0)
    return {
        "points": len(xs),
        "locate_us": pct([n / 1000 for n in locate_ns]),
        "leaf_at_us": pct([n / 1000 for n in leaf_ns]),
        "timer_overhead_us": round(statistics.median(floor) / 1000, 3),
    }


def bench_shapely_loop(grid_codes: np.ndarray, grid_geoms: np.ndarray, lons: np.ndarray, lats: np.ndarray,
                       budget_s: float) -> tuple[dict[str, Any], list[str | None]]:
    shapely.prepare(grid_geoms)
    found: list[str | None] = []
    t0 = time.perf_counter()
    for x, y in zip(lons.tolist(), lats.tolist(), strict=True):
        hits = np.flatnonzero(shapely.contains_xy(grid_geoms, x, y))
        found.append(str(grid_codes[hits[0]]) if len(hits) else None)
        if time.perf_counter() - t0 > budget_s:
            break
    dt = time.perf_counter() - t0
    return {
        "points": len(found),
        "polygons": len(grid_geoms),
        "prepared": True,
        "seconds": round(dt, 2),
        "points_per_s": round(len(found) / dt, 1),
        "us_per_point": round(dt / len(found) * 1e6, 1),
    }, found


def bench_postgis(admin_url: str, grid_codes: np.ndarray, grid_geojson: list[str], lons: np.ndarray,
                  lats: np.ndarray, single_n: int,
                  batch_n: int) -> tuple[dict[str, Any], list[str | None], list[str | None]]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DB}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + PG_DB
    res: dict[str, Any] = {"database": PG_DB}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
        res["postgis_version"] = conn.execute("SELECT postgis_lib_version()").fetchone()[0]  # type: ignore[index]
        conn.execute("SET max_parallel_workers_per_gather = 0")  # one backend, one core
        conn.execute("CREATE TABLE grids (code text PRIMARY KEY, geojson text, geom geometry(Geometry, 4326))")
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY grids (code, geojson) FROM STDIN") as cp:
            for code, gj in zip(grid_codes.tolist(), grid_geojson, strict=True):
                cp.write_row((code, gj))
        conn.execute("UPDATE grids SET geom = ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326)")
        conn.execute("ALTER TABLE grids DROP COLUMN geojson")
        t1 = time.perf_counter()
        conn.execute("CREATE INDEX grids_geom_gist ON grids USING gist (geom)")
        conn.execute("VACUUM ANALYZE grids")
        res["load_s"] = round(t1 - t0, 2)
        res["gist_build_s"] = round(time.perf_counter() - t1, 2)
        res["polygons"] = conn.execute("SELECT count(*) FROM grids").fetchone()[0]  # type: ignore[index]

        # Single-point queries: one prepared statement per point over local TCP, as an API would.
        q = ("SELECT code FROM grids WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
             "ORDER BY code LIMIT 1")
        xs, ys = lons[:single_n].tolist(), lats[:single_n].tolist()
        cur = conn.cursor()
        for x, y in zip(xs[:200], ys[:200], strict=True):
            cur.execute(q, (x, y), prepare=True).fetchone()
        ping = []
        for _ in range(1000):
            t0 = time.perf_counter_ns()
            cur.execute("SELECT 1", prepare=True).fetchone()
            ping.append((time.perf_counter_ns() - t0) / 1000)
        found: list[str | None] = []
        lat_us = []
        for x, y in zip(xs, ys, strict=True):
            t0 = time.perf_counter_ns()
            row = cur.execute(q, (x, y), prepare=True).fetchone()
            lat_us.append((time.perf_counter_ns() - t0) / 1000)
            found.append(row[0] if row else None)
        plan = "\n".join(r[0] for r in cur.execute("EXPLAIN " + q.replace("%s", "107.0"), ()).fetchall())
        res["single"] = {"points": len(xs), "round_trip_us": pct(lat_us),
                         "select_1_round_trip_us": pct(ping), "uses_gist": "grids_geom_gist" in plan}

        # Batch: load the points into a table, then one join (points in the first grid holding them).
        conn.execute("CREATE TABLE pts (id int PRIMARY KEY, geom geometry(Point, 4326))")
        t0 = time.perf_counter()
        buf = io.StringIO()
        for i, (x, y) in enumerate(zip(lons[:batch_n].tolist(), lats[:batch_n].tolist(), strict=True)):
            buf.write(f"{i}\tSRID=4326;POINT({x!r} {y!r})\n")
        with conn.cursor().copy("COPY pts (id, geom) FROM STDIN") as cp:
            cp.write(buf.getvalue())
        conn.execute("ANALYZE pts")
        load_pts = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            "CREATE TABLE located AS SELECT p.id, g.code FROM pts p LEFT JOIN LATERAL "
            "(SELECT code FROM grids g WHERE ST_Contains(g.geom, p.geom) ORDER BY code LIMIT 1) g ON true"
        )
        join_s = time.perf_counter() - t0
        joined = [r[0] for r in conn.execute("SELECT code FROM located ORDER BY id").fetchall()]
        res["batch"] = {"points": batch_n, "load_points_s": round(load_pts, 2), "join_s": round(join_s, 2),
                        "points_per_s": round(batch_n / join_s), "inside": sum(c is not None for c in joined)}
    return res, found, joined


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="L", choices=sorted(SCALES))
    ap.add_argument("--seed", type=int, default=1, help="demo city seed")
    ap.add_argument("--points", type=int, default=1_000_000, help="batch points")
    ap.add_argument("--repeats", type=int, default=3, help="batch runs (median and best reported)")
    ap.add_argument("--single", type=int, default=20_000, help="single-point calls")
    ap.add_argument("--baseline", type=int, default=1_000, help="points for the unindexed shapely loop")
    ap.add_argument("--baseline-budget", type=float, default=50.0, help="seconds at most for the shapely loop")
    ap.add_argument("--postgis", default="auto", choices=["auto", "yes", "no"],
                    help="PostGIS baseline: auto = when reachable with the extension available")
    ap.add_argument("--pg-admin-url", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL", PG_ADMIN))
    ap.add_argument("--pg-single", type=int, default=5_000, help="PostGIS single-point queries")
    ap.add_argument("--pg-batch", type=int, default=1_000_000, help="PostGIS batch-join points")
    args = ap.parse_args()

    cpu = pin_one_core()
    scale = SCALES[args.scale]
    result: dict[str, Any] = {"benchmark": "locate", "scale": scale.name, "seed": args.seed, "pinned_cpu": cpu,
                              "shapely": shapely.__version__, "geos": shapely.geos_version_string,
                              "numpy": np.__version__, "python": sys.version.split()[0]}
    # The machine is shared: the load average tells how quiet it was while measuring.
    result["loadavg_1m_start"] = round(os.getloadavg()[0], 2)

    log(f"generating the {scale.name} city ...")
    t0 = time.perf_counter()
    divisions = list(generate(scale, seed=args.seed))
    result["generate_s"] = round(time.perf_counter() - t0, 2)
    rows = [(d.code, d.level, d.parent_code, shapely.to_geojson(d.geometry)) for d in divisions]
    grid_rows = [(code, gj) for code, level, _, gj in rows if level == "grid"]
    t0 = time.perf_counter()
    index = GeoIndex(rows, 1)
    result["index_build_s"] = round(time.perf_counter() - t0, 2)
    result["divisions"] = {lv: sum(1 for r in rows if r[1] == lv) for lv in ("city", "district", "township",
                                                                                "village", "grid")}
    del divisions

    rng = np.random.default_rng(args.seed)
    n = max(args.points, args.single, args.baseline)
    lons = rng.uniform(BBOX[0], BBOX[2], n)
    lats = rng.uniform(BBOX[1], BBOX[3], n)
    result["box"] = list(BBOX)

    log(f"batch locate_many over {args.points:,} points x{args.repeats} ...")
    result["batch"], batch_out = bench_batch(index, lons[:args.points], lats[:args.points], args.repeats)
    log(f"single locate over {args.single:,} points ...")
    result["single"] = bench_single(index, lons[:args.single], lats[:args.single])

    grid_codes = np.array([c for c, _ in grid_rows], dtype=object)
    grid_geoms = shapely.from_geojson(np.array([g for _, g in grid_rows], dtype=object))
    log(f"unindexed shapely loop over {args.baseline:,} points x {len(grid_geoms):,} polygons ...")
    result["baseline_shapely_loop"], loop_found = bench_shapely_loop(
        grid_codes, grid_geoms, lons[:args.baseline], lats[:args.baseline], args.baseline_budget)

    pg_found: list[str | None] | None = None
    pg_joined: list[str | None] | None = None
    if args.postgis != "no":
        try:
            log("PostGIS baseline ...")
            result["baseline_postgis"], pg_found, pg_joined = bench_postgis(
                args.pg_admin_url, grid_codes, [g for _, g in grid_rows], lons[:args.pg_batch], lats[:args.pg_batch],
                args.pg_single, args.pg_batch)
        except Exception as exc:  # reported, not fatal: PostGIS is an optional baseline
            if args.postgis == "yes":
                raise
            result["baseline_postgis"] = {"skipped": f"{type(exc).__name__}: {exc}"}

    # Agreement on the baseline sample: single path, batch path, shapely loop (and PostGIS).
    k = len(loop_found)
    single = [(loc.chain[0] if loc.inside else None) for loc in (index.locate(x, y) for x, y in
                                                                 zip(lons[:k].tolist(), lats[:k].tolist(), strict=True))]
    batch = [None if c is None else str(c) for c in batch_out[:k]]
    agree = {"points": k,
             "single_eq_batch": sum(a == b for a, b in zip(single, batch, strict=True)),
             "single_eq_shapely_loop": sum(a == b for a, b in zip(single, loop_found, strict=True)),
             "all_three": sum(a == b == c for a, b, c in zip(single, batch, loop_found, strict=True)),
             "inside": sum(c is not None for c in single)}
    if pg_found is not None:
        m = min(k, len(pg_found))
        agree["postgis_points"] = m
        agree["single_eq_postgis"] = sum(a == b for a, b in zip(single[:m], pg_found[:m], strict=True))
    if pg_joined is not None:
        # The whole PostGIS batch join against the whole locate_many batch.
        m = min(len(pg_joined), len(batch_out))
        agree["postgis_join_points"] = m
        agree["batch_eq_postgis_join"] = sum(
            (None if a is None else str(a)) == b for a, b in zip(batch_out[:m], pg_joined[:m], strict=True))
    result["agreement"] = agree
    result["targets"] = {
        "batch_points_per_s>=100000": result["batch"]["points_per_s_median"] >= 100_000,
        "single_locate_mean_us<=20": result["single"]["locate_us"]["mean"] <= 20,
        "single_locate_p95_us<=20": result["single"]["locate_us"]["p95"] <= 20,
    }
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
