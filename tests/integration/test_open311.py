"""Open311 GeoReport v2: every endpoint, both formats, every error code, with raw HTTP
and with the `georeport` client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from georeport import GeoReport
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.worker import Worker
from cityos.governance import store
from cityos.identity.handlers import CreateCredential
from cityos.identity.model import SYSTEM

BASE = "/open311/v2"


@pytest.fixture
def key(seeded: Platform) -> str:
    _, secret = seeded.bus.handle(CreateCredential(SYSTEM, "citizen", "311 app", "api_key"))
    return str(secret)


def point(p: Platform) -> tuple[float, float]:
    from cityos.geo import store as geo_store

    with p.db.read() as conn:
        r = conn.execute(select(geo_store.divisions.c.center_lon, geo_store.divisions.c.center_lat)
                         .where(geo_store.divisions.c.level == "grid").order_by(geo_store.divisions.c.code).limit(1)).one()
    return float(r[0]), float(r[1])


def case_count(p: Platform) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store.cases)).scalar_one())


def test_discovery_and_services_in_both_formats(seeded: Platform, client: Any) -> None:
    d = client.get(f"{BASE}/discovery.json")
    assert d.status_code == 200 and d.json()["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    x = client.get(f"{BASE}/discovery.xml")
    assert x.headers["content-type"].startswith("text/xml") and ET.fromstring(x.content).tag == "discovery"
    services = client.get(f"{BASE}/services.json").json()
    codes = {s["service_code"] for s in services}
    assert "E0401" in codes and "E0407" not in codes  # hazardous chemicals are not open to the public
    road = next(s for s in services if s["service_code"] == "E0401")
    assert road["service_name"] == "路面塌陷" and road["type"] == "realtime" and road["metadata"] is False
    root = ET.fromstring(client.get(f"{BASE}/services.xml").content)
    assert root.tag == "services" and root.find("service/service_code") is not None
    assert any(s.findtext("service_name") == "路面塌陷" for s in root.findall("service"))
    defn = client.get(f"{BASE}/services/P0101.json").json()
    attr = defn["attributes"][0]
    assert attr["code"] == "cover_state" and attr["datatype"] == "singlevaluelist" and attr["required"] is True
    assert {v["key"] for v in attr["values"]} == {"missing", "broken", "sunk"}
    xdef = ET.fromstring(client.get(f"{BASE}/services/P0101.xml").content)
    assert xdef.tag == "service_definition" and xdef.find("attributes/attribute/values/value/key") is not None
    assert client.get(f"{BASE}/services/Z9999.json").status_code == 404
    assert client.get(f"{BASE}/services.json", params={"jurisdiction_id": "elsewhere"}).status_code == 404


def test_status_filter_newest_first_across_states(seeded: Platform, client: Any, key: str) -> None:
    """status and service codes read each (code, state)'s newest cases apart and merge them (store.newest_ids);
    the answer is the same as one filtered, ordered query: newest first, closed ones left out."""
    from sqlalchemy import update

    lon, lat = point(seeded)
    made = []
    for code in ("E0401", "E0205", "P0201", "E0303"):
        r = client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": code, "lat": lat, "long": lon})
        assert r.status_code == 200, r.text
        made.append(r.json()[0]["service_request_id"])
    now = seeded.clock.now()
    states = ["handling", "closed", "parked", "evaluated"]  # two open, two closed, created an hour apart
    with seeded.db.begin() as conn:
        for i, (number, state) in enumerate(zip(made, states, strict=True)):
            conn.execute(update(store.cases).where(store.cases.c.number == number)
                         .values(state=state, created_at=now - timedelta(hours=i + 1)))

    def listed(**params: str) -> list[str]:
        r = client.get(f"{BASE}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json() if x["service_request_id"] in made]

    assert listed(status="open") == [made[0], made[2]]
    assert listed(status="closed") == [made[1], made[3]]
    assert listed(status="open,closed") == made
    assert listed(status="open", service_code="P0201,E0303") == [made[2]]
    # Codes alone and codes with status=closed go through the ranges too (a code given twice once).
    assert listed(service_code="E0401,E0205,P0201,E0303") == made
    assert listed(service_code="P0201") == [made[2]]
    assert listed(status="closed", service_code="E0205,E0205,E0303") == [made[1], made[3]]
    # Many codes: one ordered query instead of a range per (code, state); same answer.
    many = "E0401,E0205,P0201,E0303,P0101,E0601,E0501"
    assert listed(status="open", service_code=many) == [made[0], made[2]]
    old = (now - timedelta(days=200)).isoformat()
    assert listed(status="open", start_date=old, end_date=(now - timedelta(days=120)).isoformat()) == []


def test_post_get_and_round_trip_utf8(seeded: Platform, client: Any, key: str) -> None:
    lon, lat = point(seeded)
    r = client.post(f"{BASE}/requests.json", data={
        "api_key": key, "service_code": "E0401", "lat": lat, "long": lon, "description": "路面塌陷，<b>危险</b>",
        "first_name": "", "email": "a@example.cn", "phone": "13912345678", "jurisdiction_id": "500000"})
    assert r.status_code == 200, r.text
    sid = r.json()[0]["service_request_id"]
    one = client.get(f"{BASE}/requests/{sid}.json").json()[0]
    assert one["description"] == "路面塌陷，<b>危险</b>" and one["service_name"] == "路面塌陷"
    assert one["status"] == "open" and one["expected_datetime"].endswith("+08:00")
    assert one["requested_datetime"].endswith("+08:00") and one["agency_responsible"]
    xml = ET.fromstring(client.get(f"{BASE}/requests/{sid}.xml").content)
    assert xml.tag == "service_requests" and xml.findtext("request/service_request_id") == sid
    assert xml.findtext("request/description") == "路面塌陷，<b>危险</b>"
    listed = client.get(f"{BASE}/requests.json", params={"service_code": "E0401,P0101", "status": "open"}).json()
    assert [x["service_request_id"] for x in listed] == [sid]
    assert client.get(f"{BASE}/requests.json", params={"status": "closed"}).json() == []
    by_id = client.get(f"{BASE}/requests.json", params={"service_request_id": f"{sid},nope"}).json()
    assert len(by_id) == 1
    # XML post works the same and attributes are validated.
    r = client.post(f"{BASE}/requests.xml", data={"api_key": key, "service_code": "P0101", "lat": lat, "long": lon,
                                                  "attribute[cover_state]": "missing"})
    assert r.status_code == 200 and ET.fromstring(r.content).findtext("request/service_request_id")
    r = client.post(f"{BASE}/requests.json", params={"api_key": key},
                    data={"service_code": "E0601", "lat": lat, "long": lon,
                          "attribute[noise_kinds][]": ["music", "people"]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        ({"service_code": "E0401", "lat": "30", "long": "107"}, 403, "api_key"),
        ({"api_key": "cos_bad_key", "service_code": "E0401", "lat": "30", "long": "107"}, 403, "api_key"),
        ({"service_code": "Z0000", "lat": "30", "long": "107"}, 404, "Z0000"),
        ({"service_code": "E0401"}, 400, "location"),
        ({"service_code": "E0401", "lat": "30"}, 400, "long"),
        ({"service_code": "P0101", "lat": "@lat", "long": "@lon"}, 400, "attribute[cover_state]"),
        ({"service_code": "P0101", "lat": "@lat", "long": "@lon", "attribute[cover_state]": "stolen"}, 400, "stolen"),
        ({"service_code": "P0104", "lat": "@lat", "long": "@lon", "attribute[lamp_count]": "many"}, 400, "number"),
        ({"service_code": "E0401", "lat": "@lat", "long": "@lon", "description": "长" * 4001}, 400, "4000"),
        ({"service_code": "E0401", "lat": "30", "long": "100"}, 400, "outside"),
        ({"service_code": "E0401", "address_string": "火星大道1号"}, 400, "address_string"),
    ],
)
def test_bad_posts_get_standard_errors_and_store_nothing(seeded: Platform, client: Any, key: str,
                                                         data: dict[str, Any], status: int, needle: str) -> None:
    lon, lat = point(seeded)
    body = {k: (lat if v == "@lat" else lon if v == "@lon" else v) for k, v in data.items()}
    if "api_key" not in body and status != 403:
        body["api_key"] = key
    for fmt in ("json", "xml"):
        r = client.post(f"{BASE}/requests.{fmt}", data=body)
        assert r.status_code == status, r.text
        if fmt == "json":
            err = r.json()[0]
            assert err["code"] == status and needle in err["description"]
        else:
            root = ET.fromstring(r.content)
            assert root.tag == "errors" and root.findtext("error/code") == str(status)
    assert case_count(seeded) == 0


def test_dates_default_and_limits(seeded: Platform, client: Any, key: str) -> None:
    bad = client.get(f"{BASE}/requests.json", params={"start_date": "2026-01-01T00:00:00Z",
                                                      "end_date": "2026-06-01T00:00:00Z"})
    assert bad.status_code == 400 and "90 days" in bad.json()[0]["description"]
    assert client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}).status_code == 400
    assert client.get(f"{BASE}/requests/000.json").status_code == 404
    assert client.get(f"{BASE}/requests.yaml").status_code == 404


def test_address_and_batch_token(seeded: Platform, client: Any, key: str) -> None:
    from cityos.geo import store as geo_store

    with seeded.db.read() as conn:
        town = conn.execute(select(geo_store.divisions.c.code, geo_store.divisions.c.name_zh)
                            .where(geo_store.divisions.c.level == "township").limit(1)).one()
    r = client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "E0303",
                                                   "address_string": f"重庆市{town[1]}人民路12号"})
    assert r.status_code == 200, r.text
    with seeded.db.read() as conn:
        assert conn.execute(select(store.cases.c.township_code)).scalar_one() == town[0]
    r = client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "E0806", "address_id": town[0],
                                                   "description": "超市价格欺诈"})
    tok = r.json()[0]["token"]
    assert client.get(f"{BASE}/tokens/{tok}.json").json() == [{"service_request_id": None, "token": tok}]
    Worker(seeded).run_jobs()
    resolved = client.get(f"{BASE}/tokens/{tok}.json").json()[0]
    assert resolved["service_request_id"] and resolved["token"] == tok
    assert client.get(f"{BASE}/tokens/nope.xml").status_code == 404


def test_merged_reports_show_the_masters_outcome(seeded: Platform, client: Any, key: str) -> None:
    lon, lat = point(seeded)
    ids = [client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "E0303", "lat": lat + d,
                                                      "long": lon, "description": "路面破损"}).json()[0]["service_request_id"]
           for d in (0, 0.0002)]
    tok = client.post("/api/v1/auth/token", data={"username": "city.operator", "password": "cityos-demo-2026"})
    op = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    cases = {c["number"]: c["id"] for c in client.get("/api/v1/cases", headers=op).json()["cases"]}
    first, second = cases[ids[0]], cases[ids[1]]
    dups = client.get(f"/api/v1/cases/{second}/duplicates", headers=op).json()["duplicates"]
    assert [d["id"] for d in dups] == [first] and dups[0]["metres"] < 30
    assert client.post(f"/api/v1/cases/{second}/actions/merge", json={"master_id": first, "note": "重复"},
                       headers=op).status_code == 200
    for action in ("file", "dispatch", "sign", "start", "report"):
        assert client.post(f"/api/v1/cases/{first}/actions/{action}", json={"note": "ok"}, headers=op).status_code == 200
    v = client.post("/api/v1/auth/token", data={"username": "verifier", "password": "cityos-demo-2026"}).json()
    client.post(f"/api/v1/cases/{first}/actions/verify", json={}, headers={"Authorization": f"Bearer {v['access_token']}"})
    assert client.post(f"/api/v1/cases/{first}/actions/close", json={}, headers=op).status_code == 200
    both = client.get(f"{BASE}/requests.json", params={"service_request_id": ",".join(ids)}).json()
    assert {b["status"] for b in both} == {"closed"}


def test_the_georeport_client_reads_everything(live_server: Any, seeded: Platform, key: str) -> None:
    import httpx

    lon, lat = point(seeded)
    r = httpx.post(f"{live_server.url}{BASE}/requests.json",
                   data={"api_key": key, "service_code": "E0401", "lat": lat, "long": lon, "description": "路面塌陷"})
    sid = r.json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        client = GeoReport(live_server.url + BASE, jurisdiction="500000", output_format=fmt)
        services = client.get_service_list()
        assert any(s["service_code"] == "E0401" for s in services)
        assert client.get_service_definition("P0101")["service_code"] == "P0101"
        req = client.get_service_request(sid)
        assert req["service_request_id"] == sid and req["service_name"] == "路面塌陷"
        reqs = client.get_service_requests(service_code="E0401")
        listed = reqs if isinstance(reqs, list) else [reqs]
        assert listed[0]["service_request_id"] == sid
    start = (seeded.clock.now() - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(Exception, match="400"):
        GeoReport(live_server.url + BASE).get_service_requests(start_date=start, end_date=seeded.clock.now().strftime(
            "%Y-%m-%dT%H:%M:%SZ"))
