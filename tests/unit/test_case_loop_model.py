from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cityos.core.errors import Forbidden, IllegalTransition, ValidationError
from cityos.governance.handlers import DEFAULT_CATEGORIES
from cityos.governance.model import (
    LOCAL,
    CaseState,
    Stats,
    WorkCalendar,
    categories_csv,
    check_action,
    event_deltas,
    parse_categories,
    rates,
    route_by_category,
    territorial,
)

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Chongqing, a Wednesday


def test_worked_example_from_the_domain_notes() -> None:
    r = rates(Stats(due=972, closed=911, closed_on_time=737))
    assert r["closure_rate"] == 93.72 and r["on_time_closure_rate"] == 75.82
    assert rates(Stats())["closure_rate"] is None


def test_default_catalogue_is_realistic_and_round_trips() -> None:
    cats = parse_categories(DEFAULT_CATEGORIES.read_text(encoding="utf-8"))
    assert len(cats) >= 60
    assert len({(c.kind, c.class_code) for c in cats}) >= 8
    assert {c.kind for c in cats} == {"part", "event"}
    assert parse_categories(categories_csv(cats)) == cats


def test_bad_catalogue_rows_are_named() -> None:
    text = DEFAULT_CATEGORIES.read_text(encoding="utf-8").splitlines()
    bad = [text[0], text[1].replace(",4,working_hours,", ",x,working_hours,"), text[2].replace("P0102", "Q0102"),
           text[3], text[3]]
    with pytest.raises(ValidationError) as e:
        parse_categories("\n".join(bad))
    msg = e.value.message
    assert "line 2: limit_value" in msg and "line 3: code 'Q0102'" in msg and "line 5: duplicate code P0103" in msg
    with pytest.raises(ValidationError) as e:
        parse_categories("code,kind\nP0101,part\n")
    assert e.value.field == "columns"


def test_working_days_skip_weekends_holidays_and_count_makeup_days() -> None:
    cal = WorkCalendar(holidays=frozenset(date(2026, 10, d) for d in range(1, 9)),
                       makeup_days=frozenset({date(2026, 10, 10)}))
    start = datetime(2026, 9, 30, 10, 0, tzinfo=LOCAL)  # Wednesday before the National Day week
    due = cal.deadline(start, 3, "working_days")
    # Oct 1-8 holiday, Oct 9 (Fri) = 1, Oct 10 (Sat, make-up) = 2, Oct 11 Sun skipped, Oct 12 (Mon) = 3
    assert due.astimezone(LOCAL) == datetime(2026, 10, 12, 10, 0, tzinfo=LOCAL)
    assert cal.deadline(start, 2, "calendar_days") == start + timedelta(days=2)
    assert cal.deadline(start, 2, "urgent_hours") == start + timedelta(hours=2)


def test_working_hours_skip_lunch_nights_and_holidays() -> None:
    cal = WorkCalendar(holidays=frozenset({date(2026, 11, 26)}))
    start = datetime(2026, 11, 25, 11, 0, tzinfo=LOCAL)
    # 1 h to 12:00, lunch, 3 h 13:30-16:30
    assert cal.add_working_hours(start, 4).astimezone(LOCAL) == datetime(2026, 11, 25, 16, 30, tzinfo=LOCAL)
    # 8 h: 6h today (11-12, 13:30-17:30 = 5 h) ... then Thursday is a holiday, Friday 09:00 + 3 h
    assert cal.add_working_hours(start, 8).astimezone(LOCAL) == datetime(2026, 11, 27, 12, 0, tzinfo=LOCAL)


def test_illegal_transitions_name_the_state_and_the_allowed_actions() -> None:
    with pytest.raises(IllegalTransition) as e:
        check_action(CaseState("filed"), "close", actor_roles={"dispatcher"}, actor_name="d", now=NOW)
    assert "filed" in e.value.message and "dispatch" in e.value.message
    assert e.value.details["allowed"][:2] == ["dispatch", "merge"] or "dispatch" in e.value.details["allowed"]
    with pytest.raises(Forbidden):
        check_action(CaseState("filed"), "dispatch", actor_roles={"grid_member"}, actor_name="g", now=NOW)


def test_exceptions_of_the_loop() -> None:
    st = CaseState("reported", reported_by="handler1", co_units={"D-500103-water": False})
    with pytest.raises(ValidationError):
        check_action(st, "verify", actor_roles={"verifier"}, actor_name="handler1", now=NOW)
    assert check_action(st, "verify", actor_roles={"verifier"}, actor_name="v", now=NOW) == "verified"
    with pytest.raises(IllegalTransition) as e:
        check_action(CaseState("verified", co_units={"D-500103-water": False}), "close", actor_roles={"dispatcher"},
                     actor_name="d", now=NOW)
    assert "D-500103-water" in e.value.message
    with pytest.raises(ValidationError) as e:
        check_action(CaseState("handling", deadline=NOW - timedelta(hours=1)), "request_extension",
                     actor_roles={"department_handler"}, actor_name="h", now=NOW, payload={"hours": 24})
    assert e.value.field == "deadline"
    assert check_action(CaseState("handling", deadline=NOW + timedelta(hours=1)), "request_extension",
                        actor_roles={"department_handler"}, actor_name="h", now=NOW, payload={"hours": 24}) == "handling"
    with pytest.raises(ValidationError) as e:
        check_action(CaseState("filed"), "cancel", actor_roles={"dispatcher"}, actor_name="d", now=NOW)
    assert e.value.field == "note"
    assert check_action(CaseState("reported", reported_by="h"), "rework", actor_roles={"verifier"}, actor_name="v",
                        now=NOW, note="still broken") == "handling"


def test_routing_by_level_and_territory() -> None:
    cats = {c.code: c for c in parse_categories(DEFAULT_CATEGORIES.read_text(encoding="utf-8"))}
    chain = {"grid": "500103001201001", "village": "500103001201", "township": "500103001", "district": "500103",
             "city": "500000"}
    assert route_by_category(cats["E0101"], chain).unit == "G-500103001201001"  # type: ignore[union-attr]
    assert route_by_category(cats["E0201"], chain).unit == "S-500103001-safety"  # type: ignore[union-attr]
    d = route_by_category(cats["P0101"], chain)
    assert d is not None and d.unit == "D-500103-water" and "water" in d.rule
    assert territorial({"township": "500103001"}).unit == "C-500103001"  # type: ignore[union-attr]


def test_indicator_deltas_count_due_in_the_deadline_month() -> None:
    nodes = ["500103001201001", "500103", "500000"]
    deadline = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    d = event_deltas("dispatch", NOW, {"nodes": nodes, "first": True, "deadline": deadline.isoformat(), "public": True})
    assert d[("2026-12", "500103")] == {"due": 1}
    assert d[("2026-11", "500000")] == {"dispatched": 1, "dispatched_correct": 1, "public_responded": 1}
    closed = event_deltas("close", NOW, {"nodes": nodes, "deadline": deadline.isoformat()})
    assert closed[("2026-12", "500103")] == {"closed": 1, "closed_on_time": 1}
    late = event_deltas("close", deadline + timedelta(days=1), {"nodes": nodes, "deadline": deadline.isoformat()})
    assert late[("2026-12", "500103")] == {"closed": 1, "closed_on_time": 0}
