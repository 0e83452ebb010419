"""Data service interfaces against a real database: publishing and versions, bundled applications
and approvals, the gateway's checks (credential, grant, quota, rate limit, parameters), masking,
the call log and counters, audit, OpenAPI, OAuth2 client credentials, index use of the lookups."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from cityos.bootstrap import Platform
from cityos.core.errors import Conflict, ValidationError
from cityos.data import store as data_store
from cityos.data.services import handlers as h
from cityos.data.services import store
from cityos.identity import store as id_store
from cityos.identity.handlers import CreateCredential
from cityos.identity.model import SYSTEM, Actor, Grant

CITY = "500000"


def key_for(p: Platform, username: str) -> str:
    return p.bus.handle(CreateCredential(SYSTEM, username, f"test {username}"))[1]


def officer() -> Actor:
    return Actor(user_id=None, username="data.officer", grants=(Grant("data_officer", CITY),), via="token")


def a_resident(p: Platform) -> dict[str, Any]:
    with p.db.read() as conn:
        r = conn.execute(select(data_store.residents).where(data_store.residents.c.phone.is_not(None))
                         .order_by(data_store.residents.c.id_number).limit(1)).mappings().first()
    assert r is not None
    return dict(r)


def consumer_with(p: Platform, code: str, interfaces: tuple[str, ...], *, approve: bool = True,
                  plain: bool = False, daily: int | None = None, per_minute: int | None = None) -> str:
    h.register_consumer(p, h.RegisterConsumer(SYSTEM, code, f"app {code}", "civil_affairs"))
    out = h.apply(p, h.Apply(SYSTEM, code, interfaces, "checking residents on visits", "a regulation", 100))
    for g in out["grants"]:
        if g["status"] == "pending" and approve:
            h.decide(p, h.Decide(officer(), g["id"], "approve", daily_quota=daily, rate_per_minute=per_minute,
                                 plain_personal=plain))
    return str(h.issue_credentials(p, h.IssueCredentials(SYSTEM, code))["api_key"])


def calls(p: Platform) -> list[dict[str, Any]]:
    with p.db.read() as conn:
        return [dict(r) for r in conn.execute(select(store.ds_calls).order_by(store.ds_calls.c.id)).mappings()]


def test_shipped_interfaces_are_published_and_listed(seeded: Platform, client: Any) -> None:
    r = client.get("/api/v1/ds/interfaces")
    assert r.status_code == 200
    codes = {i["code"] for i in r.json()["items"]}
    assert len(codes) >= 30
    for code in ("person.verify", "household.members", "company.by_uscc", "company.licences", "person.licences",
                 "licence.validity", "credit.status", "geo.locate_point", "geo.locate_address", "building.residents",
                 "grid.enterprises"):
        assert code in codes
    doc = client.get("/ds/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/ds/v1/person.verify" in doc["paths"] and len(doc["paths"]) == len(codes)
    params = {x["name"]: x for x in doc["paths"]["/ds/v1/person.verify"]["get"]["parameters"]}
    assert params["id_number"]["required"] and params["id_number"]["schema"]["pattern"]


def test_verify_identity_answers_match_only_and_logs_a_fingerprint(seeded: Platform, client: Any) -> None:
    p = seeded
    r0 = a_resident(p)
    key = consumer_with(p, "verify-app", ("person.verify",))
    ok = client.get("/ds/v1/person.verify", params={"id_number": r0["id_number"], "name": r0["name"]},
                    headers={"X-API-Key": key})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"interface": "person.verify", "version": 1, "match": True}
    no = client.get("/ds/v1/person.verify", params={"id_number": r0["id_number"], "name": "某某某"},
                    headers={"X-API-Key": key})
    assert no.json()["match"] is False
    log = [c for c in calls(p) if c["interface_code"] == "person.verify"]
    assert [c["outcome"] for c in log] == ["ok", "ok"]
    assert log[0]["param_hash"] and log[0]["param_hash"] != log[1]["param_hash"]
    # Never a raw personal value in the call log or the audit records of the calls.
    with p.db.read() as conn:
        dumped = str(calls(p)) + str(conn.execute(select(id_store.audit_log.c.details, id_store.audit_log.c.object_id)
                                                 .where(id_store.audit_log.c.action.like("ds.%"))).all())
    assert r0["id_number"] not in dumped and r0["name"] not in dumped


def test_masking_unless_the_grant_allows_plain(seeded: Platform, client: Any) -> None:
    p = seeded
    r0 = a_resident(p)
    masked_key = consumer_with(p, "masked-app", ("resident.basic", "resident.contact"))
    plain_key = consumer_with(p, "plain-app", ("resident.basic",), plain=True)
    r = client.get("/ds/v1/resident.basic", params={"id_number": r0["id_number"]}, headers={"X-API-Key": masked_key})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["id_number"] != r0["id_number"] and data["id_number"][:6] == r0["id_number"][:6] and "*" in data[
        "id_number"]
    assert data["name"].startswith(r0["name"][0]) and "*" in data["name"]
    assert data["grid_code"] == r0["grid_code"]
    c = client.get("/ds/v1/resident.contact", params={"id_number": r0["id_number"]},
                   headers={"X-API-Key": masked_key}).json()["data"]
    assert c["phone"][:3] == r0["phone"][:3] and "*" in c["phone"]
    plain = client.get("/ds/v1/resident.basic", params={"id_number": r0["id_number"]},
                       headers={"X-API-Key": plain_key}).json()["data"]
    assert plain["id_number"] == r0["id_number"] and plain["name"] == r0["name"]
    with p.db.read() as conn:
        audits = conn.execute(select(func.count()).select_from(id_store.audit_log)
                              .where(id_store.audit_log.c.action == "ds.call")).scalar_one()
    assert audits == 3  # every read of personal data leaves an audit record


def test_household_members_pages_and_errors_name_the_field(seeded: Platform, client: Any) -> None:
    p = seeded
    with p.db.read() as conn:
        hh, n = conn.execute(select(data_store.residents.c.household_id, func.count()).group_by(
            data_store.residents.c.household_id).having(func.count() >= 2).limit(1)).one()
    key = consumer_with(p, "hh-app", ("household.members",))
    first = client.get("/ds/v1/household.members", params={"household_id": hh, "page_size": 1},
                       headers={"X-API-Key": key}).json()
    assert len(first["data"]) == 1 and first["page"] == {"number": 1, "size": 1, "rows": 1, "has_more": True}
    everyone = client.get("/ds/v1/household.members", params={"household_id": hh}, headers={"X-API-Key": key}).json()
    assert len(everyone["data"]) == n and everyone["page"]["has_more"] is False
    missing = client.get("/ds/v1/household.members", headers={"X-API-Key": key})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "household_id"
    bad = client.get("/ds/v1/household.members", params={"household_id": "x y!"}, headers={"X-API-Key": key})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "household_id"
    assert "x y!" not in bad.text  # an error never echoes what was sent
    extra = client.get("/ds/v1/household.members", params={"household_id": hh, "sql": "1"}, headers={"X-API-Key": key})
    assert extra.status_code == 400 and extra.json()["error"]["field"] == "sql"
    big = client.get("/ds/v1/household.members", params={"household_id": hh, "page_size": 1000},
                     headers={"X-API-Key": key})
    assert big.status_code == 400 and big.json()["error"]["field"] == "page_size"
    outcomes = [c["outcome"] for c in calls(p)]
    assert outcomes.count("invalid") == 4
    with p.db.read() as conn:
        refused = conn.execute(select(func.count()).select_from(id_store.audit_log)
                               .where(id_store.audit_log.c.action == "ds.refused")).scalar_one()
    assert refused == 4


def test_clear_refusals_for_keys_grants_interfaces_and_versions(seeded: Platform, client: Any) -> None:
    p = seeded
    r0 = a_resident(p)
    q = {"id_number": r0["id_number"]}
    assert client.get("/ds/v1/resident.basic", params=q).status_code == 401
    assert client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": "cos_dead_beef"}).status_code == 401
    staff = key_for(p, "district.operator")
    r = client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": staff})
    assert r.status_code == 403 and r.json()["error"]["field"] == "Authorization"
    key = consumer_with(p, "ref-app", ("person.verify", "resident.basic"), approve=False)
    pending = client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key})
    assert pending.status_code == 403 and "not approved" in pending.json()["error"]["message"]
    nogrant = client.get("/ds/v1/company.by_uscc", params={"uscc": "91500101MA5U000001"}, headers={"X-API-Key": key})
    assert nogrant.status_code == 403 and nogrant.json()["error"]["field"] == "grant"
    unknown = client.get("/ds/v1/no.such_thing", headers={"X-API-Key": key})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "code"
    badv = client.get("/ds/v1/person.verify", params={**q, "name": "x", "version": "7"}, headers={"X-API-Key": key})
    assert badv.status_code == 404 and badv.json()["error"]["field"] == "version"
    junkv = client.get("/ds/v1/person.verify", params={**q, "name": "x", "version": "v1"}, headers={"X-API-Key": key})
    assert junkv.status_code == 400 and junkv.json()["error"]["field"] == "version"
    # not shared: cannot be applied for at all
    with pytest.raises(ValidationError) as e:
        h.apply(p, h.Apply(SYSTEM, "ref-app", ("resident.full_record",), "checking something", "a law", 10))
    assert e.value.field == "interfaces"
    # revoked key
    with p.db.begin() as conn:
        cid = conn.execute(select(id_store.credentials.c.id).where(
            id_store.credentials.c.secret_hash == __import__("cityos.identity.handlers", fromlist=["x"]).secret_hash(
                key))).scalar_one()
        id_store.revoke_credential(conn, cid, p.clock.now())
    rv = client.get("/ds/v1/person.verify", params={**q, "name": "x"}, headers={"X-API-Key": key})
    assert rv.status_code == 401 and "revoked" in rv.json()["error"]["message"]
    assert {c["outcome"] for c in calls(p)} >= {"unauthenticated", "forbidden", "no_grant", "not_found", "invalid"}


def test_quota_and_rate_limit_answer_429_with_retry_after(seeded: Platform, client: Any) -> None:
    p = seeded
    r0 = a_resident(p)
    key = consumer_with(p, "quota-app", ("resident.status",), daily=3, per_minute=1000)
    q = {"id_number": r0["id_number"]}
    for _ in range(3):
        assert client.get("/ds/v1/resident.status", params=q, headers={"X-API-Key": key}).status_code == 200
    over = client.get("/ds/v1/resident.status", params=q, headers={"X-API-Key": key})
    assert over.status_code == 429 and over.json()["error"]["field"] == "daily_quota"
    assert int(over.headers["Retry-After"]) > 0
    key2 = consumer_with(p, "rate-app", ("resident.status",), daily=1000, per_minute=2)
    answers = [client.get("/ds/v1/resident.status", params=q, headers={"X-API-Key": key2}).status_code
               for _ in range(3)]
    assert answers[:2] == [200, 200] and answers[2] == 429
    with p.db.read() as conn:
        rows = {(r.interface_code, r.consumer_id): r for r in conn.execute(select(store.ds_usage))}
    quota_consumer = h.store.consumer_by_code
    with p.db.read() as conn:
        qc = quota_consumer(conn, "quota-app")
    assert qc is not None
    u = rows[("resident.status", qc["id"])]
    assert (u.calls, u.ok, u.errors) == (3, 3, 1)


def test_approval_flow_suspend_resume_revoke_and_audit(seeded: Platform, client: Any) -> None:
    p = seeded
    r0 = a_resident(p)
    h.register_consumer(p, h.RegisterConsumer(SYSTEM, "flow-app", "Flow app", "emergency"))
    out = h.apply(p, h.Apply(SYSTEM, "flow-app", ("person.verify", "resident.basic", "grid.enterprises"),
                             "emergency evacuation lists", "突发事件应对法", 300))
    states = {g["interface"]: g["status"] for g in out["grants"]}
    assert states == {"person.verify": "active", "resident.basic": "pending", "grid.enterprises": "active"}
    key = out["credentials"]["api_key"]  # issued at once: some interfaces were granted
    gid = next(g["id"] for g in out["grants"] if g["interface"] == "resident.basic")
    q = {"id_number": r0["id_number"]}
    assert client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key}).status_code == 403
    officer_key = key_for(p, "data.officer")
    pend = client.get("/api/v1/ds/grants", params={"status": "pending", "owner": "public_security"},
                      headers={"X-API-Key": officer_key}).json()
    assert gid in [g["id"] for g in pend["items"]]
    bad = client.post(f"/api/v1/ds/grants/{gid}/reject", json={}, headers={"X-API-Key": officer_key})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "reason"
    ok = client.post(f"/api/v1/ds/grants/{gid}/approve", json={"daily_quota": 50}, headers={"X-API-Key": officer_key})
    assert ok.status_code == 200 and ok.json()["status"] == "active" and ok.json()["daily_quota"] == 50
    assert client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key}).status_code == 200
    client.post(f"/api/v1/ds/grants/{gid}/suspend", json={}, headers={"X-API-Key": officer_key})
    s = client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key})
    assert s.status_code == 403 and "suspended" in s.json()["error"]["message"]
    client.post(f"/api/v1/ds/grants/{gid}/resume", json={}, headers={"X-API-Key": officer_key})
    assert client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key}).status_code == 200
    client.post(f"/api/v1/ds/grants/{gid}/revoke", json={}, headers={"X-API-Key": officer_key})
    assert client.get("/ds/v1/resident.basic", params=q, headers={"X-API-Key": key}).status_code == 403
    again = client.post(f"/api/v1/ds/grants/{gid}/approve", json={}, headers={"X-API-Key": officer_key})
    assert again.status_code == 409 and again.json()["error"]["field"] == "action"
    nobody = key_for(p, "grid.member")
    denied = client.post(f"/api/v1/ds/grants/{gid}/resume", json={}, headers={"X-API-Key": nobody})
    assert denied.status_code == 403
    with p.db.read() as conn:
        actions = [r[0] for r in conn.execute(select(id_store.audit_log.c.action).where(
            id_store.audit_log.c.object_type.in_(["ds_grant", "ds_application", "ds_consumer"]))
            .order_by(id_store.audit_log.c.id))]
    assert actions[:3] == ["ds.consumer.create", "ds.apply", "ds.credentials.issue"]
    assert {"ds.grant.approve", "ds.grant.suspend", "ds.grant.resume", "ds.grant.revoke"} <= set(actions)
    # the owner's view: who uses public_security's data
    usage = client.get("/api/v1/ds/usage", params={"owner": "public_security"}, headers={"X-API-Key": officer_key})
    assert usage.status_code == 200
    mine = [r for r in usage.json()["by_consumer"] if r["consumer_code"] == "flow-app"]
    assert mine and mine[0]["interface_code"] == "resident.basic" and mine[0]["ok"] == 2


def test_versions_are_immutable_and_old_ones_work_until_retired(seeded: Platform, client: Any) -> None:
    p = seeded
    officer_key = key_for(p, "data.officer")
    doc = """
