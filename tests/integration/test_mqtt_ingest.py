"""MQTT ingest against the real Mosquitto at 127.0.0.1:1883: batches acknowledged after
commit, dead letters, and a persistent session that gets what was published while the
consumer was down."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.identity.model import SYSTEM
from cityos.perception import handlers as h
from cityos.perception import store
from cityos.perception.mqtt import MqttIngest

BROKER = "mqtt://127.0.0.1:1883"


def _broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _broker_up(), reason="no MQTT broker at 127.0.0.1:1883")


def _device(p: Platform, code: str, type_: str = "water_level") -> None:
    with p.db.read() as conn:
        lon, lat = conn.execute(select(store.devices.c.lon, store.devices.c.lat).order_by(store.devices.c.code)
                                .limit(1)).one()
    p.bus.handle(h.CreateDevice(SYSTEM, code, type_, lon, lat))


def _publisher() -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    return c


def _publish(c: mqtt.Client, code: str, payload: Any) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    c.publish(f"cityos/v1/devices/{code}/telemetry", body, qos=1).wait_for_publish(10)


def _count(p: Platform, code: str) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store.readings)
                                .where(store.readings.c.device_code == code)).scalar_one())


def _wait(cond: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _consumer(p: Platform, client_id: str, group: str) -> tuple[MqttIngest, threading.Thread]:
    ing = MqttIngest(p, BROKER, client_id=client_id, group=group, batch=50, max_wait_s=0.1, session_expiry_s=120)
    t = threading.Thread(target=ing.run, daemon=True)
    t.start()
    assert ing.subscribed.wait(10), "did not subscribe"
    return ing, t


def test_mqtt_ingest_batches_dead_letters_and_persistent_session(seeded: Platform) -> None:
    tag = uuid.uuid4().hex[:8]
    code, group, cid = f"MQ-{tag}", f"t{tag}", f"cityos-test-{tag}"
    _device(seeded, code)
    ing, t = _consumer(seeded, cid, group)
    pub = _publisher()
    try:
        _publish(pub, code, {"level_m": 1.0})
        _publish(pub, code, {"ts": int(time.time() * 1000) - 5000, "values": {"level_m": 1.1}})
        _publish(pub, code, [{"ts": int(time.time() * 1000) - 4000 + i, "values": {"level_m": 1.2}} for i in range(3)])
        for bad in (b"{oops", b'{"level_m": NaN}', b'{"level_m": "x"}', b"x" * 70_000):
            _publish(pub, code, bad)
        _publish(pub, f"NOPE-{tag}", {"level_m": 1})
        if shutil.which("mosquitto_pub"):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", "1883", "-V", "mqttv5", "-q", "1",
                            "-t", f"cityos/v1/devices/{code}/telemetry", "-m", '{"level_m": 1.3}'], check=True,
                           timeout=10)
            want = 6
        else:
            want = 5
        _wait(lambda: _count(seeded, code) >= want)
        _wait(lambda: len(_reasons(seeded, tag)) >= 5, 10)
        assert {"malformed", "not_finite", "wrong_type", "oversized", "unknown_device"} <= set(_reasons(seeded, tag))
        # the consumer goes away (session kept); readings published meanwhile arrive after it restarts
        ing.request_stop()
        t.join(10)
        before = _count(seeded, code)
        base = int(time.time() * 1000)
        for i in range(5):
            _publish(pub, code, {"ts": base + i, "values": {"level_m": 2.0 + i}})
        time.sleep(0.5)
        assert _count(seeded, code) == before
        ing, t = _consumer(seeded, cid, group)
        _wait(lambda: _count(seeded, code) == before + 5)
    finally:
        ing.request_stop()
        t.join(10)
        pub.loop_stop()
        pub.disconnect()
        # forget the test session at the broker
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", 1883, clean_start=True)
        c.disconnect()


def _reasons(p: Platform, tag: str) -> list[str]:
    with p.db.read() as conn:
        return list(conn.execute(select(store.dead_letters.c.reason).where(
            store.dead_letters.c.topic.like(f"%{tag}%"))).scalars().all())


def test_killed_consumer_stores_every_reading_exactly_once(seeded: Platform, database_url: str) -> None:
    """2,000 readings; `cityos ingest mqtt` is SIGKILLed mid-stream and restarted: nothing
    lost (the broker redelivers what was not acknowledged), nothing doubled (the readings'
    key skips what was committed, and rollups fold in new readings only)."""
    import os
    import signal
    import sys

    tag = uuid.uuid4().hex[:8]
    code, group, cid = f"MQK-{tag}", f"k{tag}", f"cityos-kill-{tag}"
    _device(seeded, code)
    env = {**os.environ, "CITYOS_DATABASE_URL": database_url, "CITYOS_MQTT_URL": BROKER, "CITYOS_LOG_LEVEL": "WARNING"}

    def consumer() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "cityos.cli", "ingest", "mqtt", "--client-id", cid,
                                 "--group", group, "--batch", "5", "--max-wait-ms", "50"], env=env)

    base = int(time.time() * 1000) - 10_000
    bodies = [json.dumps([{"ts": base + i * 20 + j, "values": {"level_m": 1 + j / 100}} for j in range(20)]).encode()
              for i in range(100)]
    proc = consumer()
    pub = _publisher()
    try:
        # wait until subscribed: a probe to an unknown device reaches the dead letters
        _wait(lambda: (_publish(pub, f"NOPE-{tag}", {"level_m": 1}), bool(_reasons(seeded, tag)))[1], 60)
        for b in bodies[:50]:
            pub.publish(f"cityos/v1/devices/{code}/telemetry", b, qos=1)
        _wait(lambda: _count(seeded, code) > 0, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for b in bodies[50:]:  # published while no consumer runs: kept by the persistent session
            _publish(pub, code, b)
        proc = consumer()
        _wait(lambda: _count(seeded, code) >= 2000, 60)
        time.sleep(0.5)  # anything doubled would land now
        with seeded.db.read() as conn:
            folded = conn.execute(select(func.sum(store.rollups.c.count)).where(
                store.rollups.c.device_code == code, store.rollups.c.bucket == "1m")).scalar_one()
        assert _count(seeded, code) == 2000 and folded == 2000
    finally:
        proc.terminate()
        proc.wait(30)
        pub.loop_stop()
        pub.disconnect()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", 1883, clean_start=True)
        c.disconnect()
