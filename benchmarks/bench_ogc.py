"""OGC API - Features latency on the real server.

    .venv/bin/python benchmarks/bench_ogc.py --scale L [--database-url sqlite:////path/cityos.db]

Seeds the demo city of the scale into a fresh SQLite file (or reuses the database
given with --database-url), starts `cityos serve` as a subprocess on a free port on
127.0.0.1, and times sequential requests with httpx (one keep-alive connection):
  - `GET /ogc/collections/grids/items?limit=100&offset=K`, K random over all grids;
  - `GET /ogc/collections/grids/items?limit=100&bbox=...`, a small box (default
    0.05° x 0.05°, about 5 km x 5.5 km) around a random point inside the city.
Each series reports p50/p95/p99 (ms); the first request of each kind (which builds
the process's spatial index) is reported apart. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

BBOX = (105.3, 28.2, 110.2, 32.2)
TARGET_P95_MS = 50.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else "cityos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stats_ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"mean": round(float(a.mean()), 2), "p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "max": round(float(a.max()), 2)}


def timed_get(client: httpx.Client, url: str, params: dict[str, Any]) -> tuple[float, dict[str, Any], int]:
    t0 = time.perf_counter()
    r = client.get(url, params=params)
    body = r.content
    dt = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"GET {r.url} -> {r.status_code}: {body[:500]!r}")
    return dt, json.loads(body), len(body)


def series(client: httpx.Client, url: str, params_list: list[dict[str, Any]]) -> dict[str, Any]:
    times, returned, sizes = [], [], []
    for params in params_list:
        dt, doc, size = timed_get(client, url, params)
        times.append(dt)
        returned.append(doc["numberReturned"])
        sizes.append(size)
    return {"requests": len(times), "ms": stats_ms(times), "features_returned_mean": round(float(np.mean(returned)), 1),
            "features_returned_min": int(min(returned)), "body_kb_mean": round(float(np.mean(sizes)) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="L", choices=["S", "M", "L"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-url", default=None, help="reuse this seeded database instead of seeding")
    ap.add_argument("--requests", type=int, default=300, help="requests per series")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--bbox-size", type=float, default=0.05, help="side of the small box, degrees")
    args = ap.parse_args()

    result: dict[str, Any] = {"benchmark": "ogc", "scale": args.scale, "seed": args.seed, "limit": args.limit,
                              "target_p95_ms": TARGET_P95_MS}
    # The machine is shared: the load average tells how quiet it was while measuring.
    result["loadavg_1m_start"] = round(os.getloadavg()[0], 2)
    tmp = tempfile.TemporaryDirectory(prefix="cityos-bench-ogc-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")}
    env["CITYOS_DATA_DIR"] = tmp.name
    env["CITYOS_LOG_LEVEL"] = "WARNING"
    if args.database_url:
        env["CITYOS_DATABASE_URL"] = args.database_url
        result["database"] = "given (--database-url)"
    else:
        log(f"seeding {args.scale} into {tmp.name} ...")
        t0 = time.perf_counter()
        subprocess.run([cityos_bin(), "demo", "seed", "--scale", args.scale, "--seed", str(args.seed)], env=env,
                       check=True, capture_output=True)
        result["database"] = "sqlite (fresh, seeded by this run)"
        result["seed_s"] = round(time.perf_counter() - t0, 1)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([cityos_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            t0 = time.perf_counter()
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - t0 > 60:
                    raise SystemExit("the server did not become ready in 60 s")
                time.sleep(0.1)
            result["server_ready_s"] = round(time.perf_counter() - t0, 2)
            url = "/ogc/collections/grids/items"
            rng = np.random.default_rng(args.seed)

            first_page, doc, _ = timed_get(client, url, {"limit": args.limit})
            total = int(doc["numberMatched"])
            result["grids"] = total
            # Centres of the small boxes: random points that the server places inside the city.
            centres: list[tuple[float, float]] = []
            while len(centres) < args.requests:
                x, y = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
                if client.get("/api/v1/geo/locate", params={"lon": x, "lat": y}).json()["inside"]:
                    centres.append((x, y))
            h = args.bbox_size / 2
            boxes = [f"{x - h:.6f},{y - h:.6f},{x + h:.6f},{y + h:.6f}" for x, y in centres]
            first_bbox, _, _ = timed_get(client, url, {"limit": args.limit, "bbox": boxes[0]})
            result["first_request_ms"] = {"page": round(first_page * 1000, 1), "bbox": round(first_bbox * 1000, 1)}

            offsets = rng.integers(0, max(1, total - args.limit), args.requests).tolist()
            log(f"{args.requests} paged requests ...")
            result["paged"] = series(client, url, [{"limit": args.limit, "offset": o} for o in offsets])
            log(f"{args.requests} bbox requests ...")
            result["bbox"] = series(client, url, [{"limit": args.limit, "bbox": b} for b in boxes])
            result["bbox"]["box_deg"] = args.bbox_size
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        tmp.cleanup()
    result["targets"] = {f"paged_p95_ms<{TARGET_P95_MS:g}": result["paged"]["ms"]["p95"] < TARGET_P95_MS,
                         f"bbox_p95_ms<{TARGET_P95_MS:g}": result["bbox"]["ms"]["p95"] < TARGET_P95_MS}
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
