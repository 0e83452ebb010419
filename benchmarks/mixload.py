"""A CityOS deployment on one machine and a mixed load with its exactly-once checks (issue 15).

`Deployment` runs N `cityos serve`, N `cityos worker` and N `cityos ingest mqtt` processes
against one PostgreSQL database and one private Mosquitto; it can kill -9 and restart any
of them. `MixedLoad` drives, for a given time at given rates:

- case intake (POST /api/v1/cases with an Idempotency-Key; a share of the keys sent twice,
  to the other API process, some of them at the same moment),
- case transitions (sign, then start, on every accepted case),
- telemetry (MQTT QoS 1, one timestamped reading set per message),
- instructions (POST /api/v1/instructions with an Idempotency-Key: one task and one notice
  per target township),
- timers that come due (a 3 s `duration` rule: one reading above the limit on a device that
  then stays silent makes a durable timer that raises one alarm when it fires).

A client that gets no answer (a connection reset, a 502/503/504) sends the same request again,
to the next API process, until it is answered: that is what makes a killed API or a database
outage harmless for a client that keeps its idempotency key. `check()` then reads the
database and says whether every accepted item is stored exactly once and every timer fired
once; `digest()` is what must be identical between a multi-process and a single-process run
of the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from benchmarks.common import cityos_bin, free_port
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

PASSWORD = "cityos-demo-2026"
CATEGORIES = ["P0101", "P0102", "P0103", "E0101", "E0102", "E0201"]
TIMER_ALARM = "mixload_timer"
TIMER_S = 3
RETRYABLE = {502, 503, 504}


# --- the deployment ----------------------------------------------------------------------------------

class Deployment:
    """N API, worker and ingest processes of one CityOS on this machine (logs under data_dir/logs)."""

    def __init__(self, db_url: str, mqtt_url: str, data_dir: Path, *, apis: int = 2, workers: int = 2,
                 ingests: int = 2, group: str | None = None, job_lease_s: float | None = None,
                 outbox_lease_s: float | None = None) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.mqtt_url = mqtt_url
        self.group = group or f"mix{uuid.uuid4().hex[:6]}"
        self.counts = {"api": apis, "worker": workers, "ingest": ingests}
        self.api_ports = [free_port() for _ in range(apis)]
        self.env = dict(os.environ, CITYOS_DATABASE_URL=db_url, CITYOS_DATA_DIR=str(data_dir), CITYOS_ENV="dev",
                        CITYOS_MQTT_URL=mqtt_url, CITYOS_LOG_LEVEL="WARNING",
                        CITYOS_RATE_LIMIT_IP_PER_MINUTE="100000000", CITYOS_RATE_LIMIT_KEY_PER_MINUTE="100000000")
        if job_lease_s is not None:
            self.env["CITYOS_JOB_LEASE_S"] = str(job_lease_s)
        if outbox_lease_s is not None:
            self.env["CITYOS_OUTBOX_LEASE_S"] = str(outbox_lease_s)
        self.procs: dict[tuple[str, int], subprocess.Popen[bytes]] = {}
        self.restarts = 0

    def command(self, role: str, i: int) -> list[str]:
        if role == "api":
            return [cityos_bin(), "serve", "--port", str(self.api_ports[i])]
        if role == "worker":
            return [cityos_bin(), "worker", "--name", f"{self.group}-w{i}"]
        return [cityos_bin(), "ingest", "mqtt", "--url", self.mqtt_url, "--group", self.group,
                "--client-id", f"{self.group}-i{i}", "--batch", "200", "--max-wait-ms", "50"]

    def start(self, role: str, i: int) -> None:
        log = open(self.logs / f"{role}-{i}.log", "ab")  # noqa: SIM115  (the child keeps it open)
        self.procs[(role, i)] = subprocess.Popen(self.command(role, i), env=self.env, stdout=log,
                                                 stderr=subprocess.STDOUT)
        log.close()

    def kill(self, role: str, i: int) -> None:
        """kill -9: no clean-up of any kind in the process."""
        proc = self.procs[(role, i)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def restart(self, role: str, i: int) -> None:
        self.restarts += 1
        self.start(role, i)
        if role == "api":
            self.wait_api(i)

    def wait_api(self, i: int, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.api_ports[i]}/readyz"
        while True:
            proc = self.procs[("api", i)]
            if proc.poll() is not None:
                raise RuntimeError(f"api {i} exited with {proc.returncode}: {self.tail('api', i)}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api {i} did not get ready: {self.tail('api', i)}")
            time.sleep(0.1)

    def up(self) -> None:
        for role, n in self.counts.items():
            for i in range(n):
                self.start(role, i)
        for i in range(self.counts["api"]):
            self.wait_api(i)

    def down(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for key, proc in self.procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                print(f"{key} did not stop on SIGTERM: killed")
        # Forget the ingest sessions at the broker (a later run's group is another one anyway).

    def tail(self, role: str, i: int, n: int = 3000) -> str:
        try:
            return (self.logs / f"{role}-{i}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def tracebacks(self) -> dict[str, int]:
        """Tracebacks in each process's log (an unexpected error anywhere shows up here)."""
        out = {}
        for f in sorted(self.logs.glob("*.log")):
            n = f.read_text(errors="replace").count("Traceback")
            if n:
                out[f.stem] = n
        return out


