"""The catalog through the CKAN Action API: the real ckanapi client and raw HTTP."""

from __future__ import annotations

from typing import Any

import ckanapi
import pytest
from sqlalchemy import select

from cityos.bootstrap import Platform
from cityos.data import store as s
from cityos.identity import handlers as h
from cityos.identity import store as id_store
from cityos.identity.model import SYSTEM


def key_for(p: Platform, user: str) -> str:
    _cid, secret = p.bus.handle(h.CreateCredential(SYSTEM, user, "test", "api_key", ("*",), None))
    return str(secret)


def test_ckanapi_client_reads_and_writes(live_server: Any) -> None:
    p: Platform = live_server.server.config.app.state.platform
    anon = ckanapi.RemoteCKAN(live_server.url)
    assert anon.action.status_show()["ckan_version"].startswith("2.")
    names = anon.action.package_list()
    assert {"population", "legal-entities", "spatial-geography", "e-licences", "social-credit",
            "elderly-living-alone"} <= set(names)
    pkg = anon.action.package_show(id="population")
    assert pkg["organization"]["name"] == "public_security"
    assert {f["id"]: f["info"]["sensitivity"] for f in pkg["fields"]}["id_number"] == "personal"
    found = anon.action.package_search(q="人口", fq="groups:base", rows=5, **{"facet.field": ["organization", "tags"]})
    assert found["count"] >= 1 and "population" in [r["name"] for r in found["results"]]
    assert "organization" in found["search_facets"]
    assert "public_security" in anon.action.organization_list()
    assert anon.action.group_show(id="subject")["package_count"] == 4
    assert anon.action.resource_show(id="residents")["datastore_active"] is True
    with pytest.raises(ckanapi.NotFound):
        anon.action.package_show(id="no-such-dataset")
    with pytest.raises(ckanapi.NotAuthorized):
        anon.action.datastore_search(resource_id="residents")
    # Open data is open to everyone.
    assert anon.action.datastore_search(resource_id="buildings", limit=2)["total"] > 0

    officer = ckanapi.RemoteCKAN(live_server.url, apikey=key_for(p, "data.officer"))
    res = officer.action.datastore_search(resource_id="residents", limit=5, sort="id_number")
    assert res["total"] == 10_000 and len(res["records"]) == 5
    assert all("*" in r["id_number"] for r in res["records"]), "a data officer sees masked ID numbers"
    created = officer.action.package_create(
        name="street-lamps", title="路灯台账", owner_org="planning", notes="Street lamps",
        tags=[{"name": "路灯"}], groups=[{"name": "department"}], sharing_type="unconditional", open_type="open",
        update_frequency="monthly", security_level="L1",
        fields=[{"id": "lamp_id", "type": "text", "info": {"label": "路灯编号", "sensitivity": "public"}}])
    assert created["name"] == "street-lamps"
    patched = officer.action.package_patch(id="street-lamps", notes="Street lamps of the city")
    assert patched["notes"] == "Street lamps of the city" and patched["tags"][0]["name"] == "路灯"
    with pytest.raises(ckanapi.ValidationError) as e:
        officer.action.package_create(name="street-lamps", title="again", owner_org="planning")
    assert "name" in e.value.error_dict
    with pytest.raises(ckanapi.ValidationError) as e:
        officer.action.package_create(name="x-y", title="t", owner_org="planning", sharing_type="sometimes")
    assert "sharing_type" in e.value.error_dict
    citizen = ckanapi.RemoteCKAN(live_server.url, apikey=key_for(p, "citizen"))
    with pytest.raises(ckanapi.NotAuthorized):
        citizen.action.package_create(name="nope", title="n", owner_org="planning")
    sql = officer.action.datastore_search_sql(
        sql="SELECT grid_code, count(*) AS n FROM residents GROUP BY grid_code ORDER BY n DESC LIMIT 3")
    assert len(sql["records"]) == 3


def _get(client: Any, action: str, **params: Any) -> Any:
    return client.get(f"/api/3/action/{action}", params=params)


