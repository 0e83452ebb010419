"""Assistant classification figures (issue 13): accuracy on dev and test, and speed through the handler.

    # build once (shared lock): migrate and seed the S demo city into --dir (SQLite)
    .venv/bin/python benchmarks/bench_assistant_classify.py --dir /tmp/bench-classify --fill-only
    # measure (exclusive lock, ~1 minute)
    .venv/bin/python benchmarks/bench_assistant_classify.py --dir /tmp/bench-classify --reuse

Measured:
- evaluation: `cityos assistant eval` (`assistant.evaluate.run`): top-1, top-3, macro-F1, per
  language, calibration error, keyword baseline, duplicate precision/recall, on dev (fitted on
  train) and test (fitted on train + dev, settings of data/settings.json), in-process latency;
- classify_one_text: `assistant.handlers.classify` one text at a time, no location (the case
  intake's call), over the test texts `--rounds` times: texts/s, p50/p95/p99 ms;
- classify_batch: the built classifier's `predict` over all test texts at once (texts/s);
- build_s: building the classifier as a served process does on its first classification
  (catalogue, shipped labelled texts, corrections from the database).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_assistant import Env, log, ms


def measure(env: Env, rounds: int) -> dict[str, Any]:
    from cityos.assistant import evalset
    from cityos.assistant import handlers as ah
    from cityos.assistant.evaluate import run
    from cityos.identity.model import SYSTEM

    out: dict[str, Any] = {"evaluation": run("tfidf")}
    p = env.platform()
    t0 = time.perf_counter()
    clf = ah.service(p).classifier()
    out["build_s"] = round(time.perf_counter() - t0, 2)
    texts = [r["text"] for r in evalset.load("test")]
    ah.classify(p, SYSTEM, texts[0])  # warm
    ct = []
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            ah.classify(p, SYSTEM, t)
            ct.append(time.perf_counter() - t0)
    out["classify_one_text"] = {"n": len(ct), "texts_per_s": round(len(ct) / sum(ct), 1), **ms(ct)}
    t0 = time.perf_counter()
    clf.predict(texts)
    out["classify_batch"] = {"n": len(texts), "texts_per_s": round(len(texts) / (time.perf_counter() - t0), 1)}
    p.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True, help="where the SQLite database lives")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fill-only", action="store_true", help="build the database and stop")
    ap.add_argument("--reuse", action="store_true", help="measure on the database built by --fill-only")
    a = ap.parse_args()
    env = Env(a.dir.resolve(), "sqlite", "")
    out: dict[str, Any] = {"machine": "2 cores", "load_before": os.getloadavg()}
    if not a.reuse:
        env.create()
        log("seeded the S demo city")
    if not a.fill_only:
        out.update(measure(env, a.rounds))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
