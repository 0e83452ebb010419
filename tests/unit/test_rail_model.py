"""The rail's pure rules: cursors, limits, approvals, transitions, masking, signatures, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityos.core.errors import IllegalTransition, ValidationError
from cityos.data.rail import model
from cityos.data.rail.sync import Change, fold
from cityos.identity.model import Actor, Grant

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_every_base_table_has_a_feed_with_its_owner() -> None:
    assert set(model.FEEDS) == {"residents", "legal_entities", "buildings", "pois", "licences", "credit_records",
                                "risk_areas"}
    assert model.FEEDS["residents"].owner == "public_security"
    assert model.FEEDS["residents"].key == "id_number"
    assert model.FEEDS["residents"].personal["id_number"] == "id_number"
    assert model.FEEDS["buildings"].personal == {}


@pytest.mark.parametrize("raw,head,want", [(None, 5, 0), ("", 5, 0), ("0", 5, 0), ("5", 5, 5), (3, 9, 3)])
def test_cursor_within_the_feed(raw: object, head: int, want: int) -> None:
    assert model.check_after(raw, head) == want


def test_a_cursor_from_the_future_or_garbage_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as e:
        model.check_after("6", 5)
    assert e.value.field == "after" and e.value.details == {"head": 5} and "ahead" in e.value.message
    for bad in ("-1", "abc", "1.5"):
        with pytest.raises(ValidationError):
            model.check_after(bad, 5)


def test_limit_bounds() -> None:
    assert model.check_limit(None) == model.DEFAULT_LIMIT
    assert model.check_limit("10") == 10
    for bad in ("0", "10001", "x"):
        with pytest.raises(ValidationError) as e:
            model.check_limit(bad)
        assert e.value.field == "limit"


def test_only_the_owning_departments_data_officer_approves() -> None:
    feed = model.FEEDS["residents"]
    anywhere = Actor(1, "data.officer", (Grant("data_officer", "500000"),), via="session")
    police = Actor(2, "po", (Grant("data_officer", "500000", "public_security"),), via="session")
    market = Actor(3, "mo", (Grant("data_officer", "500000", "market_regulation"),), via="session")
    operator = Actor(4, "op", (Grant("city_operator", "500000"),), via="session")
    assert model.may_approve(anywhere, feed) and model.may_approve(police, feed)
    assert not model.may_approve(market, feed) and not model.may_approve(operator, feed)
    assert model.may_approve(market, model.FEEDS["legal_entities"])


def test_transitions() -> None:
    assert model.transition("pending", "approve") == "active"
    assert model.transition("active", "suspend") == "suspended"
    assert model.transition("suspended", "resume") == "active"
    assert model.transition("active", "revoke") == "revoked"
    for status, action in (("revoked", "resume"), ("active", "approve"), ("rejected", "approve")):
        with pytest.raises(IllegalTransition):
            model.transition(status, action)


def test_masked_changes_hide_personal_fields_and_pseudonymise_the_key() -> None:
    feed = model.FEEDS["residents"]
    data = {"id_number": "110101199003070011", "name": "张三丰", "phone": "13800138000", "grid_code": "500101001001001"}
    masked = model.shape_change(feed, 7, "U", data["id_number"], data, AT, "masked", "secret")
    assert masked["op"] == "update" and masked["seq"] == 7
    assert masked["key"] == masked["data"]["id_number"] and masked["key"].startswith("P") and len(masked["key"]) == 18
    assert "110101199003070011" not in str(masked)
    assert masked["data"]["name"] != "张三丰" and "*" in masked["data"]["phone"]
    assert masked["data"]["grid_code"] == "500101001001001"
    again = model.shape_change(feed, 8, "D", data["id_number"], None, AT, "masked", "secret")
    assert again["key"] == masked["key"], "the same key gives the same pseudonym: deletes find their row"
    other = model.shape_change(feed, 8, "D", data["id_number"], None, AT, "masked", "another subscription")
    assert other["key"] != masked["key"]
    full = model.shape_change(feed, 7, "I", data["id_number"], data, AT, "full", "secret")
    assert full["data"] == data and full["key"] == data["id_number"] and full["op"] == "insert"
    assert data["name"] == "张三丰", "the logged row itself is not changed"


def test_lag() -> None:
    assert model.lag(10, 10, None, AT) == {"changes": 0, "seconds": 0.0}
    assert model.lag(10, 4, AT - timedelta(seconds=3), AT) == {"changes": 6, "seconds": 3.0}


def test_signature_round_trip() -> None:
    body = b'{"delivery":"d1"}'
    sig = model.sign("s3cret", body)
    assert sig.startswith("sha256=") and model.verify_signature("s3cret", sig, body)
    assert not model.verify_signature("other", sig, body)
    assert not model.verify_signature("s3cret", sig, body + b" ")


def test_backoff_doubles_to_a_ceiling() -> None:
    assert [model.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert model.backoff(40).total_seconds() == model.MAX_PUSH_BACKOFF_S


def test_fold_keeps_the_last_change_per_key() -> None:
    changes = [Change(1, "I", "a", {"k": "a", "v": 1}, AT), Change(2, "I", "b", {"k": "b", "v": 1}, AT),
               Change(3, "U", "a", {"k": "a", "v": 2}, AT), Change(4, "D", "b", None, AT),
               Change(5, "D", "c", None, AT), Change(6, "I", "c", {"k": "c", "v": 3}, AT)]
    deletes, upserts = fold(changes)
    assert deletes == ["b"]
    assert upserts == [{"k": "a", "v": 2}, {"k": "c", "v": 3}]


def test_input_checks() -> None:
    assert model.check_level(None) == "masked"
    with pytest.raises(ValidationError):
        model.check_level("raw")
    with pytest.raises(ValidationError):
        model.check_purpose("  ")
    with pytest.raises(ValidationError):
        model.check_webhook_url("ftp://x")
    assert model.check_webhook_url(" http://127.0.0.1:9/x ") == "http://127.0.0.1:9/x"
