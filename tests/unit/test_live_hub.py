"""The live inbox's low-water mark: holes in the ids are waited for, then stepped over."""

from __future__ import annotations

from typing import Any

from cityos.governance.live import SETTLE_S, LiveHub


def hub(low: int, seen: set[int]) -> LiveHub:
    h = LiveHub(p=None, poll_s=1.0)  # type: ignore[arg-type]  (no database needed here)
    h.low, h.seen = low, set(seen)
    return h


def test_contiguous_ids_move_the_mark_at_once() -> None:
    h = hub(10, {11, 12, 13})
    h._advance(0.0)
    assert h.low == 13 and h.seen == set()


def test_a_hole_is_waited_for_then_stepped_over() -> None:
    h = hub(10, {12, 13})
    h._advance(100.0)
    assert h.low == 10 and h.seen == {12, 13}  # 11 may still commit: keep asking from 10
    h._advance(100.0 + SETTLE_S / 2)
    assert h.low == 10
    h.seen.add(11)  # it committed late: pushed once, and the mark moves on
    h._advance(100.0 + SETTLE_S / 2)
    assert h.low == 13 and h.seen == set()
    h2 = hub(10, {12, 13})
    h2._advance(0.0)
    h2._advance(SETTLE_S + 1)  # never came (a rolled-back id)
    assert h2.low == 13


def test_a_subscription_matches_its_user_and_units() -> None:
    from cityos.governance.live import Subscription

    s = Subscription("handler", frozenset({"D-500103-water"}))
    row: dict[str, Any] = {"recipient_user": None, "recipient_unit": "D-500103-water"}
    assert s.wants(row)
    assert not s.wants({"recipient_user": None, "recipient_unit": "C-500103"})
    assert s.wants({"recipient_user": "handler", "recipient_unit": None})
