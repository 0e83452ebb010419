from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityos.core.errors import Forbidden, Unauthenticated, ValidationError
from cityos.identity.model import (
    ANONYMOUS,
    GENESIS,
    Actor,
    AuditEntry,
    Grant,
    chain_hash,
    check_grantable,
    content_hash,
    mask_id_number,
    mask_name,
    mask_phone,
    password_problem,
)

CITY, D1, D2 = "500000", "500103", "500105"
T1 = D1 + "001"
G1 = T1 + "201001"


def actor(*grants: tuple[str, str], scopes: frozenset[str] | None = None) -> Actor:
    return Actor(1, "u", tuple(Grant(r, n) for r, n in grants), key_scopes=scopes, via="session")


def test_a_role_reaches_its_subtree_and_no_further() -> None:
    op = actor(("district_operator", D1))
    assert op.can("personal.read", G1)
    assert op.can("personal.read", D1)
    assert not op.can("personal.read", D2 + "001")
    assert not op.can("personal.read", CITY)
    scope = op.scope("personal.read")
    assert scope.roots == (D1,) and scope.contains(G1) and not scope.contains(D2)


def test_scope_merges_nested_grants_and_city_means_all() -> None:
    a = actor(("district_operator", D1), ("township_operator", T1))
    assert a.scope("user.read").roots == (D1,)
    assert actor(("city_operator", CITY)).scope("user.read").all
    assert actor(("grid_member", G1)).scope("user.read").empty


def test_require_explains_role_scope_and_key_refusals() -> None:
    with pytest.raises(Unauthenticated):
        ANONYMOUS.require("user.read")
    with pytest.raises(Forbidden) as e:
        actor(("grid_member", G1)).require("user.admin", G1)
    assert e.value.field == "role" and "grid_member" in e.value.message
    with pytest.raises(Forbidden) as e:
        actor(("district_operator", D1)).require("user.read", D2)
    assert e.value.field == "scope" and "outside your scope" in e.value.message
    with pytest.raises(Forbidden) as e:
        actor(("system_admin", CITY), scopes=frozenset({"division.read"})).require("user.admin", D1)
    assert "not among this key's scopes" in e.value.message
    assert actor(("system_admin", CITY), scopes=frozenset({"user.*"})).can("user.admin", D1)


def test_granting_is_limited_to_own_scope_and_level() -> None:
    district_admin = actor(("system_admin", D1))
    check_grantable(district_admin, "grid_member", G1)
    with pytest.raises(Forbidden):
        check_grantable(district_admin, "grid_member", D2 + "001201001")
    with pytest.raises(Forbidden):
        check_grantable(district_admin, "system_admin", T1)  # only the city makes administrators
    check_grantable(actor(("system_admin", CITY)), "system_admin", T1)
    with pytest.raises(ValidationError) as e:
        check_grantable(district_admin, "grid_member", T1)
    assert e.value.field == "node"
    with pytest.raises(ValidationError) as e:
        check_grantable(district_admin, "mayor", T1)
    assert e.value.field == "role"


def test_masking_rules() -> None:
    assert mask_id_number("500103199001011234") == "500103********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三丰") == "张**"
    assert mask_name("Li Wei Ming") == "** *** Ming"
    assert mask_id_number(None) is None and mask_phone("") == ""


def test_password_rules() -> None:
    assert password_problem("short", "bob") is not None
    assert password_problem("bob-is-my-password", "bob") is not None
    assert password_problem("correct horse battery", "bob") is None


def test_audit_hashes_change_with_any_field() -> None:
    e = AuditEntry(datetime(2026, 1, 1, tzinfo=UTC), "u", "r", "500103", "case.file", "case", "1", "127.0.0.1", None,
                   {"a": 1}, id=1)
    h = content_hash(e)
    e.details = {"a": 2}
    assert content_hash(e) != h
    assert chain_hash(GENESIS, h) != chain_hash(GENESIS, content_hash(e))
