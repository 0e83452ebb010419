"""Health, readiness, metrics, security headers, size limits, errors."""

from __future__ import annotations

from typing import Any

from cityos.bootstrap import Platform


def test_health_ready_and_metrics(platform: Platform, client: Any) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"status": "ready", "database": "ok"}
    client.get("/ogc/collections")
    text = client.get("/metrics").text
    assert 'cityos_http_requests_total{method="GET",route="/ogc/collections",status="200"}' in text


def test_readyz_says_503_when_the_database_is_away(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from cityos.bootstrap import bootstrap
    from cityos.core.config import Settings
    from cityos.web.app import create_app

    p = bootstrap(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", data_dir=tmp_path, env="test"))
    with TestClient(create_app(p)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "unreachable" in r.json()["database"]
        r = c.get("/ogc/collections")
        assert r.status_code == 503
    p.close()


def test_headers_limits_and_clear_errors(platform: Platform, client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "CityOS" in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    big = client.post("/api/v1/geo/locate", content=b"x" * 20, headers={"content-length": str(50 * 1024 * 1024)})
    assert big.status_code == 413 and big.json()["error"]["field"] == "Content-Length"
    miss = client.get("/api/v1/nothing-here")
    assert miss.status_code == 404 and miss.json()["error"]["code"] == "not_found"
    bad = client.get("/api/v1/geo/locate", params={"lon": "107"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "lat"
    assert client.get("/openapi.json").json()["info"]["title"] == "CityOS API"
    assert "swagger-ui-bundle.js" in client.get("/docs").text
