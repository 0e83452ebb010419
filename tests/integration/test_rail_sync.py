"""`cityos rail sync` into a SQLite and a PostgreSQL warehouse: snapshot, then changes; resumable
(the cursor lives in the target), idempotent (a re-run applies nothing twice), deletes applied."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from cityos.bootstrap import Platform
from cityos.core.db import Database
from cityos.data import store as s
from cityos.data.rail import store as rs
from cityos.data.rail.sync import DatabaseSource, HttpSource, Sync

ADMIN = os.environ.get("CITYOS_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def _pg_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(ADMIN.replace("+psycopg", ""), connect_timeout=2).close()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    if not _pg_reachable():
        pytest.skip("no PostgreSQL for a warehouse")
    import psycopg

    name = f"rail_wh_{uuid.uuid4().hex[:10]}"
    admin = ADMIN.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield "postgresql+psycopg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows_of(db: Database, table: str, key: str) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, str) and v[:1] in "{[":
            import json

            return json.loads(v)
        return v

    with db.read() as conn:
        return [tuple(norm(v) for v in r) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY "{key}"'))]


def same(p: Platform, url: str, dataset: str, key: str, table: str | None = None) -> bool:
    target = Database(url)
    try:
        return rows_of(p.db, dataset, key) == rows_of(target, table or dataset, key)
    finally:
        target.dispose()


def test_snapshot_then_changes_resume_and_idempotence(seeded: Platform, warehouse: str) -> None:
    p = seeded
    sync = Sync(DatabaseSource(p.db), "licences", warehouse, table="wh_licences")
    try:
        first = sync.run()
        with p.db.read() as conn:
            head = rs.head(conn, "licences")
            n = len(conn.execute(select(s.licences.c.licence_no)).all())
        assert first["snapshot"] == {"seq": head, "rows": n} and first["seq"] == head and first["applied"] == 0
        assert same(p, warehouse, "licences", "licence_no", "wh_licences")

        with p.db.read() as conn:
            keys = [k for (k,) in conn.execute(select(s.licences.c.licence_no).order_by(s.licences.c.licence_no)
                                               .limit(3))]
        with p.db.begin() as conn:
            conn.execute(update(s.licences).where(s.licences.c.licence_no == keys[0])
                         .values(status="revoked", content={"reason": "复核撤销"}))
            conn.execute(delete(s.licences).where(s.licences.c.licence_no == keys[1]))
            row = dict(conn.execute(select(s.licences).where(s.licences.c.licence_no == keys[2])).mappings().one())
            conn.execute(insert(s.licences).values({**row, "licence_no": "RAIL-NEW-1"}))
        second = sync.run()
        assert second["snapshot"] is None and second["applied"] == 3 and second["seq"] == head + 3
        assert same(p, warehouse, "licences", "licence_no", "wh_licences")
        assert sync.run()["applied"] == 3, "a re-run applies nothing more"
        assert sync.state()["seq"] == head + 3  # type: ignore[index]

        # Stopped after one batch of two: the next run resumes from the target's cursor.
        with p.db.begin() as conn:
            for i in range(5):
                conn.execute(insert(s.licences).values({**row, "licence_no": f"RAIL-NEW-{i + 2}"}))
        steps: list[int] = []
        partial = sync.run(limit=2, should_stop=lambda: len(steps) >= 1, on_step=lambda st: steps.append(st.applied))
        assert partial["seq"] == head + 5
        rest = sync.run(limit=2)
        assert rest["seq"] == head + 8 and rest["applied"] == 8
        assert same(p, warehouse, "licences", "licence_no", "wh_licences")

        # Changes applied a second time (a cursor set back) leave the same table: applying is idempotent.
        target = Database(warehouse)
        with target.begin() as conn:
            conn.execute(text("UPDATE rail_sync_state SET seq = seq - 6"))
        target.dispose()
        sync.run()
        assert same(p, warehouse, "licences", "licence_no", "wh_licences")
    finally:
        sync.close()


def test_follow_mode_keeps_up_until_stopped(seeded: Platform, warehouse: str) -> None:
    p = seeded
    sync = Sync(DatabaseSource(p.db), "buildings", warehouse)
    stop = threading.Event()
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.update(sync.run(follow=True, interval_s=0.05,
                                                               should_stop=stop.is_set)))
    t.start()
    try:
        with p.db.read() as conn:
            some = conn.execute(select(s.buildings.c.building_id).limit(1)).scalar()
        while sync.state() is None or int(sync.state()["seq"]) == 0:  # type: ignore[index]
            time.sleep(0.05)
        with p.db.begin() as conn:
            conn.execute(delete(s.buildings).where(s.buildings.c.building_id == some))
        with p.db.read() as conn:
            head = rs.head(conn, "buildings")
        for _ in range(400):
            if int(sync.state()["seq"]) >= head:  # type: ignore[index]
                break
            time.sleep(0.05)
        assert int(sync.state()["seq"]) == head  # type: ignore[index]
        assert same(p, warehouse, "buildings", "building_id")
    finally:
        stop.set()
        t.join(30)
        sync.close()
    assert result["seq"] == head


def test_sync_over_http_as_an_approved_subscriber(live_server: Any, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cityos.web.app import create_app
    from tests.integration.test_rail_api import subscribe

    p: Platform = live_server.server.config.app.state.platform
    with TestClient(create_app(p)) as client:
        me, _sub = subscribe(client, p, "district.operator", "residents")
    key = me["Authorization"].split(" ", 1)[1]
    url = f"sqlite:///{tmp_path / 'district.db'}"
    sync = Sync(HttpSource(live_server.url, key), "residents", url)
    try:
        first = sync.run(limit=5000)
        with p.db.read() as conn:
            n = len(conn.execute(select(s.residents.c.id_number)).all())
            victim = conn.execute(select(s.residents.c.id_number).limit(1)).scalar()
        assert first["seq"] > 0
        target = Database(url)
        with target.read() as conn:
            names = [r[0] for r in conn.execute(text('SELECT name FROM residents'))]
            keys = [r[0] for r in conn.execute(text('SELECT id_number FROM residents'))]
        assert len(keys) == n, "the log replayed from its start rebuilds the table"
        assert victim not in keys and all(k.startswith("P") for k in keys), "masked: pseudonymous keys only"
        assert any("*" in nm for nm in names)
        with p.db.begin() as conn:
            conn.execute(delete(s.residents).where(s.residents.c.id_number == victim))
        assert sync.run()["applied"] >= 1
        with target.read() as conn:
            assert int(conn.execute(text("SELECT count(*) FROM residents")).scalar_one()) == n - 1
        target.dispose()
    finally:
        sync.close()