# --- what the load is made of ------------------------------------------------------------------------

@dataclass
class City:
    grids: list[tuple[str, float, float]]
    devices: list[tuple[str, str]]  # (code, type) of active devices outside risk points
    districts: list[str]

    @classmethod
    def read(cls, db_url: str) -> City:
        eng = create_engine(db_url)
        try:
            with eng.connect() as c:
                grids = [(str(a), float(b), float(d)) for a, b, d in c.execute(text(
                    "SELECT code, center_lon, center_lat FROM divisions WHERE level = 'grid' ORDER BY code"))]
                devs = [(str(a), str(b)) for a, b in c.execute(text(
                    "SELECT code, type FROM perception_devices WHERE risk_point IS NULL AND status = 'active' "
                    "ORDER BY code"))]
                districts = [str(r[0]) for r in c.execute(text(
                    "SELECT code FROM divisions WHERE level = 'district' ORDER BY code"))]
        finally:
            eng.dispose()
        return cls(grids, devs, districts)


@dataclass
class Plan:
    """Rates of each kind of work; the same plan and seed give the same requests and messages."""

    seconds: float = 10.0
    case_rate: float = 10.0  # intakes per second (each then signed and started)
    repeat_share: float = 0.25  # keys sent a second time (a client retry); a third of those at once
    msg_rate: float = 150.0  # telemetry messages per second
    instruction_every_s: float = 2.0
    timer_every_s: float = 1.0
    timer_devices: int = 10  # water-level devices kept for the timers (their own readings only)
    concurrency: int = 16
    seed: int = 1


@dataclass
class Ledger:
    """What the load was told was accepted (and what it saw on the way)."""

    cases: dict[str, int] = field(default_factory=dict)  # idempotency key -> case id
    repeats_same_id: int = 0
    repeats_other_id: int = 0
    transitions: list[tuple[int, str]] = field(default_factory=list)
    instructions: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (id, targets)
    messages: int = 0
    readings: int = 0
    republished: int = 0
    timers: list[str] = field(default_factory=list)  # devices whose spike was acknowledged
    statuses: Counter[str] = field(default_factory=Counter)  # every HTTP answer (and "transport" failures)
    unanswered: int = 0  # requests given up on (still no answer at the deadline)
    first_503: float | None = None
    last_503: float | None = None
    started: float = 0.0
    finished: float = 0.0

    def summary(self) -> dict[str, Any]:
        secs = max(1e-9, self.finished - self.started)
        return {"seconds": round(secs, 1),
                "accepted": {"cases": len(self.cases), "transitions": len(self.transitions),
                             "instructions": len(self.instructions), "telemetry_messages": self.messages,
                             "readings": self.readings, "timers": len(self.timers)},
                "rates_per_s": {"cases": round(len(self.cases) / secs, 2),
                                "transitions": round(len(self.transitions) / secs, 2),
                                "instructions": round(len(self.instructions) / secs, 3),
                                "telemetry_messages": round(self.messages / secs, 1),
                                "timers": round(len(self.timers) / secs, 3)},
                "repeated_keys": {"same_answer": self.repeats_same_id, "other_answer": self.repeats_other_id},
                "republished_messages": self.republished,
                "answers_by_status": dict(sorted(self.statuses.items())), "unanswered": self.unanswered}


