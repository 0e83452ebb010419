"""The demo cases seed step: every state, consistent timelines, indicators computed from the events."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.governance import store
from cityos.governance.model import OPEN_STATES, STATES, period_of
from tests.conftest import seed


def test_s_seeds_2000_cases_in_every_state_with_ordered_timelines_and_indicators(platform: Platform,
                                                                                  client: Any) -> None:
    seed(platform, skip=())
    now = platform.clock.now()
    with platform.db.read() as conn:
        cases = {r["id"]: dict(r) for r in conn.execute(select(store.cases)).mappings()}
        events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in conn.execute(select(store.case_events).order_by(store.case_events.c.id)).mappings():
            events[e["case_id"]].append(dict(e))
        uncounted = conn.execute(select(func.count()).select_from(store.case_events)
                                 .where(store.case_events.c.counted.is_(False))).scalar_one()
        districts = sorted({c["district_code"] for c in cases.values()})
    assert len(cases) == 2000
    states = {c["state"] for c in cases.values()}
    assert states == set(STATES)
    assert len({c["grid_code"] for c in cases.values()}) > 200  # spread over the city (300 grids)
    assert any(c["overdue"] for c in cases.values()) and any(c["escalation_level"] > 0 for c in cases.values())
    assert sum(c["rework_count"] > 0 for c in cases.values()) > 20 and sum(c["return_count"] > 0 for c in cases.values()) > 20
    assert all(c["reporter_phone"] for c in cases.values() if c["public"])
    assert uncounted == 0
    for cid, c in cases.items():
        evs = events[cid]
        times = [e["at"] for e in evs]
        assert times == sorted(times) and times[-1] <= now and evs[0]["action"] == "create", (cid, evs)
        moves = [e for e in evs if e["action"] not in ("overdue", "escalate")]
        assert moves[-1]["to_state"] == c["state"], (cid, moves)
        for a, b in itertools.pairwise(moves):
            assert b["from_state"] == a["to_state"], (cid, a, b)
        if c["dispatched_at"] is not None:
            assert c["created_at"] <= c["dispatched_at"] < c["deadline"]
        if c["closed_at"] is not None:
            assert c["dispatched_at"] <= c["closed_at"] <= now
        if c["state"] == "merged":
            assert c["master_id"] in cases
        if c["escalation_level"]:
            assert c["overdue"] and [e["action"] for e in evs].count("escalate") == c["escalation_level"]
    # Indicators come from the events: the city's over the last months are not empty.
    months = sorted({period_of(c["deadline"]) for c in cases.values() if c["deadline"]})
    tok = client.post("/api/v1/auth/token", data={"username": "city.operator", "password": "cityos-demo-2026"})
    head = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    ind = client.get("/api/v1/indicators", params={"node": "500000", "period": months}, headers=head).json()
    assert ind["counts"]["due"] > 500 and ind["counts"]["closed"] > 300 and ind["counts"]["rework"] > 0
    assert 0 < ind["rates"]["closure_rate"] <= 100 and 0 < ind["rates"]["on_time_closure_rate"] < 100
    assert ind["rates"]["satisfaction_rate"] is not None and ind["rates"]["return_rate"] > 0
    assert {r["node"] for r in ind["ranking"]} == set(districts)
    # A new case after the seed takes the next id (the sequence moved past the seeded ids on PostgreSQL).
    r = client.post("/api/v1/cases", json={"category": "E0303", "description": "路面破损", "node": districts[0]},
                    headers=head)
    assert r.status_code == 201 and r.json()["id"] == max(cases) + 1
    # The queue pages through them; filters narrow them (the city operator sees the whole city).
    import re

    from tests.integration.test_case_pages import browser

    op = browser(platform, "city.operator")
    first, second = op.get("/cases").text, op.get("/cases", params={"page": 2}).text
    one = re.findall(r'<tr data-number="(\d+)"', first)
    two = re.findall(r'<tr data-number="(\d+)"', second)
    assert len(one) == len(two) == 50 and not set(one) & set(two)
    assert "1 / 41" in first and 'rel="next"' in first and "2 / 41" in second and 'rel="prev"' in second
    late = op.get("/cases", params={"overdue": "1", "state": "handling"}).text
    rows = re.findall(r'<tr data-number="\d+" data-id="\d+" class="([^"]*)"', late)
    assert rows and all(c == "overdue" for c in rows)
    assert len(op.get("/cases/map.json").json()["features"]) == sum(c["state"] in OPEN_STATES for c in cases.values())
