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


RESOURCES: list[Resource] = [
    Resource("user", frozenset({"system_admin", "city_operator", "district_operator", "township_operator", "auditor"}),
             _make_user, _list_users),
    Resource("resident", frozenset({"data_officer", "city_operator", "district_operator", "township_operator",
                                    "grid_head", "grid_member", "grid_member_part", "grid_instructor"}),
             _make_resident, _list_residents),
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
