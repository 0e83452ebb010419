"""OGC API - Features, over HTTP and with owslib as a real client."""

from __future__ import annotations

from typing import Any

import pytest
from owslib.ogcapi.features import Features

from cityos.bootstrap import Platform

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def test_landing_conformance_and_collections(seeded: Platform, client: Any) -> None:
    landing = client.get("/ogc/").json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "service-desc", "conformance", "data"}
    assert CORE in client.get("/ogc/conformance").json()["conformsTo"]
    cols = client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in cols][:4] == ["districts", "townships", "villages", "grids"]
    for c in cols[:4]:
        minx, miny, maxx, maxy = c["extent"]["spatial"]["bbox"][0]
        assert 105.3 <= minx < maxx <= 110.2 and 28.2 <= miny < maxy <= 32.2


def test_items_paging_bbox_and_one_item(seeded: Platform, client: Any) -> None:
    r = client.get("/ogc/collections/grids/items", params={"limit": 100})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    page = r.json()
    assert page["numberMatched"] == 300 and page["numberReturned"] == 100
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "offset=100" in nxt
    last = client.get("/ogc/collections/grids/items", params={"limit": 100, "offset": 200}).json()
    assert last["numberReturned"] == 100 and not any(link["rel"] == "next" for link in last["links"])
    bbox = client.get("/ogc/collections/grids/items", params={"bbox": "107.0,29.5,107.4,29.9", "limit": 1000}).json()
    assert 0 < bbox["numberMatched"] < 300 and bbox["numberMatched"] == bbox["numberReturned"]
    code = bbox["features"][0]["id"]
    one = client.get(f"/ogc/collections/grids/items/{code}")
    assert one.status_code == 200 and one.json()["properties"]["level"] == "grid"
    kids = client.get("/ogc/collections/townships/items", params={"parent_code": code[:6], "limit": 50}).json()
    assert kids["numberMatched"] >= 1 and all(f["id"].startswith(code[:6]) for f in kids["features"])


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/ogc/collections/grids/items?bbox=1,2,3", 400),
        ("/ogc/collections/grids/items?bbox=a,b,c,d", 400),
        ("/ogc/collections/grids/items?bbox=107,30,106,31", 400),
        ("/ogc/collections/grids/items?limit=0", 400),
        ("/ogc/collections/grids/items?limit=ten", 400),
        ("/ogc/collections/grids/items?colour=red", 400),
        ("/ogc/collections/nowhere", 404),
        ("/ogc/collections/nowhere/items", 404),
        ("/ogc/collections/grids/items/999999999999999", 404),
        ("/ogc/collections/districts/items/500103001", 404),
    ],
)
def test_bad_requests_get_ogc_exceptions(seeded: Platform, client: Any, url: str, status: int) -> None:
    r = client.get(url)
    assert r.status_code == status
    body = r.json()
    assert body["code"] in ("InvalidParameterValue", "NotFound") and body["description"]


def test_owslib_reads_the_city(live_server: Any) -> None:
    api = Features(live_server.url + "/ogc/")
    assert CORE in api.conformance()["conformsTo"]
    assert set(api.feature_collections()) >= {"districts", "townships", "villages", "grids"}
    items = api.collection_items("grids", limit=5, bbox=[105.3, 28.2, 110.2, 32.2])
    assert items["numberReturned"] == 5 and items["numberMatched"] == 300
    first = items["features"][0]["id"]
    assert api.collection_item("grids", first)["id"] == first
    assert "parent_code" in api.collection_queryables("grids")["properties"]
    with pytest.raises(RuntimeError):
        api.collection_items("grids", bbox=[1, 2, 3])