def acked(info: Any) -> bool:
    """Whether the broker acknowledged a publish (paho raises for one sent while disconnected)."""
    try:
        return bool(info.is_published())
    except (RuntimeError, ValueError):
        return False


class Publisher:
    """QoS 1 telemetry publisher: a message counts once the broker acknowledged it (PUBACK). One
    whose acknowledgement did not come (the broker restarted meanwhile) is published again at
    the end: readings are keyed by (device, key, ts), so a second copy is stored once."""

    def __init__(self, mqtt_url: str) -> None:
        host, port = mqtt_url.split("//", 1)[1].split(":")
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"mixpub-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(200)
        self.c.max_queued_messages_set(0)
        self.c.reconnect_delay_set(0.2, 2)
        self.c.connect(host, int(port))
        self.c.loop_start()
        self.sent: list[tuple[str, bytes, int, Any]] = []

    def publish(self, topic: str, body: bytes, readings: int) -> None:
        self.sent.append((topic, body, readings, self.c.publish(topic, body, qos=1)))

    def settle(self, timeout: float) -> tuple[int, int, int]:
        """Wait for every acknowledgement; publish again what did not get one. Returns
        (messages acknowledged, readings in them, messages published again)."""
        deadline = time.monotonic() + timeout
        again = 0
        pending = list(self.sent)
        while pending and time.monotonic() < deadline:
            left: list[tuple[str, bytes, int, Any]] = []
            for topic, body, n, info in pending:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(max(0.1, min(5.0, deadline - time.monotonic())))
                if not acked(info):
                    left.append((topic, body, n, self.c.publish(topic, body, qos=1)))
                    again += 1
            pending = left
        done = [s for s in self.sent if acked(s[3]) or all(s[0:2] != p[0:2] for p in pending)]
        return len(done), sum(s[2] for s in done), again

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


