"""Perception ingest benchmark: sustained MQTT ingest with rules vs the broker's own
delivery rate, and ingest-to-alarm latency.

    CITYOS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench CITYOS_MQTT_URL=mqtt://127.0.0.1:1883 \
        .venv/bin/python benchmarks/bench_ingest.py --messages 20000

1. broker baseline: one publisher sends N QoS 1 messages; a counting subscriber (QoS 1)
   receives them; rate = N / time to the last one.
2. ingest: `cityos ingest mqtt` (a separate process) consumes N messages for the demo
   devices (S scale, demo rules on) into the database; rate = N / time until the last
   reading is committed. The figure is the ratio ingest / broker.
3. ingest-to-alarm: during the sustained stream, gas detectors report a leak; latency
   = alarm creation time (committed) - publish time; p50/p95 reported.
The database is wiped and seeded (S scale) first: never point it at real data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select


def _client(cid: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    return c


def broker_baseline(n: int, body: bytes) -> tuple[float, int]:
    """(messages per second delivered to a counting QoS 1 subscriber, how many arrived)."""
    topic = f"bench/{uuid.uuid4().hex[:8]}/x"
    got = 0
    last = time.perf_counter()
    done = threading.Event()

    def on_message(c: Any, u: Any, m: Any) -> None:
        nonlocal got, last
        got += 1
        last = time.perf_counter()
        if got >= n:
            done.set()

    sub = _client(f"bench-sub-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_message
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    time.sleep(0.5)
    pub = _client(f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    t0 = time.perf_counter()
    for _ in range(n):
        pub.publish(topic, body, qos=1)
    while not done.wait(0.5) and time.perf_counter() - last < 3:
        pass  # stop when all arrived, or nothing came for 3 s (the broker dropped the rest)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return got / (last - t0), got


def stored(p: Any, base_ms: int) -> int:
    """Messages of this run committed so far (each message has its own timestamp)."""
    from cityos.perception import store

    with p.db.read() as conn:
        return int(conn.execute(select(func.count(func.distinct(store.readings.c.ts))).where(
            store.readings.c.ts >= datetime.fromtimestamp(base_ms / 1000, UTC))).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--leaks", type=int, default=40)
    args = ap.parse_args()
    url = os.environ.get("CITYOS_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("set CITYOS_DATABASE_URL to a PostgreSQL database the benchmark may wipe")
    os.environ.setdefault("CITYOS_MQTT_URL", "mqtt://127.0.0.1:1883")
    os.environ["CITYOS_LOG_LEVEL"] = "WARNING"

    from cityos.bootstrap import bootstrap
    from cityos.core.migrate import upgrade
    from cityos.demo.seed import resolve_scale, run_seed
    from cityos.perception import store

    p = bootstrap()
    upgrade(p.db)
    run_seed(p, resolve_scale("S"), 1)
    with p.db.read() as conn:
        devs = [(str(c), str(t)) for c, t in conn.execute(
            select(store.devices.c.code, store.devices.c.type).where(store.devices.c.risk_point.is_(None))
            .order_by(store.devices.c.code))]
    from cityos.perception.simulate import normal_values

    rng = random.Random(1)
    sample = json.dumps({"ts": int(time.time() * 1000), "values": {"level_m": 1.0}}).encode()
    broker_rate, broker_got = broker_baseline(args.messages, sample)

    group = f"bench{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen([sys.executable, "-m", "cityos.cli", "ingest", "mqtt", "--group", group,
                             "--client-id", f"bench-ingest-{group}", "--batch", str(args.batch)],
                            env={**os.environ})
    gas = [c for c, t in devs if t == "gas"][: args.leaks]
    pub = _client(f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    probe = f"PROBE-{group}"
    for _ in range(120):  # wait until the consumer is subscribed: a probe reaches the dead letters
        pub.publish(f"cityos/v1/devices/{probe}/telemetry", b"{}", qos=1).wait_for_publish(10)
        time.sleep(0.5)
        with p.db.read() as conn:
            if conn.execute(select(func.count()).select_from(store.dead_letters)
                            .where(store.dead_letters.c.device_code == probe)).scalar_one():
                break
    leak_at: dict[str, float] = {}
    leak_every = max(1, args.messages // (len(gas) + 1))
    base_ms = int(time.time() * 1000) - args.messages  # distinct timestamps per message
    t0 = time.perf_counter()
    for i in range(args.messages):
        code, t = devs[i % len(devs)]
        if i % leak_every == leak_every // 2 and len(leak_at) < len(gas):
            code, values = gas[len(leak_at)], {"ch4_pct_lel": 35.0}
            leak_at[code] = time.time()
        else:
            values = normal_values(t, rng, time.time())
            if t == "gas":
                values = {"ch4_pct_lel": 1.0}
        body = json.dumps({"ts": base_ms + i, "values": values}).encode()
        pub.publish(f"cityos/v1/devices/{code}/telemetry", body, qos=1)
        if i % 200 == 199:
            # Back-pressure: Mosquitto keeps at most max_queued_messages (default 1000) for a
            # subscriber beyond its in-flight window and drops the rest, so never run ahead by more.
            while i + 1 - stored(p, base_ms) > 800:
                time.sleep(0.01)
    publish_s = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    n_msgs, last_progress, seen = 0, time.monotonic(), -1
    while time.monotonic() < deadline and time.monotonic() - last_progress < 15:
        n_msgs = stored(p, base_ms)
        if n_msgs >= args.messages:
            break
        if n_msgs != seen:
            seen, last_progress = n_msgs, time.monotonic()
        time.sleep(0.05)
    ingest_s = time.perf_counter() - t0
    proc.terminate()
    proc.wait(30)
    gone = _client(f"bench-ingest-{group}")  # forget the consumer's persistent session
    gone.connect("127.0.0.1", 1883, clean_start=True)
    gone.disconnect()
    pub.loop_stop()
    pub.disconnect()
    with p.db.read() as conn:
        rows = conn.execute(select(store.alarms.c.device_code, store.alarms.c.first_at).where(
            store.alarms.c.device_code.in_(list(leak_at)), store.alarms.c.alarm_type == "gas_leak")).all()
    lat = sorted((fa.timestamp() - leak_at[c]) * 1000 for c, fa in rows)
    ingest_rate = n_msgs / ingest_s
    print(json.dumps({
        "messages": args.messages, "stored_messages": n_msgs, "batch": args.batch,
        "broker_msgs_per_s": round(broker_rate), "broker_delivered": broker_got, "publish_s": round(publish_s, 2),
        "ingest_msgs_per_s": round(ingest_rate), "ratio_ingest_to_broker": round(ingest_rate / broker_rate, 3),
        "alarms": len(lat), "leaks": len(leak_at),
        "ingest_to_alarm_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "ingest_to_alarm_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        "database": "postgresql", "cores": os.cpu_count(),
    }, indent=2))
    p.close()


if __name__ == "__main__":
    main()
