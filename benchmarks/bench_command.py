"""Instruction fan-out at L scale: one instruction to all 1,031 townships and one to all
62,000 grids, end to end (targets resolved, scope checked, tasks committed, notifications
queued). Prints JSON.

    .venv/bin/python benchmarks/bench_command.py [--scale L] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cityos.bootstrap import bootstrap
from cityos.core.config import Settings
from cityos.core.migrate import upgrade
from cityos.demo.city import generate
from cityos.demo.seed import resolve_scale
from cityos.geo import store as geo_store
from cityos.governance.command.handlers import IssueInstruction
from cityos.identity.model import Actor, Grant


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="L")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-command-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    p = bootstrap(Settings(database_url=url, data_dir=tmp, geo_index_ttl_s=3600))
    upgrade(p.db)
    scale = resolve_scale(args.scale)
    t0 = time.perf_counter()
    with p.db.begin() as conn:
        conn.execute(geo_store.divisions.delete())
        geo_store.upsert(conn, generate(scale, 1), p.clock.now(), chunk=5000)
    seeded = time.perf_counter() - t0
    p.geo.index()  # warm the spatial index once, as a running server has it
    city_op = Actor(1, "bench.city", (Grant("city_operator", "500000"),), via="session")
    now = p.clock.now()
    results: dict[str, object] = {"scale": scale.name, "engine": p.db.engine.dialect.name, "seed_divisions_s": round(seeded, 1),
                                  "cores": os.cpu_count()}
    for level, expected in (("township", scale.townships), ("grid", scale.grids)):
        t = time.perf_counter()
        out = p.bus.handle(IssueInstruction(city_op, f"全市{level}指令", "请立即开展排查", {
            "kind": "children", "node": "500000", "level": level}, now + timedelta(hours=2), now + timedelta(hours=24),
            "urgent"))
        results[f"fanout_{level}s"] = {"targets": out["targets"], "expected": expected,
                                        "seconds": round(time.perf_counter() - t, 2)}
    print(json.dumps(results, ensure_ascii=False))
    p.close()


if __name__ == "__main__":
    main()
