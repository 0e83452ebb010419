""""One thing" submissions taken in by group commit (scenarios.intake): concurrent submissions share
transactions, each answered only once committed; a bad one is refused alone with its own error;
idempotency keys, numbers, matters, events, notices, outbox events and audit records are as for
one submission at a time."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.errors import Conflict, Forbidden, NotFound, ValidationError
from cityos.core.groupcommit import GroupCommit
from cityos.core.store import outbox
from cityos.data.store import residents
from cityos.governance.store import notifications
from cityos.identity.handlers import CreateUser
from cityos.identity.model import SYSTEM, Actor, Grant
from cityos.identity.store import audit_log
from cityos.scenarios import handlers as h
from cityos.scenarios import intake, store
from tests.integration.test_group_commit import _run_threads

MATERIALS = {"birth_certificate": {"delivery_record": "upload:dr"},
             "household_registration": {"household_booklet": "upload:hb"},
             "maternity_benefit": {"medical_invoices": "upload:mi"}}
CHILD = {"baby_name": "王小雨", "baby_gender": "F", "baby_birth_date": "2026-11-20", "birth_hospital": "市妇幼保健院",
         "bank_account": "6222020200112233445"}


def _citizens(p: Platform, n: int) -> list[Actor]:
    with p.db.read() as conn:
        city = conn.execute(select(residents.c.grid_code).limit(1)).scalar_one()[:2] + "0000"
        ids = conn.execute(select(residents.c.id_number).where(residents.c.status == "active")
                           .order_by(residents.c.id_number).limit(n)).scalars().all()
    actors = []
    for i, idn in enumerate(ids):
        name = f"gc.citizen{i}"
        uid = p.bus.handle(CreateUser(SYSTEM, name, name, None, city, id_number=idn, grants=[("citizen", city)]))
        actors.append(Actor(user_id=uid, username=name, grants=(Grant("citizen", city),), via="api_key"))
    return actors


def _gated(p: Platform) -> tuple[GroupCommit[Any, dict[str, Any]], threading.Event]:
    """The process's submission writer, holding its first batch until the gate opens (so the
    others queue up behind it and are written together)."""
    gate = threading.Event()

    def write(conn: Any, items: Sequence[Any]) -> list[Any]:
        gate.wait(5)
        return intake.write_submissions(p, conn, items)

    gc: GroupCommit[Any, dict[str, Any]] = GroupCommit(p.db, write, parallel=1)
    p.extras["scenarios.intake"] = gc
    return gc, gate


def count(p: Platform, table: Any, *where: Any) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_concurrent_submissions_share_transactions_and_a_bad_one_fails_alone(seeded: Platform) -> None:
    p = seeded
    actors = _citizens(p, 8)
    # a key used before the batch: its replay answers the stored result, its misuse is a conflict
    first = h.submit(p, h.Submit(actors[0], "newborn", CHILD, MATERIALS, True, None, "k-0"))
    subs0, matters0 = count(p, store.submissions), count(p, store.matters)
    notices0 = count(p, notifications, notifications.c.kind == "scenario.matter")
    audits0 = count(p, audit_log, audit_log.c.action == "scenario.submit")
    queued0 = count(p, outbox, outbox.c.topic == "scenarios.queued")

    cmds: list[h.Submit] = []
    for i in range(16):
        a = actors[i % len(actors)]
        cmds.append(h.Submit(a, "newborn", {**CHILD, "baby_name": "王" + "一二三四五六七八九十甲乙丙丁戊己"[i]}, MATERIALS, True, None, f"k-{i}-{a.username}"))
    cmds[3] = h.Submit(actors[3], "newborn", CHILD, {**MATERIALS, "maternity_benefit": {}}, True, None, "bad-1")
    cmds[5] = h.Submit(actors[5], "no-such-scenario", CHILD, MATERIALS, True, None, "bad-2")
    cmds[7] = h.Submit(actors[7], "newborn", CHILD, MATERIALS, False, None, "bad-3")  # no consent
    cmds[9] = h.Submit(actors[0], "newborn", CHILD, MATERIALS, True, None, "k-0")  # a replay
    gc, gate = _gated(p)
    threading.Timer(0.3, gate.set).start()
    out = _run_threads(len(cmds), lambda i: h.submit(p, cmds[i]))

    assert gc.batches < len(cmds) / 2  # they shared transactions
    assert isinstance(out[3], ValidationError) and out[3].field == "materials.maternity_benefit.medical_invoices"
    assert isinstance(out[5], NotFound) and out[5].field == "scenario"
    assert isinstance(out[7], ValidationError) and out[7].field == "consent"
    assert out[9] == first
    good = [o for i, o in enumerate(out) if i not in (3, 5, 7, 9)]
    assert all(isinstance(o, dict) and o["queued"] == ["birth_certificate"] for o in good), out
    numbers = [o["number"] for o in good]
    assert len(set(numbers)) == len(good)

    with p.db.read() as conn:
        rows = {r["number"]: r for r in conn.execute(select(store.submissions)
                                                     .where(store.submissions.c.number.in_(numbers))).mappings()}
        # the number carries the id and the day, written with the row
        assert all(n == f"YJS{rows[n]['created_at']:%Y%m%d}{rows[n]['id']:08d}" for n in numbers)
        per_sub = Counter(r.submission_id for r in conn.execute(
            select(store.matters.c.submission_id).where(store.matters.c.submission_id.in_([r["id"] for r in rows.values()]))))
        assert set(per_sub.values()) == {6}
        queued = conn.execute(select(store.matters.c.matter_code, store.matters.c.deadline)
                              .where(store.matters.c.state == "queued",
                                     store.matters.c.submission_id.in_([r["id"] for r in rows.values()]))).all()
        assert len(queued) == len(good) and {q.matter_code for q in queued} == {"birth_certificate"}
        assert all(q.deadline is not None for q in queued)
        # applicant, pre-filled values from the population database, the grid of residence
        for r in rows.values():
            idn = conn.execute(select(residents.c.id_number, residents.c.grid_code)
                               .where(residents.c.id_number == r["applicant_id"])).one()
            assert r["form"]["parent_id_number"] == idn.id_number and r["grid_code"] == idn.grid_code
            assert r["state"] == "in_progress" and r["consent"] is True
    assert count(p, store.submissions) == subs0 + len(good)
    assert count(p, store.matters) == matters0 + 6 * len(good)
    assert count(p, notifications, notifications.c.kind == "scenario.matter") == notices0 + len(good)
    assert count(p, audit_log, audit_log.c.action == "scenario.submit") == audits0 + len(good)
    assert count(p, outbox, outbox.c.topic == "scenarios.queued") == queued0 + len(good)
    # the key once more with another body: a conflict, nothing written
    try:
        h.submit(p, h.Submit(actors[0], "newborn", {**CHILD, "baby_name": "别的"}, MATERIALS, True, None, "k-0"))
    except Conflict as exc:
        assert exc.field == "Idempotency-Key"
    else:
        raise AssertionError("a reused key with another body was taken")
    assert count(p, store.submissions) == subs0 + len(good)


def test_one_key_twice_at_once_is_written_once(seeded: Platform) -> None:
    p = seeded
    actor = _citizens(p, 1)[0]
    cmd = h.Submit(actor, "newborn", CHILD, MATERIALS, True, None, "same-key")
    _gc, gate = _gated(p)
    threading.Timer(0.3, gate.set).start()
    before = count(p, store.submissions)
    out = _run_threads(4, lambda i: h.submit(p, cmd))
    assert all(isinstance(o, dict) for o in out), out
    assert len({o["number"] for o in out}) == 1
    assert count(p, store.submissions) == before + 1


def test_a_user_who_is_not_registered_is_refused(seeded: Platform) -> None:
    ghost = Actor(user_id=999999, username="nobody.here", grants=(Grant("citizen", "500000"),), via="api_key")
    try:
        h.submit(seeded, h.Submit(ghost, "newborn", CHILD, MATERIALS, True))
    except Forbidden as exc:
        assert exc.field == "Authorization"
    else:
        raise AssertionError("a user without an account applied")
