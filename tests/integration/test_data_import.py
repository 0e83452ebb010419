"""`cityos data import`: CSV, JSON Lines, Parquet; rejects, limit and roll-back, upsert, resume."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.errors import ValidationError
from cityos.data import store as s
from cityos.data.generator import RESIDENT_COLS
from cityos.data.importer import rejects_of, run_import
from cityos.data.model import make_id_number
from cityos.identity.model import SYSTEM


def _count(p: Platform) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(s.residents)).scalar_one())


def _people(p: Platform, n: int, start: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with p.db.read() as conn:
        existing = dict(conn.execute(select(s.residents).limit(1)).mappings().one())
    rows = []
    for i in range(start, start + n):
        born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
        rows.append({**existing, "id_number": make_id_number("500199", born, i // 600, i % 2 == 1),
                     "gender": "M" if i % 2 else "F", "birth_date": born.isoformat(), "name": f"导入{i}",
                     "household_id": f"HX{i}"})
    return rows, existing


def _csv(path: Path, rows: list[dict[str, Any]], cols: tuple[str, ...] = RESIDENT_COLS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return path


def test_import_csv_rejects_upserts_and_rolls_back(seeded: Platform, tmp_path: Path) -> None:
    before = _count(seeded)
    rows, existing = _people(seeded, 40)
    changed = {**existing, "name": "改名", "birth_date": existing["birth_date"].isoformat()}
    bad = [
        {**rows[0], "id_number": rows[0]["id_number"][:17] + ("0" if rows[0]["id_number"][17] != "0" else "1")},
        {**rows[1], "birth_date": "2099-01-01"},
        {**rows[2], "grid_code": "500199999999999"},
        dict(rows[3]),  # the same key again: a duplicate
    ]
    path = _csv(tmp_path / "people.csv", [changed, *rows[3:], *bad])
    result = run_import(seeded, SYSTEM, "population", str(path), reject_limit=10)
    assert result["status"] == "done", result
    assert (result["accepted"], result["rejected"]) == (38, 4)
    assert _count(seeded) == before + 37
    with seeded.db.read() as conn:
        assert conn.execute(select(s.residents.c.name).where(s.residents.c.id_number == existing["id_number"])
                            ).scalar_one() == "改名"
    rejects = rejects_of(result["reject_file"])
    by_row = {int(r["row"]): r for r in rejects}
    assert set(by_row) == {39, 40, 41, 42}
    assert "check character" in by_row[39]["reason"] and "future" in by_row[40]["reason"]
    assert "does not exist" in by_row[41]["reason"] and "duplicate key" in by_row[42]["reason"]
    # Same file again: nothing to do.
    assert "already" in run_import(seeded, SYSTEM, "population", str(path))["note"]

    # Past the reject limit: stopped, nothing changed.
    more, _ = _people(seeded, 20, start=100)
    path2 = _csv(tmp_path / "many-bad.csv", more[:10] + [{**r, "gender": "X"} for r in more[10:]])
    after = _count(seeded)
    result = run_import(seeded, SYSTEM, "population", str(path2), reject_limit=5)
    assert result["status"] == "rolled_back" and "nothing was imported" in result["error"]
    assert _count(seeded) == after

    # Wrong columns and wrong encodings: clear errors, nothing changed.
    with pytest.raises(ValidationError, match="wrong columns"):
        run_import(seeded, SYSTEM, "population", str(_csv(tmp_path / "cols.csv", more, ("id_number", "nom"))))
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((",".join(RESIDENT_COLS) + "\n").encode() + "张三,李四\n".encode("gbk"))
    result = run_import(seeded, SYSTEM, "population", str(gbk))
    assert result["status"] == "rolled_back" and "UTF-8" in result["error"]
    assert _count(seeded) == after


def test_import_jsonl_parquet_resume_and_cli(seeded: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    before = _count(seeded)
    rows, _ = _people(seeded, 30, start=200)
    jl = tmp_path / "people.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows[:10]) + "\n{broken\n",
                  encoding="utf-8")
    result = run_import(seeded, SYSTEM, "population", str(jl))
    assert (result["status"], result["accepted"], result["rejected"]) == ("done", 10, 1)
    table = pa.Table.from_pylist([{k: r[k] for k in RESIDENT_COLS} for r in rows[10:]])
    pq.write_table(table, tmp_path / "people.parquet")
    # Interrupted after the first chunk of 5 rows ...
    calls: list[int] = []

    def stop_after_first_chunk(n: int, total: int | None) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_import(seeded, SYSTEM, "population", str(tmp_path / "people.parquet"), progress=stop_after_first_chunk,
                   chunk=5)
    assert _count(seeded) == before + 10, "an interrupted import has changed nothing yet"
    # ... and resumed from its offset: the 15 remaining rows, not 20 again.
    resumed: list[int] = []
    result = run_import(seeded, SYSTEM, "population", str(tmp_path / "people.parquet"),
                        progress=lambda n, t: resumed.append(n), chunk=5)
    assert result["status"] == "done" and result["accepted"] == 20
    assert resumed[0] == 5 and sum(resumed[1:]) == 15
    assert _count(seeded) == before + 30

    # The command line door.
    from typer.testing import CliRunner

    from cityos.cli import app

    rows, _ = _people(seeded, 3, start=400)
    path = _csv(tmp_path / "cli.csv", rows)
    monkeypatch.setenv("CITYOS_DATABASE_URL", seeded.db.url)
    monkeypatch.setenv("CITYOS_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["data", "import", "population", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 row(s) accepted" in result.output


@pytest.mark.parametrize("block", [1 << 24, 600])
def test_csv_that_arrow_cannot_read_goes_row_by_row(seeded: Platform, tmp_path: Path, block: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A row with too many values (and a quoted line break) sends the file through the row-by-row
    path from its start: the reject names the row, the good rows are all imported once."""
    before = _count(seeded)
    rows, _ = _people(seeded, 6, start=700 + block % 7 * 10)
    rows[1] = {**rows[1], "registered_address": "某街道\n2号"}
    path = _csv(tmp_path / "odd.csv", rows)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(5, lines[5].rstrip("\n") + ",extra\n")  # row 4 (counting the quoted line break's row once)
    path.write_text("".join(lines), encoding="utf-8")
    # Small blocks: Arrow stages the first rows before it meets the bad one; they are staged again, once.
    monkeypatch.setattr("cityos.data.importer.BLOCK_BYTES", block)
    result = run_import(seeded, SYSTEM, "population", str(path), reject_limit=5, chunk=2)
    assert (result["status"], result["accepted"], result["rejected"]) == ("done", 6, 1), result
    [reject] = rejects_of(result["reject_file"])
    assert reject["row"] == "4" and "14 values" in reject["reason"]
    assert _count(seeded) == before + 6
