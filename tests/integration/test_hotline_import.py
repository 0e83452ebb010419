"""12345 hotline import through the CLI and the API: all rows checked first, duplicates skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityos.bootstrap import Platform
from cityos.core.errors import ValidationError
from cityos.governance import store
from tests.integration.test_case_loop import grid_point, login

HEAD = "number,received_at,category,description,address,lon,lat,division,caller_name,caller_phone\n"


def good_rows(p: Platform) -> str:
    lon, lat, grid = grid_point(p)
    return (f"HL-0001,2026-11-20 08:30,P0101,井盖缺失,解放路1号,{lon},{lat},,张三,13912345678\n"
            f"HL-0002,2026-11-21T10:00:00+08:00,上水井盖,井盖松动,,,,{grid[:9]},,\n"
            f"HL-0003,2026/11/22 14:05,Street lamp,路灯不亮,人民路,,,{grid},李四,023-6666666\n")


def count(p: Platform) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store.cases)).scalar_one())


def test_cli_imports_work_orders_once_and_refuses_a_file_with_a_bad_row(seeded: Platform, database_url: str,
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cityos.cli import app

    monkeypatch.setenv("CITYOS_DATABASE_URL", database_url)
    monkeypatch.setenv("CITYOS_DATA_DIR", str(tmp_path / "data"))
    good = tmp_path / "orders.csv"
    good.write_text(HEAD + good_rows(seeded), encoding="utf-8")
    result = CliRunner().invoke(app, ["case", "import-hotline", str(good)])
    assert result.exit_code == 0, result.output
    assert "created 3 case(s), skipped 0 duplicate(s)" in result.output
    with seeded.db.read() as conn:
        rows = conn.execute(select(store.cases).order_by(store.cases.c.source_ref)).mappings().all()
        events = store.events_of(conn, rows[0]["id"])
    assert [r["source_ref"] for r in rows] == ["HL-0001", "HL-0002", "HL-0003"]
    assert all(r["source"] == "hotline" and r["public"] and r["state"] == "collected" for r in rows)
    assert rows[0]["reporter_phone"] == "13912345678" and rows[0]["grid_code"] is not None
    assert rows[1]["category_code"] == "P0101" and rows[1]["node"] == rows[0]["township_code"]
    assert rows[2]["category_code"] == "P0104"
    assert rows[0]["created_at"].isoformat().startswith("2026-11-20T00:30")  # 08:30 Beijing time
    assert events[0]["action"] == "create" and "HL-0001" in events[0]["note"]

    again = CliRunner().invoke(app, ["case", "import-hotline", str(good)])
    assert again.exit_code == 0, again.output
    assert "created 0 case(s), skipped 3 duplicate(s)" in again.output and "HL-0002" in again.output
    assert count(seeded) == 3

    district = grid_point(seeded)[2][:6]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEAD + f"HL-0010,2026-11-20 09:00,P0101,新的工单,,,,{district},,\n"
                   f"HL-0011,2026-11-20 09:00,X9999,类别错误,,,,{district},,\n"
                   "HL-0012,yesterday,P0101,时间错误,,100.0,30.0,,,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["case", "import-hotline", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)
    msg = result.exception.message
    assert "2 bad row(s), nothing imported" in msg and "line 3: category 'X9999'" in msg and "line 4:" in msg
    assert count(seeded) == 3  # the good first row was not written either


def test_api_import_checks_rows_scope_and_format(seeded: Platform, client: Any) -> None:
    lon, lat, grid = grid_point(seeded)
    op = login(client, "district.operator")
    body = HEAD + good_rows(seeded)
    r = client.post("/api/v1/hotline/import", files={"file": ("orders.csv", body.encode(), "text/csv")}, headers=op)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["created"] == 3 and out["duplicates"] == [] and [c["source_ref"] for c in out["cases"]] == \
        ["HL-0001", "HL-0002", "HL-0003"]
    r = client.post("/api/v1/hotline/import", content=body.encode(), headers={**op, "Content-Type": "text/csv"})
    assert r.json()["created"] == 0 and [d["number"] for d in r.json()["duplicates"]] == ["HL-0001", "HL-0002", "HL-0003"]
    bad = HEAD + (f"HL-0100,2026-11-20 09:00,P0101,重复编号,,{lon},{lat},,,\n"
                  f"HL-0100,2026-11-20 09:00,P0101,重复编号,,{lon},{lat},,,\n"
                  f"HL-0101,2099-01-01 09:00,P0101,未来时间,,{lon},{lat},,,\n"
                  f"HL-0102,2026-11-20 09:00,P0101,,,{lon},{lat},,,\n"
                  f"HL-0103,2026-11-20 09:00,P0101,只有经度,,{lon},,,,\n")
    r = client.post("/api/v1/hotline/import", content=bad.encode(), headers={**op, "Content-Type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "file"
    details = r.json()["error"]["details"]
    assert [d["line"] for d in details] == [3, 4, 5, 6]
    assert "repeats line 2" in details[0]["reason"] and "future" in details[1]["reason"]
    assert "description is empty" in details[2]["reason"] and "lon and lat go together" in details[3]["reason"]
    assert count(seeded) == 3
    r = client.post("/api/v1/hotline/import", content=b"a,b\n1,2\n", headers={**op, "Content-Type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "columns"
    r = client.post("/api/v1/hotline/import", content=b"\xff\xfe", headers={**op, "Content-Type": "text/csv"})
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]["message"]
    # A grid member may not import; a district operator elsewhere may not import into this district.
    r = client.post("/api/v1/hotline/import", content=body.encode(),
                    headers={**login(client, "grid.member"), "Content-Type": "text/csv"})
    assert r.status_code == 403
    assert client.post("/api/v1/hotline/import", content=body.encode(),
                       headers={"Content-Type": "text/csv"}).status_code == 401
    from cityos.identity.handlers import CreateUser
    from cityos.identity.model import SYSTEM
    from cityos.identity.seed import DEMO_PASSWORD

    other = next(d for d in ("500102", "500103", "500104", "500105") if d != grid[:6])
    seeded.bus.handle(CreateUser(SYSTEM, "far.operator", "far", DEMO_PASSWORD, other,
                                 grants=[("district_operator", other)]))
    fresh = HEAD + f"HL-0200,2026-11-20 09:00,P0101,别区工单,,{lon},{lat},,,\n"
    r = client.post("/api/v1/hotline/import", content=fresh.encode(),
                    headers={**login(client, "far.operator"), "Content-Type": "text/csv"})
    assert r.status_code == 400 and "outside your scope" in r.json()["error"]["details"][0]["reason"]
    assert count(seeded) == 3
