""""One thing" figures (issue 12): a newborn submission fans out with its independent matters in
their department queues (latency), and the engine's sustained submissions per second.

    .venv/bin/python benchmarks/bench_scenarios.py --engine postgresql --clients 16 --seconds 20
    .venv/bin/python benchmarks/bench_scenarios.py --engine sqlite --server-workers 1 --clients 8

A fresh database (bench_cases.Env: migrated, seeded with the S demo city, which publishes the
shipped scenarios and grants their pre-fills) gets K citizen accounts, each linked to a resident
of the population database and holding an API key. Then, against `cityos serve --workers W`:
- fan-out: one client, N sequential POST /api/v1/scenarios/newborn/submissions with consent
  (pre-fill from the population database, validation of the whole form and materials, one
  submission and six child applications, the birth certificate queued at the district health
  department with its notice, events, audit record, idempotency key, one transaction);
  latency p50/p95/p99 of the 201 answers, and a check that each answer names the queued matter;
- throughput: C concurrent clients for T seconds (after a 3 s warm-up); submissions/s, latency.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as pyplatform
import random
import subprocess
import sys
import time
from typing import Any

import httpx

from bench_cases import Env, cityos_bin, free_port, log, ms

CHILD = {"baby_name": "王小雨", "baby_gender": "F", "baby_birth_date": "2026-11-20", "birth_hospital": "市妇幼保健院",
         "bank_account": "6222020200112233445"}
NAMES = [a + b for a in "王李张刘陈杨黄赵吴周" for b in ("小雨", "子涵", "一诺", "梓萱", "浩然", "思远")]
MATERIALS = {"birth_certificate": {"delivery_record": "upload:dr"},
             "household_registration": {"household_booklet": "upload:hb"},
             "maternity_benefit": {"medical_invoices": "upload:mi"}}


def citizens(env: Env, k: int) -> list[str]:
    """K citizen accounts linked to residents, each with an API key."""
    from sqlalchemy import select

    from cityos.data.store import residents
    from cityos.identity.handlers import CreateCredential, CreateUser
    from cityos.identity.model import SYSTEM

    p = env.platform()
    with p.db.read() as conn:
        city = conn.execute(select(residents.c.grid_code).limit(1)).scalar_one()[:2] + "0000"
        ids = conn.execute(select(residents.c.id_number).where(residents.c.status == "active")
                           .order_by(residents.c.id_number).limit(k)).scalars().all()
    keys = []
    for i, idn in enumerate(ids):
        name = f"bench.citizen{i}"
        p.bus.handle(CreateUser(SYSTEM, name, name, None, city, id_number=idn, grants=[("citizen", city)]))
        keys.append(p.bus.handle(CreateCredential(SYSTEM, name, "bench", "api_key", ("*",), None))[1])
    p.close()
    return keys


def serve(env: Env, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([cityos_bin(), "serve", "--port", str(port), "--workers", str(workers)], env=env.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def body(n: int) -> dict[str, Any]:
    return {"form": {**CHILD, "baby_name": NAMES[n % len(NAMES)]}, "materials": MATERIALS, "consent": True}


def fan_out(base: str, keys: list[str], n: int) -> dict[str, Any]:
    lat, bad = [], 0
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(n):
            headers = {"X-API-Key": keys[i % len(keys)], "Idempotency-Key": f"fan-{i}"}
            t0 = time.perf_counter()
            r = http.post("/api/v1/scenarios/newborn/submissions", json=body(i), headers=headers)
            t1 = time.perf_counter()
            if r.status_code == 201 and r.json()["queued"] == ["birth_certificate"]:
                lat.append(t1 - t0)
            else:
                bad += 1
                if bad < 3:
                    log(r.text[:300])
    return {"submissions": n, "ok": len(lat), "latency_ms": ms(lat) if lat else None,
            "p95_ms": round(sorted(lat)[int(len(lat) * 0.95) - 1] * 1000, 2) if lat else None}


async def load(base: str, keys: list[str], clients: int, seconds: float) -> dict[str, Any]:
    rnd = random.Random(3)
    warm = 3.0
    lat: list[float] = []
    statuses: dict[int, int] = {}
    t_measure = time.perf_counter() + warm
    t_end = t_measure + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        async def one(i: int) -> None:
            n = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                headers = {"X-API-Key": keys[(i * 7 + n) % len(keys)],
                           "X-Forwarded-For": f"10.{i % 250}.{n % 250}.{rnd.randrange(1, 250)}"}
                n += 1
                try:
                    r = await http.post("/api/v1/scenarios/newborn/submissions", json=body(n), headers=headers)
                    code = r.status_code
                except httpx.HTTPError:
                    code = 0
                if t0 >= t_measure:
                    statuses[code] = statuses.get(code, 0) + 1
                    if code == 201:
                        lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(i) for i in range(clients)))
    return {"clients": clients, "seconds": seconds, "submissions": len(lat),
            "submissions_per_s": round(len(lat) / seconds, 1), "latency_ms": ms(lat) if lat else None,
            "statuses": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-admin", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL",
                                                         "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--citizens", type=int, default=64)
    ap.add_argument("--fan-out", type=int, default=300, help="sequential submissions timed one by one")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--server-workers", type=int, default=2)
    args = ap.parse_args()
    env = Env(args.engine, args.pg_admin)
    try:
        keys = citizens(env, args.citizens)
        server, base = serve(env, args.server_workers)
        try:
            t0 = time.process_time()
            fan = fan_out(base, keys, args.fan_out)
            thr = asyncio.run(load(base, keys, args.clients, args.seconds))
            client_cpu = time.process_time() - t0
        finally:
            server.terminate()
            server.wait(20)
    finally:
        env.close()
    print(json.dumps({"engine": args.engine, "server_workers": args.server_workers, "cpus": os.cpu_count(),
                      "python": pyplatform.python_version(), "load_avg": os.getloadavg(),
                      "fan_out": fan, "throughput": thr, "client_cpu_s": round(client_cpu, 1)}, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
