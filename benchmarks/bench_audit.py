"""Sealing and verifying a large audit log.

    .venv/bin/python benchmarks/bench_audit.py --records 1000000 [--database-url URL]
    # fill once (slow, under `heavy test`), then time verify alone (under `heavy bench`):
    .venv/bin/python benchmarks/bench_audit.py --records 1000000 --data-dir DIR --fill-only [--database-url URL]
    .venv/bin/python benchmarks/bench_audit.py --data-dir DIR --reuse [--database-url URL]

Creates the schema (`cityos db upgrade`) in a fresh SQLite file in a temporary
CITYOS_DATA_DIR, or in the database given with --database-url (which must be a fresh,
empty database, e.g. `createdb`/`CREATE DATABASE` on PostgreSQL), fills the audit log
with realistic records (varied actors, roles, actions, division nodes, IPs, purposes
and details, spread over 90 days) through `cityos.identity.store.append_audit` in
batches, chains them all with `cityos.identity.audit.seal`, then times
`cityos audit verify` as a subprocess (it seals what is left, then walks the whole
chain). Prints one JSON object with the fill, seal and verify times (s): wall clock, and the
CPU time of the process doing the work (`*_cpu_s`; the database server's time on
PostgreSQL is not in it), which is the steadier figure on a shared machine.

With --data-dir the data directory (the SQLite file) is kept there instead of a temporary
one; --fill-only stops after the seal, and --reuse skips the fill and seal and only times
`cityos audit verify` on what an earlier --fill-only left (in --data-dir, or in
--database-url), so the measured run can be separate from the long fill.
"""

from __future__ import annotations

import argparse
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cityos.identity.model import AuditEntry

TARGET_VERIFY_S = 30.0

ROLES = ["city_operator", "district_operator", "township_operator", "dispatcher", "department_handler",
         "verifier", "grid_head", "grid_member", "grid_member_part", "data_officer", "auditor", "system_admin"]
