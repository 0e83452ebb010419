"""Group commit (core.groupcommit) and the case intake written through it: concurrent intakes
share transactions, each answered only once committed; one bad item fails alone; idempotency
keys, events, notices, outbox, audit and the open-case counters are as for one intake at a time.
And the set-based overdue sweep writes what the per-case one did."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.engine import Connection

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.core.errors import Conflict, ValidationError
from cityos.core.groupcommit import GroupCommit
from cityos.core.store import outbox
from cityos.governance import handlers as h
from cityos.governance import store
from cityos.identity import store as id_store
from cityos.identity.model import SYSTEM
from tests.integration.test_case_loop import grid_point
from tests.integration.test_dashboard_counters import check

scratch = MetaData()
items_t = Table("gc_items", scratch, Column("id", Integer, primary_key=True), Column("name", String(20)))


def _run_threads(n: int, fn: Any) -> list[Any]:
    out: list[Any] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # the outcome under test
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_concurrent_items_share_batches_and_a_bad_one_fails_alone(platform: Platform) -> None:
    scratch.create_all(platform.db.engine)
    gate = threading.Event()

    def write(conn: Connection, names: Sequence[str]) -> list[Any]:
        gate.wait(5)  # the first batch waits, so the others queue up behind it
        for name in names:
            if name == "bad":
                raise RuntimeError("bad item")
            conn.execute(insert(items_t).values(name=name))
        return [f"ok {n}" for n in names]

    gc: GroupCommit[str, str] = GroupCommit(platform.db, write, parallel=1)
    threading.Timer(0.3, gate.set).start()
    good = [f"a{i}" for i in range(16)]
    assert _run_threads(len(good), lambda i: gc.submit(good[i])) == [f"ok {n}" for n in good]
    assert gc.batches < len(good) / 2  # they shared transactions (the first alone, the rest queued behind it)

    gate.clear()
    names = ["bad" if i == 7 else f"item{i}" for i in range(24)]
    threading.Timer(0.3, gate.set).start()
    out = _run_threads(len(names), lambda i: gc.submit(names[i]))
    assert isinstance(out[7], RuntimeError)
    assert [o for i, o in enumerate(out) if i != 7] == [f"ok {n}" for n in names if n != "bad"]
    with platform.db.read() as conn:
        stored = sorted(r[0] for r in conn.execute(select(items_t.c.name)))
    assert stored == sorted(n for n in [*good, *names] if n != "bad")


def _report(p: Platform, lon: float, lat: float, i: int, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"category": "P0101", "description": f"井盖缺失 {i}", "lon": lon, "lat": lat,
                            "source": "grid"}
    args.update(kw)
    return dict(p.bus.handle(h.ReportCase(SYSTEM, **args)))


def test_concurrent_intakes_are_each_written_whole(seeded: Platform) -> None:
    lon, lat, _grid = grid_point(seeded)
    n = 30
    with seeded.db.read() as conn:
        audits_before = conn.execute(select(func.count()).select_from(id_store.audit_log)).scalar_one()
        outbox_before = conn.execute(select(func.count()).select_from(outbox)
                                     .where(outbox.c.topic == "case.created")).scalar_one()
    # One in three with an idempotency key; items 0 and 1 share one (the same body: one case).
    out = _run_threads(n, lambda i: _report(seeded, lon, lat, 0 if i < 2 else i,
                                            idempotency_key=("k-shared" if i < 2 else f"k{i}") if i % 3 != 2 else None))
    assert not [o for o in out if isinstance(o, BaseException)], out
    assert out[0] == out[1]
    ids = {o["id"] for o in out}
    assert len(ids) == n - 1
    assert all(o["state"] == "dispatched" and o["deadline"] for o in out)
    with seeded.db.read() as conn:
        rows = conn.execute(select(store.cases.c.id, store.cases.c.number, store.cases.c.state)
                            .where(store.cases.c.id.in_(ids))).all()
        assert {r.state for r in rows} == {"dispatched"} and len(rows) == n - 1
        events = Counter(r[0] for r in conn.execute(select(store.case_events.c.action)
                                                    .where(store.case_events.c.case_id.in_(ids))))
        assert events == {"create": n - 1, "file": n - 1, "dispatch": n - 1}
        notices = conn.execute(select(func.count()).select_from(store.notifications)
                               .where(store.notifications.c.case_id.in_(ids))).scalar_one()
        assert notices == n - 1
        assert conn.execute(select(func.count()).select_from(id_store.audit_log)).scalar_one() - audits_before == n - 1
        assert conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.topic == "case.created")).scalar_one() - outbox_before == n - 1
    assert all(str(o["id"]).zfill(8) in o["number"] for o in out)
    check(seeded)


def test_a_bad_intake_among_concurrent_ones_fails_alone(seeded: Platform) -> None:
    lon, lat, _grid = grid_point(seeded)
    first = _report(seeded, lon, lat, 0, idempotency_key="used")
    # Item 5 replays a used key with another body: 409 for it only; the others are written.
    out = _run_threads(12, lambda i: _report(seeded, lon, lat, 99 if i == 5 else i,
                                             idempotency_key="used" if i == 5 else None))
    assert isinstance(out[5], Conflict)
    good = [o for i, o in enumerate(out) if i != 5]
    assert all(isinstance(o, dict) and o["id"] != first["id"] for o in good)
    assert len({o["id"] for o in good}) == 11
    with pytest.raises(ValidationError):
        _report(seeded, lon, lat, 1, category="X9999")
    check(seeded)


def test_the_overdue_sweep_writes_events_notices_sms_and_counters(seeded: Platform, clock: FixedClock) -> None:
    seeded.clock = clock
    lon, lat, _grid = grid_point(seeded)
    ids = [_report(seeded, lon, lat, i)["id"] for i in range(5)]
    with seeded.db.read() as conn:
        deadline = max(store.get_case(conn, i)["deadline"] for i in ids)  # type: ignore[index]
    clock.set(deadline + timedelta(minutes=1))
    flagged = h.sweep_overdue(seeded)["overdue"]
    assert flagged >= 5
    with seeded.db.read() as conn:
        cases = {r.id: r for r in conn.execute(select(store.cases).where(store.cases.c.id.in_(ids)))}
        assert all(c.overdue and c.overdue_at == clock.now() for c in cases.values())
        ev = conn.execute(select(store.case_events).where(store.case_events.c.case_id.in_(ids),
                                                          store.case_events.c.action == "overdue")).mappings().all()
        assert sorted(e["case_id"] for e in ev) == sorted(ids)
        assert all(e["payload"] == {} and e["node"] == cases[e["case_id"]].owner_node and e["to_state"] == "overdue"
                   and e["actor"] == "system" and e["at"] == clock.now() and not e["counted"] for e in ev)
        notes = conn.execute(select(store.notifications).where(store.notifications.c.case_id.in_(ids),
                                                               store.notifications.c.kind == "case.overdue")).all()
        assert {(n.case_id, n.recipient_unit, n.title) for n in notes} == {
            (c.id, c.handler_unit, f"案件超期 {c.number}") for c in cases.values()}
        sms = [r.payload for r in conn.execute(select(outbox).where(outbox.c.topic == "notification.channel"))]
        all_notes = conn.execute(select(func.count()).select_from(store.notifications)
                                 .where(store.notifications.c.kind == "case.overdue")).scalar_one()
    messages = [m for p in sms for m in p["messages"]]
    assert all(p["channel"] == "sms" for p in sms) and len(messages) == all_notes
    mine = {m["case_id"]: m for m in messages if m["case_id"] in cases}
    assert mine == {c.id: {"recipient": f"unit:{c.handler_unit}", "kind": "case.overdue", "title": f"案件超期 {c.number}",
                           "body": "已超过处置时限，请尽快处置", "case_id": c.id} for c in cases.values()}
    assert h.sweep_overdue(seeded)["overdue"] == 0  # nothing twice
    check(seeded)
