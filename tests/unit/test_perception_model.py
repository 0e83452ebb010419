"""Perception domain rules without IO: payloads, rules, alarm statuses, hazard levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityos.core.errors import IllegalTransition, ValidationError
from cityos.perception import model as m

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)


def test_payload_forms() -> None:
    [p] = m.parse_payload(b'{"level_m": 1.5, "x": true}', NOW)
    assert p.ts == NOW and p.values == {"level_m": 1.5, "x": 1.0}
    [p] = m.parse_payload(b'{"ts": %d, "values": {"level_m": 2}}' % (MS - 1000), NOW)
    assert p.ts == NOW - timedelta(seconds=1)
    pts = m.parse_payload(b'[{"ts": %d, "values": {"a": 1}}, {"ts": %d, "values": {"a": 2}}]' % (MS, MS + 1), NOW)
    assert [p.values["a"] for p in pts] == [1, 2]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"nope", "malformed"), (b"[]", "malformed"), (b"{}", "malformed"), (b'{"a": NaN}', "not_finite"),
    (b'{"a": Infinity}', "not_finite"), (b'{"a": "1"}', "wrong_type"), (b'{"a": null}', "wrong_type"),
    (b'{"ts": "x", "values": {"a": 1}}', "bad_timestamp"), (b'{"ts": 1e30, "values": {"a": 1}}', "bad_timestamp"),
    (b'{"ts": %d, "values": {"a": 1}}' % (MS + 3_600_000), "future_timestamp"), (b"1" * 70_000, "oversized"),
    (b'[{"a": 1}]', "malformed"), (b'{"ts": 1, "values": {"a": 1}, "b": 2}', "malformed"),
])
def test_bad_payloads(raw: bytes, reason: str) -> None:
    with pytest.raises(m.BadPayload) as e:
        m.parse_payload(raw, NOW)
    assert e.value.reason == reason


def test_unknown_key_for_the_device_type() -> None:
    with pytest.raises(m.BadPayload, match="no telemetry key") as e:
        m.parse_payload(b'{"volts": 1}', NOW, m.DEVICE_TYPES["gas"])
    assert e.value.reason == "unknown_key"


def test_alarm_statuses() -> None:
    assert m.ack_status("ACTIVE_UNACK") == "ACTIVE_ACK"
    assert m.ack_status("CLEARED_UNACK") == "CLEARED_ACK"
    assert m.clear_status("ACTIVE_ACK") == "CLEARED_ACK"
    assert m.clear_status("ACTIVE_UNACK") == "CLEARED_UNACK"
    for bad in ("ACTIVE_ACK", "CLEARED_ACK"):
        with pytest.raises(IllegalTransition):
            m.ack_status(bad)
    with pytest.raises(IllegalTransition):
        m.clear_status("CLEARED_UNACK")


def test_threshold_hysteresis() -> None:
    r = m.Rule(1, "threshold", "t", "MAJOR", "v", ">", 10, clear=8)
    st: dict[str, object] = {}
    seq = [(9, False, False), (11, True, False), (12, False, False), (9, False, False), (7.9, False, True),
           (10.5, True, False)]
    for i, (v, up, down) in enumerate(seq):
        out = m.on_reading(r, st, NOW + timedelta(seconds=i), v)
        assert (out.raise_alarm, out.clear_alarm) == (up, down), (i, v)


def test_duration_rule_sets_a_timer_and_fires_on_it() -> None:
    r = m.Rule(1, "duration", "t", "MAJOR", "v", ">", 10, duration_s=600)
    st: dict[str, object] = {}
    out = m.on_reading(r, st, NOW, 11)
    assert out.timer_at == NOW + timedelta(minutes=10) and not out.raise_alarm
    assert not m.on_reading(r, st, NOW + timedelta(minutes=7), 12).raise_alarm
    assert not m.on_timer(r, st, NOW + timedelta(minutes=9)).raise_alarm
    assert m.on_timer(r, st, NOW + timedelta(minutes=10)).raise_alarm
    assert not m.on_timer(r, st, NOW + timedelta(minutes=11)).raise_alarm  # already active


def test_repeat_and_rate_and_late_readings() -> None:
    r = m.Rule(1, "repeat", "t", "MAJOR", "v", ">=", 1, count=2)
    st: dict[str, object] = {}
    assert [m.on_reading(r, st, NOW + timedelta(seconds=i), v).raise_alarm for i, v in enumerate((1, 0, 1, 1))] == \
        [False, False, False, True]
    assert m.on_reading(r, st, NOW, 1) == m.Outcome()  # older than what the rule has seen
    rate = m.Rule(2, "rate", "t", "MAJOR", "v", ">", 1.0)
    st2: dict[str, object] = {}
    m.on_reading(rate, st2, NOW, 0)
    assert m.on_reading(rate, st2, NOW + timedelta(minutes=2), 3).raise_alarm  # 1.5 per minute


def test_inactivity() -> None:
    r = m.Rule(1, "inactivity", "t", "WARNING", None, duration_s=60)
    st: dict[str, object] = {}
    assert m.on_activity(r, st, NOW).timer_at == NOW + timedelta(seconds=60)
    assert not m.on_timer(r, st, NOW + timedelta(seconds=59)).raise_alarm
    assert m.on_timer(r, st, NOW + timedelta(seconds=60)).raise_alarm
    assert m.on_activity(r, st, NOW + timedelta(seconds=90)).clear_alarm


def test_rule_checks() -> None:
    with pytest.raises(ValidationError) as e:
        m.check_rule("threshold", "v", ">", 10, 12, 0, 1, "MAJOR", "t")
    assert e.value.field == "clear"
    with pytest.raises(ValidationError) as e:
        m.check_rule("duration", "v", ">", 10, None, 0, 1, "MAJOR", "t")
    assert e.value.field == "duration_s"
    with pytest.raises(ValidationError) as e:
        m.check_rule("threshold", "v", ">", 10, None, 0, 1, "BAD", "t")
    assert e.value.field == "severity"


def test_rainfall_multi_window() -> None:
    assert m.rainfall_level({1: 10, 3: 20, 6: 30, 24: 50}) == "none"
    assert m.rainfall_level({1: 35}) == "blue"
    assert m.rainfall_level({1: 10, 24: 130}) == "yellow"
    assert m.rainfall_level({3: 100}) == "orange"
    assert m.rainfall_level({1: 36, 6: 150}) == "red"  # the highest window wins


def test_tangent_angle_levels() -> None:
    creep = [(float(t), 0.05 * t) for t in range(10)]
    a = m.tangent_angle(creep, 0.05)
    assert a == pytest.approx(45.0) and m.displacement_level(a) == "blue"
    assert m.displacement_level(m.tangent_angle([(float(t), 0.2 * t) for t in range(6)], 0.05)) == "yellow"
    assert m.displacement_level(82) == "orange"
    assert m.displacement_level(m.tangent_angle([(float(t), 2.0 * t) for t in range(6)], 0.05)) == "red"
    assert m.displacement_level(m.tangent_angle([(0.0, 1.0), (1.0, 1.0)], 0.05)) == "none"
    assert m.tangent_angle([(0.0, 1.0)], 0.05) is None


def test_one_noisy_sensor_does_not_raise_red() -> None:
    assert m.combined_level({"gnss": "red"}) == "yellow"
    assert m.combined_level({"gnss": "red", "crack": "none", "rain": "none"}) == "yellow"
    assert m.combined_level({"gnss": "red", "rain": "yellow"}) == "orange"
    assert m.combined_level({"gnss": "red", "rain": "orange"}) == "red"
    assert m.combined_level({"gnss": "blue", "rain": "blue"}) == "blue"
    assert m.combined_level({}) == "none"
    assert m.raises_case("yellow", "orange") and not m.raises_case("red", "orange")


@pytest.mark.parametrize("kind", ["threshold", "repeat", "rate", "duration", "stale"])
def test_on_readings_is_on_reading_in_a_loop(kind: str) -> None:
    import copy
    import random

    rng = random.Random(kind)
    rule = m.Rule(id=1, kind=kind, alarm_type="t", severity="MAJOR", key="a", op=">=", limit=10.0, clear=5.0,
                  duration_s=30, count=3)
    st_one: dict[str, object] = {}
    st_many: dict[str, object] = {}
    for batch in range(30):
        series = [(NOW + timedelta(seconds=batch * 10 + rng.choice((0, 1, 2, -15))), rng.choice((1.0, 5.0, 7.0, 10.0, 12.0)))
                  for _ in range(rng.randint(0, 6))]
        one = [o for o in (m.on_reading(rule, st_one, t, v) for t, v in series)
               if o.raise_alarm or o.clear_alarm or o.timer_at is not None]
        many = m.on_readings(rule, st_many, list(series))
        assert many == one
        assert {k: v for k, v in st_many.items() if k != "active" or v} == \
            {k: v for k, v in copy.deepcopy(st_one).items() if k != "active" or v}


def test_rollup_rows_match_per_reading_buckets() -> None:
    import random

    from cityos.perception import store

    rng = random.Random(3)
    readings = [(rng.choice("AB"), "k", NOW + timedelta(seconds=rng.randint(-200_000, 200_000)), float(rng.randint(0, 9)))
                for _ in range(500)]
    want: dict[tuple[str, str, str, datetime], list[float]] = {}
    for d, k, t, v in readings:
        for b in store.BUCKETS:
            want.setdefault((d, k, b, store.bucket_start(t, b)), []).append(v)
    got = {(r[0], r[1], r[2], r[3]): r for r in store.rollup_rows(readings)}
    assert set(got) == set(want)
    for key, vals in want.items():
        r = got[key]
        assert (r[4], r[5], r[7]) == (min(vals), max(vals), len(vals)) and r[6] == pytest.approx(sum(vals))
        last = max((t, i) for i, (d, k, t, _v) in enumerate(readings)
                   if (d, k) == key[:2] and store.bucket_start(t, key[2]) == key[3])
        assert r[9] == last[0]
