"""Issue 10 figure: the data service gateway, lookup by key over 10,000,000 residents, against
Datasette serving the same SQLite table, in the same run.

Steps (only `run` is measured; the others prepare under `heavy test`):

    # a CSV of 10,000,000 residents (benchmarks/bench_data.py make-csv), then per engine:
    .venv/bin/python benchmarks/bench_ds_gateway.py prepare --database-url URL [--csv FILE]
    # Datasette in a venv of its own (does not touch the project's dependencies)
    .venv/bin/python benchmarks/bench_ds_gateway.py datasette-venv
    # measured: wrk (C, Lua script for varying keys) against `cityos serve --workers 2`, then Datasette
    .venv/bin/python benchmarks/bench_ds_gateway.py run --database-url URL --sqlite-file FILE

`prepare` loads the rows through `cityos data import`'s code path, publishes the shipped
interfaces, registers a consumer, applies for `resident.basic` (conditional) and approves it
with a quota above the run, and issues its API key; it writes `URL`'s state next to the keys file.
Each gateway call authenticates the key, checks the grant, the day's quota and the rate limit,
validates the parameter, reads the row by primary key, masks the name, ID number and birth date,
and commits its call record, counter and personal-data audit record (group commit) before it
answers. Datasette answers `/bench/residents.json?id_number=...` from the SQLite file
(immutable mode, its fastest), with no authentication, masking or logging.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

DATA = Path("/work/helpers/data")
VENV = DATA / "ds-gateway-datasette-venv"
ROOT = Path(__file__).resolve().parent.parent


def _platform(url: str, data_dir: Path) -> Any:
    from bench_data import platform

    return platform(url, data_dir)


def _state_file(url: str) -> Path:
    name = "sqlite" if url.startswith("sqlite") else "postgresql"
    return DATA / f"ds-gateway-bench-{name}.json"


def cmd_prepare(a: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bench_data import setup_schema
    from cityos.data import store as data_store
    from cityos.data.importer import run_import
    from cityos.data.services import handlers as h
    from cityos.identity.model import SYSTEM, Actor, Grant

    data_dir = Path(tempfile.mkdtemp(prefix="ds-gateway-bench-"))
    p = _platform(a.database_url, data_dir)
    t0 = time.perf_counter()
    with p.db.read() as conn:
        have = int(conn.execute(select(func.count()).select_from(data_store.residents)).scalar_one()) if a.reuse else 0
    if have < a.rows:
        setup_schema(p)
        result = run_import(p, SYSTEM, "population", a.csv, reject_limit=1000, resume=False)
        have = int(result["accepted"])
    load_s = round(time.perf_counter() - t0, 1)
    from cityos.core.migrate import upgrade

    upgrade(p.db)
    h.publish_shipped(p, SYSTEM)
    code = f"bench{int(time.time())}"
    h.register_consumer(p, h.RegisterConsumer(SYSTEM, code, "benchmark consumer", "civil_affairs"))
    out = h.apply(p, h.Apply(SYSTEM, code, ("resident.basic",), "gateway benchmark lookups", "benchmark", 1000))
    officer = Actor(user_id=None, username="bench", grants=(Grant("data_officer", h.city_node(p)),), via="token")
    h.decide(p, h.Decide(officer, out["grants"][0]["id"], "approve", daily_quota=100_000_000,
                         rate_per_minute=10_000_000))
    key = h.issue_credentials(p, h.IssueCredentials(SYSTEM, code))["api_key"]
    if p.db.is_postgres:
        with p.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    p.close()
    state = {"database_url": a.database_url, "api_key": key, "consumer": code, "residents": have}
    _state_file(a.database_url).write_text(json.dumps(state))
    return {"prepared": a.database_url, "residents": have, "load_s": load_s, "state": str(_state_file(a.database_url))}


def cmd_datasette_venv(a: argparse.Namespace) -> dict[str, Any]:
    if not (VENV / "bin" / "datasette").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "datasette"], check=True)
    v = subprocess.run([str(VENV / "bin" / "datasette"), "--version"], capture_output=True, text=True, check=True)
    return {"datasette": v.stdout.strip(), "venv": str(VENV)}


WRK_LUA = """
local keys = {}
for line in io.lines("{KEYS}") do keys[#keys + 1] = line end
local prefix = "{PREFIX}"
local headers = {HEADERS}
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) math.randomseed(os.time() + math.random(1, 100000)) statuses = {} end
function request() return wrk.format("GET", prefix .. keys[math.random(1, #keys)], headers) end
function response(status, hdrs, body) statuses[status] = (statuses[status] or 0) + 1 end
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


def _keys_file(rows: int, n: int = 50_000) -> Path:
    from bench_data import key_of

    path = DATA / f"ds-gateway-keys-{rows}.txt"
    if not path.exists():
        rnd = random.Random(10)
        path.write_text("\n".join(key_of(rnd.randrange(rows)) for _ in range(n)) + "\n")
    return path


def _wrk(base: str, prefix: str, headers: dict[str, str], keys: Path, clients: int, seconds: float, threads: int,
         server_pid: int) -> dict[str, Any]:
    from bench_cases import _cpu_split, _proc_cpu

    lua = (WRK_LUA.replace("{KEYS}", str(keys)).replace("{PREFIX}", prefix)
           .replace("{HEADERS}", "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        warm = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", "3s", "-s", f.name, base],
                              capture_output=True, text=True)
        if warm.returncode or "WRKJSON" not in warm.stdout:
            raise RuntimeError(warm.stdout + warm.stderr)
        before = _proc_cpu()
        t0 = time.perf_counter()
        run = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "10s",
                              "-s", f.name, base], capture_output=True, text=True, check=True)
        cpu = _cpu_split(before, _proc_cpu(), server_pid, time.perf_counter() - t0)
    finally:
        os.unlink(f.name)
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    ok = int(r["statuses"].get("200", 0))
    return {"seconds": round(secs, 1), "requests": r["requests"], "ok": ok, "requests_per_s": round(ok / secs, 1),
            "latency_ms": {"p50": r["p50_us"] / 1000, "p90": r["p90_us"] / 1000, "p99": r["p99_us"] / 1000,
                           "mean": round(r["mean_us"] / 1000, 2), "max": r["max_us"] / 1000},
            "statuses": r["statuses"], "socket_errors": r["errors"], "cpu_percent_of_machine": cpu}


def _wait(url: str, proc: subprocess.Popen[bytes], headers: dict[str, str] | None = None) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            r = httpx.get(url, headers=headers or {}, timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gateway(a: argparse.Namespace, state: dict[str, Any], keys: Path, sample: str) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "CITYOS_DATABASE_URL": a.database_url, "CITYOS_DATA_DIR": tempfile.mkdtemp(),
           "CITYOS_RATE_LIMIT_IP_PER_MINUTE": "100000000", "CITYOS_RATE_LIMIT_KEY_PER_MINUTE": "100000000",
           "CITYOS_DB_POOL_SIZE": str(a.pool), "CITYOS_LOG_LEVEL": "warning"}
    cmd = [str(ROOT / ".venv" / "bin" / "cityos"), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(a.workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": state["api_key"]}
    try:
        _wait(f"{base}/ds/v1/resident.basic?id_number={sample}", proc, headers)
        import httpx

        answer = httpx.get(f"{base}/ds/v1/resident.basic?id_number={sample}", headers=headers).json()
        result = _wrk(base, "/ds/v1/resident.basic?id_number=", headers, keys, a.connections, a.seconds, a.threads,
                      proc.pid)
        result["sample_answer"] = answer
    finally:
        proc.terminate()
        proc.wait(30)
    return {"server": f"cityos serve --workers {a.workers}", **result}


def _datasette(a: argparse.Namespace, keys: Path, sample: str) -> dict[str, Any]:
    port = _free_port()
    db = Path(a.sqlite_file)
    link = Path(tempfile.mkdtemp()) / "bench.db"  # the URL names the database after the file
    link.symlink_to(db)
    cmd = [str(VENV / "bin" / "datasette"), "serve", "-i", str(link), "--host", "127.0.0.1", "--port", str(port),
           "--setting", "sql_time_limit_ms", "10000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/bench/residents.json?id_number={sample}", proc)
        import httpx

        answer = httpx.get(f"{base}/bench/residents.json?id_number={sample}").json()
        result = _wrk(base, "/bench/residents.json?id_number=", {}, keys, a.connections, a.seconds, a.threads,
                      proc.pid)
        result["sample_rows"] = len(answer.get("rows", []))
    finally:
        proc.terminate()
        proc.wait(30)
    v = subprocess.run([str(VENV / "bin" / "datasette"), "--version"], capture_output=True, text=True)
    return {"server": v.stdout.strip() + " (immutable, one process)", **result}


def cmd_run(a: argparse.Namespace) -> dict[str, Any]:
    state = json.loads(_state_file(a.database_url).read_text())
    keys = _keys_file(int(state["residents"]))
    sample = keys.read_text().split("\n", 1)[0]
    out: dict[str, Any] = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                           "residents": state["residents"], "engine": a.database_url.split(":", 1)[0],
                           "connections": a.connections, "wrk_threads": a.threads, "load_generator": "wrk 4.1 (C)"}
    out["gateway"] = _gateway(a, state, keys, sample)
    if a.sqlite_file and not a.skip_datasette:
        out["datasette"] = _datasette(a, keys, sample)
        out["ratio_gateway_to_datasette"] = round(out["gateway"]["requests_per_s"]
                                                  / max(out["datasette"]["requests_per_s"], 0.1), 2)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["prepare", "datasette-venv", "run"])
    ap.add_argument("--database-url", default="sqlite:////work/helpers/data/ds-gateway-10m.db")
    ap.add_argument("--sqlite-file", default="/work/helpers/data/ds-gateway-10m.db",
                    help="run: the SQLite file Datasette serves (the same residents)")
    ap.add_argument("--csv", default="/work/helpers/data/people-10m.csv")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reuse", action="store_true", help="prepare: keep residents already loaded")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pool", type=int, default=20, help="CITYOS_DB_POOL_SIZE of each server process")
    ap.add_argument("--skip-datasette", action="store_true")
    a = ap.parse_args()
    if a.step != "datasette-venv" and not shutil.which("wrk") and a.step == "run":
        raise SystemExit("wrk not found: apt-get install wrk")
    fn = {"prepare": cmd_prepare, "datasette-venv": cmd_datasette_venv, "run": cmd_run}[a.step]
    print(json.dumps(fn(a), ensure_ascii=False))


if __name__ == "__main__":
    main()
