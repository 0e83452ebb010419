"""Time `cityos demo seed` on a fresh database.

    .venv/bin/python benchmarks/bench_seed.py --scale L [--seed 1] [--postgres]

Runs the real command as a subprocess with CITYOS_DATA_DIR pointing to a new temporary
directory (so the SQLite file is fresh), then counts the divisions by level in the
database it wrote. With --postgres it does the same again on a fresh PostgreSQL
database (made for the run and dropped after it). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_S = 180.0


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else (shutil.which("cityos") or "cityos")


def run_seed(env: dict[str, str], scale: str, seed: int) -> dict[str, Any]:
    cmd = [cityos_bin(), "demo", "seed", "--scale", scale, "--seed", str(seed)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    steps = {}
    for line in proc.stdout.splitlines():  # "divisions: city 1, district 41, ..."
        m = re.match(r"^(\w[\w.-]*): (.*)$", line.strip())
        if m:
            steps[m.group(1)] = {k: int(v.replace(",", "")) for k, v in
                                 (part.rsplit(" ", 1) for part in m.group(2).split(", ") if " " in part)}
    return {"command": " ".join(cmd[1:]), "seconds": round(seconds, 1), "steps": steps}


def counts_sqlite(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as c:
        return {lv: n for lv, n in c.execute("SELECT level, count(*) FROM divisions GROUP BY level")}


def bench_sqlite(scale: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cityos-bench-seed-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")}
        env["CITYOS_DATA_DIR"] = tmp
        res = run_seed(env, scale, seed)
        db = Path(tmp) / "cityos.db"
        res["database"] = "sqlite (fresh file in a temp CITYOS_DATA_DIR)"
        res["file_mb"] = round(db.stat().st_size / 1e6, 1)
        res["divisions"] = counts_sqlite(db)
    return res


def bench_postgres(scale: str, seed: int, admin_url: str) -> dict[str, Any]:
    import psycopg

    name = f"bench_seed_{int(time.time())}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory(prefix="cityos-bench-seed-") as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")}
            env["CITYOS_DATA_DIR"] = tmp
            env["CITYOS_DATABASE_URL"] = url
            res = run_seed(env, scale, seed)
        with psycopg.connect(url) as c:
            res["divisions"] = {lv: n for lv, n in c.execute("SELECT level, count(*) FROM divisions GROUP BY level")}
            res["size_mb"] = round(c.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6, 1)  # type: ignore[index]
        res["database"] = "postgresql (fresh database)"
        return res
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="L", choices=["S", "M", "L"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--postgres", action="store_true", help="also seed a fresh PostgreSQL database")
    ap.add_argument("--pg-admin-url", default=os.environ.get("CITYOS_TEST_PG_ADMIN_URL", PG_ADMIN))
    args = ap.parse_args()

    result: dict[str, Any] = {"benchmark": "seed", "scale": args.scale, "seed": args.seed, "target_s": TARGET_S}
    # The machine is shared: the load average tells how quiet it was while measuring.
    result["loadavg_1m_start"] = round(os.getloadavg()[0], 2)
    print(f"seeding {args.scale} on SQLite ...", file=sys.stderr, flush=True)
    result["sqlite"] = bench_sqlite(args.scale, args.seed)
    if args.postgres:
        print(f"seeding {args.scale} on PostgreSQL ...", file=sys.stderr, flush=True)
        result["postgres"] = bench_postgres(args.scale, args.seed, args.pg_admin_url)
    result["targets"] = {f"{k}_seconds<{TARGET_S:g}": result[k]["seconds"] < TARGET_S
                         for k in ("sqlite", "postgres") if k in result}
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
