"""`cityos ingest mqtt`: telemetry from an MQTT broker into the database.

MQTT 5, QoS 1, a persistent session (clean_start False with a session expiry) and the
shared subscription `$share/<group>/cityos/v1/devices/+/telemetry`, so several
consumers split the stream and a consumer that restarts gets what was published
while it was away. Messages are written in batches; each message is acknowledged
(PUBACK, paho's manual ack) only after the batch holding it has committed, so a
crash before the commit makes the broker deliver it again (the store skips readings
it already holds). Bad messages go to the dead-letter table; nothing stops the loop.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityos.core.errors import ConfigError
from cityos.core.logging import get_logger
from cityos.perception import handlers as h
from cityos.perception.metrics import INGEST_ERRORS, MESSAGES

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

log = get_logger("cityos.ingest")

TOPIC_PREFIX = "cityos/v1/devices/"
TOPIC_FILTER = "cityos/v1/devices/+/telemetry"


def device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and topic.startswith(TOPIC_PREFIX) and parts[4] == "telemetry" and parts[3]:
        return parts[3]
    return None


def broker_of(url: str | None) -> tuple[str, int, str | None, str | None]:
    if not url:
        raise ConfigError("CITYOS_MQTT_URL is not set (e.g. mqtt://127.0.0.1:1883)", field="CITYOS_MQTT_URL")
    u = urlparse(url)
    return u.hostname or "127.0.0.1", u.port or 1883, u.username, u.password


@dataclass(slots=True)
class Received:
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


class MqttIngest:
    def __init__(self, platform: Platform, url: str | None = None, *, client_id: str = "cityos-ingest",
                 group: str = "cityos", batch: int = 500, max_wait_s: float = 0.2,
                 session_expiry_s: int = 24 * 3600) -> None:
        self.p = platform
        self.host, self.port, user, password = broker_of(url or platform.settings.mqtt_url)
        self.client_id = client_id
        self.group = group
        self.batch = batch
        self.max_wait_s = max_wait_s
        self.session_expiry_s = session_expiry_s
        self.inbox: queue.Queue[Received] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self.stored = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{TOPIC_FILTER}"

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt.connect_failed", reason=str(reason))
            return
        log.info("mqtt.connected", session_present=flags.session_present, client_id=self.client_id)
        self.connected.set()
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("mqtt.disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Received(msg.mid, msg.qos, msg.topic, bytes(msg.payload), self.p.clock.now()))

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        # Room for the next batch to arrive while one commits (PUBACKs go out only after commit).
        props.ReceiveMaximum = min(65535, max(20, self.batch * 3))
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self, end_session: bool = False) -> None:
        """Stop; with end_session the broker forgets the session (nothing is kept for us)."""
        self._stop.set()
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
        else:
            self.client.disconnect()
        self.client.loop_stop()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def take_batch(self) -> list[Received]:
        """Up to `batch` messages: what is already waiting, then more until max_wait_s."""
        try:
            first = self.inbox.get(timeout=self.max_wait_s)
        except queue.Empty:
            return []
        out = [first]
        get_nowait = self.inbox.get_nowait
        deadline = time.monotonic() + self.max_wait_s
        while len(out) < self.batch:
            try:
                out.append(get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.inbox.get(timeout=min(left, 0.02)))
            except queue.Empty:
                continue
        return out

    def process(self, batch: list[Received]) -> None:
        """Store one batch, then acknowledge it. On a database failure, wait and retry the
        same batch (unacknowledged messages stay with the broker if we die meanwhile)."""
        msgs = [h.Message(device_of(r.topic) or "?", r.payload, "mqtt", r.topic[:300], r.received_at) for r in batch]
        MESSAGES.labels("mqtt").inc(len(batch))
        while True:
            try:
                res = h.ingest(self.p, msgs)
                break
            except Exception as exc:  # the database is away or a batch-level failure: keep the messages
                INGEST_ERRORS.inc()
                log.warning("ingest.batch_failed", error=f"{type(exc).__name__}: {exc}", size=len(batch))
                if self._stop.wait(1.0):
                    return
        self.stored += res.readings
        for r in batch:
            if r.qos > 0:
                self.client.ack(r.mid, r.qos)

    def run(self, max_seconds: float | None = None) -> None:
        self.start()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set() and (max_seconds is None or time.monotonic() - t0 < max_seconds):
                batch = self.take_batch()
                if batch:
                    self.process(batch)
        finally:
            while not self.inbox.empty():  # drain what was received before stopping
                batch = self.take_batch()
                if batch:
                    self.process(batch)
            self.client.disconnect()
            self.client.loop_stop()
