"""The closed loop through the native API with the demo accounts, on a real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.identity.seed import DEMO_PASSWORD


def login(client: Any, user: str) -> dict[str, str]:
    tok = client.post("/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {tok}"}


def grid_point(p: Platform) -> tuple[float, float, str]:
    """A point inside the grid where the demo grid member works."""
    from cityos.geo import store as geo_store

    with p.db.read() as conn:
        grid = conn.execute(select(geo_store.divisions.c.code, geo_store.divisions.c.center_lon,
                                   geo_store.divisions.c.center_lat).where(geo_store.divisions.c.level == "grid")
                            .order_by(geo_store.divisions.c.code).limit(1)).one()
    return float(grid[1]), float(grid[2]), str(grid[0])


def test_a_case_goes_round_the_whole_loop(seeded: Platform, client: Any) -> None:
    lon, lat, grid = grid_point(seeded)
    member = login(client, "grid.member")
    r = client.post("/api/v1/cases", json={"category": "P0101", "description": "井盖缺失，有坠落危险", "lon": lon, "lat": lat,
                                           "source": "grid"}, headers={**member, "Idempotency-Key": "k-1"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["state"] == "dispatched" and case["routing"]["unit"] == f"D-{grid[:6]}-water"
    assert "water" in case["routing"]["rule"]
    again = client.post("/api/v1/cases", json={"category": "P0101", "description": "井盖缺失，有坠落危险", "lon": lon,
                                               "lat": lat, "source": "grid"}, headers={**member, "Idempotency-Key": "k-1"})
    assert again.json()["id"] == case["id"]
    clash = client.post("/api/v1/cases", json={"category": "P0102", "description": "x", "lon": lon, "lat": lat,
                                               "source": "grid"}, headers={**member, "Idempotency-Key": "k-1"})
    assert clash.status_code == 409
    cid = case["id"]
    handler, verifier, dispatcher = login(client, "handler"), login(client, "verifier"), login(client, "dispatcher")

    def do(who: dict[str, str], action: str, **body: Any) -> Any:
        return client.post(f"/api/v1/cases/{cid}/actions/{action}", json=body, headers=who)

    assert do(handler, "close").status_code == 409
    assert do(handler, "sign").json()["state"] == "signed"
    assert do(handler, "start").json()["state"] == "handling"
    assert do(handler, "report", note="已更换井盖").json()["state"] == "reported"
    assert do(verifier, "rework", note="井盖未固定").json()["state"] == "handling"
    assert do(handler, "report", note="已固定").json()["state"] == "reported"
    assert do(verifier, "verify", note="现场核查合格").json()["state"] == "verified"
    r = do(member, "close")
    assert r.status_code == 403 and r.json()["error"]["field"] == "role"
    assert do(dispatcher, "close").json()["state"] == "closed"
    detail = client.get(f"/api/v1/cases/{cid}", headers=dispatcher).json()
    actions = [e["action"] for e in detail["timeline"]]
    assert actions == ["create", "file", "dispatch", "sign", "start", "report", "rework", "report", "verify", "close"]
    assert all(e["actor"] and e["at"] for e in detail["timeline"])
    assert detail["rework_count"] == 1
    assert h.apply_stats(seeded) == 10
    period = detail["deadline"][:7]
    ind = client.get("/api/v1/indicators", params={"node": grid[:6], "period": period}, headers=dispatcher).json()
    assert ind["counts"]["due"] == 1 and ind["counts"]["closed"] == 1 and ind["counts"]["rework"] == 1
    assert ind["rates"]["closure_rate"] == 100.0 and ind["rates"]["rework_rate"] == 100.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "X9999", "description": "d", "lon": 107.5, "lat": 30.0}, "category"),
        ({"category": "P0101", "description": "d", "lon": 100.0, "lat": 30.0}, "location"),
        ({"category": "P0101", "description": "d", "lon": 107.5}, "lat"),
        ({"category": "P0101", "description": " ", "lon": 107.5, "lat": 30.0}, "description"),
        ({"category": "P0101", "description": "d"}, "location"),
    ],
)
def test_bad_intake_is_refused_and_nothing_is_written(seeded: Platform, client: Any, body: dict[str, Any],
                                                      field: str) -> None:
    r = client.post("/api/v1/cases", json=body, headers=login(client, "city.operator"))
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
    with seeded.db.read() as conn:
        assert conn.execute(select(store.cases.c.id)).first() is None


def test_scope_and_extension_rules(seeded: Platform, client: Any) -> None:
    lon, lat, grid = grid_point(seeded)
    op = login(client, "city.operator")
    cid = client.post("/api/v1/cases", json={"category": "E0303", "description": "路面破损", "lon": lon, "lat": lat},
                      headers=op).json()["id"]
    # A district operator of another district cannot see it.
    from cityos.identity.handlers import CreateUser
    from cityos.identity.model import SYSTEM

    with seeded.db.read() as conn:
        other = conn.execute(select(store.cases.c.district_code)).scalar_one()
    districts = sorted({c[:6] for c in [grid]} ^ {"500105", "500106"})
    far = next(d for d in districts if d != other)
    seeded.bus.handle(CreateUser(SYSTEM, "far.operator", "far", DEMO_PASSWORD, far, grants=[("district_operator", far)]))
    far_h = login(client, "far.operator")
    assert client.get(f"/api/v1/cases/{cid}", headers=far_h).status_code == 404
    assert client.get("/api/v1/cases", headers=far_h).json()["total"] == 0
    handler = login(client, "handler")
    r = client.post(f"/api/v1/cases/{cid}/actions/request_extension", json={"hours": 24, "note": "需协调"}, headers=handler)
    assert r.status_code == 200
    r = client.post(f"/api/v1/cases/{cid}/actions/approve_extension", json={}, headers=login(client, "dispatcher"))
    assert r.status_code == 200
    detail = client.get(f"/api/v1/cases/{cid}", headers=op).json()
    assert detail["extension"] is None and detail["timeline"][-1]["action"] == "approve_extension"


def test_attachments_are_checked(seeded: Platform, client: Any) -> None:
    lon, lat, _ = grid_point(seeded)
    op = login(client, "city.operator")
    cid = client.post("/api/v1/cases", json={"category": "E0101", "description": "垃圾", "lon": lon, "lat": lat},
                      headers=op).json()["id"]
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    ok = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("a.png", png, "image/png")}, headers=op)
    assert ok.status_code == 201
    bad = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("a.exe", b"MZ...", "application/x-msdownload")},
                      headers=op)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "content_type"
    liar = client.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("a.png", b"GIF89a", "image/png")}, headers=op)
    assert liar.status_code == 400 and "content" in liar.json()["error"]["message"]
    big = client.post(f"/api/v1/cases/{cid}/attachments",
                      files={"file": ("b.png", b"\x89PNG" + b"0" * (h.MAX_ATTACHMENT + 10), "image/png")}, headers=op)
    assert big.status_code == 413


def test_overdue_escalates_once_even_with_two_sweeps(seeded: Platform, client: Any, clock: FixedClock) -> None:
    lon, lat, _grid = grid_point(seeded)
    seeded.clock = clock
    op = login(client, "city.operator")
    cid = client.post("/api/v1/cases", json={"category": "E0101", "description": "暴露垃圾", "lon": lon, "lat": lat,
                                             "source": "grid"}, headers=op).json()["id"]
    with seeded.db.read() as conn:
        case = store.get_case(conn, cid)
    assert case is not None and case["owner_level"] == "grid"
    clock.set(case["deadline"] + timedelta(minutes=1))
    woken: list[int] = []
    stop = seeded.db.on_commit("notifications", lambda: woken.append(1))
    assert h.sweep_overdue(seeded) == {"overdue": 1, "escalated": 0}
    assert woken == [1], "the overdue notice wakes the live inbox streams when the sweep commits"
    assert h.sweep_overdue(seeded) == {"overdue": 0, "escalated": 0}
    assert woken == [1], "a sweep that flags nothing wakes nobody"
    stop()
    clock.advance(hours=3)
    first = h.sweep_overdue(seeded)
    second = h.sweep_overdue(seeded)
    assert first["escalated"] == 1 and second["escalated"] == 0
    with seeded.db.read() as conn:
        case = store.get_case(conn, cid)
        events = [e["action"] for e in store.events_of(conn, cid)]
    assert case is not None and case["owner_level"] == "township" and case["escalation_level"] == 1
    assert events.count("escalate") == 1 and events.count("overdue") == 1
