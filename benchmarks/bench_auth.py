"""What checking a credential adds to a request, on the real server.

    .venv/bin/python benchmarks/bench_auth.py [--scale S] [--requests 3000] [--database-url URL]
    # seed once (under `heavy test`), then time alone (under `heavy bench`):
    .venv/bin/python benchmarks/bench_auth.py --data-dir DIR --seed-only [--database-url URL]
    .venv/bin/python benchmarks/bench_auth.py --data-dir DIR --reuse [--database-url URL]

Seeds the demo city into a fresh SQLite file in a temporary CITYOS_DATA_DIR (or into
the database given with --database-url, e.g. a fresh PostgreSQL database), creates an
API key with `cityos apikey create --name bench --user district.operator`, starts
`cityos serve` as a subprocess on a free port on 127.0.0.1 (with the rate limits raised
through CITYOS_RATE_LIMIT_IP_PER_MINUTE / CITYOS_RATE_LIMIT_KEY_PER_MINUTE so they do
not trip), gets a bearer token from `POST /api/v1/auth/token`, then times sequential
requests over one keep-alive httpx connection, interleaved round-robin:
  - open:   `GET /api/v1/ping` (no credential);
  - apikey: `GET /api/v1/auth/check` with `X-API-Key`;
  - bearer: `GET /api/v1/auth/check` with `Authorization: Bearer`.
Reports p50/p95/mean per series (ms) and the added cost of each protected series
(protected minus open, at p50 and mean). A second phase sends the same number of
requests again in blocks of --block of one kind, in turn, and reads the server
process's CPU time around each block: the server CPU per request of each kind, and
its added cost, which other load on the machine disturbs far less than latency.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

TARGET_ADDED_MS = 1.0
USER = "district.operator"
PASSWORD = "cityos-demo-2026"


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
    return {"n": len(values), "mean": round(float(a.mean()), 3), "p50": round(float(np.percentile(a, 50)), 3),
            "p95": round(float(np.percentile(a, 95)), 3), "p99": round(float(np.percentile(a, 99)), 3)}


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by the server process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cityos serve exited with {proc.returncode}")
        try:
            if httpx.get(base + "/api/v1/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("cityos serve did not come up in time")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if (args.reuse or args.seed_only) and not args.data_dir:
        raise SystemExit("--reuse and --seed-only need --data-dir")
    tmp = tempfile.TemporaryDirectory(prefix="cityos-bench-auth-")
    data_dir = args.data_dir or tmp.name
    env = dict(os.environ, CITYOS_DATA_DIR=data_dir, CITYOS_ENV="dev", CITYOS_LOG_LEVEL="WARNING",
               CITYOS_RATE_LIMIT_IP_PER_MINUTE="10000000", CITYOS_RATE_LIMIT_KEY_PER_MINUTE="10000000")
    env.pop("CITYOS_REDIS_URL", None)
    env.pop("CITYOS_MQTT_URL", None)
    if args.database_url:
        env["CITYOS_DATABASE_URL"] = args.database_url
    else:
        env.pop("CITYOS_DATABASE_URL", None)
    cli = cityos_bin()
    if not args.reuse:
        t0 = time.perf_counter()
        subprocess.run([cli, "demo", "seed", "--scale", args.scale], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        log(f"seeded scale {args.scale} in {time.perf_counter() - t0:.1f} s")
        if args.seed_only:
            return {"benchmark": "auth", "seeded": args.scale, "data_dir": data_dir}
    made = subprocess.run([cli, "apikey", "create", "--name", "bench", "--user", USER], env=env, check=True,
                          capture_output=True, text=True)
    api_key = made.stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([cli, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if args.quiet_server else None)
    try:
        wait_up(base, proc)
        with httpx.Client(base_url=base, timeout=30) as client:
            r = client.post("/api/v1/auth/token", data={"username": USER, "password": PASSWORD})
            r.raise_for_status()
            bearer = r.json()["access_token"]
            series: dict[str, tuple[str, dict[str, str]]] = {
                "open": ("/api/v1/ping", {}),
                "apikey": ("/api/v1/auth/check", {"X-API-Key": api_key}),
                "bearer": ("/api/v1/auth/check", {"Authorization": f"Bearer {bearer}"}),
            }
            for name, (path, headers) in series.items():  # warm up every path (and check it answers 200)
                for _ in range(args.warmup):
                    resp = client.get(path, headers=headers)
                    if resp.status_code != 200:
                        raise SystemExit(f"{name}: {path} answered {resp.status_code}: {resp.text[:300]}")
            times: dict[str, list[float]] = {name: [] for name in series}
            log(f"timing {args.requests} requests per series, interleaved")
            for _ in range(args.requests):
                for name, (path, headers) in series.items():
                    t = time.perf_counter()
                    resp = client.get(path, headers=headers)
                    _ = resp.content
                    times[name].append(time.perf_counter() - t)
                    if resp.status_code != 200:
                        raise SystemExit(f"{name}: {path} answered {resp.status_code}: {resp.text[:300]}")
            # Server CPU per request: blocks of one kind in turn, the server's CPU time read around
            # each block (steadier than latency when other work shares the machine).
            cpu: dict[str, float] = {name: 0.0 for name in series}
            done: dict[str, int] = {name: 0 for name in series}
            for _ in range(max(1, args.requests // args.block)):
                for name, (path, headers) in series.items():
                    c0 = server_cpu_s(proc.pid)
                    for _ in range(args.block):
                        client.get(path, headers=headers)
                    cpu[name] += server_cpu_s(proc.pid) - c0
                    done[name] += args.block
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()
    figures = {name: stats_ms(v) for name, v in times.items()}
    cpu_ms = {name: round(cpu[name] / done[name] * 1000, 3) for name in series}
    added = {name: {"p50": round(figures[name]["p50"] - figures["open"]["p50"], 3),
                    "mean": round(figures[name]["mean"] - figures["open"]["mean"], 3),
                    "server_cpu": round(cpu_ms[name] - cpu_ms["open"], 3)}
             for name in ("apikey", "bearer")}
    return {
        "benchmark": "auth", "engine": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
        "scale": args.scale, "requests_per_series": args.requests, "latency_ms": figures,
        "server_cpu_ms_per_request": cpu_ms,
        "added_ms": added, "target_added_ms": TARGET_ADDED_MS,
        "meets_target": all(a["p50"] < TARGET_ADDED_MS for a in added.values()),
        "machine": {"cpus": os.cpu_count(), "python": pyplatform.python_version(), "load_avg_1m": os.getloadavg()[0]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="S")
    ap.add_argument("--requests", type=int, default=3000, help="timed requests per series")
    ap.add_argument("--block", type=int, default=100, help="requests per block in the server-CPU phase")
    ap.add_argument("--warmup", type=int, default=200, help="untimed requests per series first")
    ap.add_argument("--database-url", default="", help="use this (fresh) database instead of a temporary SQLite file")
    ap.add_argument("--data-dir", default="", help="keep the data directory (SQLite file) here")
    ap.add_argument("--seed-only", action="store_true", help="seed the demo city and stop")
    ap.add_argument("--reuse", action="store_true", help="skip the seed: time on what --seed-only left")
    ap.add_argument("--quiet-server", action="store_true", help="hide the server's stderr")
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