class MixedLoad:
    def __init__(self, api_ports: list[int], mqtt_url: str, city: City, plan: Plan, *, tag: str = "mix",
                 deadline_s: float = 180.0) -> None:
        self.ports = api_ports
        self.mqtt_url = mqtt_url
        self.city = city
        self.plan = plan
        self.tag = tag
        self.deadline_s = deadline_s  # how long one request is retried before it counts as unanswered
        self.ledger = Ledger()
        self._rr = 0
        water = [c for c, t in city.devices if t == "water_level"]
        self.timer_devices = water[: plan.timer_devices]
        keep = set(self.timer_devices)
        self.devices = [(c, t) for c, t in city.devices if c not in keep]
        self.headers: dict[str, str] = {}
        self.stop_at = 0.0
        self.pub: Publisher | None = None

    # -- HTTP with the client's retries -----------------------------------------------------------

    async def call(self, http: list[httpx.AsyncClient], method: str, path: str, body: Any = None,
                   key: str | None = None, start: int | None = None) -> tuple[httpx.Response | None, bool]:
        """Send until answered (not 502/503/504, no connection failure). Returns the answer and
        whether an earlier try may have reached the server (so a 409 may be our own effect)."""
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        i = self._rr if start is None else start
        self._rr += 1
        deadline = time.monotonic() + self.deadline_s
        ambiguous = False
        pause = 0.1
        while True:
            client = http[i % len(http)]
            try:
                r = await client.request(method, path, json=body, headers=headers)
                self.ledger.statuses[str(r.status_code)] += 1
                if r.status_code not in RETRYABLE:
                    return r, ambiguous
                if r.status_code == 503:
                    now = time.time()
                    self.ledger.first_503 = self.ledger.first_503 or now
                    self.ledger.last_503 = now
                ambiguous = True  # a 503 from a database that dropped at commit time may still have committed
            except httpx.TransportError:
                self.ledger.statuses["transport"] += 1
                ambiguous = True
            if time.monotonic() > deadline:
                self.ledger.unanswered += 1
                return None, ambiguous
            i += 1
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 1.5)

    async def one_case(self, http: list[httpx.AsyncClient], n: int, rng: random.Random) -> None:
        _grid, lon, lat = self.city.grids[rng.randrange(len(self.city.grids))]
        key = f"{self.tag}-c{n}"
        body = {"category": CATEGORIES[n % len(CATEGORIES)], "description": f"mixed load case {n}", "lon": lon,
                "lat": lat, "source": "grid", "source_ref": key}
        repeat = rng.random() < self.plan.repeat_share
        at_once = repeat and n % 3 == 0
        if at_once:
            (a, _), (b, _) = await asyncio.gather(self.call(http, "POST", "/api/v1/cases", body, key, start=n),
                                                  self.call(http, "POST", "/api/v1/cases", body, key, start=n + 1))
            answers = [a, b]
        else:
            a, _ = await self.call(http, "POST", "/api/v1/cases", body, key, start=n)
            answers = [a]
            if repeat:
                b, _ = await self.call(http, "POST", "/api/v1/cases", body, key, start=n + 1)
                answers.append(b)
        ids = {r.json()["id"] for r in answers if r is not None and r.status_code == 201}
        if not ids:
            return
        if len(answers) == 2:
            if len(ids) == 1 and all(r is not None and r.status_code == 201 for r in answers):
                self.ledger.repeats_same_id += 1
            else:
                self.ledger.repeats_other_id += 1
        cid = min(ids)
        self.ledger.cases[key] = cid
        for action in ("sign", "start"):
            r, ambiguous = await self.call(http, "POST", f"/api/v1/cases/{cid}/actions/{action}", {})
            if r is not None and (r.status_code == 200 or (r.status_code == 409 and ambiguous)):
                self.ledger.transitions.append((cid, action))
            else:
                return

    async def one_instruction(self, http: list[httpx.AsyncClient], n: int) -> None:
        key = f"{self.tag}-i{n}"
        now = datetime.now(UTC)
        body = {"title": f"mixed load instruction {n}", "body": "排查辖区隐患", "urgency": "normal",
                "sign_deadline": (now + timedelta(hours=2)).isoformat(),
                "complete_deadline": (now + timedelta(hours=8)).isoformat(),
                "targets": {"kind": "children", "node": self.city.districts[n % len(self.city.districts)],
                            "level": "township"}}
        r, _ = await self.call(http, "POST", "/api/v1/instructions", body, key)
        if r is not None and r.status_code == 201:
            self.ledger.instructions[key] = (int(r.json()["id"]), int(r.json()["targets"]))

    def telemetry(self, pub: Publisher, t0: float) -> None:
        """Publish the plan's messages at its rate (its own thread) and the timer spikes evenly
        among them. Counts, not times, decide how many: two runs of one plan compare."""
        from cityos.perception.simulate import normal_values

        rng = random.Random(self.plan.seed)
        base_ms = int(t0 * 1000)
        total = round(self.plan.seconds * self.plan.msg_rate)
        timers = list(self.timer_devices)
        spike_every = max(1, total // (len(timers) + 1))
        for n in range(total):
            due = t0 + n / self.plan.msg_rate
            while (left := due - time.time()) > 0:
                time.sleep(min(0.01, left))
            code, dtype = self.devices[n % len(self.devices)]
            values = normal_values(dtype, rng, 0.0)
            ts = base_ms + n // len(self.devices)  # unique per device, in order
            body = json.dumps({"ts": ts, "values": values}, separators=(",", ":")).encode()
            pub.publish(f"cityos/v1/devices/{code}/telemetry", body, len(values))
            if timers and n % spike_every == spike_every - 1:
                self._spike(pub, timers.pop(0))
        for dev in timers:
            self._spike(pub, dev)

    @staticmethod
    def _spike(pub: Publisher, dev: str) -> None:
        body = json.dumps({"ts": int(time.time() * 1000), "values": {"level_m": 99.0}}).encode()
        pub.publish(f"cityos/v1/devices/{dev}/telemetry", body, 1)

    async def http_load(self, t0: float) -> None:
        rng = random.Random(self.plan.seed)
        limits = httpx.Limits(max_connections=self.plan.concurrency, max_keepalive_connections=self.plan.concurrency)
        http = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30, limits=limits) for p in self.ports]
        try:
            r = await http[0].post("/api/v1/auth/token", data={"username": "city.operator", "password": PASSWORD})
            r.raise_for_status()
            self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            sem = asyncio.Semaphore(self.plan.concurrency)
            tasks: list[asyncio.Task[None]] = []

            async def bounded(coro: Any) -> None:
                async with sem:
                    await coro

            n_case = n_ins = 0
            cases = round(self.plan.seconds * self.plan.case_rate)  # counts, not times: runs compare
            instructions = max(1, round(self.plan.seconds / self.plan.instruction_every_s))
            next_ins = t0
            while n_case < cases or n_ins < instructions:
                now = time.time()
                while n_case < cases and t0 + n_case / self.plan.case_rate <= now:
                    tasks.append(asyncio.create_task(bounded(self.one_case(http, n_case, random.Random(
                        rng.random())))))
                    n_case += 1
                if n_ins < instructions and now >= next_ins:
                    tasks.append(asyncio.create_task(bounded(self.one_instruction(http, n_ins))))
                    n_ins += 1
                    next_ins += self.plan.instruction_every_s
                tasks = [t for t in tasks if not t.done()]
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
        finally:
            for c in http:
                await c.aclose()

    def run(self) -> Ledger:
        """The whole load: HTTP in this thread's event loop, MQTT in another thread."""
        t0 = time.time()
        self.ledger.started = t0
        self.stop_at = t0 + self.plan.seconds
        pub = self.pub = Publisher(self.mqtt_url)
        th = threading.Thread(target=self.telemetry, args=(pub, t0), daemon=True)
        th.start()
        try:
            # In a thread of its own: a caller (pytest with an event loop already running) may
            # hold a loop in this thread, and asyncio.run refuses to nest.
            failed: list[BaseException] = []

            def run_http() -> None:
                try:
                    asyncio.run(self.http_load(t0))
                except BaseException as e:  # handed to the caller below
                    failed.append(e)

            runner = threading.Thread(target=run_http)
            runner.start()
            runner.join()
            if failed:
                raise failed[0]
            th.join()
            msgs, readings, again = pub.settle(timeout=120)
        finally:
            pub.close()
        spikes = {s[0].split("/")[3] for s in pub.sent if b"99.0" in s[1]}
        self.ledger.messages = msgs - len(spikes)
        self.ledger.readings = readings - len(spikes)
        self.ledger.republished = again
        self.ledger.timers = sorted(spikes)
        self.ledger.finished = time.time()
        return self.ledger


