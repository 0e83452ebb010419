"""The columnar pre-filter never accepts a row `validate_row` rejects, and gives the same values."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa

from cityos.data.columnar import supports, validate_batch
from cityos.data.model import BASE_DATASETS, POPULATION, RowError, make_id_number, validate_row

TODAY = date(2026, 5, 1)
GRID = "500103001001001"
GOOD = {"id_number": make_id_number("500101", date(1980, 2, 29), 7, True), "name": "张三", "gender": "M",
        "birth_date": "1980-02-29", "ethnicity": "汉族", "household_id": "H1", "household_role": "head",
        "registered_address": "某街道1号", "actual_address": "某街道1号", "building_id": "", "grid_code": GRID,
        "phone": "13900000000", "status": "active"}


def _variants() -> list[dict[str, Any]]:
    idn = GOOD["id_number"]
    female = make_id_number("500101", date(1980, 2, 29), 7, False)
    lower_x = next(make_id_number("500101", date(1990, 1, 1), s, True) for s in range(500)
                   if make_id_number("500101", date(1990, 1, 1), s, True).endswith("X"))
    rows: list[dict[str, Any]] = [dict(GOOD)]
    for field, value in [
        ("id_number", idn[:17] + ("0" if idn[17] != "0" else "1")), ("id_number", idn[:16]), ("id_number", " " + idn),
        ("id_number", idn + " "), ("id_number", "５" + idn[1:]), ("id_number", idn[:10] + "13" + idn[12:]),
        ("id_number", female), ("name", ""), ("name", "  "), ("name", " 张三"), ("name", "张三\u3000"),
        ("gender", "X"), ("gender", "m"), ("birth_date", "1980-02-30"), ("birth_date", "19800229"),
        ("birth_date", "1980-03-01"), ("birth_date", "2099-01-01"), ("birth_date", " 1980-02-29"),
        ("household_role", "boss"), ("building_id", "B1"), ("building_id", " "), ("grid_code", "500103001001999"),
        ("grid_code", GRID + " "), ("grid_code", ""), ("phone", ""), ("phone", "23900000000"),
        ("phone", "1390000000"), ("phone", "1390000000٣"), ("status", "gone"), ("ethnicity", "\x85汉族"),
    ]:
        rows.append({**GOOD, field: value})
    rows.append({**GOOD, "id_number": lower_x.lower(), "birth_date": "1990-01-01"})
    rows.append({**GOOD, "id_number": lower_x, "birth_date": "1990-01-01"})
    rows.append({**GOOD, "id_number": "500101202705010011", "birth_date": "2027-05-01"})
    return rows


def test_columnar_accepts_only_what_validate_row_accepts() -> None:
    rows = _variants()
    batch = pa.RecordBatch.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in GOOD]))
    ok, clean = validate_batch(POPULATION, batch, TODAY, pa.array([GRID]))
    accepted_by_python = 0
    for i, raw in enumerate(rows):
        try:
            want = validate_row(POPULATION, raw, TODAY, {GRID})
        except RowError:
            assert not ok[i], f"columnar accepted a bad row: {raw}"
            continue
        accepted_by_python += 1
        if ok[i]:
            got = {k: clean[k][i].as_py() for k in POPULATION.field_names}
            assert got == want
    assert ok[0] and ok.sum() >= 5 and accepted_by_python > ok.sum(), "doubtful but valid rows go to Python"


def test_which_datasets_are_columnar() -> None:
    assert supports(POPULATION) and supports(BASE_DATASETS["credit"])
    assert not supports(BASE_DATASETS["licences"]) and not supports(BASE_DATASETS["legal_entities"])