code: test.grid_buildings
version: 1
name: 测试
owner: planning
datasets: [spatial-geography]
sharing: unconditional
description: test
params:
  - {name: grid_code, pattern: '^\\d{15}$'}
query:
  table: buildings
  filters: [{field: grid_code, op: eq, param: grid_code}]
  order: [building_id]
  limit: 5
output: [building_id, name]
"""
    r = client.post("/api/v1/ds/interfaces", content=doc.encode(), headers={"X-API-Key": officer_key,
                                                                           "Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    same = client.post("/api/v1/ds/interfaces", content=doc.encode(), headers={"X-API-Key": officer_key})
    assert same.json()["published"][0]["published"] is False
    changed = client.post("/api/v1/ds/interfaces", content=doc.replace("limit: 5", "limit: 6").encode(),
                          headers={"X-API-Key": officer_key})
    assert changed.status_code == 409 and changed.json()["error"]["field"] == "version"
    v2 = doc.replace("version: 1", "version: 2").replace("output: [building_id, name]", "output: [building_id]")
    assert client.post("/api/v1/ds/interfaces", content=v2.encode(), headers={"X-API-Key": officer_key}).status_code == 201
    key = consumer_with(p, "ver-app", ("test.grid_buildings",))
    with p.db.read() as conn:
        grid = conn.execute(select(data_store.buildings.c.grid_code).limit(1)).scalar_one()
    latest = client.get("/ds/v1/test.grid_buildings", params={"grid_code": grid}, headers={"X-API-Key": key}).json()
    assert latest["version"] == 2 and set(latest["data"][0]) == {"building_id"}
    old = client.get("/ds/v1/test.grid_buildings", params={"grid_code": grid, "version": 1},
                     headers={"X-API-Key": key}).json()
    assert old["version"] == 1 and set(old["data"][0]) == {"building_id", "name"}
    ret = client.post("/api/v1/ds/interfaces/test.grid_buildings/versions/1/retire", headers={"X-API-Key": officer_key})
    assert ret.status_code == 200 and ret.json()["latest_version"] == 2
    gone = client.get("/ds/v1/test.grid_buildings", params={"grid_code": grid, "version": 1},
                      headers={"X-API-Key": key})
    assert gone.status_code == 410 and gone.json()["error"]["field"] == "version"
    # a bad definition names its path
    bad = client.post("/api/v1/ds/interfaces/validate", content=doc.replace("table: buildings", "table: users").encode())
    assert bad.status_code == 400 and bad.json()["error"]["field"].endswith("query.table")
    raw = client.post("/api/v1/ds/interfaces/validate",
                      content=doc.replace("field: grid_code, op: eq", "field: 'grid_code; drop table x', op: eq").encode())
    assert raw.status_code == 400 and "filters[0].field" in raw.json()["error"]["field"]
    with pytest.raises(Conflict):
        h.publish(p, h.Publish(SYSTEM, [{**h.load_documents(doc)[0], "owner": "big_data", "version": 3}]))


def test_oauth2_client_credentials_and_locate(seeded: Platform, client: Any) -> None:
    p = seeded
    h.register_consumer(p, h.RegisterConsumer(SYSTEM, "oauth-app", "OAuth app", "planning"))
    out = h.apply(p, h.Apply(SYSTEM, "oauth-app", ("geo.locate_point",), "locating reports", "a regulation", 10))
    creds = out["credentials"]
    bad = client.post("/ds/v1/token", data={"grant_type": "client_credentials", "client_id": "oauth-app",
                                             "client_secret": "nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    tok = client.post("/ds/v1/token", data={"grant_type": "client_credentials", "client_id": creds["client_id"],
                                             "client_secret": creds["client_secret"]})
    assert tok.status_code == 200 and tok.json()["token_type"] == "Bearer"
    with p.db.read() as conn:
        lon, lat, grid = conn.execute(select(data_store.buildings.c.lon, data_store.buildings.c.lat,
                                             data_store.buildings.c.grid_code).limit(1)).one()
    r = client.get("/ds/v1/geo.locate_point", params={"lon": lon, "lat": lat},
                   headers={"Authorization": f"Bearer {tok.json()['access_token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["grid_code"] == grid and r.json()["data"]["inside"] is True
    nan = client.get("/ds/v1/geo.locate_point", params={"lon": "east", "lat": lat},
                     headers={"Authorization": f"Bearer {tok.json()['access_token']}"})
    assert nan.status_code == 400 and nan.json()["error"]["field"] == "lon"


def test_every_shipped_interface_answers_on_the_seeded_city(seeded: Platform, client: Any) -> None:
    """Each shipped interface is called once with values from the seeded city (schema, binds, masks)."""
    p = seeded
    with p.db.read() as conn:
        ex = {k: conn.execute(select(c).where(c.is_not(None)).limit(1)).scalar() for k, c in {
            "id_number": data_store.residents.c.id_number, "household_id": data_store.residents.c.household_id,
            "building_id": data_store.residents.c.building_id, "uscc": data_store.legal_entities.c.uscc,
            "licence_no": data_store.licences.c.licence_no, "subject_id": data_store.credit_records.c.subject_id,
            "grid_code": data_store.buildings.c.grid_code, "address": data_store.buildings.c.address}.items()}
        ex["name"] = "张三"
        ex["holder_id"] = ex["uscc"]
        ex["code"] = ex["grid_code"][:9]
        ex["lon"], ex["lat"] = "106.5", "29.5"
        items = store.search_interfaces(conn, None, None, None)
    codes = tuple(i["code"] for i in items if i["sharing"] != "not_shared")
    key = consumer_with(p, "all-app", codes)
    for i in items:
        if i["sharing"] == "not_shared":
            continue
        v = store.versions_of  # noqa: F841
        with p.db.read() as conn:
            defn = store.version_definition(conn, i["code"], i["latest_version"])
        assert defn is not None
        params = {prm["name"]: ex[prm["name"]] for prm in defn.get("params", []) if prm.get("required", True)}
        r = client.get(f"/ds/v1/{i['code']}", params=params, headers={"X-API-Key": key})
        assert r.status_code == 200, (i["code"], r.text)


def test_key_lookups_use_indexes(seeded: Platform) -> None:
    """The plans of the key lookups name an index, never a scan of the table."""
    p = seeded
    from cityos.data.services.gateway import registry

    reg = registry(p)
    cases = {"resident.basic": {"id_number"}, "household.members": {"household_id"},
             "building.residents": {"building_id"}, "company.by_uscc": {"uscc"}, "company.licences": {"uscc"},
             "person.licences": {"id_number"}, "credit.status": {"subject_id"}, "grid.enterprises": {"grid_code"},
             "geo.locate_address": {"address"}, "grid.risk_areas": {"grid_code"}, "licence.validity": {"licence_no"}}
    for code, present in cases.items():
        compiled = reg.get(p.db.read_once, code, 1)
        stmt = reg.statement(compiled, frozenset(present))
        binds = store.bind_values(compiled.defn, dict.fromkeys(present, "x"), p.clock.now().date(), 10, 0)
        sql = str(stmt.params(**binds).compile(dialect=p.db.engine.dialect, compile_kwargs={"literal_binds": True}))
        with p.db.read() as conn:
            if p.db.is_postgres:
                conn.execute(text("SET LOCAL enable_seqscan = off"))  # the small test city would scan anyway
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
                assert "Index" in plan and "Seq Scan" not in plan, (code, plan)
            else:
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert "USING" in plan and "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (code, plan)
