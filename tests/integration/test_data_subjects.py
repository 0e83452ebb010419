"""Subject databases: refreshed on demand and by the worker's recurring job; lineage in the catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from cityos.bootstrap import Platform
from cityos.core.worker import Worker
from cityos.data import store as s
from cityos.identity import handlers as h
from cityos.identity.model import SYSTEM


def _n(p: Platform, t: Any) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


def test_refresh_on_demand_by_job_and_lineage(seeded: Platform, client: Any) -> None:
    full = _n(seeded, s.subj_elderly_alone)
    assert full > 0
    with seeded.db.begin() as conn:
        conn.execute(delete(s.subj_elderly_alone))
    # The worker's recurring job refreshes every subject database.
    w = Worker(seeded, name="t")
    w.ensure_recurring()
    assert w.run_once() >= 1
    assert _n(seeded, s.subj_elderly_alone) == full
    # On demand, by a data officer; refused to a citizen.
    _cid, key = seeded.bus.handle(h.CreateCredential(SYSTEM, "data.officer", "t", "api_key", ("*",), None))
    r = client.post("/api/v1/data/subjects/refresh", params={"name": "licences-expiring-30d"}, headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["refreshed"]["licences-expiring-30d"] == _n(seeded, s.subj_licences_expiring)
    _cid, ckey = seeded.bus.handle(h.CreateCredential(SYSTEM, "citizen", "t", "api_key", ("*",), None))
    assert client.post("/api/v1/data/subjects/refresh", headers={"X-API-Key": ckey}).status_code == 403
    # Every elderly person living alone is 65 or over and alone in the household.
    with seeded.db.read() as conn:
        hh = conn.execute(select(s.subj_elderly_alone.c.household_id)).scalars().all()
        sizes = dict(conn.execute(select(s.residents.c.household_id, func.count()).where(
            s.residents.c.household_id.in_(hh), s.residents.c.status == "active").group_by(s.residents.c.household_id)).all())
    assert set(sizes.values()) == {1}
    # Lineage: which datasets feed which.
    pkg = client.get("/api/3/action/package_show", params={"id": "residents-in-risk-areas"}).json()["result"]
    assert pkg["lineage"]["sources"] == ["population", "spatial-geography"] and "SELECT" in pkg["query"]
    base = client.get("/api/3/action/package_show", params={"id": "population"}).json()["result"]
    assert {"elderly-living-alone", "residents-in-risk-areas"} <= set(base["lineage"]["derived"])
