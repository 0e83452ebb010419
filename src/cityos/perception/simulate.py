"""`cityos simulate sensors`: publishes plausible telemetry for the registered devices
to MQTT (or HTTP), optionally with a scenario that drives one risk point from blue to
red within a few minutes.

Scenarios (on the risk point given, or the first one):
* `rockfall`: the GNSS station and the crack meter accelerate together
  (0.05 → 0.2 → 0.35 → 1.2 mm/h: tangent angle 45° → 76° → 82° → 87°) while the rain
  gauge reports a heavy shower: blue → yellow → orange → red.
* `rainstorm`: the rain gauge climbs through every rainfall window level while the
  slope creeps; rain alone raises at most yellow (two indicators must agree).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityos.perception import model as m

PHASE_RATES_MM_H = (0.05, 0.2, 0.35, 1.2)  # blue, yellow, orange, red against a 0.05 mm/h creep
RAIN_TARGETS_MM = (36.0, 46.0, 61.0, 81.0)  # 1-hour totals of the blue .. red levels


def normal_values(dtype: str, rng: random.Random, t: float) -> dict[str, float]:
    """Everyday readings of a device type (no alarm)."""
    day = math.sin(t / 3600 * math.pi / 12)
    if dtype == "water_level":
        return {"level_m": round(0.8 + 0.2 * day + rng.gauss(0, 0.03), 3)}
    if dtype == "gas":
        return {"ch4_pct_lel": round(max(0.0, rng.gauss(2, 0.8)), 2)}
    if dtype == "smoke":
        return {"smoke": 0, "battery_pct": round(90 - rng.random(), 1)}
    if dtype == "manhole_cover":
        return {"tilt_deg": round(abs(rng.gauss(0.5, 0.3)), 2), "open": 0}
    if dtype == "camera":
        return {"online": 1, "motion": float(rng.random() < 0.1)}
    if dtype == "tilt_meter":
        return {"tilt_x_deg": round(rng.gauss(0, 0.01), 4), "tilt_y_deg": round(rng.gauss(0, 0.01), 4)}
    if dtype == "rain_gauge":
        return {"rain_mm": round(max(0.0, rng.gauss(0, 0.05)), 2)}
    if dtype == "gnss":
        return {"disp_mm": round(rng.gauss(0, 0.01), 3)}
    if dtype == "crack_meter":
        return {"crack_mm": round(2 + rng.gauss(0, 0.005), 3), "temp_c": round(15 + 5 * day, 1)}
    return {}


@dataclass
class Scenario:
    kind: str  # rockfall | rainstorm
    devices: dict[str, str]  # code -> type (members of the risk point)
    duration_s: float
    started: float = field(default_factory=time.monotonic)
    disp: dict[str, float] = field(default_factory=dict)
    last_t: float = field(default_factory=time.monotonic)
    rain_sent: float = 0.0

    def phase(self, now: float) -> int:
        return min(3, int(4 * (now - self.started) / self.duration_s))

    def values(self, now: float) -> dict[str, dict[str, float]]:
        """The scenario's readings for its devices at this moment (called every tick)."""
        ph = self.phase(now)
        dt_h = (now - self.last_t) / 3600
        self.last_t = now
        out: dict[str, dict[str, float]] = {}
        for code, t in self.devices.items():
            if t in ("gnss", "crack_meter"):
                rate = PHASE_RATES_MM_H[ph] if self.kind == "rockfall" else PHASE_RATES_MM_H[0]
                self.disp[code] = self.disp.get(code, 0.0) + rate * dt_h
                key = "disp_mm" if t == "gnss" else "crack_mm"
                out[code] = {key: round(self.disp[code], 6)}
            elif t == "rain_gauge":
                target = RAIN_TARGETS_MM[ph] if self.kind in ("rainstorm", "rockfall") else 0.0
                step = max(0.0, target - self.rain_sent)
                self.rain_sent += step
                out[code] = {"rain_mm": round(step, 2)}
        return out


Sender = Callable[[str, bytes], None]


def run(devices: dict[str, str], rate: float, send: Sender, *, seconds: float | None, scenario: Scenario | None,
        seed: int = 1, tick_s: float = 2.0, progress: Callable[[int], None] | None = None) -> int:
    """Send about `rate` messages per second spread over `devices`; the scenario's devices
    report every `tick_s`. Returns how many messages were sent."""
    rng = random.Random(seed)
    codes = sorted(c for c in devices if not scenario or c not in scenario.devices)
    sent = 0
    t0 = time.monotonic()
    next_tick = t0
    i = 0
    while seconds is None or time.monotonic() - t0 < seconds:
        now = time.monotonic()
        if scenario is not None and now >= next_tick:
            ms = int(time.time() * 1000)
            for code, values in scenario.values(now).items():
                send(code, json.dumps({"ts": ms, "values": values}).encode())
                sent += 1
            next_tick = now + tick_s
        if codes and rate > 0:
            code = codes[i % len(codes)]
            i += 1
            values = normal_values(devices[code], rng, time.time())
            send(code, json.dumps({"ts": int(time.time() * 1000), "values": values}).encode())
            sent += 1
            if progress:
                progress(1)
            target = t0 + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        else:
            time.sleep(min(tick_s, 0.2))
    return sent


def mqtt_sender(url: str, client_id: str = "cityos-simulator") -> tuple[Sender, Callable[[], None]]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from cityos.perception.mqtt import broker_of

    host, port, user, password = broker_of(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{random.randrange(1 << 30):x}",
                    protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    pending: list[Any] = []

    def send(code: str, body: bytes) -> None:
        pending.append(c.publish(f"cityos/v1/devices/{code}/telemetry", body, qos=1))
        if len(pending) > 5000:
            pending[0].wait_for_publish(30)
            del pending[:1000]

    def close() -> None:
        for info in pending:
            info.wait_for_publish(30)
        c.loop_stop()
        c.disconnect()

    return send, close


def http_sender(base: str, api_key: str | None) -> tuple[Sender, Callable[[], None]]:
    import httpx

    client = httpx.Client(base_url=base.rstrip("/"), timeout=30,
                          headers={"X-API-Key": api_key} if api_key else {})

    def send(code: str, body: bytes) -> None:
        r = client.post(f"/api/v1/devices/{code}/telemetry", content=body,
                        headers={"Content-Type": "application/json"})
        if r.status_code >= 500:
            r.raise_for_status()

    return send, client.close


def scenario_devices(members: list[dict[str, Any]]) -> dict[str, str]:
    return {d["code"]: d["type"] for d in members if m.DEVICE_TYPES[d["type"]].hazard_role}
