"""Grassroots domain rules: list rows, versions, diffs, routing picks, patrol days, ledgers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cityos.core.errors import IllegalTransition, ValidationError
from cityos.grassroots import model as m

CATS = {c.split(",")[0] for c in (Path(m.__file__).parent.parent / "governance" / "data" / "categories.csv")
        .read_text(encoding="utf-8").splitlines()[1:]}
TEMPLATE = (Path(m.__file__).parent / "data" / "template.csv").read_text(encoding="utf-8")


def test_the_template_is_valid_bilingual_and_covers_levels_and_sectors() -> None:
    items = m.check_items(m.read_csv(TEMPLATE), CATS)
    assert len(items) >= 60
    assert {(i.level, i.sector) for i in items} == {(lv, s) for lv in m.LIST_LEVELS for s in m.SECTORS}
    assert all(i.name_zh and i.name_en and i.legal_basis and i.done_standard for i in items)
    assert m.check_items(m.read_csv(m.items_csv(items)), CATS) == items
    assert m.check_items(m.read_xlsx(m.items_xlsx(items)), CATS) == items


def test_bad_rows_are_each_named_and_nothing_is_returned() -> None:
    head = ",".join(m.ITEM_COLUMNS)
    text = "\n".join([head, "A,甲,A,party,grid,,grid_head,daily,,", "A,乙,B,party,grid,,grid_head,daily,,",
                      "B,丙,C,nosector,grid,X0000,boss,hourly,,"])
    with pytest.raises(ValidationError) as e:
        m.check_items(m.read_csv(text), CATS)
    details = e.value.details
    assert details[0].startswith("line 3:") and "duplicate item A" in details[0]
    assert details[1].startswith("line 4:")
    for why in ("sector 'nosector'", "role 'boss' does not exist", "frequency 'hourly'", "unknown category code(s) X0000"):
        assert why in details[1]
    with pytest.raises(ValidationError) as e:
        m.read_csv("key,name_zh\n")
    assert e.value.field == "columns"
    with pytest.raises(ValidationError):
        m.read_xlsx(b"not a workbook")


def test_versions_move_draft_review_published() -> None:
    assert m.transition("draft", "submit") == "review"
    assert m.transition("review", "return") == "draft"
    assert m.transition("review", "publish") == "published"
    with pytest.raises(IllegalTransition):
        m.transition("draft", "publish")
    with pytest.raises(ValidationError):
        m.transition("draft", "explode")


def _item(key: str, level: str, cats: tuple[str, ...], **kw: str) -> m.Item:
    base = {"name_zh": key, "name_en": key, "sector": "safety", "role": "grid_member" if level == "grid" else
            ("grid_head" if level == "village" else "sector_lead"), "frequency": "daily", "legal_basis": "",
            "done_standard": ""}
    base.update(kw)
    return m.Item(key=key, level=level, categories=cats, **base)


def test_diff_and_lowest_level_pick() -> None:
    a = [_item("T1", "township", ("E0701",)), _item("G1", "grid", ("E0701",))]
    b = [_item("T1", "township", ("E0701",), frequency="weekly"), _item("V1", "village", ("E0505",))]
    d = m.diff(a, b)
    assert [x["key"] for x in d["added"]] == ["V1"] and [x["key"] for x in d["removed"]] == ["G1"]
    assert d["changed"] == [{"key": "T1", "name_zh": "T1", "fields": {"frequency": {"from": "daily", "to": "weekly"}}}]
    idx = m.index_items(1, "500000", 1, a)
    chain: dict[str, str | None] = {"township": "500103001", "village": "500103001001", "grid": "500103001001001"}
    found = m.pick(idx, "E0701", chain)
    assert found is not None and found[0].key == "G1" and found[1] == "500103001001001"
    no_grid = m.pick(idx, "E0701", {**chain, "grid": None})
    assert no_grid is not None and no_grid[0].key == "T1"
    assert m.pick(idx, "P0101", chain) is None


def test_patrol_days_and_distances() -> None:
    days = [date(2026, 11, 1 + i) for i in range(28)]
    assert all(m.due_on("daily", d, "K") for d in days)
    assert sum(m.due_on("weekly", d, "K") for d in days) == 4
    assert not any(m.due_on("none", d, "K") for d in days)
    assert m.patrol_outcome("open", date(2026, 11, 1), date(2026, 11, 1)) == "done"
    assert m.patrol_outcome("missed", date(2026, 11, 1), date(2026, 11, 2)) == "late"
    with pytest.raises(IllegalTransition):
        m.patrol_outcome("done", date(2026, 11, 1), date(2026, 11, 1))
    assert m.bbox_distance_m(106.5, 29.5, (106.4, 29.4, 106.6, 29.6)) == 0
    assert 900 < m.bbox_distance_m(106.61, 29.5, (106.4, 29.4, 106.6, 29.6)) < 1000


def test_ledger_entries_are_checked() -> None:
    assert m.check_ledger("building", " 3栋 ", {"floors": 6, "note": ""}) == ("3栋", {"floors": 6})
    for kind, label, data, field in [("castle", "x", {}, "kind"), ("building", "", {}, "label"),
                                     ("building", "x", {"colour": "red"}, "data"),
                                     ("key_person", "x", {"group": "vip"}, "data.group"),
                                     ("resident", "x", {"phone": "call me"}, "data.phone"),
                                     ("resident", "x", {"name": ["a"]}, "data.name")]:
        with pytest.raises(ValidationError) as e:
            m.check_ledger(kind, label, data)
        assert e.value.field == field
