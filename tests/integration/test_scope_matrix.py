"""Roles x nodes x resources: each role at a node sees its subtree and nothing else.

To extend: add a `Resource` to RESOURCES (how to create one at a node, how to list
what an actor sees, and which roles may read it). Every resource gets the negative
case for free: the copy in the other district must stay invisible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from cityos.bootstrap import Platform
from cityos.geo import store as geo_store
from cityos.identity import handlers as h
from cityos.identity import store
from cityos.identity.model import SYSTEM
from cityos.identity.seed import DEMO_PASSWORD
from cityos.identity.web import PER_IP_PER_MINUTE  # noqa: F401  (the limit is high enough for this matrix)


@dataclass(frozen=True)
class Resource:
    name: str
    readers: frozenset[str]  # roles that may read this resource type in their subtree
    create: Callable[[Platform, str, str], str]  # (platform, node, tag) -> identifier
    visible: Callable[[Any, dict[str, str]], set[str]]  # (client, headers) -> identifiers the actor sees


def _make_user(p: Platform, node: str, tag: str) -> str:
    name = f"probe.{tag}"
    p.bus.handle(h.CreateUser(SYSTEM, name, name, None, node))
    return name


def _list_users(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/users", params={"q": "probe.", "limit": 500}, headers=headers)
    return {u["username"] for u in r.json()["users"]} if r.status_code == 200 else set()


def _make_ledger_resource(p: Platform, node: str, tag: str) -> str:
    from cityos.ledger.handlers import RegisterResource
    from cityos.ledger.model import NewResource

    code = f"probe.{tag}"
    township = node[:9]  # resources are owned at city, district or township level
    p.bus.handle(RegisterResource(SYSTEM, NewResource(code, "application", f"探针 {tag}", "", f"C-{township}",
                                                      "township", township, {"url": f"https://{tag}.example"})))
    return code


def _list_ledger(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/ledger/resources", params={"q": "probe.", "limit": 200}, headers=headers)
    return {x["code"] for x in r.json()["resources"]} if r.status_code == 200 else set()
def _make_resident(p: Platform, node: str, tag: str) -> str:
    from datetime import date

    from cityos.data import store as data_store
    from cityos.data.model import make_id_number

    idn = make_id_number(node[:6], date(1970, 1, 1 if tag == "home" else 2), 499, True)
    with p.db.begin() as conn:
        conn.execute(data_store.residents.insert().values(
            id_number=idn, name="探针", gender="M", birth_date=date(1970, 1, 1 if tag == "home" else 2),
            ethnicity="汉族", household_id=f"PROBE-{tag}", household_role="head", registered_address="a",
            actual_address="b", grid_code=node, status="active"))
    return f"PROBE-{tag}"


def _list_residents(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/3/action/datastore_search", headers=headers,
                   params={"resource_id": "residents", "filters": '{"household_id": ["PROBE-home", "PROBE-away"]}'})
    return {x["household_id"] for x in r.json()["result"]["records"]} if r.status_code == 200 else set()


_PROBE_GRIDS: list[str] = []


def _make_ledger_entry(p: Platform, node: str, tag: str) -> str:
    from cityos.grassroots import handlers as gr

    gr.ledger_write(p, SYSTEM, node, "building", f"probe-{tag}", {"floors": 6})
    _PROBE_GRIDS.append(node)
    return f"probe-{tag}"


def _list_grid_ledger(client: Any, headers: dict[str, str]) -> set[str]:
    seen: set[str] = set()
    for grid in sorted(set(_PROBE_GRIDS[-4:])):
        r = client.get(f"/api/v1/grassroots/ledger/{grid}", params={"kind": "building"}, headers=headers)
        if r.status_code == 200:
            seen |= {e["label"] for e in r.json()["entries"] if e["label"].startswith("probe-")}
    return seen


def _make_patrol_task(p: Platform, node: str, tag: str) -> str:
    from datetime import date

    from cityos.grassroots import store as gr_store

    with p.db.begin() as conn:
        gr_store.insert_tasks(conn, [{"day": date(2026, 1, 5), "node": node, "level": "grid", "township": node[:9],
                                      "item_key": f"probe-{tag}", "item_name": "probe", "list_id": 0,
                                      "role": "grid_member", "staff_id": None, "status": "open", "far": False}])
    _PROBE_GRIDS.append(node)
    return f"probe-{tag}"


def _list_tasks(client: Any, headers: dict[str, str]) -> set[str]:
    seen: set[str] = set()
    for grid in sorted(set(_PROBE_GRIDS[-4:])):
        r = client.get("/api/v1/grassroots/tasks", params={"node": grid, "day": "2026-01-05"}, headers=headers)
        if r.status_code == 200:
            seen |= {t["item_key"] for t in r.json()["tasks"] if t["item_key"].startswith("probe-")}
    return seen


def _both(ledger: set[str], tasks: set[str]) -> set[str]:
    """Seen as one identifier when both are seen; one seen without the other shows up as a mismatch."""
    return {f"{x}|{x}" for x in ledger & tasks} | {f"ledger-only:{x}" for x in ledger - tasks} | {
        f"task-only:{x}" for x in tasks - ledger}


GRID_STAFF_ROLES = frozenset({"grid_head", "grid_member", "grid_member_part", "grid_instructor"})
OPERATOR_ROLES = frozenset({"city_operator", "district_operator", "township_operator"})
def _point_in(p: Platform, node: str) -> tuple[float, float]:
    import shapely

    with p.db.read() as conn:
        geom = shapely.from_geojson(geo_store.get(conn, node)["geometry"])  # type: ignore[index]
    pt = geom.representative_point()
    return pt.x, pt.y


def _make_device(p: Platform, node: str, tag: str) -> str:
    from cityos.perception import handlers as ph

    lon, lat = _point_in(p, node)
    p.bus.handle(ph.CreateDevice(SYSTEM, f"probe-{tag}", "gas", lon, lat))
    return f"probe-{tag}"


def _list_devices(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/devices", params={"type": "gas", "limit": 1000}, headers=headers)
    return {d["code"] for d in r.json()["devices"] if d["code"].startswith("probe-")} if r.status_code == 200 else set()


def _make_alarm(p: Platform, node: str, tag: str) -> str:
    from cityos.perception import handlers as ph

    code = _make_device(p, node, f"alarm-{tag}")
    with p.db.begin() as conn:
        aid, _ = ph.raise_alarm(conn, subject=code, device_code=code, risk_point=None, grid=node, alarm_type="probe",
                                severity="MINOR", rule_id=None, details={}, now=p.clock.now())
    return str(aid)


def _list_alarms(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/alarms", params={"limit": 1000}, headers=headers)
    return {str(a["id"]) for a in r.json()["alarms"] if a["alarm_type"] == "probe"} if r.status_code == 200 else set()


def _make_risk_point(p: Platform, node: str, tag: str) -> str:
    from cityos.perception import handlers as ph

    lon, lat = _point_in(p, node)
    d = 0.0001
    poly = {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}
    p.bus.handle(ph.CreateRiskPoint(SYSTEM, f"probe-rp-{tag}", "probe", "landslide", poly))
    return f"probe-rp-{tag}"


def _list_risk_points(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/risk-points", params={"limit": 1000}, headers=headers)
    return {x["code"] for x in r.json()["risk_points"] if x["code"].startswith("probe-")} if r.status_code == 200 else set()


def _make_matter(p: Platform, node: str, tag: str) -> str:
    """A one-thing matter queued at the district department of `node` (written through the store)."""
    from cityos.scenarios import store as sc_store

    now = p.clock.now()
    with p.db.begin() as conn:
        sid = sc_store.insert_submission(conn, {
            "number": f"PROBE-{tag}", "scenario_code": "newborn", "version": 1, "applicant_user": "citizen",
            "applicant_id": "", "applicant_name": "探针", "grid_code": node, "district_code": node[:6], "form": {},
            "consent": False, "state": "in_progress", "created_at": now, "updated_at": now})
        sc_store.insert_matters(conn, [{
            "submission_id": sid, "matter_code": "birth_certificate", "department_unit": f"D-{node[:6]}-health",
            "division_code": node[:6], "state": "queued", "materials": {}, "inputs": {}, "outputs": {}, "attempt": 1,
            "reason": None, "deadline": None, "overdue": False, "queued_at": now, "handled_by": None,
            "updated_at": now}])
    return f"PROBE-{tag}"


def _list_matters(client: Any, headers: dict[str, str]) -> set[str]:
    r = client.get("/api/v1/matters", params={"limit": 200}, headers=headers)
    return {m["number"] for m in r.json()["matters"] if m["number"].startswith("PROBE-")} if r.status_code == 200 else set()


_PERCEPTION_READERS = frozenset({"city_operator", "district_operator", "township_operator", "grid_head", "grid_member",
                                 "grid_member_part", "grid_instructor", "system_admin", "resource_admin", "dispatcher",
                                 "department_handler"})

RESOURCES: list[Resource] = [
    Resource("user", frozenset({"system_admin", "city_operator", "district_operator", "township_operator", "auditor"}),
             _make_user, _list_users),
    Resource("ledger resource", frozenset({"resource_admin", "system_admin", "city_operator", "district_operator",
                                           "township_operator", "data_officer", "auditor"}),
             _make_ledger_resource, _list_ledger),
    # One resource for both grassroots types (same readers), so the matrix signs everyone in once for them.
    Resource("grid_ledger_and_patrol_task", OPERATOR_ROLES | GRID_STAFF_ROLES,
             lambda p, node, tag: _make_ledger_entry(p, node, tag) + "|" + _make_patrol_task(p, node, tag),
             lambda client, headers: _both(_list_grid_ledger(client, headers), _list_tasks(client, headers))),
    Resource("resident", frozenset({"data_officer", "city_operator", "district_operator", "township_operator",
                                    "grid_head", "grid_member", "grid_member_part", "grid_instructor"}),
             _make_resident, _list_residents),
    Resource("device", _PERCEPTION_READERS, _make_device, _list_devices),
    Resource("alarm", _PERCEPTION_READERS, _make_alarm, _list_alarms),
    Resource("risk_point", _PERCEPTION_READERS, _make_risk_point, _list_risk_points),
    # department queues of one-thing matters: district and city departments, not townships
    Resource("one_thing_matter", frozenset({"department_handler", "city_operator", "district_operator"}),
             _make_matter, _list_matters),
]


def _grids(p: Platform) -> tuple[str, str]:
    """A grid in the first district (where the demo accounts sit) and one in another district."""
    d = geo_store.divisions
    with p.db.read() as conn:
        grids = conn.execute(select(d.c.code).where(d.c.level == "grid").order_by(d.c.code)).scalars().all()
    home = grids[0]
    away = next(g for g in grids if g[:6] != home[:6])
    return home, away


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
def test_every_role_sees_its_subtree_only(seeded: Platform, client: Any, resource: Resource) -> None:
    home, away = _grids(seeded)
    ids = {"home": resource.create(seeded, home, "home"), "away": resource.create(seeded, away, "away")}
    with seeded.db.read() as conn:
        accounts = conn.execute(
            select(store.users.c.username, store.role_grants.c.role, store.role_grants.c.node)
            .join(store.role_grants, store.role_grants.c.user_id == store.users.c.id)
        ).all()
    assert len(accounts) >= 15
    checked = 0
    for username, role, node in accounts:
        tok = client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}).json()["access_token"]
        seen = resource.visible(client, {"Authorization": f"Bearer {tok}"})
        expected = set()
        if role in resource.readers:
            expected = {ids[k] for k, code in (("home", home), ("away", away))
                        if code.startswith(node) or node.endswith("0000")}
        assert seen == expected, f"{username} ({role} at {node}) sees {seen}, expected {expected}"
        assert ids["away"] not in seen or node.endswith("0000"), f"{username} sees another district's {resource.name}"
        checked += 1
    anonymous = resource.visible(client, {})
    assert anonymous == set(), f"anonymous sees {resource.name}: {anonymous}"
    assert checked == len(accounts)