def create_timer_rule(api_port: int) -> None:
    """The duration rule the timers come from (water level above 50 m for 3 s: only our spikes)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as c:
        tok = c.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
        r = c.post("/api/v1/rules", headers={"Authorization": f"Bearer {tok}"}, json={
            "name": "mixed load timer", "kind": "duration", "alarm_type": TIMER_ALARM, "severity": "MINOR",
            "device_type": "water_level", "key": "level_m", "op": ">", "limit": 50.0, "duration_s": TIMER_S})
        r.raise_for_status()


# --- the checks --------------------------------------------------------------------------------------

def _q(conn: Any, sql: str, **params: Any) -> list[Any]:
    return list(conn.execute(text(sql), params).all())


# The timer jobs of the load's rule (the demo's inactivity rules keep timers of their own).
OUR_TIMERS = ("CAST(payload->>'rule_id' AS bigint) IN (SELECT id FROM perception_rules WHERE alarm_type = :a)")


def settle(db_url: str, ledger: Ledger, timeout: float = 120.0) -> float:
    """Wait until the deployment has caught up with what was accepted: every reading stored, the
    outbox relayed, every timer fired. Returns the seconds it took (raises on timeout)."""
    eng = create_engine(db_url)
    t0 = time.monotonic()
    devices = ledger.timers
    try:
        while True:
            with eng.connect() as c:
                readings = _q(c, "SELECT count(*) FROM perception_readings WHERE ts >= :t0 AND device_code <> ALL(:tds)",
                              t0=datetime.fromtimestamp(ledger.started - 1, UTC), tds=devices)[0][0]
                pending_out = _q(c, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
                pending_timers = _q(c, "SELECT count(*) FROM jobs WHERE kind = 'perception.rule_timer' "
                                       "AND status IN ('pending', 'running') AND " + OUR_TIMERS, a=TIMER_ALARM)[0][0]
                alarms = _q(c, "SELECT count(*) FROM perception_alarms WHERE alarm_type = :a", a=TIMER_ALARM)[0][0]
            if (readings >= ledger.readings and pending_out == 0 and pending_timers == 0
                    and alarms >= len(ledger.timers)):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"not settled after {timeout:.0f}s: readings {readings}/{ledger.readings}, "
                                   f"outbox pending {pending_out}, timers pending {pending_timers}, "
                                   f"alarms {alarms}/{len(ledger.timers)}")
            time.sleep(0.5)
    finally:
        eng.dispose()


def check(db_url: str, ledger: Ledger, tag: str) -> dict[str, Any]:
    """Every accepted item stored exactly once, every timer fired exactly once. Returns the
    counts and a list of problems (empty when all hold)."""
    problems: list[str] = []
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            refs = Counter(str(r[0]) for r in _q(c, "SELECT source_ref FROM cases WHERE source_ref LIKE :p",
                                                 p=f"{tag}-c%"))
            doubled = [k for k, n in refs.items() if n > 1]
            if doubled:
                problems.append(f"{len(doubled)} case key(s) stored more than once, e.g. {doubled[:3]}")
            missing = sorted(set(ledger.cases) - set(refs))
            if missing:
                problems.append(f"{len(missing)} accepted case(s) not stored, e.g. {missing[:3]}")
            by_key = dict(_q(c, "SELECT source_ref, id FROM cases WHERE source_ref LIKE :p", p=f"{tag}-c%"))
            wrong = [k for k, cid in ledger.cases.items() if k in by_key and by_key[k] != cid]
            if wrong:
                problems.append(f"{len(wrong)} case(s) answered with another id than stored")
            ev = Counter((int(r[0]), str(r[1])) for r in _q(
                c, "SELECT e.case_id, e.action FROM case_events e JOIN cases c ON c.id = e.case_id "
                   "WHERE c.source_ref LIKE :p AND e.action IN ('sign', 'start')", p=f"{tag}-c%"))
            twice = [k for k, n in ev.items() if n > 1]
            if twice:
                problems.append(f"{len(twice)} transition(s) recorded twice, e.g. {twice[:3]}")
            lost = [t for t in ledger.transitions if ev.get(t, 0) != 1]
            if lost:
                problems.append(f"{len(lost)} accepted transition(s) not recorded once, e.g. {lost[:3]}")
            ins = {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in _q(
                c, "SELECT i.title, i.id, i.targets, (SELECT count(*) FROM instruction_tasks t "
                   "WHERE t.instruction_id = i.id), (SELECT count(*) FROM notifications n WHERE n.kind = 'instruction' "
                   "AND n.title = i.title) FROM instructions i WHERE i.title LIKE 'mixed load instruction %'")}
            n_ins = _q(c, "SELECT count(*) FROM instructions WHERE title LIKE 'mixed load instruction %'")[0][0]
            if n_ins != len(ins):
                problems.append(f"instructions stored twice: {n_ins} rows for {len(ins)} titles")
            for key, (iid, targets) in ledger.instructions.items():
                title = f"mixed load instruction {key.rsplit('-i', 1)[1]}"
                got = ins.get(title)
                if got is None or got[0] != iid:
                    problems.append(f"instruction {key} not stored as answered")
                elif not got[1] == got[2] == got[3] == targets:
                    problems.append(f"instruction {key}: targets {targets}, tasks {got[2]}, notices {got[3]}")
            readings = _q(c, "SELECT count(*) FROM perception_readings WHERE ts >= :t0 AND device_code <> ALL(:tds)",
                          t0=datetime.fromtimestamp(ledger.started - 1, UTC), tds=ledger.timers)[0][0]
            if readings != ledger.readings:
                problems.append(f"readings: {ledger.readings} acknowledged, {readings} stored")
            alarms = Counter(str(r[0]) for r in _q(c, "SELECT device_code FROM perception_alarms WHERE alarm_type = :a",
                                                   a=TIMER_ALARM))
            raised_twice = _q(c, "SELECT count(*) FROM perception_alarms WHERE alarm_type = :a AND count <> 1",
                              a=TIMER_ALARM)[0][0]
            if sorted(alarms) != sorted(ledger.timers) or any(n != 1 for n in alarms.values()) or raised_twice:
                problems.append(f"timers: {len(ledger.timers)} set, alarms {dict(alarms)}, raised again {raised_twice}")
            runs = _q(c, "SELECT j.id, j.status, (SELECT count(*) FROM job_runs r WHERE r.job_id = j.id "
                         "AND r.outcome = 'done') FROM jobs j WHERE j.kind = 'perception.rule_timer' AND "
                      + OUR_TIMERS.replace("payload", "j.payload"), a=TIMER_ALARM)
            bad_runs = [r for r in runs if r[1] != "done" or r[2] != 1]
            if bad_runs:
                problems.append(f"{len(bad_runs)} timer job(s) not done exactly once, e.g. {bad_runs[:3]}")
            unpublished = _q(c, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
            if unpublished:
                problems.append(f"{unpublished} outbox event(s) never relayed")
            created = _q(c, "SELECT count(*) FROM outbox WHERE topic = 'case.created' AND "
                            "CAST(payload->>'case_id' AS bigint) = ANY(:ids)", ids=list(ledger.cases.values()))[0][0]
            if created != len(ledger.cases):
                problems.append(f"case.created events: {created} for {len(ledger.cases)} cases")
    finally:
        eng.dispose()
    if ledger.statuses.get("500"):
        problems.append(f"{ledger.statuses['500']} answer(s) 500")
    if ledger.unanswered:
        problems.append(f"{ledger.unanswered} request(s) never answered")
    return {"stored": {"cases": len(refs), "transitions": sum(ev.values()), "instructions": n_ins,
                       "readings": readings, "timer_alarms": sum(alarms.values()), "timer_jobs": len(runs)},
            "problems": problems}


def digest(db_url: str, tag: str) -> dict[str, Any]:
    """What the load left in the database, without ids and times: two runs of the same plan
    (any number of processes) must give the same digest."""
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            p = f"{tag}-c%"
            return {
                "cases": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT source_ref, category_code, state, grid_code, handler_unit, owner_node FROM cases "
                       "WHERE source_ref LIKE :p", p=p)]),
                "case_events": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT c.source_ref, e.action, e.to_state FROM case_events e JOIN cases c ON c.id = e.case_id "
                       "WHERE c.source_ref LIKE :p", p=p)]),
                "instructions": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT i.title, t.unit_code, t.state FROM instructions i JOIN instruction_tasks t "
                       "ON t.instruction_id = i.id WHERE i.title LIKE 'mixed load instruction %'")]),
                "notifications": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT kind, recipient_unit, count(*) FROM notifications GROUP BY kind, recipient_unit")]),
                "readings": [list(map(str, r)) for r in _q(
                    c, "SELECT key, count(*), round(CAST(sum(value) AS numeric), 3) FROM perception_readings "
                       "WHERE device_code NOT IN (SELECT device_code FROM perception_alarms WHERE alarm_type = :a) "
                       "GROUP BY key ORDER BY key", a=TIMER_ALARM)],
                "timer_alarms": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT device_code, status, count FROM perception_alarms WHERE alarm_type = :a", a=TIMER_ALARM)]),
                "outbox_topics": sorted([list(map(str, r)) for r in _q(
                    c, "SELECT topic, count(*) FROM outbox WHERE topic IN ('case.created', 'case.transitioned', "
                       "'instruction.issued', 'perception.alarm_raised') GROUP BY topic")]),
            }
    finally:
        eng.dispose()


def audit_verify(env: dict[str, str]) -> dict[str, Any]:
    """`cityos audit verify` on the deployment's database."""
    r = subprocess.run([cityos_bin(), "audit", "verify"], env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "audit chain" in ln]
    return {"exit": r.returncode, "output": lines[-1].strip() if lines else (r.stdout + r.stderr)[-300:]}
