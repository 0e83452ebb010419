"""The command screen: figures of a node within scope, 403 outside it, indicator series
from CSV (all rows or none), and the live stream (one shared poller) on a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cityos.bootstrap import Platform
from cityos.dashboard import store
from cityos.geo import store as geo_store
from cityos.governance.settings import case_settings
from cityos.identity.seed import DEMO_PASSWORD
from tests.conftest import LiveServer
from tests.integration.test_case_loop import grid_point, login


def divisions(p: Platform, level: str) -> list[str]:
    d = geo_store.divisions
    with p.db.read() as conn:
        return [str(c) for c in conn.execute(select(d.c.code).where(d.c.level == level).order_by(d.c.code)).scalars()]


def report(p: Platform, client: Any) -> str:
    lon, lat, _grid = grid_point(p)
    r = client.post("/api/v1/cases", headers=login(client, "grid.member"), json={
        "category": "P0101", "description": "井盖缺失", "lon": lon, "lat": lat, "source": "grid"})
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


def test_city_screen_has_every_figure_and_drills_down(seeded: Platform, client: Any) -> None:
    report(seeded, client)
    op = login(client, "city.operator")
    city = divisions(seeded, "city")[0]
    r = client.get(f"/api/v1/dashboard/{city}", headers=op)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["level"] == "city" and d["breadcrumb"][0]["code"] == city
    assert {u["code"] for u in d["units"]} == set(divisions(seeded, "district"))
    assert all(u["geometry"]["type"] in ("Polygon", "MultiPolygon") for u in d["units"])
    assert d["totals"]["open"] == sum(u["open"] for u in d["units"]) > 0
    assert set(d["sectors"]) == {"urban_operation", "social_governance", "convenient_service", "emergency_management"}
    assert len(d["indicators"]["trend"]) == 6
    for key in ("hazards", "instructions", "emergencies", "digital_economy", "ranking"):
        assert key in d
    district = grid_point(seeded)[2][:6]
    assert d["units"][0]["code"] == district
    down = client.get(f"/api/v1/dashboard/{district}", headers=op).json()
    assert down["totals"]["open"] == d["units"][0]["open"] > 0
    assert [c["code"] for c in down["breadcrumb"]] == [city, district]
    town = down["units"][0]["code"]
    assert client.get(f"/api/v1/dashboard/{town}", headers=op).json()["level"] == "township"
    page = client.get(f"/dashboard/{district}", headers=op)
    assert page.status_code == 200 and 'id="dashboard"' in page.text


def test_foreign_district_is_forbidden_and_leaks_nothing(seeded: Platform, client: Any) -> None:
    report(seeded, client)
    op = login(client, "district.operator")
    mine, *others = divisions(seeded, "district")
    assert others, "the S city has more than one district"
    assert client.get("/api/v1/dashboard", headers=op).json()["node"] == mine
    d = client.get(f"/api/v1/dashboard/{mine}", headers=op).json()
    assert all(u["code"].startswith(mine) for u in d["units"])
    assert d["recent_cases"] and all(c["node"].startswith(mine) for c in d["recent_cases"])
    foreign = others[0]
    r = client.get(f"/api/v1/dashboard/{foreign}", headers=op)
    assert r.status_code == 403
    page = client.get(f"/dashboard/{foreign}", headers=op)
    assert page.status_code == 403 and 'id="dashboard"' not in page.text
    city = divisions(seeded, "city")[0]
    assert client.get(f"/api/v1/dashboard/{city}", headers=op).status_code == 403
    assert client.get("/api/v1/dashboard/12x", headers=op).status_code == 400


def test_series_csv_all_or_nothing(seeded: Platform, client: Any, tmp_path: Path) -> None:
    city = divisions(seeded, "city")[0]
    officer = login(client, "data.officer")
    good = ("name,unit,source,node,period,value\n"
            f"数字经济占GDP比重,%,统计局,{city},2025,41.5\n"
            f"数字经济占GDP比重,%,统计局,{city},2026-Q3,43.2\n")
    r = client.post("/api/v1/dashboard/series/import", headers=officer, content=good.encode())
    assert r.json() == {"imported": 2}
    bad = ("name,unit,source,node,period,value\n"
           f"x,%,s,{city},2026,1\n"
           f"y,%,s,{city},2026-13,2\n"
           f"z,%,s,abc,2026,three\n")
    r = client.post("/api/v1/dashboard/series/import", headers=officer, content=bad.encode())
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert "row 3" in msg and "row 4" in msg and "row 2" not in msg
    with seeded.db.read() as conn:
        assert len(conn.execute(select(store.series)).all()) == 2
    assert client.post("/api/v1/dashboard/series/import", headers=login(client, "grid.member"),
                       content=good.encode()).status_code == 403
    d = client.get(f"/api/v1/dashboard/{city}", headers=login(client, "city.operator")).json()
    (s,) = d["digital_economy"]["series"]
    assert s["points"] == [["2025", 41.5], ["2026-Q3", 43.2]]
    # the CLI door, same checks
    from cityos.cli import app

    f = tmp_path / "bad.csv"
    f.write_text(bad, encoding="utf-8")
    res = CliRunner().invoke(app, ["dashboard", "import-series", str(f)])
    assert res.exit_code == 1 and "row 3" in res.output


@pytest.fixture
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CITYOS_SSE_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("CITYOS_SSE_POLL_S", "0.2")
    case_settings.cache_clear()
    yield
    case_settings.cache_clear()


def test_a_new_case_is_pushed_to_screens_in_scope_only(seeded: Platform, fast_poll: None) -> None:
    lon, lat, grid = grid_point(seeded)
    mine = grid[:6]
    foreign = next(c for c in divisions(seeded, "district") if c != mine)
    with LiveServer(seeded) as server, httpx.Client(base_url=server.url, timeout=10.0) as http:
        op = {"Authorization": "Bearer " + http.post("/api/v1/auth/token", data={
            "username": "city.operator", "password": DEMO_PASSWORD}).json()["access_token"]}
        member = {"Authorization": "Bearer " + http.post("/api/v1/auth/token", data={
            "username": "grid.member", "password": DEMO_PASSWORD}).json()["access_token"]}
        with http.stream("GET", f"/api/v1/dashboard/{mine}/stream", headers=op) as near, \
                http.stream("GET", f"/api/v1/dashboard/{foreign}/stream", headers=op) as far:
            lines = near.iter_lines()
            far_lines = far.iter_lines()
            assert "hello" in next(x for x in lines if x.startswith("event:"))
            assert "hello" in next(x for x in far_lines if x.startswith("event:"))
            r = http.post("/api/v1/cases", headers=member, json={
                "category": "P0101", "description": "井盖缺失", "lon": lon, "lat": lat, "source": "grid"})
            assert r.status_code == 201, r.text
            number = r.json()["number"]
            ev = None
            for line in lines:
                if line.startswith("event: case"):
                    ev = json.loads(next(lines).removeprefix("data: "))
                    break
            assert ev is not None and ev["label"] == number and ev["node"].startswith(mine)
            heard = [next(x for x in far_lines if x) for _ in range(4)]  # hello's data, then heartbeats
            assert not any(x.startswith("event: case") for x in heard), heard
            assert heard[-1] == ": heartbeat"
