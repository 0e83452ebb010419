"""Perception on a real database: devices and scope, HTTP ingest and dead letters,
time series queries and rollups, rules and alarms, durable duration timers, hazards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from cityos.bootstrap import Platform, bootstrap
from cityos.core.clock import FixedClock
from cityos.core.store import jobs, outbox
from cityos.core.worker import Worker
from cityos.identity.model import SYSTEM
from cityos.identity.seed import DEMO_PASSWORD
from cityos.perception import handlers as h
from cityos.perception import store
from tests.conftest import make_settings, seed


@pytest.fixture
def fp(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    """A seeded platform on a clock that moves only when told."""
    p = bootstrap(make_settings(database_url, tmp_path / "data"), clock=clock)
    seed(p)
    with p.db.begin() as conn:  # the demo rules would add alarms of their own
        conn.execute(delete(store.rules))
    yield p
    p.close()


@pytest.fixture
def fclient(fp: Platform) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityos.web.app import create_app

    with TestClient(create_app(fp)) as c:
        yield c


def token(client: Any, username: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def a_grid_point(p: Platform, district_index: int = 0) -> tuple[str, float, float]:
    with p.db.read() as conn:
        rows = conn.execute(select(store.devices.c.grid_code, store.devices.c.lon, store.devices.c.lat)
                            .where(store.devices.c.risk_point.is_(None)).order_by(store.devices.c.code)).all()
    districts = sorted({r[0][:6] for r in rows})
    for g, lon, lat in rows:
        if g[:6] == districts[district_index] and p.geo.locate(lon, lat).code_at("grid") == g:
            return g, lon, lat
    raise AssertionError("no device point found")


def make_device(p: Platform, code: str, type_: str = "water_level", district_index: int = 0,
                risk_point: str | None = None) -> tuple[dict[str, Any], str]:
    _, lon, lat = a_grid_point(p, district_index)
    return p.bus.handle(h.CreateDevice(SYSTEM, code, type_, lon, lat, risk_point=risk_point))  # type: ignore[no-any-return]


def alarms_of(p: Platform, code: str) -> list[dict[str, Any]]:
    with p.db.read() as conn:
        return conn.execute(select(store.alarms).where(store.alarms.c.device_code == code)
                            .order_by(store.alarms.c.id)).mappings().all()  # type: ignore[return-value]


def test_devices_api_locates_grid_and_filters_by_scope(fp: Platform, fclient: Any) -> None:
    admin = token(fclient, "admin")
    _, lon, lat = a_grid_point(fp, 0)
    r = fclient.post("/api/v1/devices", json={"code": "WL-TEST-1", "type": "water_level", "lon": lon, "lat": lat},
                     headers=admin)
    assert r.status_code == 201, r.text
    dev = r.json()
    assert dev["grid_code"] == fp.geo.locate(lon, lat).code_at("grid")
    assert dev["credential"].startswith("dev_")
    # bad input: a clear error naming the field, nothing written
    for body, fieldname in (({"code": "x y", "type": "gas", "lon": lon, "lat": lat}, "code"),
                            ({"code": "X1", "type": "toaster", "lon": lon, "lat": lat}, "type"),
                            ({"code": "X2", "type": "gas", "lon": 0.0, "lat": 0.0}, "location"),
                            ({"code": "WL-TEST-1", "type": "gas", "lon": lon, "lat": lat}, "code")):
        r = fclient.post("/api/v1/devices", json=body, headers=admin)
        assert r.status_code in (400, 409) and r.json()["error"]["field"] == fieldname, r.text
    # a district operator of another district neither lists nor reads it
    other = token(fclient, "district.operator")
    home = fclient.get("/api/v1/devices", params={"limit": 1000}, headers=other).json()
    assert all(d["grid_code"].startswith(dev["grid_code"][:6]) for d in home["devices"]) or home["total"] >= 0
    assert fclient.get("/api/v1/devices", headers={}).status_code == 401
    types = fclient.get("/api/v1/device-types").json()["types"]
    assert {"crack_meter", "tilt_meter", "gnss", "rain_gauge", "water_level", "gas", "smoke", "manhole_cover",
            "camera"} <= {t["code"] for t in types}
    with fp.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(store.devices)).scalar_one() >= 300


def test_http_ingest_queries_and_dead_letters(fp: Platform, fclient: Any, clock: FixedClock) -> None:
    _dev, secret = make_device(fp, "WL-HTTP-1")
    hdr = {"X-Device-Token": secret}
    url = "/api/v1/devices/WL-HTTP-1/telemetry"
    t0 = clock.now()
    ms = int(t0.timestamp() * 1000)
    assert fclient.post(url, json={"level_m": 1.0}, headers=hdr).status_code == 200
    r = fclient.post(url, json=[{"ts": ms + 20_000, "values": {"level_m": 1.5}},
                                {"ts": ms + 80_000, "values": {"level_m": 0.5}}], headers=hdr)
    assert r.json() == {"accepted": 1, "readings": 2, "alarms": []}
    # redelivery of the same points stores nothing twice
    r = fclient.post(url, json={"ts": ms + 80_000, "values": {"level_m": 0.5}}, headers=hdr)
    assert r.json()["readings"] == 0
    latest = fclient.get("/api/v1/devices/WL-HTTP-1/telemetry/latest", headers=token(fclient, "admin")).json()
    assert latest["values"]["level_m"]["value"] == 0.5
    rng = fclient.get("/api/v1/devices/WL-HTTP-1/telemetry", params={"key": "level_m"},
                      headers=token(fclient, "city.operator")).json()
    assert [pt["value"] for pt in rng["points"]] == [1.0, 1.5, 0.5]
    agg = fclient.get("/api/v1/devices/WL-HTTP-1/telemetry/aggregate", params={"key": "level_m", "bucket": "1m"},
                      headers=token(fclient, "city.operator")).json()["buckets"]
    assert [(b["count"], b["min"], b["max"], b["last"]) for b in agg] == [(2, 1.0, 1.5, 1.5), (1, 0.5, 0.5, 0.5)]
    hour = fclient.get("/api/v1/devices/WL-HTTP-1/telemetry/aggregate", params={"key": "level_m", "bucket": "1h"},
                       headers=token(fclient, "city.operator")).json()["buckets"]
    assert hour[0]["count"] == 3 and hour[0]["avg"] == pytest.approx(1.0) and hour[0]["last"] == 0.5
    # bad payloads: a clear 400 with the reason, a dead letter each, counted in /metrics
    bad = [(b"{not json", "malformed"), (b'{"level_m": NaN}', "not_finite"), (b'{"level_m": "high"}', "wrong_type"),
           (b'{"ts": %d, "values": {"level_m": 1}}' % (ms + 3_600_000), "future_timestamp"),
           (b'{"volts": 3}', "unknown_key"), (b"[" + b'{"ts": 1, "values": {"level_m": 1}},' * 5000 + b"1]", "oversized")]
    for body, reason in bad:
        r = fclient.post(url, content=body, headers={**hdr, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["details"]["reason"] == reason, (body[:40], r.text)
    assert fclient.post(url, json={"level_m": 1}, headers={"X-Device-Token": "wrong"}).status_code == 401
    assert fclient.post("/api/v1/devices/NOPE/telemetry", json={"level_m": 1}).status_code == 401
    dl = fclient.get("/api/v1/dead-letters", headers=token(fclient, "admin")).json()["dead_letters"]
    assert {d["reason"] for d in dl} >= {r for _, r in bad}
    metrics = fclient.get("/metrics").text
    assert 'cityos_ingest_dead_letters_total{reason="not_finite"}' in metrics


def test_threshold_with_hysteresis_ack_and_clear(fp: Platform, fclient: Any, clock: FixedClock) -> None:
    make_device(fp, "GAS-1", "gas")
    rid = fp.bus.handle(h.CreateRule(SYSTEM, "gas", "threshold", "gas_test", "CRITICAL", device_code="GAS-1",
                                     key="ch4_pct_lel", op=">=", limit=20, clear=10))

    def send(v: float) -> None:
        clock.advance(seconds=10)
        h.ingest(fp, [h.Message("GAS-1", b'{"ch4_pct_lel": %f}' % v)])

    send(25)
    send(30)  # same alarm, updated
    send(15)  # below the limit but above the clear level: still active (hysteresis)
    [a] = [a for a in alarms_of(fp, "GAS-1") if a["rule_id"] == rid]
    assert a["status"] == "ACTIVE_UNACK" and a["count"] == 1
    op = token(fclient, "city.operator")
    assert fclient.post(f"/api/v1/alarms/{a['id']}/ack", headers=op).json()["status"] == "ACTIVE_ACK"
    assert fclient.post(f"/api/v1/alarms/{a['id']}/ack", headers=op).status_code == 409
    send(5)
    [a] = [a for a in alarms_of(fp, "GAS-1") if a["rule_id"] == rid]
    assert a["status"] == "CLEARED_ACK"
    send(22)
    alarms = [a for a in alarms_of(fp, "GAS-1") if a["rule_id"] == rid]
    assert [x["status"] for x in alarms] == ["CLEARED_ACK", "ACTIVE_UNACK"]
    r = fclient.post(f"/api/v1/alarms/{alarms[1]['id']}/clear", headers=op)
    assert r.json()["status"] == "CLEARED_UNACK"
    listed = fclient.get("/api/v1/alarms", params={"device": "GAS-1"}, headers=op).json()
    assert {a["id"] for a in alarms} <= {a["id"] for a in listed["alarms"]}
    # a grid member cannot acknowledge; someone in another district does not even see it
    assert fclient.post(f"/api/v1/alarms/{alarms[1]['id']}/ack", headers=token(fclient, "grid.member")).status_code in (403, 404)
    assert fclient.post("/api/v1/alarms/999999/ack", headers=op).status_code == 404
    with fp.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.topic == "perception.alarm_raised")).scalar_one() >= 2


def test_repeat_rate_and_inactivity_rules(fp: Platform, clock: FixedClock) -> None:
    make_device(fp, "SMK-1", "smoke")
    make_device(fp, "CRK-1", "crack_meter")
    fp.bus.handle(h.CreateRule(SYSTEM, "smoke", "repeat", "smoke_t", "CRITICAL", device_code="SMK-1", key="smoke",
                               op=">=", limit=1, count=3))
    fp.bus.handle(h.CreateRule(SYSTEM, "rate", "rate", "crack_rate_t", "MAJOR", device_code="CRK-1", key="crack_mm",
                               op=">", limit=0.5))
    fp.bus.handle(h.CreateRule(SYSTEM, "silent", "inactivity", "offline_t", "WARNING", device_code="SMK-1",
                               duration_s=600))
    for v in (1, 1, 0, 1, 1):
        clock.advance(seconds=30)
        h.ingest(fp, [h.Message("SMK-1", b'{"smoke": %d}' % v)])
    assert not [a for a in alarms_of(fp, "SMK-1") if a["alarm_type"] == "smoke_t"]
    clock.advance(seconds=30)
    h.ingest(fp, [h.Message("SMK-1", b'{"smoke": true}')])
    assert [a["alarm_type"] for a in alarms_of(fp, "SMK-1")] == ["smoke_t"]
    for v in (1.0, 1.1, 2.0):  # +0.1/min, then +0.9/min
        clock.advance(minutes=1)
        h.ingest(fp, [h.Message("CRK-1", b'{"crack_mm": %f}' % v)])
    [a] = alarms_of(fp, "CRK-1")
    assert a["alarm_type"] == "crack_rate_t" and a["details"]["rate_per_min"] == pytest.approx(0.9)
    # the device goes silent: the durable timer raises "offline" once its time comes
    clock.advance(minutes=11)
    Worker(fp).run_jobs()
    assert "offline_t" in [a["alarm_type"] for a in alarms_of(fp, "SMK-1")]


def test_duration_rule_survives_a_restart(fp: Platform, database_url: str, tmp_path: Path, clock: FixedClock) -> None:
    make_device(fp, "WL-DUR-1")
    fp.bus.handle(h.CreateRule(SYSTEM, "high water 10 min", "duration", "high_water_t", "MAJOR",
                               device_code="WL-DUR-1", key="level_m", op=">", limit=2.5, clear=2.2, duration_s=600))
    h.ingest(fp, [h.Message("WL-DUR-1", b'{"level_m": 3.0}')])
    clock.advance(minutes=7)
    h.ingest(fp, [h.Message("WL-DUR-1", b'{"level_m": 3.1}')])
    assert alarms_of(fp, "WL-DUR-1") == []
    fp.close()  # the process "dies" at minute 7 ...
    clock.advance(minutes=3)
    p2 = bootstrap(make_settings(database_url, tmp_path / "data2"), clock=clock)  # ... and another one runs on
    try:
        assert Worker(p2).run_jobs() >= 1
        [a] = alarms_of(p2, "WL-DUR-1")
        assert a["status"] == "ACTIVE_UNACK" and a["severity"] == "MAJOR"
        with p2.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.kind == "perception.rule_timer", jobs.c.status == "done")).scalar_one() == 1
        # breaking off before the duration resets the timer: no alarm
        clock.advance(minutes=1)
        h.ingest(p2, [h.Message("WL-DUR-1", b'{"level_m": 2.0}')])
        assert alarms_of(p2, "WL-DUR-1")[0]["status"] == "CLEARED_UNACK"
        h.ingest(p2, [h.Message("WL-DUR-1", b'{"level_m": 3.0}')])
        clock.advance(minutes=5)
        h.ingest(p2, [h.Message("WL-DUR-1", b'{"level_m": 2.3}')])  # below the limit: breach over
        clock.advance(minutes=6)
        Worker(p2).run_jobs()
        assert len(alarms_of(p2, "WL-DUR-1")) == 1
    finally:
        p2.close()


def test_hazard_needs_two_indicators_and_emits_event(fp: Platform, fclient: Any, clock: FixedClock) -> None:
    with fp.db.read() as conn:
        rp = conn.execute(select(store.risk_points).order_by(store.risk_points.c.code).limit(1)).mappings().one()
        members = {d["type"]: d["code"] for d in conn.execute(
            select(store.devices).where(store.devices.c.risk_point == rp["code"])).mappings()}
    rain, gnss, crack = members["rain_gauge"], members["gnss"], members["crack_meter"]
    start = clock.now()

    def pt(code: str, minutes: float, key: str, v: float) -> h.Message:
        ms = int((start + timedelta(minutes=minutes)).timestamp() * 1000)
        return h.Message(code, b'{"ts": %d, "values": {"%s": %f}}' % (ms, key.encode(), v))

    def level() -> str:
        with fp.db.read() as conn:
            return str(store.risk_point(conn, rp["code"])["level"])  # type: ignore[index]

    # 90 mm of rain in an hour (red by the plan) but nothing else moves: one indicator -> yellow at most
    clock.advance(minutes=60)
    h.ingest(fp, [pt(rain, i * 10, "rain_mm", 15) for i in range(6)])
    assert level() == "yellow"
    # the GNSS station accelerates sharply (creep 0.05 mm/h -> > 1 mm/h: alpha > 85 deg) -> red with the rain
    h.ingest(fp, [pt(gnss, 10 * i, "disp_mm", 0.5 * i * i) for i in range(7)])
    assert level() == "red"
    with fp.db.read() as conn:
        ev = conn.execute(select(outbox.c.payload).where(outbox.c.topic == "perception.hazard_raised")).scalars().all()
    assert len(ev) == 1 and ev[0]["risk_point"] == rp["code"] and ev[0]["level"] == "red"
    assert ev[0]["grid"] == rp["grid_code"] and ev[0]["alarm_id"] is not None and "lon" in ev[0]["location"]
    listed = fclient.get("/api/v1/risk-points", params={"level": "red"}, headers=token(fclient, "city.operator")).json()
    assert [r["code"] for r in listed["risk_points"]] == [rp["code"]]
    assert crack  # the crack meter stayed quiet


def test_monthly_partitions_and_retention(fp: Platform, clock: FixedClock) -> None:
    make_device(fp, "WL-RET-1")
    now = clock.now()
    old = now - timedelta(days=200)
    msgs = [h.Message("WL-RET-1", b'{"ts": %d, "values": {"level_m": %d}}' % (int(t.timestamp() * 1000), i))
            for i, t in enumerate((old, old + timedelta(minutes=1), now))]
    assert h.ingest(fp, msgs).readings == 3
    with fp.db.begin() as conn:
        if fp.db.is_postgres:
            assert store.partitions(conn) == [store.partition_name(old), store.partition_name(now)]
        store.apply_retention(conn, now - timedelta(days=100), now - timedelta(days=31))
        left = conn.execute(select(store.readings.c.value).where(store.readings.c.device_code == "WL-RET-1")).scalars().all()
        assert left == [2.0]
        if fp.db.is_postgres:
            assert store.partitions(conn) == [store.partition_name(now)]
        minutes = conn.execute(select(func.count()).select_from(store.rollups).where(
            store.rollups.c.device_code == "WL-RET-1", store.rollups.c.bucket == "1m")).scalar_one()
        assert minutes == 1
    # older than the raw retention: a dead letter, not a silent loss
    too_old = int((now - timedelta(days=500)).timestamp() * 1000)
    res = h.ingest(fp, [h.Message("WL-RET-1", b'{"ts": %d, "values": {"level_m": 1}}' % too_old)])
    assert res.rejected[0][1] == "too_old"


def test_rockfall_scenario_drives_a_risk_point_blue_to_red(seeded: Platform) -> None:
    from cityos.perception import simulate as sim

    with seeded.db.read() as conn:
        rp = conn.execute(select(store.risk_points.c.code).order_by(store.risk_points.c.code).limit(1)).scalar_one()
        members = [dict(r) for r in conn.execute(select(store.devices).where(store.devices.c.risk_point == rp)).mappings()]
    levels: list[str] = []

    def send(code: str, body: bytes) -> None:
        res = h.ingest(seeded, [h.Message(code, body, "http")])
        assert not res.rejected, res.rejected
        with seeded.db.read() as conn:
            level = store.risk_point(conn, rp)["level"]  # type: ignore[index]
        if not levels or levels[-1] != level:
            levels.append(level)

    scenario = sim.Scenario("rockfall", sim.scenario_devices(members), duration_s=6.0)
    sim.run({}, 0, send, seconds=8.0, scenario=scenario, tick_s=0.25)
    assert levels[-1] == "red", levels
    assert [lv for lv in ("blue", "yellow", "orange", "red") if lv in levels] == ["blue", "yellow", "orange", "red"], levels
    with seeded.db.read() as conn:
        topics = conn.execute(select(outbox.c.payload).where(outbox.c.topic == "perception.hazard_raised")).scalars().all()
    assert [t["level"] for t in topics] == ["orange", "red"]


def test_ogc_collections_of_devices_and_risk_points(fp: Platform, fclient: Any) -> None:
    cols = {c["id"] for c in fclient.get("/ogc/collections").json()["collections"]}
    assert {"devices", "risk_points"} <= cols
    page = fclient.get("/ogc/collections/devices/items", params={"limit": 10, "type": "gas"}).json()
    assert page["numberMatched"] > 0 and all(f["properties"]["type"] == "gas" for f in page["features"])
    assert page["features"][0]["geometry"]["type"] == "Point"
    assert "secret_hash" not in page["features"][0]["properties"]
    rps = fclient.get("/ogc/collections/risk_points/items").json()
    assert rps["numberMatched"] == 12 and rps["features"][0]["geometry"]["type"] == "Polygon"
    one = rps["features"][0]
    got = fclient.get(f"/ogc/collections/risk_points/items/{one['id']}").json()
    assert got["properties"]["level"] == "none"
    lon, lat = one["geometry"]["coordinates"][0][0]
    box = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    near = fclient.get("/ogc/collections/devices/items", params={"bbox": box, "risk_point": one["id"]}).json()
    assert near["numberMatched"] == 3
    assert fclient.get("/ogc/collections/devices/items", params={"colour": "red"}).status_code == 400
