"""Shared parts of the ingest benchmarks: a private Mosquitto, telemetry messages for the
seeded devices, a publisher and a counting subscriber in their own processes, and
`cityos ingest mqtt` consumers with their metrics.

The private broker (its own port, its own config) raises the limits the system broker
keeps at their defaults: `max_queued_messages` 1000 per client drops QoS 1 messages
once a consumer that acknowledges after commit falls that far behind.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 5000000
max_queued_bytes 0
max_inflight_messages 0
log_type error
log_dest stderr
"""

Msg = tuple[str, bytes, int]  # topic, payload, readings in it


@contextlib.contextmanager
def private_broker(port: int) -> Iterator[str]:
    """A Mosquitto of our own on 127.0.0.1:port (the system one on 1883 is left alone)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    d = tempfile.mkdtemp(prefix="cityos-bench-mqtt-")
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(BROKER_CONF.format(port=port))
    proc = subprocess.Popen([exe, "-c", conf], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"mosquitto did not start on port {port}")
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def client(cid: str, port: int, *, clean: bool = True, receive_max: int = 1000) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = receive_max
    c.connect("127.0.0.1", port, clean_start=clean, properties=props)
    return c


def devices(p: Any) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from cityos.perception import store

    with p.db.read() as conn:
        return [(str(c), str(t)) for c, t in conn.execute(
            select(store.devices.c.code, store.devices.c.type).where(
                store.devices.c.risk_point.is_(None), store.devices.c.status == "active")
            .order_by(store.devices.c.code))]


def make_messages(devs: list[tuple[str, str]], n: int, points: int, leaks: int = 0,
                  seed: int = 1) -> tuple[list[Msg], dict[int, str]]:
    """n messages round-robin over the devices, each with `points` timestamped points
    (`{"ts", "values"}`, or a list of them when points > 1); timestamps are unique per
    device and end near now. Returns the messages and {message index: gas device} of
    the leaks placed evenly in the stream (ch4 35 %LEL: the demo rule raises gas_leak)."""
    from cityos.perception.simulate import normal_values

    rng = random.Random(seed)
    per_dev = -(-n // len(devs))
    base_ms = int(time.time() * 1000) - per_dev * points - 1000
    gas = [c for c, t in devs if t == "gas"]
    leak_at: dict[int, str] = {}
    if leaks:
        every = max(1, n // (leaks + 1))
        gas_pos = {c: i for i, (c, _) in enumerate(devs)}
        for j in range(min(leaks, len(gas))):
            # the leak replaces a message of that gas device near the evenly spaced point
            want = every * (j + 1)
            k = want - (want % len(devs)) + gas_pos[gas[j]]
            if k < n:
                leak_at[k] = gas[j]
    out: list[Msg] = []
    now = time.time()
    for i in range(n):
        code, t = devs[i % len(devs)]
        seq = i // len(devs)
        pts = []
        for j in range(points):
            values = {"ch4_pct_lel": 35.0} if i in leak_at else normal_values(t, rng, now)
            if t == "gas" and i not in leak_at:
                values = {"ch4_pct_lel": round(1.0 + rng.random(), 2)}
            pts.append({"ts": base_ms + seq * points + j, "values": values})
        body = json.dumps(pts if points > 1 else pts[0], separators=(",", ":")).encode()
        out.append((f"cityos/v1/devices/{code}/telemetry", body, sum(len(p["values"]) for p in pts)))
    return out, leak_at


def _publish(port: int, msgs: list[Msg], rate: float | None, leak_idx: list[int], pipe: Any) -> None:
    pub = client(f"bench-pub-{uuid.uuid4().hex[:8]}", port)
    pub.loop_start()
    leaks = set(leak_idx)
    leak_t: dict[int, float] = {}
    infos = []
    t0 = time.time()
    readings = 0
    for i, (topic, body, nread) in enumerate(msgs):
        if rate:
            due = t0 + readings / rate
            while time.time() < due:
                time.sleep(0.002)
        if i >= 30_000:  # paho's message ids wrap at 65535: keep fewer than that unacknowledged
            infos[i - 30_000].wait_for_publish(120)
        if i in leaks:
            leak_t[i] = time.time()
        infos.append(pub.publish(topic, body, qos=1))
        readings += nread
    t_sent = time.time()
    for info in infos:
        info.wait_for_publish(120)
    t_acked = time.time()
    pub.loop_stop()
    pub.disconnect()
    pipe.send({"t0": t0, "t_sent": t_sent, "t_acked": t_acked, "leaks": leak_t})


def start_publisher(port: int, msgs: list[Msg], rate: float | None = None,
                    leak_idx: list[int] | None = None) -> tuple[mp.process.BaseProcess, Any]:
    """Publish the messages (QoS 1) from a forked process; its pipe answers the times."""
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    proc = ctx.Process(target=_publish, args=(port, msgs, rate, leak_idx or [], b), daemon=True)
    proc.start()
    return proc, a


def _count(port: int, n: int, ready: Any, pipe: Any) -> None:
    got = 0
    last = 0.0

    def on_message(c: Any, u: Any, m: Any) -> None:
        nonlocal got, last
        got += 1
        last = time.time()

    sub = client(f"bench-count-{uuid.uuid4().hex[:8]}", port, receive_max=1500)
    sub.on_message = on_message
    sub.subscribe("cityos/v1/devices/+/telemetry", qos=1)
    sub.loop_start()
    time.sleep(0.5)
    ready.set()
    t_idle = time.time()
    seen = -1
    while got < n and time.time() - t_idle < 10:  # stop when all came, or nothing for 10 s
        if got != seen:
            seen, t_idle = got, time.time()
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()
    pipe.send({"got": got, "last": last})


def broker_ceiling(port: int, msgs: list[Msg]) -> dict[str, Any]:
    """The broker's own delivery of these messages to a QoS 1 subscriber that only counts."""
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    ready = ctx.Event()
    counter = ctx.Process(target=_count, args=(port, len(msgs), ready, b), daemon=True)
    counter.start()
    ready.wait(20)
    pub, pa = start_publisher(port, msgs)
    ptimes = pa.recv()
    res = a.recv()
    pub.join(10)
    counter.join(10)
    dt = res["last"] - ptimes["t0"]
    readings = sum(m[2] for m in msgs[: res["got"]])
    return {"delivered": res["got"], "seconds": round(dt, 2), "msgs_per_s": round(res["got"] / dt),
            "readings_per_s": round(readings / dt), "publisher_msgs_per_s": round(
                len(msgs) / (ptimes["t_sent"] - ptimes["t0"]))}


def start_consumers(n: int, url: str, group: str, batch: int, metrics_base: int,
                    env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-m", "cityos.cli", "ingest", "mqtt", "--url", url, "--group", group,
                              "--client-id", f"{group}-{i}", "--batch", str(batch),
                              "--metrics-port", str(metrics_base + i)], env=env)
            for i in range(n)]


def metric(port: int, name: str = "cityos_ingest_readings_total") -> float:
    """A counter from a consumer's Prometheus endpoint (0 while it is not up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return 0.0
    return 0.0


def end_sessions(port: int, client_ids: list[str]) -> None:
    """Forget the consumers' persistent sessions at the broker."""
    for cid in client_ids:
        with contextlib.suppress(OSError):
            c = client(cid, port, clean=True)
            c.disconnect()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
