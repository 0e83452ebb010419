"""One-key reach (instructions to every target, relayed down) and direct emergency
reports (four levels rung at once, acknowledged by whoever is on duty)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.core.worker import Worker
from cityos.geo import store as geo_store
from cityos.governance import store as gstore
from cityos.governance.command import handlers as h
from cityos.governance.command import store
from cityos.identity.seed import DEMO_PASSWORD


def login(client: Any, user: str) -> dict[str, str]:
    tok = client.post("/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {tok}"}


def first(p: Platform, level: str) -> dict[str, Any]:
    d = geo_store.divisions
    with p.db.read() as conn:
        return dict(conn.execute(select(d).where(d.c.level == level).order_by(d.c.code).limit(1)).mappings().one())


def deadlines(p: Platform, hours: int = 2) -> dict[str, str]:
    now = p.clock.now()
    return {"sign_deadline": (now + timedelta(hours=hours)).isoformat(),
            "complete_deadline": (now + timedelta(hours=hours * 4)).isoformat()}


def test_instruction_reaches_every_target_and_relays_down(seeded: Platform, client: Any) -> None:
    district = first(seeded, "district")["code"]
    op = login(client, "district.operator")
    r = client.post("/api/v1/instructions", json={"title": "防汛检查", "body": "立即排查辖区易涝点",
                                                   "urgency": "urgent", **deadlines(seeded),
                                                   "targets": {"kind": "children", "node": district, "level": "township"}},
                    headers=op)
    assert r.status_code == 201, r.text
    iid, n = r.json()["id"], r.json()["targets"]
    with seeded.db.read() as conn:
        towns = conn.execute(select(func.count()).select_from(geo_store.divisions).where(
            geo_store.divisions.c.level == "township", geo_store.divisions.c.code.startswith(district))).scalar_one()
        tasks = conn.execute(select(store.instruction_tasks).where(store.instruction_tasks.c.instruction_id == iid)).mappings().all()
        notes = conn.execute(select(func.count()).select_from(gstore.notifications).where(
            gstore.notifications.c.kind == "instruction")).scalar_one()
    assert n == towns == len(tasks) == notes and {t["state"] for t in tasks} == {"delivered"}
    # The first township signs, relays to its grids, and the issuer sees the whole tree.
    town_task = next(t for t in tasks if t["node"] == first(seeded, "township")["code"])
    tw = login(client, "township.operator")
    assert client.post(f"/api/v1/instruction-tasks/{town_task['id']}/sign", headers=tw).json()["state"] == "signed"
    relay = client.post(f"/api/v1/instruction-tasks/{town_task['id']}/relay", headers=tw, json={
        "title": "防汛检查(转发)", "body": "各网格排查", **deadlines(seeded, 1),
        "targets": {"kind": "children", "node": town_task["node"], "level": "grid"}})
    assert relay.status_code == 201, relay.text
    prog = client.get(f"/api/v1/instructions/{iid}", headers=op).json()
    assert prog["by_level"]["township"] == {"delivered": n - 1, "signed": 1}
    assert prog["tree_totals"]["delivered"] == n - 1 + relay.json()["targets"]
    assert len(prog["laggards"]) == n
    assert client.post(f"/api/v1/instructions/{iid}/remind", headers=op).json() == {"reminded": n}
    r = client.post(f"/api/v1/instruction-tasks/{town_task['id']}/complete", json={}, headers=tw)
    assert r.status_code == 400 and r.json()["error"]["field"] == "report"


def test_instruction_outside_scope_or_in_the_past_sends_nothing(seeded: Platform, client: Any) -> None:
    op = login(client, "district.operator")
    r = client.post("/api/v1/instructions", headers=op, json={
        "title": "t", "body": "b", **deadlines(seeded), "targets": {"kind": "children", "node": "500000", "level": "township"}})
    assert r.status_code == 403 and "outside your scope" in r.json()["error"]["message"]
    past = seeded.clock.now() - timedelta(hours=1)
    r = client.post("/api/v1/instructions", headers=op, json={
        "title": "t", "body": "b", "sign_deadline": past.isoformat(), "complete_deadline": past.isoformat(),
        "targets": {"kind": "children", "node": first(seeded, "district")["code"], "level": "township"}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "sign_deadline"
    r = client.post("/api/v1/instructions", headers=login(client, "grid.member"), json={
        "title": "t", "body": "b", **deadlines(seeded), "targets": {"kind": "list", "units": ["C-500000"]}})
    assert r.status_code == 403
    with seeded.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(store.instruction_tasks)).scalar_one() == 0


def test_polygon_and_department_targets(seeded: Platform, client: Any) -> None:
    town = first(seeded, "township")
    box = {"type": "Polygon", "coordinates": [[[town["min_lon"], town["min_lat"]], [town["max_lon"], town["min_lat"]],
                                               [town["max_lon"], town["max_lat"]], [town["min_lon"], town["max_lat"]],
                                               [town["min_lon"], town["min_lat"]]]]}
    op = login(client, "city.operator")
    r = client.post("/api/v1/instructions", headers=op, json={"title": "巡查", "body": "b", **deadlines(seeded),
                                                               "targets": {"kind": "polygon", "level": "grid", "polygon": box}})
    assert r.status_code == 201 and r.json()["targets"] >= 1
    r = client.post("/api/v1/instructions", headers=op, json={"title": "水务", "body": "b", **deadlines(seeded),
                                                               "targets": {"kind": "department", "dept_type": "water"}})
    assert r.status_code == 201 and r.json()["targets"] == 4  # the city's and each of the 3 districts' water bureau


def test_emergency_rings_all_levels_at_once_and_escalates_on_the_roster(seeded: Platform, client: Any,
                                                                        clock: FixedClock) -> None:
    seeded.clock = clock
    grid = first(seeded, "grid")
    admin = login(client, "admin")
    units = {"grid": f"G-{grid['code']}", "township": f"C-{grid['code'][:9]}", "district": f"C-{grid['code'][:6]}",
             "city": "C-500000"}
    roster = {"grid": ["grid.member", "grid.part"], "township": ["township.operator"],
              "district": ["district.operator"], "city": ["city.operator"]}
    window = {"starts_at": (clock.now() - timedelta(hours=1)).isoformat(), "ends_at": (clock.now() + timedelta(hours=8)).isoformat()}
    for level, people in roster.items():
        for pos, who in enumerate(people, start=1):
            assert client.post("/api/v1/duty", json={"unit": units[level], "username": who, "position": pos, **window},
                               headers=admin).status_code == 201
    member = login(client, "grid.member")
    r = client.post("/api/v1/emergencies", headers=member, json={
        "category": "E0401", "description": "人民路路面塌陷，有车辆陷入", "lon": grid["center_lon"], "lat": grid["center_lat"],
        "casualties": 1})
    assert r.status_code == 201, r.text
    rid = r.json()["report_id"]
    with seeded.db.read() as conn:
        rings = store.rings_of(conn, rid)
        case = gstore.get_case(conn, r.json()["id"])
    assert [x["level"] for x in rings] == ["grid", "township", "district", "city"]
    assert len({x["rung_at"] for x in rings}) == 1, "all four levels are rung at the same moment"
    assert case is not None and case["emergency"] and case["state"] == "dispatched"
    by_level = {x["level"]: x for x in rings}
    r = client.post(f"/api/v1/emergencies/{rid}/rings/{by_level['city']['id']}/ack", headers=member)
    assert r.status_code == 403 and "not on duty" in r.json()["error"]["message"]
    clock.advance(seconds=40)
    r = client.post(f"/api/v1/emergencies/{rid}/rings/{by_level['city']['id']}/ack", headers=login(client, "city.operator"))
    assert r.status_code == 200 and r.json()["seconds"] == 40
    clock.advance(minutes=5)
    assert h.sweep_rings(seeded) == 3  # grid, township and district did not answer
    with seeded.db.read() as conn:
        grid_ring = next(x for x in store.rings_of(conn, rid) if x["level"] == "grid")
    assert grid_ring["attempts"] == 2 and grid_ring["ringing_user"] == "grid.part"
    client.post(f"/api/v1/emergencies/{rid}/on-site", headers=member)
    tl = client.get(f"/api/v1/emergencies/{rid}", headers=login(client, "city.operator")).json()
    levels = {x["level"]: x for x in tl["levels"]}
    assert levels["city"]["ack_after_s"] == 40 and levels["grid"]["ack_by"] is None
    assert tl["first_on_site_after_s"] == 340
    # Non-emergency classes and points outside the city are refused; nothing half-made.
    r = client.post("/api/v1/emergencies", headers=member, json={"category": "E0101", "description": "垃圾",
                                                                 "lon": grid["center_lon"], "lat": grid["center_lat"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "category"
    r = client.post("/api/v1/emergencies", headers=member, json={"category": "E0401", "description": "x", "lon": 100.0,
                                                                 "lat": 30.0})
    assert r.status_code == 400
    with seeded.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(store.emergency_reports)).scalar_one() == 1
    # Closing the case records the resolution on the timeline (through the outbox).
    cid = tl["case"]["id"]
    handler, verifier, dispatcher = login(client, "handler"), login(client, "verifier"), login(client, "dispatcher")
    for who, action in ((handler, "sign"), (handler, "start"), (handler, "report"), (verifier, "verify"),
                        (dispatcher, "close")):
        assert client.post(f"/api/v1/cases/{cid}/actions/{action}", json={}, headers=who).status_code == 200, action
    clock.advance(seconds=1)
    Worker(seeded).relay_outbox()
    tl = client.get(f"/api/v1/emergencies/{rid}", headers=login(client, "city.operator")).json()
    assert tl["resolved_after_s"] == 341 and tl["case"]["state"] == "closed"


def test_handover_moves_the_duty(seeded: Platform, client: Any) -> None:
    admin = login(client, "admin")
    now = seeded.clock.now()
    unit = "C-500000"
    client.post("/api/v1/duty", headers=admin, json={"unit": unit, "username": "city.operator", "position": 1,
                                                     "starts_at": (now - timedelta(hours=1)).isoformat(),
                                                     "ends_at": (now + timedelta(hours=1)).isoformat()})
    op = login(client, "city.operator")
    assert client.post(f"/api/v1/duty/{unit}/handover", json={"to_user": "dispatcher"}, headers=op).status_code == 201
    on = client.get(f"/api/v1/duty/{unit}", headers=op).json()["on_duty"]
    assert [d["username"] for d in on] == ["dispatcher"] and on[0]["handed_over_by"] == "city.operator"
    r = client.post(f"/api/v1/duty/{unit}/handover", json={"to_user": "x"}, headers=op)
    assert r.status_code == 403


def test_an_instruction_sent_again_with_its_idempotency_key_is_issued_once(seeded: Platform, client: Any) -> None:
    """A client that got no answer (the API process died, the database went away) sends the same
    instruction again with the same key, maybe to another process at the same moment: one
    instruction, one task and one notice per target (issue 15's fault runs)."""
    import threading

    from cityos.identity.model import SYSTEM

    district = first(seeded, "district")["code"]
    op = login(client, "district.operator")
    body = {"title": "防汛检查", "body": "立即排查", **deadlines(seeded),
            "targets": {"kind": "children", "node": district, "level": "township"}}
    r1 = client.post("/api/v1/instructions", json=body, headers={**op, "Idempotency-Key": "ins-1"})
    r2 = client.post("/api/v1/instructions", json=body, headers={**op, "Idempotency-Key": "ins-1"})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    clash = client.post("/api/v1/instructions", json={**body, "title": "别的"}, headers={**op, "Idempotency-Key": "ins-1"})
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "Idempotency-Key"
    # The same key at once from two threads (two servers): both get the one instruction.
    cmd = h.IssueInstruction(SYSTEM, "夜查", "b", body["targets"], clock_deadline(seeded, 2), clock_deadline(seeded, 8),
                             idempotency_key="ins-2")
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(seeded.bus.handle(cmd))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 2 and answers[0] == answers[1]
    with seeded.db.read() as conn:
        rows = conn.execute(select(store.instructions.c.id, store.instructions.c.targets)).all()
        tasks = conn.execute(select(func.count()).select_from(store.instruction_tasks)).scalar_one()
        notes = conn.execute(select(func.count()).select_from(gstore.notifications).where(
            gstore.notifications.c.kind == "instruction")).scalar_one()
    assert len(rows) == 2 and tasks == notes == sum(n for _i, n in rows)


def clock_deadline(p: Platform, hours: int) -> Any:
    return p.clock.now() + timedelta(hours=hours)
