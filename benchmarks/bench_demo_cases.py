"""Time the demo-cases seed step alone (cases + events in batches, then the indicators).

    .venv/bin/python benchmarks/bench_demo_cases.py --scale M [--database-url postgresql://...]

Seeds the city without cases first (untimed), then runs the "demo cases" step and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="M")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings
    from cityos.core.migrate import upgrade
    from cityos.demo.seed import SeedContext, load_steps, resolve_scale, run_seed

    tmp = Path(tempfile.mkdtemp(prefix="bench-cases-"))
    url = args.database_url or f"sqlite:///{tmp / 'cityos.db'}"
    p = bootstrap(Settings(database_url=url, data_dir=tmp / "data", env="test"))
    upgrade(p.db)
    scale = resolve_scale(args.scale)
    t0 = time.perf_counter()
    run_seed(p, scale, 1, skip=("demo cases",))
    city_s = time.perf_counter() - t0
    step = next(s for s in load_steps() if s.name == "demo cases")
    t0, c0 = time.perf_counter(), time.process_time()
    result = step.run(SeedContext(p, scale, 1), lambda n: None)
    cases_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"scale": scale.name, "engine": p.db.engine.dialect.name, "city_seed_s": round(city_s, 1),
                      "demo_cases_s": round(cases_s, 1),
                      "demo_cases_cpu_s": round(cpu_s, 1), "cases": result["cases"], "events": result["events"],
                      "cases_per_s": round(int(result["cases"]) / cases_s)}, ensure_ascii=False))
    p.close()


if __name__ == "__main__":
    main()
