"""Perception ingest benchmark: sustained MQTT ingest with rules vs the broker's own
delivery rate, and ingest-to-alarm latency, in one run.

    # once (heavy test): make and seed the database (S scale, demo rules on)
    CITYOS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ingest_bench \\
        .venv/bin/python benchmarks/bench_ingest.py --fill-only
    # measured (heavy bench): 20 points per message, then single-point messages
    CITYOS_DATABASE_URL=... .venv/bin/python benchmarks/bench_ingest.py --reuse --messages 20000 --points 20
    CITYOS_DATABASE_URL=... .venv/bin/python benchmarks/bench_ingest.py --reuse --messages 100000 --points 1

A private Mosquitto (port --port, raised queue limits) carries the messages.
1. ceiling: a publisher process sends the N messages (QoS 1) and a subscriber process
   that only counts receives them; rate = N / (first publish .. last delivery).
2. ingest: `cityos ingest mqtt` (--consumers processes on one shared subscription,
   QoS 1, PUBACK after commit, rules on) consumes the same N messages; rate = readings /
   (first publish .. the last reading committed, from the consumers' metrics).
   With --rate R the publisher is paced at R readings/s instead of going flat out.
3. ingest-to-alarm: --leaks gas detectors report 35 %LEL inside the stream; latency =
   the time the alarm is visible in the database (polled every 20 ms) - publish time.
--reuse empties the telemetry tables (readings, rollups, latest, alarms, rule state)
of the database given, which must already be seeded: never point it at real data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

import ingest_common as ic

TELEMETRY_TABLES = ("perception_readings", "perception_rollups", "perception_latest", "perception_alarms",
                    "perception_rule_states", "perception_dead_letters")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--points", type=int, default=1, help="timestamped points per message (a list when > 1)")
    ap.add_argument("--batch", type=int, default=500, help="messages per ingest transaction")
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--rate", type=float, default=None, help="pace the publisher at this many readings/s")
    ap.add_argument("--leaks", type=int, default=40)
    ap.add_argument("--port", type=int, default=18831)
    ap.add_argument("--fill-only", action="store_true", help="migrate and seed (S), then stop")
    ap.add_argument("--reuse", action="store_true", help="the database is seeded: only empty telemetry")
    ap.add_argument("--no-ceiling", action="store_true")
    args = ap.parse_args()
    url = os.environ.get("CITYOS_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("set CITYOS_DATABASE_URL to a PostgreSQL database the benchmark may wipe")
    os.environ["CITYOS_LOG_LEVEL"] = "WARNING"

    from cityos.bootstrap import bootstrap
    from cityos.perception import store

    p = bootstrap()
    if not args.reuse:
        from cityos.core.migrate import upgrade
        from cityos.demo.seed import resolve_scale, run_seed

        upgrade(p.db)
        run_seed(p, resolve_scale("S"), 1)
    if args.fill_only:
        print(json.dumps({"seeded": True}))
        return
    with p.db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TELEMETRY_TABLES)}"))
        conn.execute(text("DELETE FROM jobs WHERE kind LIKE 'perception.%'"))
        conn.execute(text("UPDATE perception_devices SET last_seen = NULL"))
    devs = ic.devices(p)
    msgs, leak_at = ic.make_messages(devs, args.messages, args.points, args.leaks)
    total = sum(m[2] for m in msgs)
    load_before = ic.load()
    with ic.private_broker(args.port) as broker:
        ceiling = None if args.no_ceiling else ic.broker_ceiling(args.port, msgs)
        group = f"bench{uuid.uuid4().hex[:6]}"
        env = {**os.environ, "CITYOS_MQTT_URL": broker}
        mbase = args.port + 100
        procs = ic.start_consumers(args.consumers, broker, group, args.batch, mbase, env)
        # wait until every consumer is up and subscribed (metrics served, then a probe dead-lettered)
        probe = ic.client(f"bench-probe-{group}", args.port)
        probe.loop_start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe.publish(f"cityos/v1/devices/PROBE-{group}/telemetry", b"{}", qos=1).wait_for_publish(10)
            time.sleep(0.5)
            with p.db.read() as conn:
                n_probe = conn.execute(select(func.count()).select_from(store.dead_letters).where(
                    store.dead_letters.c.device_code == f"PROBE-{group}")).scalar_one()
            if n_probe and all(ic.metric(mbase + i, "cityos_ingest_messages_total") >= 0 for i in range(len(procs))):
                break
        time.sleep(1.0 if args.consumers > 1 else 0.2)
        probe.loop_stop()
        probe.disconnect()

        seen: dict[str, float] = {}
        stop = threading.Event()
        start_dt = datetime.now(UTC)

        def watch_alarms() -> None:
            with p.db.engine.connect() as conn:
                while not stop.is_set():
                    rows = conn.execute(select(store.alarms.c.device_code).where(
                        store.alarms.c.alarm_type == "gas_leak", store.alarms.c.first_at >= start_dt)).all()
                    conn.rollback()
                    t = time.time()
                    for (c,) in rows:
                        seen.setdefault(str(c), t)
                    time.sleep(0.02)

        watcher = threading.Thread(target=watch_alarms, daemon=True)
        watcher.start()
        pub, pipe = ic.start_publisher(args.port, msgs, args.rate, list(leak_at))
        done_at = None
        last_n, last_change = -1.0, time.monotonic()
        while time.monotonic() - last_change < 30:
            n = sum(ic.metric(mbase + i) for i in range(len(procs)))
            if n >= total:
                done_at = time.time()
                break
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            time.sleep(0.05)
        ptimes = pipe.recv()
        pub.join(30)
        time.sleep(0.3)
        stop.set()
        watcher.join(5)
        for pr in procs:
            pr.terminate()
        for pr in procs:
            pr.wait(60)
        ic.end_sessions(args.port, [f"{group}-{i}" for i in range(len(procs))])
    with p.db.read() as conn:
        stored = int(conn.execute(select(func.count()).select_from(store.readings)).scalar_one())
    t0 = ptimes["t0"]
    end = done_at or time.time()
    lat = sorted((seen[c] - ptimes["leaks"][i]) * 1000 for i, c in leak_at.items() if c in seen)
    rate = stored / (end - t0)
    out: dict[str, Any] = {
        "messages": args.messages, "points_per_message": args.points, "readings": total,
        "readings_per_message": round(total / args.messages, 2), "stored_readings": stored,
        "complete": stored == total, "batch": args.batch, "consumers": args.consumers,
        "paced_readings_per_s": args.rate,
        "publisher_msgs_per_s": round(args.messages / (ptimes["t_sent"] - t0)),
        "ingest_seconds": round(end - t0, 2), "ingest_readings_per_s": round(rate),
        "ingest_msgs_per_s": round(rate / (total / args.messages)),
        "broker_ceiling": ceiling,
        "ratio_ingest_to_broker": round(rate / ceiling["readings_per_s"], 3) if ceiling else None,
        "leaks": len(leak_at), "alarms_seen": len(lat),
        "ingest_to_alarm_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "ingest_to_alarm_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        "ingest_to_alarm_ms_max": round(lat[-1], 1) if lat else None,
        "database": "postgresql", "cores": os.cpu_count(), "load_before": load_before, "load_after": ic.load(),
    }
    print(json.dumps(out, indent=2))
    p.close()


if __name__ == "__main__":
    main()
