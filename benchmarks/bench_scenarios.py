""""One thing" figures (issue 12): a newborn submission fans out with its independent matters in
their department queues (latency), and the engine's sustained submissions per second.

    .venv/bin/python benchmarks/bench_scenarios.py --engine postgresql --clients 16 --seconds 20
    .venv/bin/python benchmarks/bench_scenarios.py --engine sqlite --server-workers 1 --clients 8
    # seed once under `heavy test`, measure under `heavy bench` (repeatable):
    .venv/bin/python benchmarks/bench_scenarios.py --engine postgresql --keep sc --fill-only
    .venv/bin/python benchmarks/bench_scenarios.py --engine postgresql --keep sc --reuse --clients 32

A fresh database (bench_cases.Env: migrated, seeded with the S demo city, which publishes the
shipped scenarios and grants their pre-fills) gets K citizen accounts, each linked to a resident
of the population database and holding an API key. Then, against `cityos serve --workers W`:
- fan-out: one client, N sequential POST /api/v1/scenarios/newborn/submissions with consent
  (pre-fill from the population database, validation of the whole form and materials, one
  submission and six child applications, the birth certificate queued at the district health
  department with its notice, events, audit record, idempotency key, one transaction);
  latency p50/p95/p99 of the 201 answers, and a check that each answer names the queued matter;
- throughput: C concurrent clients for T seconds (after a 3 s warm-up); submissions/s, latency,
  the share of the machine's CPU taken by the server, PostgreSQL and the load generator, and a
  count of what reached the database. Load generator: wrk (C, with a Lua script; Debian package)
  when installed, else one asyncio httpx process. Every request carries its own Idempotency-Key
  (--no-idempotency-keys to leave them out).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as pyplatform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_cases import Env, _cpu_split, _proc_cpu, cityos_bin, free_port, log, ms

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


async def load(base: str, keys: list[str], clients: int, seconds: float, idem: bool) -> dict[str, Any]:
    rnd = random.Random(3)
    run = os.urandom(4).hex()
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
                if idem:
                    headers["Idempotency-Key"] = f"load-{run}-{i}-{n}"
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



WRK_LUA = """
local keys = {KEYS}
local names = {NAMES}
local idem = {IDEM}
local n = 0
local run = ""
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  run = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  statuses = {}
end
function request()
  n = n + 1
  local body = '{"form": {"baby_name": "' .. names[(n % #names) + 1] .. '", "baby_gender": "F", "baby_birth_date": "2026-11-20", "birth_hospital": "市妇幼保健院", "bank_account": "6222020200112233445"}, "materials": {"birth_certificate": {"delivery_record": "upload:dr"}, "household_registration": {"household_booklet": "upload:hb"}, "maternity_benefit": {"medical_invoices": "upload:mi"}}, "consent": true}'
  local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = keys[(n % #keys) + 1]}
  if idem then headers["Idempotency-Key"] = "wrk-" .. run .. "-" .. n end
  return wrk.format("POST", "/api/v1/scenarios/newborn/submissions", headers, body)
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    for k, v in pairs(st) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "statuses": {%s}, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": %d}\\n',
    summary.requests, summary.duration, table.concat(parts, ", "), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


def wrk_load(base: str, keys: list[str], clients: int, seconds: float, threads: int, idem: bool, server_pid: int,
             profile: str | None) -> dict[str, Any]:
    """Closed loop with wrk (C): `clients` keep-alive connections each with one request in flight;
    a 3 s warm-up run, then the measured one (with py-spy sampling the server if asked)."""
    lua = (WRK_LUA.replace("{KEYS}", "{" + ", ".join(f'"{k}"' for k in keys) + "}")
           .replace("{NAMES}", "{" + ", ".join(json.dumps(n, ensure_ascii=False) for n in NAMES) + "}")
           .replace("{IDEM}", "true" if idem else "false"))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as f:
        f.write(lua)
    try:
        threads = min(threads, clients)
        warm = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", "3s", "-s", f.name, base],
                              capture_output=True, text=True)
        if warm.returncode or "WRKJSON" not in warm.stdout:
            raise RuntimeError(warm.stdout + warm.stderr)
        spy = None
        if profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server_pid),
                                    "--subprocesses", "--nonblocking", "-r", "50", "-d", f"{max(1, seconds - 1):g}",
                                    "-f", "raw", "-o", profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = _proc_cpu()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout",
                              "30s", "-s", f.name, base], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        cpu = _cpu_split(before, _proc_cpu(), server_pid, wall)
        kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk has exited: its CPU from rusage
        cpu["load_generator"] = round(100 * (kids_after.ru_utime + kids_after.ru_stime - kids.ru_utime
                                             - kids.ru_stime) / (wall * (os.cpu_count() or 1)), 1)
        if spy is not None:
            spy.wait(60)
    finally:
        os.unlink(f.name)
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    ok = int(r["statuses"].get("201", 0))
    secs = r["duration_us"] / 1e6
    return {"load_generator": "wrk", "clients": clients, "seconds": round(secs, 1), "submissions": ok,
            "submissions_per_s": round(ok / secs, 1),
            "latency_ms": {"p50": r["p50_us"] / 1000, "p90": r["p90_us"] / 1000, "p99": r["p99_us"] / 1000,
                           "mean": round(r["mean_us"] / 1000, 2), "max": r["max_us"] / 1000},
            "statuses": r["statuses"], "socket_errors": r["errors"], "cpu_percent_of_machine": cpu}


def counts(env: Env) -> dict[str, int]:
    from sqlalchemy import func, select

    from cityos.scenarios.store import matters, submissions

    p = env.platform()
    try:
        with p.db.read() as conn:
            return {"submissions": int(conn.execute(select(func.count()).select_from(submissions)).scalar_one()),
                    "matters": int(conn.execute(select(func.count()).select_from(matters)).scalar_one()),
                    "queued": int(conn.execute(select(func.count()).select_from(matters)
                                               .where(matters.c.state == "queued")).scalar_one())}
    finally:
        p.close()


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
    ap.add_argument("--load", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx",
                    help="throughput load generator (wrk: C, a fraction of the CPU of httpx)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--no-idempotency-keys", action="store_true", help="throughput requests without Idempotency-Key")
    ap.add_argument("--profile", help="with wrk: py-spy's raw stacks of the server to this file")
    ap.add_argument("--keep", help="name the database and keep it (fill once, measure with --reuse)")
    ap.add_argument("--reuse", action="store_true", help="use the kept database as it is (needs --keep)")
    ap.add_argument("--fill-only", action="store_true", help="seed the kept database and its citizens, measure nothing")
    args = ap.parse_args()
    if (args.reuse or args.fill_only) and not args.keep:
        ap.error("--reuse and --fill-only need --keep NAME")
    env = Env(args.engine, args.pg_admin, args.keep, args.reuse)
    keyfile = Path(env.data_dir) / f"scenario_citizens_{args.engine}.json"
    try:
        if args.reuse:
            keys = json.loads(keyfile.read_text())
        else:
            keys = citizens(env, args.citizens)
            if args.keep:
                keyfile.write_text(json.dumps(keys))
        if args.fill_only:
            print(json.dumps({"engine": args.engine, "citizens": len(keys), "database": env.url}))
            return
        before = counts(env)
        server, base = serve(env, args.server_workers)
        try:
            t0 = time.process_time()
            fan = fan_out(base, keys, args.fan_out) if args.fan_out else None
            idem = not args.no_idempotency_keys
            if args.load == "wrk":
                thr = wrk_load(base, keys, args.clients, args.seconds, args.wrk_threads, idem, server.pid,
                               args.profile)
            else:
                cpu0 = _proc_cpu()
                w0 = time.perf_counter()
                thr = asyncio.run(load(base, keys, args.clients, args.seconds, idem))
                thr["load_generator"] = "httpx"
                thr["cpu_percent_of_machine"] = _cpu_split(cpu0, _proc_cpu(), server.pid, time.perf_counter() - w0)
            client_cpu = time.process_time() - t0
        finally:
            server.terminate()
            server.wait(20)
        after = counts(env)
        added = {k: after[k] - before[k] for k in after}
    finally:
        env.close()
    print(json.dumps({"engine": args.engine, "server_workers": args.server_workers, "cpus": os.cpu_count(),
                      "python": pyplatform.python_version(), "load_avg_at_end": os.getloadavg(),
                      "idempotency_keys": not args.no_idempotency_keys, "fan_out": fan, "throughput": thr,
                      "bench_process_cpu_s": round(client_cpu, 1), "database_added": added}, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
