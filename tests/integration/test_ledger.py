"""The resource ledger against a real database: registration, lifecycle, dependencies,
bundled applications with provisioning, facets, statistics and exports."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from cityos.geo.model import level_of
from cityos.identity import store as id_store
from cityos.identity.model import SYSTEM, Actor, Grant
from cityos.ledger import handlers as h
from cityos.ledger import model, store
from cityos.ledger.provisioning import PROVISIONERS, ProvisionRequest

CITY, D1, D2 = "500000", "500101", "500102"
T1 = "500101001"


def admin(node: str, name: str | None = None) -> Actor:
    return Actor(user_id=1, username=name or f"ra.{node}", grants=(Grant("resource_admin", node),), via="token")


def operator(node: str) -> Actor:
    return Actor(user_id=2, username=f"op.{node}", grants=(Grant("district_operator", node),), via="token")


def new(code: str, rtype: str, attrs: dict[str, Any], division: str = D1, tags: tuple[str, ...] = ()) -> model.NewResource:
    level = level_of(division)
    return model.NewResource(code, rtype, f"资源 {code}", f"Resource {code}", f"U-{division}", level, division, attrs,
                             tags=tags)


def reg(p: Platform, code: str, rtype: str, attrs: dict[str, Any], division: str = D1, state: str = "draft",
        uses: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> None:
    p.bus.handle(h.RegisterResource(SYSTEM, new(code, rtype, attrs, division, tags), uses, state=state))


def comp(key: str) -> dict[str, Any]:
    return {"key": key, "endpoint": f"/api/{key}"}


def app(n: str) -> dict[str, Any]:
    return {"url": f"https://{n}.example.gov.cn"}


def test_registration_checks_schema_and_duplicates_and_writes_nothing_on_error(platform: Platform) -> None:
    p = platform
    ra = admin(D1)
    p.bus.handle(h.RegisterResource(ra, new("CLD-1", "cloud", {"kind": "compute", "provider": "政务云",
                                                               "instance_id": "ecs-1", "vcpu": 8, "memory_gb": 32})))
    with pytest.raises(ValidationError) as e:
        p.bus.handle(h.RegisterResource(ra, new("CLD-2", "cloud", {"kind": "compute", "provider": "政务云",
                                                                   "instance_id": "ecs-2", "vcpu": 0,
                                                                   "memory_gb": 8})))
    assert e.value.field == "attributes.vcpu" and "CLD-2" in e.value.message
    with pytest.raises(Conflict) as c:
        p.bus.handle(h.RegisterResource(ra, new("CLD-3", "cloud", {"kind": "compute", "provider": "政务云",
                                                                   "instance_id": "ecs-1", "vcpu": 2,
                                                                   "memory_gb": 4})))
    assert "duplicates CLD-1" in c.value.message and c.value.details == {"existing": "CLD-1"}
    with pytest.raises(Conflict, match="code CLD-1 is taken"):
        p.bus.handle(h.RegisterResource(ra, new("CLD-1", "application", app("x"))))
    with pytest.raises(NotFound):  # uses an unknown resource: the whole registration is undone
        p.bus.handle(h.RegisterResource(ra, new("APP-X", "application", app("x")), ("NOPE",)))
    with pytest.raises(Forbidden):
        p.bus.handle(h.RegisterResource(admin(D2), new("APP-Y", "application", app("y"))))
    with p.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(store.resources)).scalar_one() == 1
        assert conn.execute(select(store.counts.c.n)).scalars().all() == [1]
        assert conn.execute(select(func.count()).select_from(id_store.audit_log)
                            .where(id_store.audit_log.c.action == "ledger.register")).scalar_one() == 1


def test_lifecycle_is_approved_at_the_owners_level_with_reasons_and_an_audit_trail(platform: Platform) -> None:
    p = platform
    reg(p, "APP-1", "application", app("a1"), division=T1)
    p.bus.handle(h.Transition(operator(D1), "APP-1", "submit"))
    with pytest.raises(Forbidden) as f:
        p.bus.handle(h.Transition(admin(D2), "APP-1", "approve"))
    assert "outside your scope" in f.value.message
    with pytest.raises(Forbidden, match=r"may ledger\.approve"):
        p.bus.handle(h.Transition(operator(D1), "APP-1", "approve"))
    with pytest.raises(ValidationError, match="reject needs a reason"):
        p.bus.handle(h.Transition(admin(D1), "APP-1", "reject"))
    p.bus.handle(h.Transition(admin(D1), "APP-1", "reject", "缺少联系人"))
    p.bus.handle(h.Transition(operator(D1), "APP-1", "submit"))
    p.bus.handle(h.Transition(admin(T1), "APP-1", "approve"))
    with pytest.raises(IllegalTransition) as e:
        p.bus.handle(h.Transition(admin(D1), "APP-1", "approve"))
    assert "APP-1 is approved" in e.value.message and "publish (→ online)" in e.value.message
    out = p.bus.handle(h.Transition(admin(D1), "APP-1", "publish"))
    assert out == {"code": "APP-1", "state": "online", "allowed": ["take_offline"]}
    with p.db.read() as conn:
        r = store.by_code(conn, "APP-1")
        assert r is not None
        hist = [(e["action"], e["to_state"], e["reason"]) for e in store.history(conn, r["id"])]
        audited = conn.execute(select(id_store.audit_log.c.action).where(
            id_store.audit_log.c.object_id == "APP-1").order_by(id_store.audit_log.c.id)).scalars().all()
        cube = dict(conn.execute(select(store.counts.c.state, store.counts.c.n)).all())
    assert hist == [("register", "draft", None), ("submit", "submitted", None), ("reject", "draft", "缺少联系人"),
                    ("submit", "submitted", None), ("approve", "approved", None), ("publish", "online", None)]
    assert audited == ["ledger.register", "ledger.submit", "ledger.reject", "ledger.submit", "ledger.approve",
                       "ledger.publish"]
    assert cube == {"draft": 0, "submitted": 0, "approved": 0, "online": 1}


def test_dependencies_both_ways_cycles_retirement_and_orphans(platform: Platform) -> None:
    p = platform
    for k in ("map", "geo", "auth"):
        reg(p, f"CMP-{k}", "component", comp(k), division=CITY, state="online")
    reg(p, "NET-1", "network", {"kind": "link", "circuit_id": "L-1"}, state="online")
    reg(p, "CLD-1", "cloud", {"kind": "storage", "provider": "政务云", "instance_id": "obs-1"}, state="online",
        uses=("NET-1",))
    reg(p, "DATA-1", "data", {"kind": "dataset", "catalog_id": "pop", "sharing": "conditional"}, state="online",
        uses=("CLD-1",))
    ra = admin(CITY)
    p.bus.handle(h.AddDependency(ra, "CMP-map", "CMP-geo"))
    p.bus.handle(h.AddDependency(ra, "CMP-geo", "CMP-auth"))
    with pytest.raises(Conflict) as c:
        p.bus.handle(h.AddDependency(ra, "CMP-auth", "CMP-map"))
    assert "CMP-auth → CMP-map → CMP-geo → CMP-auth" in c.value.message
    with pytest.raises(ValidationError, match="a cloud may use network, not a component"):
        p.bus.handle(h.AddDependency(ra, "CLD-1", "CMP-map"))
    reg(p, "APP-1", "application", app("a1"), uses=("CMP-map", "DATA-1"), state="online")
    reg(p, "APP-2", "application", app("a2"), uses=("APP-1",), state="online")
    p.bus.handle(h.AddDependency(admin(D1), "APP-1", "APP-2"))  # applications may call each other
    with p.db.read() as conn:
        auth = store.by_code(conn, "CMP-auth")
        a1 = store.by_code(conn, "APP-1")
        assert auth and a1
        impact = {n["code"]: n["depth"] for n in store.walk(conn, auth["id"], "impact")}
        needs = {n["code"]: n["depth"] for n in store.walk(conn, a1["id"], "needs")}
    assert impact == {"CMP-geo": 1, "CMP-map": 2, "APP-1": 3, "APP-2": 4}
    assert needs == {"CMP-map": 1, "DATA-1": 1, "APP-2": 1, "CMP-geo": 2, "CLD-1": 2, "CMP-auth": 3, "NET-1": 3}
    p.bus.handle(h.Transition(ra, "CMP-auth", "take_offline", "维护"))
    with pytest.raises(Conflict) as e:
        p.bus.handle(h.Transition(ra, "CMP-auth", "retire", "replaced"))
    assert e.value.details == {"dependents": ["CMP-geo"]} and "CMP-auth is in use" in e.value.message
    reg(p, "CMP-spare", "component", comp("spare"), division=CITY, state="online")
    with p.db.read() as conn:
        found = store.orphans(conn, SYSTEM.scope("ledger.read"))
    assert [r["code"] for r in found["unused"]] == ["CMP-spare"]
    p.bus.handle(h.RemoveDependency(ra, "CMP-geo", "CMP-auth"))
    p.bus.handle(h.Transition(ra, "CMP-auth", "retire", "replaced"))
    with pytest.raises(ValidationError, match="retired and cannot be used"):
        p.bus.handle(h.AddDependency(ra, "CMP-map", "CMP-auth"))


def test_the_impact_graph_of_a_component_with_ten_thousand_dependents(platform: Platform) -> None:
    p = platform
    reg(p, "CMP-core", "component", comp("core"), division=CITY, state="online")
    now = p.clock.now()
    rows = [{"code": f"APP-{i:05d}", "rtype": "application", "kind": None, "name_zh": f"应用{i}", "name_en": "",
             "owner_unit": "U", "level": "district", "division_code": D1, "description": "", "contacts": [],
             "attributes": app(f"b{i}"), "identity_key": f'["https://b{i}"]', "state": "online", "endpoint": None,
             "health_url": None, "created_by": "t", "created_at": now, "updated_at": now} for i in range(10_000)]
    with p.db.begin() as conn:
        store.bulk_insert(conn, rows)
        core = store.by_code(conn, "CMP-core")
        assert core
        ids = store.ids_by_code(conn, [r["code"] for r in rows])
        half = sorted(ids.values())
        # 5,000 use the component directly, the other 5,000 use one of those.
        conn.execute(store.dependencies.insert(), [
            {"from_id": i, "to_id": core["id"], "note": "", "created_by": "t", "created_at": now} for i in half[:5000]]
            + [{"from_id": i, "to_id": half[k % 5000], "note": "", "created_by": "t", "created_at": now}
               for k, i in enumerate(half[5000:])])
        store.rebuild_counts(conn)
    with p.db.read() as conn:
        nodes = store.walk(conn, core["id"], "impact")
    assert len(nodes) == 10_000
    assert sum(1 for n in nodes if n["depth"] == 1) == 5000


def test_a_bundled_application_is_approved_part_by_part_and_provisions_access(platform: Platform) -> None:
    p = platform
    reg(p, "DS-pop", "data", {"kind": "service_interface", "catalog_id": "pop-q", "sharing": "conditional",
                              "path": "/ds/v1/population"}, division=D1, state="online")
    reg(p, "CLD-q", "cloud", {"kind": "compute", "provider": "政务云", "instance_id": "pool-2", "vcpu": 64,
                              "memory_gb": 256}, division=D2, state="online")
    reg(p, "CMP-sign", "component", comp("sign"), division=CITY, state="online")
    reg(p, "APP-draft", "application", app("d"), division=D1)
    calls: list[ProvisionRequest] = []

    def gateway(conn: Any, req: ProvisionRequest) -> dict[str, Any]:
        calls.append(req)
        return {"gateway_grant": f"g-{req.item_id}", "interface": req.resource["attributes"]["path"]}

    applicant = operator(D1)
    with pytest.raises(ValidationError, match="APP-draft is draft"):
        p.bus.handle(h.ApplyBundle(applicant, "U-team", "网格治理应用", (("APP-draft", {}),)))
    PROVISIONERS["data"] = gateway
    try:
        out = p.bus.handle(h.ApplyBundle(applicant, "U-team", "网格治理应用",
                                         (("DS-pop", {"fields": ["age"]}), ("CLD-q", {"vcpu": 8}), ("CMP-sign", {}))))
        aid = out["id"]
        with pytest.raises(Forbidden):
            p.bus.handle(h.DecideItem(admin(D2), aid, "DS-pop", True))
        r1 = p.bus.handle(h.DecideItem(admin(D1), aid, "DS-pop", True, "同意"))
        assert r1["status"] == "partly_decided" and r1["provisioned"]["interface"] == "/ds/v1/population"
        assert calls and calls[0].grantee == "op.500101" and calls[0].request == {"fields": ["age"]}
        with pytest.raises(IllegalTransition, match="already approved"):
            p.bus.handle(h.DecideItem(admin(D1), aid, "DS-pop", True))
        with pytest.raises(ValidationError, match="needs a reason"):
            p.bus.handle(h.DecideItem(admin(D2), aid, "CLD-q", False))
        p.bus.handle(h.DecideItem(admin(D2), aid, "CLD-q", False, "配额不足"))
        r3 = p.bus.handle(h.DecideItem(admin(CITY), aid, "CMP-sign", True))
        assert r3["status"] == "partly_approved" and r3["provisioned"]["provisioned"] == "recorded"
    finally:
        PROVISIONERS.pop("data", None)
    with p.db.read() as conn:
        a = store.application(conn, aid)
        g = conn.execute(select(store.grants.c.provisioner, store.grants.c.grantee).order_by(store.grants.c.id)).all()
    assert a and [i["status"] for i in a["items"]] == ["approved", "rejected", "approved"]
    assert [tuple(x) for x in g] == [("gateway", "op.500101"), ("record", "op.500101")]


def test_search_facets_follow_the_filters_and_the_scope(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform
    for i in range(6):
        reg(p, f"APP-{i}", "application", app(f"s{i}"), division=D1 if i < 4 else D2, tags=("gov",) if i % 2 else ())
    for i in range(3):
        reg(p, f"CMP-{i}", "component", comp(f"c{i}"), division=CITY, state="online" if i else "draft",
            tags=("gov", "ai"))
    p.bus.handle(h.Transition(admin(D1), "APP-0", "submit"))
    everyone = SYSTEM.scope("ledger.read")
    with p.db.read() as conn:
        rows, total, facets = store.search(conn, everyone, q=None, filters={}, tag_list=[], limit=5, offset=0)
        assert total == 9 and len(rows) == 5 and rows[0]["code"] == "CMP-2"
        assert facets["rtype"] == {"application": 6, "component": 3}
        assert facets["state"] == {"draft": 6, "online": 2, "submitted": 1}
        assert facets["tags"] == {"gov": 6, "ai": 3}
        rows, total, facets = store.search(conn, everyone, q=None, filters={"rtype": ["application"]}, tag_list=[],
                                           limit=50, offset=0)
        assert total == 6 and facets["rtype"] == {"application": 6, "component": 3}  # own facet unfiltered
        assert facets["level"] == {"district": 6}
        rows, total, facets = store.search(conn, everyone, q=None, filters={}, tag_list=["ai"], limit=50, offset=0)
        assert total == 3 and facets["state"] == {"online": 2, "draft": 1}
        rows, total, _ = store.search(conn, everyone, q="APP-3", filters={}, tag_list=[], limit=50, offset=0)
        assert [r["code"] for r in rows] == ["APP-3"] and total == 1
        # A district sees its own and the city's online resources, never the other district's.
        rows, total, facets = store.search(conn, admin(D1).scope("ledger.read"), q=None, filters={}, tag_list=[],
                                           limit=50, offset=0)
        assert sorted(r["code"] for r in rows) == ["APP-0", "APP-1", "APP-2", "APP-3", "CMP-1", "CMP-2"]
        assert total == 6 and facets["state"] == {"draft": 3, "submitted": 1, "online": 2}
        assert facets["tags"] == {"gov": 4, "ai": 2} and facets["owner_unit"] == {f"U-{D1}": 4, f"U-{CITY}": 2}
        _, _, facets = store.search(conn, admin(D1).scope("ledger.read"), q=None, filters={"state": ["draft"]},
                                    tag_list=[], limit=50, offset=0)
        assert facets["tags"] == {"gov": 2} and facets["owner_unit"] == {f"U-{D1}": 3}
        # Free text: any case, Chinese substrings, wildcards taken literally.
        for q, n, first in (("app-3", 1, "APP-3"), ("源 CMP", 3, "CMP-2"), ("P-", 9, "CMP-2"), ("APP_3", 0, None)):
            rows, total, _ = store.search(conn, everyone, q=q, filters={}, tag_list=[], limit=50, offset=0)
            assert (total, len(rows), rows[0]["code"] if rows else None) == (n, n, first), q
        # A substring in more rows than twice the sample: counted over the newest matches (on
        # PostgreSQL by the row-by-row walk instead of the trigram index).
        monkeypatch.setattr(store, "SAMPLE", 2)
        rows, total, facets = store.search(conn, everyone, q="资源", filters={"rtype": ["application"]}, tag_list=[],
                                           limit=1, offset=1)
        assert total == 2 and [r["code"] for r in rows] == ["APP-4"] and facets["rtype"] == {"application": 2}
        # An owner filter is counted over the matching rows themselves.
        rows, total, facets = store.search(conn, everyone, q=None, filters={"owner_unit": [f"U-{D2}"]}, tag_list=[],
                                           limit=50, offset=0)
        assert total == 2 and facets["owner_unit"] == {f"U-{D2}": 2}
    # The counts kept in step with every write equal a recount from scratch.
    cubes = (store.counts, store.owner_counts, store.tag_counts, store.owner_totals, store.tag_totals)

    def snapshot() -> list[set[tuple[Any, ...]]]:
        with p.db.read() as conn:
            return [{tuple(r) for r in conn.execute(select(t)).all() if r._mapping["n"]} for t in cubes]

    kept = snapshot()
    with p.db.begin() as conn:
        store.rebuild_counts(conn)
    assert snapshot() == kept


def test_search_totals_facets_and_pages_equal_a_recount_for_every_kind_of_scope(platform: Platform) -> None:
    p = platform
    T2 = "500102009"  # a root ending in 9: the index range bound carries
    states = ("draft", "online", "offline", "online", "retired")
    for i in range(20):
        division = (D1, D2, T1, T2, CITY)[i % 5]
        reg(p, f"APP-{i:02d}", "application", app(f"r{i}"), division=division, state=states[i % 7 % 5],
            tags=(("gov", "ai"), ("gov",), (), ("ai",))[i % 4])
    for i in range(4):
        reg(p, f"CMP-r{i}", "component", comp(f"r{i}"), division=CITY, state=("online", "draft")[i % 2],
            tags=("ai",) if i % 3 else ())
    with p.db.read() as conn:
        everything = [dict(r) for r in conn.execute(select(store.resources)).mappings()]
        tag_map = store.tags_of(conn, [r["id"] for r in everything])
    scopes = {"all": SYSTEM.scope("ledger.read"), "district": admin(D1).scope("ledger.read"),
              "township": admin(T1).scope("ledger.read"), "district+township": Actor(
                  user_id=1, username="x", grants=(Grant("resource_admin", D1), Grant("resource_admin", T2)),
                  via="token").scope("ledger.read")}
    cases: list[dict[str, list[str]]] = [{}, {"state": ["online"]}, {"rtype": ["application"], "level": ["township"]},
                                         {"state": ["draft", "retired"]}]
    for scope_name, scope in scopes.items():
        def seen(r: dict[str, Any], sc: Any = scope) -> bool:
            return bool(sc.all or any(r["division_code"].startswith(x) for x in sc.roots)
                        or (r["level"] == "city" and r["state"] == "online"))

        for filters in cases:
            def match(r: dict[str, Any], skip: str | None = None, fs: dict[str, list[str]] = filters) -> bool:
                return seen(r) and all(r[f] in v for f, v in fs.items() if f != skip)

            with p.db.read() as conn:
                rows, total, facets = store.search(conn, scope, q=None, filters=filters, tag_list=[], limit=7,
                                                   offset=2)
            want = sorted((r for r in everything if match(r)), key=lambda r: -r["id"])
            label = f"{scope_name} {filters}"
            assert total == len(want), label
            assert [r["code"] for r in rows] == [r["code"] for r in want[2:9]], label
            for f in ("rtype", "state", "level"):
                counted: dict[str, int] = {}
                for r in everything:
                    if match(r, skip=f):
                        counted[r[f]] = counted.get(r[f], 0) + 1
                assert facets[f] == counted, f"{label} {f}"
            owners: dict[str, int] = {}
            tag_n: dict[str, int] = {}
            for r in want:
                owners[r["owner_unit"]] = owners.get(r["owner_unit"], 0) + 1
                for t in tag_map[r["id"]]:
                    tag_n[t] = tag_n.get(t, 0) + 1
            assert facets["owner_unit"] == owners and facets["tags"] == tag_n, label
    with p.db.read() as conn:  # the statistics board of a township counts its own rows
        assert store.stats(conn, scopes["township"])["total"] == sum(
            1 for r in everything if r["division_code"].startswith(T1))


def token(client: Any, username: str) -> dict[str, str]:
    from cityos.identity.seed import DEMO_PASSWORD

    r = client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_api_registers_searches_acts_and_exports(seeded: Platform, client: Any) -> None:
    from openpyxl import load_workbook

    ra = token(client, "resource.admin")
    with seeded.db.read() as conn:
        city = h.city_code(conn)
    before = client.get("/api/v1/ledger/stats", headers=ra).json()
    body = {"code": "APP-web", "type": "application", "name_zh": "网格管理系统", "owner_unit": f"C-{city}",
            "level": "city", "division_code": city, "tags": ["grid"], "attributes": {"url": "https://grid.example"},
            "contacts": [{"name": "张工", "phone": "13800000000"}]}
    r = client.post("/api/v1/ledger/resources", json=body, headers={**ra, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    again = client.post("/api/v1/ledger/resources", json=body, headers={**ra, "Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.json() == r.json()
    bad = client.post("/api/v1/ledger/resources", json={**body, "code": "APP-bad", "attributes": {"url": 5}},
                      headers=ra)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "attributes.url"
    assert "APP-bad" in bad.json()["error"]["message"]
    dup = client.post("/api/v1/ledger/resources", json={**body, "code": "APP-dup"}, headers=ra)
    assert dup.status_code == 409 and "APP-web" in dup.json()["error"]["message"]
    assert client.post("/api/v1/ledger/resources", json={**body, "code": "APP-anon"}).status_code == 401
    for action in ("submit", "approve", "publish"):
        r = client.post(f"/api/v1/ledger/resources/APP-web/actions/{action}", headers=ra)
        assert r.status_code == 200, r.text
    r = client.post("/api/v1/ledger/resources/APP-web/actions/retire", json={"reason": "x"}, headers=ra)
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    seeded.bus.handle(h.RegisterResource(SYSTEM, model.NewResource(
        "CMP-x", "component", "组件", "Component", f"C-{city}", "city", city, {"key": "xk"}), state="online"))
    assert client.post("/api/v1/ledger/resources/APP-web/uses", json={"uses": "CMP-x"}, headers=ra).status_code == 201
    g = client.get("/api/v1/ledger/resources/CMP-x/graph?direction=impact", headers=ra).json()
    assert g["count"] == 1 and g["nodes"][0]["code"] == "APP-web"
    page = client.get("/api/v1/ledger/resources", params={"type": "application", "tag": "grid"}, headers=ra).json()
    assert page["total"] == 1 and page["resources"][0]["tags"] == ["grid"]
    assert client.get("/api/v1/ledger/resources", params={"state": "lost"}, headers=ra).json()["error"]["field"] == "state"
    detail = client.get("/api/v1/ledger/resources/APP-web", headers=ra).json()
    assert [d["code"] for d in detail["needs"]] == ["CMP-x"] and detail["state"] == "online"
    assert [e["action"] for e in detail["history"]] == ["register", "submit", "approve", "publish", "uses"]
    # The bundled application through the API: the grid member may not apply; a district operator may.
    op = token(client, "district.operator")
    cart = {"unit": "D-team", "purpose": "网格应用", "items": [{"code": "APP-web"}, {"code": "CMP-x"}]}
    assert client.post("/api/v1/ledger/applications", json=cart, headers=token(client, "grid.member")).status_code == 403
    r = client.post("/api/v1/ledger/applications", json={"unit": "D-team", "purpose": "网格应用",
                                                         "items": [{"code": "APP-web"}, {"code": "CMP-x"}]}, headers=op)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = client.post(f"/api/v1/ledger/applications/{aid}/items/CMP-x/decision", json={"approve": True}, headers=ra)
    assert r.status_code == 200 and r.json()["status"] == "partly_decided"
    assert client.get(f"/api/v1/ledger/applications/{aid}", headers=op).json()["status"] == "partly_decided"
    assert client.get(f"/api/v1/ledger/applications/{aid}", headers=token(client, "auditor")).status_code == 404
    st = client.get("/api/v1/ledger/stats", headers=ra).json()
    assert st["rtype"]["application"] == before["rtype"]["application"] + 1
    assert st["growth"][-1]["total"] == st["total"] == before["total"] + 2
    csv_text = client.get("/api/v1/ledger/export.csv", headers=ra).text
    assert csv_text.splitlines()[0].lstrip("\ufeff").startswith("code,rtype") and "APP-web" in csv_text
    wb = load_workbook(io.BytesIO(client.get("/api/v1/ledger/export.xlsx", headers=ra).content))
    codes = [row[0] for row in wb["resources"].iter_rows(min_row=2, values_only=True)]
    assert "APP-web" in codes and wb["statistics"].max_row > 1
    assert client.get("/api/v1/ledger/stats").status_code == 401


def test_own_components_are_registered_at_worker_start_and_probed(seeded: Platform) -> None:
    from cityos.core.store import jobs
    from cityos.core.worker import Worker
    from tests.conftest import LiveServer

    p = seeded
    with LiveServer(p) as live:
        p.settings.public_url = live.url
        w = Worker(p, name="t")
        w.ensure_recurring()
        with p.db.read() as conn:
            kinds = set(conn.execute(select(jobs.c.kind).where(jobs.c.kind.like("ledger.%"))).scalars())
        assert kinds == {"ledger.register_components", "ledger.probe_components"}
        for _ in range(3):
            w.run_jobs()
        assert h.register_own_components(p) == 0  # idempotent
        p.clock = _Shifted(p.clock, timedelta(days=-40))  # type: ignore[assignment]
        assert h.probe_components(p) == 9
        p.clock = p.clock.inner  # type: ignore[attr-defined]
        h.probe_components(p)
    with p.db.read() as conn:
        comps = conn.execute(select(store.resources.c.code).where(store.resources.c.code.like("CITYOS-%"))).scalars().all()
        ident = store.by_code(conn, "CITYOS-identity")
        assert ident
        probes = store.probes_of(conn, ident["id"])
    assert len(comps) == 12
    assert probes and all(x["ok"] and x["status_code"] == 200 and x["latency_ms"] is not None for x in probes)
    months = model.monthly_availability(model.Probe(x["at"], x["ok"], x["latency_ms"]) for x in probes)
    assert len(months) == 2 and months[-1]["availability"] == 100.0


class _Shifted:
    def __init__(self, inner: Any, delta: timedelta) -> None:
        self.inner, self.delta = inner, delta

    def now(self) -> Any:
        return self.inner.now() + self.delta
