"""The database going away or staying busy: requests recover or answer 503, never 500."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityos.bootstrap import Platform, bootstrap
from cityos.core.config import Settings
from tests.conftest import ENGINE, PG_URL
from tests.integration.test_identity import bearer, token_for


def _terminate_backends(database: str) -> int:
    """Kill every server process connected to `database` (as a server restart or a failover would)."""
    import psycopg

    assert PG_URL
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                             "AND pid <> pg_backend_pid()", (database,)).fetchall()
    return len(rows)


@pytest.mark.skipif(ENGINE != "postgresql", reason="terminates PostgreSQL backends")
def test_requests_succeed_after_the_servers_connections_were_terminated(seeded: Platform, client: Any) -> None:
    database = seeded.db.engine.url.database
    assert database
    admin = bearer(token_for(client, "admin"))
    key = client.post("/api/v1/apikeys", json={"name": "k", "username": "grid.member"}, headers=admin).json()["key"]
    assert client.get("/api/v1/auth/check", headers={"X-API-Key": key}).status_code == 200
    assert _terminate_backends(database) >= 1  # the pool holds at least the connection just used

    # No ping at checkout: the key's read meets the dead connection, is retried once on a
    # fresh one, and the pool drops its other dead connections.
    r = client.get("/api/v1/me", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "grid.member"
    # A write on the next request finds a live connection too.
    r = client.post("/api/v1/apikeys", json={"name": "k2", "username": "grid.member"}, headers=admin)
    assert r.status_code == 201, r.text

    # And a revocation still counts on the very next request after another round of kills.
    kid = r.json()["id"]
    key2 = r.json()["key"]
    assert client.delete(f"/api/v1/apikeys/{kid}", headers=admin).status_code in (200, 204)
    _terminate_backends(database)
    r = client.get("/api/v1/auth/check", headers={"X-API-Key": key2})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


@pytest.fixture
def impatient(seeded: Platform, database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A second platform on the seeded SQLite file whose writes wait only 0.2 s for the lock."""
    p = bootstrap(Settings(database_url=database_url, data_dir=tmp_path / "impatient", env="test",
                           geo_index_ttl_s=0.0, db_busy_timeout_s=0.2))
    yield p
    p.close()


@pytest.mark.skipif(ENGINE != "sqlite", reason="SQLite's single write lock")
def test_a_locked_sqlite_database_answers_503_with_retry_after(impatient: Platform, database_url: str) -> None:
    from fastapi.testclient import TestClient

    from cityos.web.app import create_app

    with TestClient(create_app(impatient)) as client:
        admin = bearer(token_for(client, "admin"))
        holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
            r = client.post("/api/v1/apikeys", json={"name": "k", "username": "grid.member"}, headers=admin)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "2"
            assert r.json()["error"]["code"] == "unavailable"
            assert "busy" in r.json()["error"]["message"]
            # Reads still go on beside the held lock (WAL).
            assert client.get("/api/v1/me", headers=admin).status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        r = client.post("/api/v1/apikeys", json={"name": "k", "username": "grid.member"}, headers=admin)
        assert r.status_code == 201, r.text