def test_raw_http_envelope_and_errors(seeded: Platform, client: Any) -> None:
    r = _get(client, "package_show", id="population")
    assert r.status_code == 200 and r.json()["success"] is True and "help" in r.json()
    r = client.get("/api/action/package_show", params={"id": "nope"})
    assert r.status_code == 404 and r.json()["error"]["__type"] == "Not Found Error"
    r = client.post("/api/3/action/package_search", json={"rows": 5000})
    assert r.status_code == 200
    r = _get(client, "package_search", rows="many")
    assert r.status_code == 409 and r.json()["error"]["__type"] == "Validation Error"
    r = client.post("/api/3/action/package_search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["success"] is False
    r = _get(client, "no_such_action")
    assert r.status_code == 404
    r = client.post("/api/3/action/package_create", json={"name": "x1", "title": "t", "owner_org": "planning"})
    assert r.status_code == 403 and r.json()["error"]["__type"] == "Authorization Error"
    r = _get(client, "package_search", q="", fq="kind:subject", rows=2, start=1, sort="name asc",
             **{"facet.field": '["open_type"]'})
    body = r.json()["result"]
    assert body["count"] == 4 and len(body["results"]) == 2
    assert sum(body["facets"]["open_type"].values()) == 4
    _dcat(client)


def test_datastore_search_masks_scopes_and_audits(seeded: Platform, client: Any) -> None:
    officer = {"X-API-Key": key_for(seeded, "data.officer")}
    operator = {"X-API-Key": key_for(seeded, "district.operator")}
    with seeded.db.read() as conn:
        district = conn.execute(select(id_store.role_grants.c.node).where(id_store.role_grants.c.role == "district_operator")).scalar_one()
        one = conn.execute(select(s.residents.c.id_number, s.residents.c.grid_code)
                           .where(s.residents.c.grid_code.startswith(district)).limit(1)).one()
    q = {"resource_id": "residents", "filters": f'{{"id_number": "{one[0]}"}}'}
    r = client.get("/api/3/action/datastore_search", params=q, headers=officer)
    rec = r.json()["result"]["records"][0]
    assert rec["id_number"] != one[0] and rec["id_number"].startswith(one[0][:6])
    # An operator with a stated purpose sees the record in clear, and that read is audited.
    r = client.get("/api/3/action/datastore_search", params=q, headers={**operator, "X-Purpose": "home-visit check"})
    assert r.json()["result"]["records"][0]["id_number"] == one[0]
    with seeded.db.read() as conn:
        logged = conn.execute(select(id_store.audit_log.c.purpose, id_store.audit_log.c.details)
                              .where(id_store.audit_log.c.action == "data.personal_read")).all()
    assert logged and logged[-1][0] == "home-visit check" and one[0] in logged[-1][1]["keys"]
    # Without a purpose: masked. Outside the operator's district: not there at all.
    r = client.get("/api/3/action/datastore_search", params=q, headers=operator)
    assert r.json()["result"]["records"][0]["id_number"] != one[0]
    r = client.get("/api/3/action/datastore_search", params={"resource_id": "residents", "limit": 1000},
                   headers=operator)
    assert all(rec["grid_code"].startswith(district) for rec in r.json()["result"]["records"])
    total = r.json()["result"]["total"]
    assert 0 < total < 10_000
    r = client.get("/api/3/action/datastore_search", params={"resource_id": "residents", "fields": "grid_code,status",
                                                            "limit": 2, "offset": 2, "sort": "grid_code desc"},
                   headers=officer)
    body = r.json()["result"]
    assert list(body["records"][0]) == ["grid_code", "status"] and "next" in body["_links"]
    assert body["_links"]["next"].endswith("offset=4")
    r = client.get("/api/3/action/datastore_search", params={"resource_id": "residents", "sort": "nope"},
                   headers=officer)
    assert r.status_code == 409 and r.json()["error"]["sort"]


REFUSED = ["DELETE FROM residents", "SELECT 1; DROP TABLE residents", "SELECT * FROM users",
           "UPDATE licences SET status = 'revoked'", "SELECT id_number FROM residents", "SELECT * FROM residents"]


def test_datastore_search_sql_is_one_bounded_read_only_select(seeded: Platform, client: Any) -> None:
    officer = {"X-API-Key": key_for(seeded, "data.officer")}
    for sql in REFUSED:
        r = client.post("/api/3/action/datastore_search_sql", json={"sql": sql}, headers=officer)
        assert r.status_code in (403, 409) and r.json()["success"] is False, sql
    with seeded.db.read() as conn:
        assert len(conn.execute(select(s.residents.c.id_number)).all()) == 10_000
    seeded.extras["data.sql_timeout_s"] = 0.5
    forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) AS c FROM r"
    r = client.post("/api/3/action/datastore_search_sql", json={"sql": forever}, headers=officer)
    assert r.status_code == 409 and "stopped" in r.json()["error"]["message"]
    seeded.extras["data.sql_row_cap"] = 10
    r = client.post("/api/3/action/datastore_search_sql", json={"sql": "SELECT grid_code FROM buildings"},
                    headers=officer)
    assert r.json()["result"]["records_truncated"] is True and len(r.json()["result"]["records"]) == 10
    # The connection is usable (and writable) again after a stopped query.
    with seeded.db.begin() as conn:
        conn.execute(s.catalog_tags.insert().values(dataset="population", tag="after"))


def _dcat(client: Any) -> None:
    from rdflib import Graph
    from rdflib.namespace import DCAT, RDF

    ttl = client.get("/catalog.ttl")
    g = Graph().parse(data=ttl.text, format="turtle")
    assert len(list(g.subjects(RDF.type, DCAT.Dataset))) == 9
    jl = client.get("/catalog.jsonld")
    g2 = Graph().parse(data=jl.text, format="json-ld")
    assert len(list(g2.subjects(RDF.type, DCAT.Dataset))) == 9
