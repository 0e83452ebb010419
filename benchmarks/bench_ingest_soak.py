"""Zero-loss soak: `cityos ingest mqtt` is killed (SIGKILL) at random moments while it
works through a stream of readings; every reading must be stored exactly once.

    # the database must be seeded (S scale): benchmarks/bench_ingest.py --fill-only
    CITYOS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ingest_bench \\
        .venv/bin/python benchmarks/bench_ingest_soak.py --readings 1000000 --kills 3

A private Mosquitto (its own port, queue limits raised) holds the consumer's persistent
session while it is dead. The publisher sends everything (QoS 1, each message acked by
the broker); the consumer is killed --kills times at random points of its progress and
restarted (same client id) after a random pause of up to 2 s. Prints JSON: published,
stored, duplicates (readings folded twice into the 1-minute rollups: a batch committed,
killed before its PUBACK, redelivered and counted again), missing (published - stored).
The telemetry tables of the database are emptied first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import uuid

from sqlalchemy import func, select, text

import ingest_common as ic

TELEMETRY_TABLES = ("perception_readings", "perception_rollups", "perception_latest", "perception_alarms",
                    "perception_rule_states", "perception_dead_letters")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=20, help="timestamped points per message")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--port", type=int, default=18832)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    if not os.environ.get("CITYOS_DATABASE_URL"):
        sys.exit("set CITYOS_DATABASE_URL to a seeded database the benchmark may empty of telemetry")
    os.environ["CITYOS_LOG_LEVEL"] = "WARNING"
    rng = random.Random(args.seed)
    from cityos.bootstrap import bootstrap
    from cityos.perception import store

    p = bootstrap()
    pg = p.db.engine.dialect.name == "postgresql"
    with p.db.begin() as conn:
        for t in TELEMETRY_TABLES:
            conn.execute(text(f"TRUNCATE {t}" if pg else f"DELETE FROM {t}"))
    devs = ic.devices(p)
    from cityos.perception import model as m

    keys_per_msg = sum(len(m.DEVICE_TYPES[t].keys) for _, t in devs) / len(devs) * args.points
    msgs, _ = ic.make_messages(devs, max(1, round(args.readings / keys_per_msg)), args.points)
    published = sum(x[2] for x in msgs)

    def stored() -> int:
        with p.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(store.readings)).scalar_one())

    group = f"soak{uuid.uuid4().hex[:6]}"
    kills: list[dict[str, float]] = []
    load_before = ic.load()
    t0 = time.time()
    with ic.private_broker(args.port) as broker:
        env = {**os.environ, "CITYOS_MQTT_URL": broker}

        def consumer() -> object:
            return ic.start_consumers(1, broker, group, args.batch, args.port + 100, env)[0]

        proc = consumer()
        time.sleep(3)  # subscribed (the session persists from here on)
        pub, pipe = ic.start_publisher(args.port, msgs)
        marks = sorted(rng.uniform(0.05, 0.9) for _ in range(args.kills))
        last_n, last_change = -1, time.monotonic()
        while time.monotonic() - last_change < 30:
            n = stored()
            if marks and n >= marks[0] * published:
                time.sleep(rng.uniform(0, 0.5))  # anywhere inside a batch
                proc.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
                proc.wait()  # type: ignore[attr-defined]
                at = stored()
                pause = rng.uniform(0, 2)
                time.sleep(pause)
                kills.append({"at_fraction": round(at / published, 3), "pause_s": round(pause, 2)})
                marks.pop(0)
                proc = consumer()
            if n >= published and not marks:
                break
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            time.sleep(0.3)
        ptimes = pipe.recv()
        pub.join(30)
        proc.terminate()  # type: ignore[attr-defined]
        proc.wait(60)  # type: ignore[attr-defined]
        ic.end_sessions(args.port, [f"{group}-0"])
    with p.db.read() as conn:
        n = stored()
        distinct = int(conn.execute(select(func.count()).select_from(
            select(store.readings.c.device_code, store.readings.c.key, store.readings.c.ts).distinct().subquery()))
            .scalar_one())
        folded = int(conn.execute(select(func.coalesce(func.sum(store.rollups.c.count), 0))
                                  .where(store.rollups.c.bucket == "1m")).scalar_one())
        dead = int(conn.execute(select(func.count()).select_from(store.dead_letters)).scalar_one())
    print(json.dumps({
        "engine": p.db.engine.dialect.name, "messages": len(msgs), "points_per_message": args.points,
        "published": published, "broker_acked_publish_s": round(ptimes["t_acked"] - ptimes["t0"], 1),
        "stored": n, "stored_rows_distinct": distinct, "duplicates": folded - n + (n - distinct),
        "missing": published - n, "dead_letters": dead, "kills": kills, "seconds": round(time.time() - t0, 1),
        "exactly_once": n == published and folded == n and distinct == n,
        "cores": os.cpu_count(), "load_before": load_before, "load_after": ic.load(),
    }, indent=2))
    p.close()


if __name__ == "__main__":
    main()
