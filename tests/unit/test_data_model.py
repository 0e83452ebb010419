"""Identifier checksums, row validation, the read-only SQL check, fq parsing."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityos.data.model import (
    LEGAL_ENTITIES,
    POPULATION,
    USCC_CHARS,
    DatasetMeta,
    RowError,
    SQLRefused,
    check_select,
    id_check_char,
    id_number_problem,
    is_valid_id_number,
    is_valid_uscc,
    make_id_number,
    make_uscc,
    org_code_check_char,
    parse_fq,
    uscc_check_char,
    uscc_problem,
    validate_row,
)

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize("v", ["11010519491231002X", "440524188001010014", "110101199003074477"])
def test_known_valid_id_numbers(v: str) -> None:
    assert is_valid_id_number(v), id_number_problem(v)


def test_bad_id_numbers_say_why() -> None:
    assert "check character" in (id_number_problem("110105194912310021") or "")
    assert "18 characters" in (id_number_problem("1101051949") or "")
    assert "birth date" in (id_number_problem("110105194913310021") or "")
    assert "future" in (id_number_problem(make_id_number("500103", date(2030, 1, 1), 1, True), TODAY) or "")


@given(st.dates(date(1900, 1, 1), date(2026, 1, 1)), st.integers(0, 499), st.booleans(),
       st.sampled_from(["500103", "110105", "440524"]))
def test_generated_id_numbers_round_trip(born: date, seq: int, male: bool, area: str) -> None:
    v = make_id_number(area, born, seq, male)
    assert is_valid_id_number(v)
    assert int(v[16]) % 2 == (1 if male else 0)
    # Any single changed digit in the body is caught by MOD 11-2.
    i = seq % 17
    changed = v[:i] + str((int(v[i]) + 1) % 10) + v[i + 1:]
    assert id_check_char(changed[:17]) != v[17] or changed == v


@pytest.mark.parametrize("v", ["91350100M000100Y43", "91110108MA01KPGK0L"])
def test_known_valid_credit_codes(v: str) -> None:
    assert is_valid_uscc(v), uscc_problem(v)


def test_bad_credit_codes_say_why() -> None:
    assert "expected '3'" in (uscc_problem("91350100M000100Y44") or "")
    assert "not allowed" in (uscc_problem("91350100M000100I43") or "")
    assert org_code_check_char("D2143569") == "X"  # GB 11714 worked example: D2143569-X


@given(st.text(alphabet=USCC_CHARS, min_size=17, max_size=17), st.integers(0, 16))
def test_credit_code_round_trip_and_single_errors(body: str, i: int) -> None:
    v = body + uscc_check_char(body)
    assert uscc_check_char(v[:17]) == v[17]
    other = USCC_CHARS[(USCC_CHARS.index(v[i]) + 1) % 31]
    assert uscc_check_char(v[:i] + other + v[i + 1:17]) != v[17]


@given(st.integers(0, 10**8 - 1), st.sampled_from(["500103", "500112"]))
def test_made_credit_codes_are_valid(serial: int, area: str) -> None:
    assert is_valid_uscc(make_uscc(area, serial))


def _resident(**over: object) -> dict[str, object]:
    idn = make_id_number("500103", date(1980, 5, 6), 3, True)
    row = {"id_number": idn, "name": "张三", "gender": "M", "birth_date": "1980-05-06", "ethnicity": "汉族",
           "household_id": "H1", "household_role": "head", "registered_address": "a", "actual_address": "b",
           "grid_code": "500103001001001", "phone": "13800001111", "status": "active"}
    row.update(over)
    return row


def test_validate_row_accepts_and_converts() -> None:
    out = validate_row(POPULATION, _resident(), TODAY, {"500103001001001"})
    assert out["birth_date"] == date(1980, 5, 6) and out["building_id"] is None


@pytest.mark.parametrize(("over", "field", "reason"), [
    ({"id_number": "500103198005060031"}, "id_number", "check character"),
    ({"gender": "X"}, "gender", "not one of"),
    ({"birth_date": "1980-05-07"}, "birth_date", "differs"),
    ({"gender": "F"}, "gender", "differs"),
    ({"grid_code": "500103001001009"}, "grid_code", "does not exist"),
    ({"phone": "12345"}, "phone", "mobile"),
    ({"name": ""}, "name", "required"),
    ({"birth_date": "yesterday"}, "birth_date", "not a date"),
])
def test_validate_row_names_field_and_reason(over: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(RowError) as e:
        validate_row(POPULATION, _resident(**over), TODAY, {"500103001001001"})
    assert e.value.field == field and reason in e.value.reason


def test_future_dates_are_refused() -> None:
    row = {"uscc": make_uscc("500103", 1), "name": "n", "entity_type": "enterprise",
           "legal_rep_id": make_id_number("500103", date(1980, 5, 6), 3, True), "legal_rep_name": "张三",
           "industry_code": "F51", "registered_capital": "10", "address": "a", "grid_code": "500103001001001",
           "status": "active", "established_on": "2027-01-01"}
    with pytest.raises(RowError, match="future"):
        validate_row(LEGAL_ENTITIES, row, TODAY)


@pytest.mark.parametrize("sql", [
    "DELETE FROM residents", "SELECT 1; SELECT 2", "SELECT * FROM users", "SELECT pg_sleep(100)",
    "INSERT INTO residents SELECT * FROM residents", "UPDATE residents SET name = 'x'", "DROP TABLE residents",
    "WITH x AS (DELETE FROM residents RETURNING *) SELECT * FROM x", "SELECT * INTO t2 FROM residents",
    "SELECT * FROM residents FOR UPDATE", "", "SELEC nonsense",
])
def test_only_one_read_only_select(sql: str) -> None:
    with pytest.raises(SQLRefused):
        check_select(sql, {"residents"})


def test_select_is_accepted() -> None:
    tables, cols = check_select("SELECT grid_code, count(*) FROM residents GROUP BY grid_code", {"residents"})
    assert tables == {"residents"} and "grid_code" in cols


def test_parse_fq() -> None:
    assert parse_fq('kind:base tags:"人口 库" -open_type:open') == [
        ("kind", "base", False), ("tags", "人口 库", False), ("open_type", "open", True)]
    with pytest.raises(ValueError):
        parse_fq("kind:base OR junk")


def test_dataset_meta_problems() -> None:
    m = DatasetMeta("Bad Name", "", "x", sharing_type="sometimes", fields=[{"id": "a", "type": "blob"}])
    fields = {f for f, _ in m.problems()}
    assert {"name", "title", "sharing_type", "fields[0].type"} <= fields