ACTIONS: list[tuple[str, str]] = [
    ("case.create", "case"), ("case.dispatch", "case"), ("case.accept", "case"), ("case.close", "case"),
    ("case.verify", "case"), ("personal.read", "person"), ("personal.read", "user"), ("auth.sign_in", "user"),
    ("auth.failed", "user"), ("auth.failed", "credential"), ("auth.sign_out", "user"), ("user.create", "user"),
    ("role.grant", "user"), ("role.revoke", "grant"), ("api_key.create", "credential"),
    ("token.create", "credential"), ("credential.revoke", "credential"), ("access.denied", "case"),
    ("household.update", "household"), ("event.ack", "event"), ("dataset.export", "dataset"),
]
PURPOSES = [None, None, None, "case handling", "household visit", "complaint follow-up", "statistics review"]
REASONS = ["wrong password", "unknown user", "locked", "revoked", "expired", "unknown"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else "cityos"


def nodes(rng: random.Random) -> list[str]:
    """Division codes of a city: 1 city, 12 districts, townships, villages and grids below."""
    out = ["500100"]
    for d in range(1, 13):
        district = f"5001{d:02d}"
        out.append(district)
        for t in range(1, 9):
            township = f"{district}{t:03d}"
            out.append(township)
            for v in range(1, rng.randint(4, 9)):
                village = f"{township}{v:03d}"
                out.append(village)
                out.extend(f"{village}{g:03d}" for g in range(1, rng.randint(3, 6)))
    return out


def make_entries(rng: random.Random, n: int, start_id: int, base: datetime, span_s: float, all_nodes: list[str],
                 actors: list[tuple[str, str | None]]) -> list[AuditEntry]:
    out = []
    for i in range(n):
        actor, role = rng.choice(actors)
        action, otype = rng.choice(ACTIONS)
        node = rng.choice(all_nodes)
        details: dict[str, Any]
        if action == "auth.failed":
            details = {"reason": rng.choice(REASONS), "failures": rng.randint(1, 5)}
        elif action == "case.dispatch":
            details = {"to": f"dept-{rng.randint(1, 40)}", "due_hours": rng.choice([2, 24, 72]), "note": "请尽快处置"}
        elif action == "personal.read":
            details = {"count": rng.randint(1, 50), "fields": rng.sample(["phone", "id_number", "address"], 2)}
        elif action == "role.grant":
            details = {"role": rng.choice(ROLES), "grant_id": rng.randint(1, 5000)}
        elif action in ("case.create", "case.close"):
            details = {"category": rng.choice(["环境卫生", "市政设施", "治安", "消防"]), "lon": round(rng.uniform(105, 110), 6),
                       "lat": round(rng.uniform(28, 32), 6)}
        else:
            details = {}
        at = base + timedelta(seconds=span_s * (start_id + i) / max(1, start_id + n), microseconds=rng.randint(0, 999_999))
        out.append(AuditEntry(
            at=at, actor=actor, role=role, node=node, action=action, object_type=otype,
            object_id=str(rng.randint(1, 2_000_000)), ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            purpose=rng.choice(PURPOSES), details=details,
        ))
    return out


def time_verify(cli: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `cityos audit verify` subprocess, and its last output line."""
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([cli, "audit", "verify"], env=env, stdout=subprocess.PIPE, text=True)
    verify_s, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    verify_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if res.returncode != 0:
        raise SystemExit(f"cityos audit verify failed ({res.returncode}): {res.stdout}")
    return verify_s, verify_cpu, res.stdout.strip().splitlines()[-1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.data_dir:
        tmp = str(Path(args.data_dir).resolve())
        Path(tmp).mkdir(parents=True, exist_ok=True)
    else:
        if args.reuse or args.fill_only:
            raise SystemExit("--reuse and --fill-only need --data-dir")
        tmp = tempfile.mkdtemp(prefix="cityos-bench-audit-")
    env = dict(os.environ, CITYOS_DATA_DIR=tmp, CITYOS_ENV="dev", CITYOS_LOG_LEVEL="WARNING")
    env.pop("CITYOS_REDIS_URL", None)
    env.pop("CITYOS_MQTT_URL", None)
    if args.database_url:
        env["CITYOS_DATABASE_URL"] = args.database_url
    else:
        env.pop("CITYOS_DATABASE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("CITYOS_")})
    if not args.database_url:
        os.environ.pop("CITYOS_DATABASE_URL", None)
    cli = cityos_bin()
    machine = {"cpus": os.cpu_count(), "python": pyplatform.python_version()}
    engine = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
    if args.reuse:
        verify_s, verify_cpu, line = time_verify(cli, env)
        return {"benchmark": "audit", "engine": engine, "reused": tmp if engine == "sqlite" else "database-url",
                "verify_s": round(verify_s, 1), "verify_cpu_s": round(verify_cpu, 1),
                "target_verify_s": TARGET_VERIFY_S, "meets_target": verify_s < TARGET_VERIFY_S, "verify_output": line,
                "machine": dict(machine, load_avg_1m=os.getloadavg()[0])}
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)

    from cityos.bootstrap import bootstrap
    from cityos.identity import store
    from cityos.identity.audit import seal

    p = bootstrap()
    with p.db.read() as conn:
        from sqlalchemy import func, select

        existing = conn.execute(select(func.count()).select_from(store.audit_log)).scalar_one()
    if existing:
        raise SystemExit(f"the database already holds {existing} audit records; give a fresh one")
    rng = random.Random(args.seed)
    all_nodes = nodes(rng)
    actors: list[tuple[str, str | None]] = [
        (f"{r}.{i}", r) for r in ROLES for i in range(1, 1 + (60 if r.startswith("grid") else 8))]
    actors += [("anonymous", None)] * 20 + [("system", None)] * 20
    now = datetime.now(UTC)
    base = now - timedelta(days=90)
    span_s = timedelta(days=90).total_seconds() - 60
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    while done < args.records:
        n = min(args.batch, args.records - done)
        entries = make_entries(rng, n, done, base, span_s, all_nodes, actors)
        with p.db.begin() as conn:
            store.append_audit(conn, entries)
        done += n
        if done % (args.batch * 20) == 0:
            log(f"filled {done:,} records ({time.perf_counter() - t0:.0f} s)")
    fill_s, fill_cpu = time.perf_counter() - t0, time.process_time() - c0
    log(f"filled {done:,} in {fill_s:.1f} s; sealing")
    t0, c0 = time.perf_counter(), time.process_time()
    sealed = seal(p.db, datetime.now(UTC), horizon=timedelta(0))
    seal_s, seal_cpu = time.perf_counter() - t0, time.process_time() - c0
    log(f"sealed {sealed:,} in {seal_s:.1f} s; verifying with `cityos audit verify`")
    p.close()
    filled = {"benchmark": "audit", "engine": engine, "records": done, "fill_s": round(fill_s, 1),
              "fill_cpu_s": round(fill_cpu, 1), "fill_records_per_s": round(done / fill_s), "seal_s": round(seal_s, 1),
              "seal_cpu_s": round(seal_cpu, 1), "sealed": sealed}
    if args.fill_only:
        log(f"filled and sealed; data kept in {tmp}")
        return dict(filled, data_dir=tmp, machine=dict(machine, load_avg_1m=os.getloadavg()[0]))
    verify_s, verify_cpu, line = time_verify(cli, env)
    size_mb = None
    db_file = Path(tmp) / "cityos.db"
    if db_file.exists():
        size_mb = round(db_file.stat().st_size / 1e6, 1)
    if args.keep or args.data_dir:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return dict(
        filled, verify_s=round(verify_s, 1), verify_cpu_s=round(verify_cpu, 1),
        verify_records_per_s=round(done / verify_s), target_verify_s=TARGET_VERIFY_S,
        meets_target=verify_s < TARGET_VERIFY_S, verify_output=line, sqlite_file_mb=size_mb,
        machine=dict(machine, load_avg_1m=os.getloadavg()[0]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000, help="records per insert transaction")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory (SQLite file)")
    ap.add_argument("--database-url", default="", help="a fresh, empty database to use instead of a temporary SQLite file")
    ap.add_argument("--data-dir", default="", help="keep the data directory (SQLite file) here instead of a temporary one")
    ap.add_argument("--fill-only", action="store_true", help="fill and seal, keep the data, do not verify")
    ap.add_argument("--reuse", action="store_true", help="only time `cityos audit verify` on an earlier --fill-only")
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
