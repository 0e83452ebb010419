"""The open-case counters the command screen reads (`case_counts`) stay equal to a recount of
the cases through every kind of case write: bulk demo load, intake (auto-dispatched, collected,
emergency, located by code, at the city itself), each transition of the loop, merge, cancel,
reassignment, take-over, the overdue sweep and escalation, an extension; and the rebuild
command recounts them from scratch."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.dashboard import store as dash_store
from cityos.demo.seed import load_steps
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.identity.model import SYSTEM, Actor
from tests.conftest import seed
from tests.integration.test_case_loop import grid_point
from tests.integration.test_dashboard import divisions

Key = tuple[str, str, str, str, bool, bool]


def recount(p: Platform) -> Counter[Key]:
    c = store.cases.c
    out: Counter[Key] = Counter()
    with p.db.read() as conn:
        for node, cat, state, od, em in conn.execute(select(c.node, c.category_code, c.state, c.overdue, c.emergency)
                                                     .where(c.state.in_(store.OPEN_STATES))):
            for n, parent in store.count_path(node):
                out[(n, parent, cat[:3], state, bool(od), bool(em))] += 1
    return out


def counters(p: Platform) -> Counter[Key]:
    t = store.case_counts.c
    out: Counter[Key] = Counter()
    with p.db.read() as conn:
        for r in conn.execute(select(t.node, t.parent, t.cls, t.state, t.overdue, t.emergency, t.n)):
            assert r.n >= 0, r
            if r.n:
                out[(r.node, r.parent, r.cls, r.state, bool(r.overdue), bool(r.emergency))] = r.n
    return out


def check(p: Platform) -> None:
    """Counters == recount, and every screen's case figures == the aggregate over the open cases."""
    assert counters(p) == recount(p)
    nodes = [*divisions(p, "city"), *divisions(p, "district"), *divisions(p, "township")[:3],
             *divisions(p, "village")[:3], *divisions(p, "grid")[:3]]
    with p.db.read() as conn:
        for node in nodes:
            fast = dash_store.case_figures(conn, node, None)
            slow = dash_store.case_figures_scan(conn, node, None)
            slow["by_child"].pop(node, None)  # cases lying at the node itself (the city) are no child's
            assert fast == slow, node


def report(p: Platform, **kw: Any) -> int:
    lon, lat, _grid = grid_point(p)
    args: dict[str, Any] = {"category": "P0101", "description": "井盖缺失", "lon": lon, "lat": lat, "source": "grid"}
    args.update(kw)
    return int(p.bus.handle(h.ReportCase(SYSTEM, **args))["id"])


VERIFIER = Actor(user_id=0, username="verifier", grants=(), via="system")  # not the one who reported


def act(p: Platform, case_id: int, action: str, **payload: Any) -> None:
    actor = VERIFIER if action == "verify" else SYSTEM
    p.bus.handle(h.Act(actor, case_id, action, note=f"test {action}", payload=payload))


def test_counters_equal_a_recount_through_every_case_write(seeded: Platform, clock: FixedClock) -> None:
    p = seeded
    p.clock = clock
    check(p)  # the seeded city has no cases yet
    seed(p, skip=[s.name for s in load_steps() if s.name != "demo cases"])  # bulk-inserted demo cases
    check(p)
    assert sum(counters(p).values()) > 0

    town = divisions(p, "township")[1]
    city = divisions(p, "city")[0]
    auto = [report(p) for _ in range(6)]  # trusted source: filed and dispatched at once
    collected = [report(p, source="public") for _ in range(4)]
    emergency = report(p, category="E0101", emergency=True)
    by_code = report(p, lon=None, lat=None, node=town, source="public")
    at_city = report(p, lon=None, lat=None, node=city, source="public")
    check(p)

    for a in ("sign", "start", "report", "verify", "close"):  # one case round the loop
        act(p, auto[0], a)
    act(p, auto[0], "follow_up", satisfied=False)  # back to handling
    for a in ("report", "verify", "close"):
        act(p, auto[0], a)
    act(p, auto[0], "reopen")
    act(p, auto[1], "return")
    act(p, auto[1], "dispatch")
    act(p, auto[2], "reassign", unit="D-test-unit")
    act(p, auto[3], "park")
    act(p, auto[4], "take_over", level="city")
    act(p, collected[0], "file")
    act(p, collected[0], "dispatch")
    act(p, collected[1], "cancel")
    act(p, collected[2], "merge", master_id=collected[3])
    act(p, by_code, "file")
    act(p, at_city, "file")
    check(p)

    with p.db.read() as conn:
        case = store.get_case(conn, auto[5])
    assert case is not None and case["deadline"] is not None
    act(p, auto[5], "request_extension", hours=48)
    clock.set(case["deadline"] + timedelta(minutes=1))  # past most deadlines: the sweep flags them
    assert h.sweep_overdue(p)["overdue"] >= 1
    check(p)
    with p.db.read() as conn:
        flagged = store.get_case(conn, auto[5])
    assert flagged is not None and flagged["overdue"] is True
    act(p, auto[5], "approve_extension")  # no longer overdue
    with p.db.read() as conn:
        extended = store.get_case(conn, auto[5])
    assert extended is not None and extended["overdue"] is False
    act(p, auto[3], "unpark")
    clock.advance(hours=6)
    h.sweep_overdue(p)  # escalation moves owners, not counters
    act(p, emergency, "sign")
    check(p)

    before = counters(p)
    result = CliRunner().invoke(_cli(), ["dashboard", "rebuild-counters"], env=_env(p))
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    assert counters(p) == before


def test_rebuild_recounts_a_table_that_drifted(seeded: Platform) -> None:
    report(seeded)
    report(seeded, source="public")
    with seeded.db.begin() as conn:
        conn.execute(store.case_counts.update().values(n=store.case_counts.c.n + 5))
    assert counters(seeded) != recount(seeded)
    with seeded.db.begin() as conn:
        store.rebuild_case_counts(conn)
    check(seeded)


def _cli() -> Any:
    from cityos.cli import app

    return app


def _env(p: Platform) -> dict[str, str]:
    return {"CITYOS_DATABASE_URL": str(p.settings.database_url),
            "CITYOS_DATA_DIR": str(p.settings.data_dir)}
