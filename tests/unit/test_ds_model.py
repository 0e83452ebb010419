"""The data service interface rules, without IO: definitions, parameters, masking, grants, OpenAPI."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from cityos.core.errors import Conflict, ValidationError
from cityos.data.services import model, openapi
from cityos.data.services.handlers import INTERFACES_DIR, load_documents

TABLES = {"residents": {"id_number", "name", "phone", "household_id", "grid_code", "status", "birth_date"}}


def doc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "code": "resident.test", "version": 1, "name": "测试", "owner": "public_security", "datasets": ["population"],
        "sharing": "conditional", "description": "d",
        "params": [{"name": "id_number", "pattern": r"^\d{17}[\dX]$", "max_length": 18},
                   {"name": "status", "required": False, "enum": ["active", "moved_out"]}],
        "query": {"table": "residents", "filters": [{"field": "id_number", "op": "eq", "param": "id_number"},
                                                    {"field": "status", "op": "eq", "param": "status"}],
                  "order": ["-id_number"], "limit": 10},
        "output": [{"field": "id_number", "sensitivity": "personal", "mask": "id_number"},
                   {"field": "name", "sensitivity": "personal", "mask": "name"},
                   {"field": "phone", "sensitivity": "personal", "mask": "phone"}, "grid_code"],
    }
    d.update(over)
    return d


def field_of(d: dict[str, Any]) -> str | None:
    with pytest.raises(ValidationError) as e:
        model.parse_definition(d, TABLES)
    return e.value.field


def test_a_good_definition_parses() -> None:
    d = model.parse_definition(doc(), TABLES)
    assert d.code == "resident.test" and d.needs_approval and d.limit == 10
    assert d.personal == {"id_number": "id_number", "name": "name", "phone": "phone"}
    assert d.order == (("id_number", True),)


@pytest.mark.parametrize(("change", "field"), [
    ({"code": "Bad Code"}, "code"),
    ({"version": 0}, "version"),
    ({"version": True}, "version"),
    ({"owner": "nobody"}, "owner"),
    ({"sharing": "sometimes"}, "sharing"),
    ({"datasets": []}, "datasets"),
    ({"query": {"table": "users", "filters": []}}, "query.table"),
    ({"query": {"table": "residents", "filters": [{"field": "password", "op": "eq", "param": "id_number"}]}},
     "query.filters[0].field"),
    ({"query": {"table": "residents", "filters": [{"field": "name", "op": "like", "param": "id_number"}]}},
     "query.filters[0].op"),
    ({"query": {"table": "residents", "filters": [{"field": "status", "op": "eq", "value": "active"}]}},
     "query.filters"),  # no key bound to a parameter: would read the whole table
    ({"query": {"table": "residents", "filters": [{"field": "id_number", "op": "eq", "param": "id_number"}],
                "limit": 100000}}, "query.limit"),
    ({"query": {"table": "residents", "filters": [{"field": "id_number", "op": "eq", "param": "id_number"},
                                                  {"field": "status", "op": "eq", "param": "status"}],
                "order": ["secret"]}}, "query.order[0]"),
    ({"output": [{"field": "name", "sensitivity": "personal"}]}, "output[0].mask"),
    ({"output": [{"field": "nope"}]}, "output[0].field"),
    ({"sql": "select 1"}, "sql"),
])
def test_bad_definitions_name_the_path(change: dict[str, Any], field: str) -> None:
    assert field_of(doc(**change)) == field


def test_unbound_and_reserved_parameters_are_refused() -> None:
    assert field_of(doc(params=[{"name": "id_number"}, {"name": "status"}, {"name": "other"}])) == "params.other"
    assert field_of(doc(params=[{"name": "page"}])) == "params[0].name"
    assert field_of(doc(params=[{"name": "id_number", "description": "a", "9": None}])) == "params[0].9"


def test_parameters_are_typed_and_checked_without_echoing_values() -> None:
    d = model.parse_definition(doc(), TABLES)
    assert model.validate_params(d, {"id_number": "11010519491231002X"}) == {"id_number": "11010519491231002X"}
    with pytest.raises(ValidationError) as e:
        model.validate_params(d, {"id_number": "secret-value"})
    assert e.value.field == "id_number" and "secret-value" not in str(e.value) + str(e.value.details)
    with pytest.raises(ValidationError) as e:
        model.validate_params(d, {})
    assert e.value.field == "id_number" and e.value.message == "is required"
    with pytest.raises(ValidationError) as e:
        model.validate_params(d, {"id_number": "11010519491231002X", "status": "dead"})
    assert e.value.field == "status"
    with pytest.raises(ValidationError) as e:
        model.validate_params(d, {"id_number": "11010519491231002X", "where": "1=1"})
    assert e.value.field == "where"
    assert model.paging({"page": "2", "page_size": "5"}, 10) == (2, 5)
    with pytest.raises(ValidationError) as e:
        model.paging({"page_size": "11"}, 10)
    assert e.value.field == "page_size"


def test_typed_values() -> None:
    d = model.parse_definition(doc(params=[{"name": "id_number", "type": "date"}],
                                   query={"table": "residents", "filters": [
                                       {"field": "birth_date", "op": "eq", "param": "id_number"},
                                       {"field": "id_number", "op": "in", "value": ["a"]}]}), TABLES)
    assert model.validate_params(d, {"id_number": "2020-01-02"}) == {"id_number": date(2020, 1, 2)}
    with pytest.raises(ValidationError):
        model.validate_params(d, {"id_number": "2020-13-02"})


def test_masking_per_field_unless_plain() -> None:
    d = model.parse_definition(doc(), TABLES)
    rows = [{"id_number": "11010519491231002X", "name": "张三丰", "phone": "13912345678", "grid_code": "500101001001001"}]
    masked = model.mask_rows(d, rows, plain=False)[0]
    assert masked == {"id_number": "110105********002X", "name": "张**", "phone": "139****5678",
                      "grid_code": "500101001001001"}
    assert model.mask_rows(d, rows, plain=True)[0] == rows[0]
    assert rows[0]["name"] == "张三丰"  # the input is not changed


def test_fingerprint_is_keyed_and_stable() -> None:
    a = model.fingerprint(b"k1", "x.y", {"id_number": "1", "name": "张"})
    assert a == model.fingerprint(b"k1", "x.y", {"name": "张", "id_number": "1"})
    assert a != model.fingerprint(b"k2", "x.y", {"id_number": "1", "name": "张"})
    assert "张" not in a and len(a) == 32


def test_grant_states() -> None:
    assert model.initial_grant_state("unconditional") == "active"
    assert model.initial_grant_state("conditional") == "pending"
    with pytest.raises(ValidationError):
        model.initial_grant_state("not_shared")
    assert model.grant_move("pending", "approve") == "active"
    assert model.grant_move("active", "suspend") == "suspended"
    assert model.grant_move("suspended", "resume") == "active"
    assert model.grant_move("suspended", "revoke") == "revoked"
    with pytest.raises(Conflict):
        model.grant_move("revoked", "approve")
    with pytest.raises(ValidationError):
        model.grant_move("active", "delete")
    q = model.quota_for(100)
    assert q.daily == 1000 and q.per_minute >= 60


def test_versions_are_immutable() -> None:
    d = model.parse_definition(doc(), TABLES)
    assert model.check_publishable(d, None, None, "h1") is True
    assert model.check_publishable(d, 1, "h1", "h1") is False  # the same again: nothing to do
    with pytest.raises(Conflict):
        model.check_publishable(d, 1, "h1", "h2")
    with pytest.raises(Conflict):
        model.check_publishable(model.parse_definition(doc(version=1), TABLES), 2, None, "h3")


def test_seconds_to_midnight() -> None:
    assert model.seconds_to_midnight(datetime(2026, 11, 25, 23, 59, 0, tzinfo=UTC)) == 60


def test_shipped_definitions_parse_and_document() -> None:
    from cityos.data.services.store import READABLE_COLUMNS

    docs = [d for f in sorted(INTERFACES_DIR.glob("*.yaml")) for d in load_documents(f.read_text("utf-8"))]
    defs = [model.parse_definition(d, READABLE_COLUMNS) for d in docs]
    assert len(defs) >= 30 and len({d.code for d in defs}) == len(defs)
    assert {d.sharing for d in defs} == set(model.SHARING)
    api = openapi.document(defs, "http://x")
    assert len(api["paths"]) == len(defs)
    verify = api["paths"]["/ds/v1/person.verify"]["get"]
    assert verify["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["match"]["type"] == "boolean"
    assert "429" in verify["responses"]
