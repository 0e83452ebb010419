"""The change log is written by the database in the transaction of the change, on every
write path, in an order a cursor can follow (PostgreSQL's concurrent writers included)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from cityos.bootstrap import Platform
from cityos.data import store as s
from cityos.data.rail import store as rs


def resident(id_number: str, **over: Any) -> dict[str, Any]:
    row = {"id_number": id_number, "name": "张三", "gender": "M", "birth_date": date(1990, 3, 7), "ethnicity": "汉族",
           "household_id": "H1", "household_role": "户主", "registered_address": "渝中区1号",
           "actual_address": "渝中区1号", "building_id": None, "grid_code": "500103001001001", "phone": "13800138000",
           "status": "normal"}
    return {**row, **over}


def log(p: Platform, dataset: str = "residents") -> list[Any]:
    with p.db.read() as conn:
        return rs.changes(conn, dataset, 0, 10_000)


def test_a_change_and_its_log_entry_commit_or_roll_back_together(platform: Platform) -> None:
    p = platform
    with pytest.raises(RuntimeError), p.db.begin() as conn:
        conn.execute(insert(s.residents).values(**resident("110101199003070011")))
        assert len(rs.changes(conn, "residents", 0, 10)) == 1, "visible inside the transaction"
        raise RuntimeError("rolled back")
    assert log(p) == []
    with p.db.read() as conn:
        assert rs.head(conn, "residents") == 0, "no sequence number is used up by a rolled-back change"

    with p.db.begin() as conn:
        conn.execute(insert(s.residents).values(**resident("110101199003070011")))
        conn.execute(insert(s.residents), [resident("110101199003070012"), resident("110101199003070013")])
    with p.db.begin() as conn:
        conn.execute(update(s.residents).where(s.residents.c.id_number == "110101199003070011")
                     .values(phone="13900000000"))
    with p.db.begin() as conn:
        conn.execute(delete(s.residents).where(s.residents.c.id_number == "110101199003070012"))
    with p.db.begin() as conn:  # a changed key: the old one is deleted, the new one written
        conn.execute(update(s.residents).where(s.residents.c.id_number == "110101199003070013")
                     .values(id_number="110101199003070014"))
    entries = log(p)
    assert [(e.seq, e.op, e.key) for e in entries] == [
        (1, "I", "110101199003070011"), (2, "I", "110101199003070012"), (3, "I", "110101199003070013"),
        (4, "U", "110101199003070011"), (5, "D", "110101199003070012"),
        (6, "D", "110101199003070013"), (7, "U", "110101199003070014")]
    assert entries[3].data["phone"] == "13900000000" and entries[3].data["birth_date"] == "1990-03-07"
    assert entries[4].data is None
    assert all(e.changed_at.tzinfo is not None for e in entries)
    with p.db.read() as conn:
        assert rs.head(conn, "residents") == 7 and rs.head(conn, "buildings") == 0


def test_json_columns_are_logged_as_json(platform: Platform) -> None:
    p = platform
    with p.db.begin() as conn:
        conn.execute(insert(s.licences).values(
            licence_no="L1", licence_type="营业执照", holder_type="entity", holder_id="91500000MA5U000000",
            holder_name="某公司", issuer_dept="市场监管局", issued_on=date(2026, 1, 1), valid_until=None,
            status="valid", content={"scope": "零售", "n": 1}, content_hash="x", grid_code="500103001001001"))
    (entry,) = log(p, "licences")
    assert entry.data["content"] == {"scope": "零售", "n": 1} and entry.data["valid_until"] is None


def test_the_seed_and_bulk_paths_are_logged(seeded: Platform) -> None:
    """The demo seed writes with bulk COPY / executemany: every row it left is in the log."""
    p = seeded
    with p.db.read() as conn:
        for name in ("residents", "legal_entities", "buildings", "pois", "licences", "credit_records", "risk_areas"):
            rows = conn.execute(select(func.count()).select_from(s.metadata.tables[name])).scalar()
            inserted = conn.execute(select(func.count()).select_from(rs.rail_changes).where(
                rs.rail_changes.c.dataset == name, rs.rail_changes.c.op == "I")).scalar()
            deleted = conn.execute(select(func.count()).select_from(rs.rail_changes).where(
                rs.rail_changes.c.dataset == name, rs.rail_changes.c.op == "D")).scalar()
            assert rows and inserted - deleted == rows, name


def test_the_importer_merge_is_logged(seeded: Platform, tmp_path: Any) -> None:
    from cityos.data.handlers import ImportFile
    from cityos.identity.model import SYSTEM

    p = seeded
    with p.db.read() as conn:
        grid = conn.execute(select(s.buildings.c.grid_code).limit(1)).scalar()
        before = rs.head(conn, "buildings")
    csv = tmp_path / "b.csv"
    header = "building_id,name,address,use,floors,lon,lat,grid_code\n"
    csv.write_text(header + f"RAILB1,一号楼,渝中区1号,residential,6,106.55,29.56,{grid}\n"
                   f"RAILB2,二号楼,渝中区2号,residential,9,106.55,29.56,{grid}\n", encoding="utf-8")
    result = p.bus.handle(ImportFile(SYSTEM, "buildings", str(csv)))
    assert result["status"] == "done", result
    csv.write_text(header + f"RAILB2,二号楼,渝中区2号,residential,12,106.55,29.56,{grid}\n", encoding="utf-8")
    assert p.bus.handle(ImportFile(SYSTEM, "buildings", str(csv)))["status"] == "done"
    with p.db.read() as conn:
        entries = rs.changes(conn, "buildings", before, 100)
    assert [(e.op, e.key) for e in entries] == [("I", "RAILB1"), ("I", "RAILB2"), ("U", "RAILB2")]
    assert entries[-1].data["floors"] == 12


@pytest.mark.skipif(__import__("os").environ.get("CITYOS_TEST_DATABASE_URL") is None,
                    reason="PostgreSQL only: SQLite has one writer at a time")
def test_concurrent_writers_commit_in_sequence_order(platform: Platform) -> None:
    """Two real concurrent transactions on PostgreSQL: the second writer of a feed waits for the first
    to end, so a reader never sees sequence 2 while 1 may still commit (the cursor hole)."""
    p = platform
    first = p.db.engine.connect()
    tx = first.begin()
    first.execute(insert(s.residents).values(**resident("110101199003070011")))  # takes sequence 1, uncommitted
    done = threading.Event()
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with p.db.begin() as conn:
                conn.execute(insert(s.residents).values(**resident("110101199003070012")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=second_writer)
    t.start()
    # Wait until the second writer is blocked on the feed's counter row (seen by the server, not by a timer).
    with p.db.engine.connect() as watch:
        for _ in range(600):
            waiting = watch.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%residents%'")).scalar()
            if waiting:
                break
            done.wait(0.05)
        assert waiting == 1, "the second writer waits for the first"
    assert not done.is_set()
    assert log(p) == [], "a reader sees neither while the first is open"
    tx.commit()
    first.close()
    t.join(30)
    assert not errors
    assert [(e.seq, e.key) for e in log(p)] == [(1, "110101199003070011"), (2, "110101199003070012")]


@pytest.mark.skipif(__import__("os").environ.get("CITYOS_TEST_DATABASE_URL") is None, reason="PostgreSQL only")
def test_a_rolled_back_concurrent_writer_leaves_no_hole(platform: Platform) -> None:
    p = platform
    first = p.db.engine.connect()
    tx = first.begin()
    first.execute(insert(s.residents).values(**resident("110101199003070011")))
    t = threading.Thread(target=lambda: _insert(p, "110101199003070012"))
    t.start()
    with p.db.engine.connect() as watch:
        for _ in range(600):
            if watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock'")).scalar():
                break
            threading.Event().wait(0.05)
    tx.rollback()
    first.close()
    t.join(30)
    assert [(e.seq, e.key) for e in log(p)] == [(1, "110101199003070012")]


def _insert(p: Platform, id_number: str) -> None:
    with p.db.begin() as conn:
        conn.execute(insert(s.residents).values(**resident(id_number)))


@pytest.mark.skipif(__import__("os").environ.get("CITYOS_TEST_DATABASE_URL") is None, reason="PostgreSQL only")
def test_truncate_is_refused_on_a_logged_table(platform: Platform) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="change log"), platform.db.begin() as conn:
        conn.execute(text("TRUNCATE residents"))
