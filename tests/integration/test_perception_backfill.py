"""`cityos perception backfill`: historical readings from CSV / JSON Lines, checked row by
row (errors name line and field, nothing written), idempotent, rollups kept equal to a
rebuild from the raw readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.errors import ValidationError
from cityos.perception import store
from cityos.perception.backfill import backfill


def _devices(p: Platform, type_: str, n: int) -> list[str]:
    with p.db.read() as conn:
        return [str(c) for c in conn.execute(select(store.devices.c.code).where(
            store.devices.c.type == type_, store.devices.c.status == "active").order_by(store.devices.c.code)
            .limit(n)).scalars()]


def _counts(p: Platform, codes: list[str]) -> tuple[int, dict[str, int]]:
    with p.db.read() as conn:
        raw = conn.execute(select(func.count()).select_from(store.readings)
                           .where(store.readings.c.device_code.in_(codes))).scalar_one()
        per = dict(conn.execute(select(store.rollups.c.bucket, func.sum(store.rollups.c.count))
                                .where(store.rollups.c.device_code.in_(codes)).group_by(store.rollups.c.bucket)).all())
    return int(raw), {str(k): int(v) for k, v in per.items()}


def test_backfill_csv_and_jsonl_idempotent_with_rollups(seeded: Platform, tmp_path: Path) -> None:
    wl = _devices(seeded, "water_level", 3)
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    lines = ["device_code,key,ts,value"]
    for i in range(600):  # every 7 minutes over ~3 days: many minutes, hours, several days
        t = start + timedelta(minutes=7 * i)
        lines.append(f"{wl[i % 3]},level_m,{t.isoformat().replace('+00:00', 'Z')},{1 + (i % 13) / 10}")
    lines.append(f"{wl[0]},level_m,{int(start.timestamp() * 1000) + 1},2.5")  # epoch ms works too
    csv_file = tmp_path / "history.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    res = backfill(seeded, csv_file)
    assert (res.rows, res.inserted) == (601, 601)
    raw, per = _counts(seeded, wl)
    assert raw == 601 and per == {"1m": 601, "1h": 601, "1d": 601}
    again = backfill(seeded, csv_file)
    assert (again.rows, again.inserted) == (601, 0)
    assert _counts(seeded, wl) == (raw, per)
    with seeded.db.read() as conn:
        one_day = conn.execute(select(store.rollups).where(
            store.rollups.c.device_code == wl[1], store.rollups.c.bucket == "1d").order_by(store.rollups.c.start)
            .limit(1)).mappings().one()
        vals = [v for t, v in conn.execute(select(store.readings.c.ts, store.readings.c.value).where(
            store.readings.c.device_code == wl[1], store.readings.c.ts >= one_day["start"],
            store.readings.c.ts < one_day["start"] + timedelta(days=1)).order_by(store.readings.c.ts))]
        latest = store.latest_of(conn, wl[0])
    assert one_day["count"] == len(vals) and one_day["min"] == min(vals) and one_day["max"] == max(vals)
    assert one_day["last"] == vals[-1] and one_day["sum"] == pytest.approx(sum(vals))
    assert latest and latest[0]["key"] == "level_m"

    smoke = _devices(seeded, "smoke", 1)[0]
    jl = tmp_path / "history.jsonl"
    jl.write_text("\n".join(json.dumps({"device_code": smoke, "ts": int((start + timedelta(seconds=i)).timestamp() * 1000),
                                        "values": {"smoke": False, "battery_pct": 90 - i}}) for i in range(50)) + "\n")
    res = backfill(seeded, jl)
    assert (res.rows, res.inserted) == (100, 100)
    assert backfill(seeded, jl).inserted == 0


def test_backfill_reports_bad_rows_by_line_and_field_and_writes_nothing(seeded: Platform, tmp_path: Path) -> None:
    wl = _devices(seeded, "water_level", 1)[0]
    now = datetime.now(UTC)
    ok = (now - timedelta(hours=1)).isoformat()
    f = tmp_path / "bad.csv"
    f.write_text("device_code,key,ts,value\n"
                 f"{wl},level_m,{ok},1.0\n"
                 f"NOPE-1,level_m,{ok},1.0\n"
                 f"{wl},level_m,{ok},abc\n"
                 f"{wl},rain_mm,{ok},1\n"
                 f"{wl},level_m,{(now + timedelta(days=1)).isoformat()},1\n"
                 f"{wl},level_m,2026-01-01T00:00:00,1\n"
                 f"{wl},level_m,{ok},NaN\n"
                 f"{wl},level_m\n")
    with pytest.raises(ValidationError) as e:
        backfill(seeded, f)
    details = "\n".join(e.value.details)
    for want in ("line 3, field device_code", "line 4, field value", "line 5, field key", "line 6, field ts",
                 "line 7, field ts", "line 8, field value", "line 9, field row"):
        assert want in details, details
    assert _counts(seeded, [wl])[0] == 0
    hdr = tmp_path / "hdr.csv"
    hdr.write_text("device,key,ts,value\n")
    with pytest.raises(ValidationError) as e:
        backfill(seeded, hdr)
    assert "line 1, field header" in e.value.details[0]
    jl = tmp_path / "bad.jsonl"
    jl.write_text(json.dumps({"device_code": wl, "ts": "x", "values": {"level_m": 1}}) + "\n{oops\n")
    with pytest.raises(ValidationError) as e:
        backfill(seeded, jl)
    assert e.value.details[0].startswith("line 1, field ts") and e.value.details[1].startswith("line 2, field json")
