"""Emergency direct reports reaching the four levels' live streams: N concurrent reports from
a grid member; the grid, township, district and city users each hold an open
`/api/v1/notifications/stream`; latency = report sent -> ring received on each stream.
Prints JSON.

    .venv/bin/python benchmarks/bench_emergency.py [--reports 100] [--database-url URL] [--poll S] [--workers N]

Seed once, measure many times: `--data-dir DIR --fill-only` (under `heavy test`), then
`--data-dir DIR --reuse` (under `heavy bench`); a PostgreSQL database must be empty to fill.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PW = "cityos-demo-2026"
LEVELS = {"grid": "grid.member", "township": "township.operator", "district": "district.operator",
          "city": "city.operator"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=100)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--poll", type=float, default=None, help="CITYOS_SSE_POLL_S of the server (default: its own)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (`cityos serve --workers`)")
    ap.add_argument("--data-dir", type=Path, default=None, help="keep the seeded city here (SQLite file, keys)")
    ap.add_argument("--fill-only", action="store_true", help="seed and stop (run under `heavy test`)")
    ap.add_argument("--reuse", action="store_true", help="the database is seeded already (by --fill-only)")
    args = ap.parse_args()
    tmp = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-emergency-"))
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CITYOS_DATA_DIR": str(tmp), "CITYOS_LOG_LEVEL": "WARNING",
           "CITYOS_RATE_LIMIT_IP_PER_MINUTE": "1000000", "CITYOS_RATE_LIMIT_KEY_PER_MINUTE": "1000000"}
    if args.poll is not None:
        env["CITYOS_SSE_POLL_S"] = str(args.poll)
    if args.database_url:
        env["CITYOS_DATABASE_URL"] = args.database_url
    cityos = str(Path(sys.executable).parent / "cityos")
    if not args.reuse:
        subprocess.run([cityos, "demo", "seed", "--scale", "S"], env=env, check=True, capture_output=True)
    if args.fill_only:
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([cityos, "serve", "--port", str(port), "--workers", str(args.workers)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tokens = {lv: httpx.post(base + "/api/v1/auth/token", data={"username": u, "password": PW}).json()["access_token"]
                  for lv, u in LEVELS.items()}
        grid = httpx.get(base + "/ogc/collections/grids/items", params={"limit": 1}).json()["features"][0]
        props = grid["properties"]
        received: dict[str, dict[str, float]] = {lv: {} for lv in LEVELS}
        stop = threading.Event()

        def listen(level: str) -> None:
            headers = {"Authorization": f"Bearer {tokens[level]}"}
            with httpx.stream("GET", base + "/api/v1/notifications/stream", headers=headers, timeout=None) as r:
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("data:"):
                        row = json.loads(line[5:])
                        if row.get("kind") == "emergency.ring":
                            received[level][row["title"].rsplit(" ", 1)[-1]] = time.perf_counter()

        listeners = [threading.Thread(target=listen, args=(lv,), daemon=True) for lv in LEVELS]
        for t in listeners:
            t.start()
        time.sleep(1.5)
        centre = httpx.get(base + f"/ogc/collections/grids/items/{props['code']}").json()
        ring = centre["geometry"]["coordinates"][0]
        cx = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
        cy = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
        sent: dict[str, float] = {}
        client = httpx.Client(headers={"Authorization": f"Bearer {tokens['grid']}"}, timeout=60)

        def report(i: int) -> None:
            t0 = time.perf_counter()
            r = client.post(base + "/api/v1/emergencies", json={"category": "E0401", "description": f"路面塌陷 #{i}",
                                                                 "lon": cx, "lat": cy, "casualties": 0})
            if r.status_code == 201:
                sent[r.json()["number"]] = t0

        t_all = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(args.reports, 100)) as pool:
            list(pool.map(report, range(args.reports)))
        accepted = time.perf_counter() - t_all
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and any(len(received[lv]) < len(sent) for lv in LEVELS):
            time.sleep(0.1)
        stop.set()
        lat_ms = sorted((received[lv][n] - t0) * 1000 for n, t0 in sent.items() for lv in LEVELS if n in received[lv])
        missing = sum(1 for n in sent for lv in LEVELS if n not in received[lv])

        def pct(q: float) -> float:
            return round(lat_ms[min(len(lat_ms) - 1, int(q * len(lat_ms)))], 1) if lat_ms else float("nan")

        print(json.dumps({
            "engine": "postgresql" if args.database_url else "sqlite", "workers": args.workers, "reports": args.reports, "accepted": len(sent),
            "all_reports_accepted_s": round(accepted, 2), "deliveries": len(lat_ms), "missing": missing,
            "sse_poll_s": args.poll, "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                                                    "max": round(lat_ms[-1], 1) if lat_ms else None},
            "cores": os.cpu_count(), "load_before": os.getloadavg()[0]}))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # open event streams keep uvicorn waiting; end it
            server.kill()


if __name__ == "__main__":
    main()
