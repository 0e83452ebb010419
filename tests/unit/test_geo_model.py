from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from cityos.core.errors import ValidationError
from cityos.geo.model import (
    Division,
    chain_codes,
    check_point,
    check_tree,
    division_from_feature,
    is_within,
    level_of,
    parent_code,
)


@pytest.mark.parametrize(
    ("code", "level"),
    [("500000", "city"), ("500103", "district"), ("500103001", "township"), ("500103001002", "village"),
     ("500103001002003", "grid")],
)
def test_levels_are_read_from_codes(code: str, level: str) -> None:
    assert level_of(code) == level


@pytest.mark.parametrize("bad", ["50010", "5001030010", "50a103", "500100", "500103000", "500103001002000", "", "５００１０３"])
def test_malformed_codes_are_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(ValidationError) as e:
        level_of(bad)
    assert e.value.field == "code"


def test_chain_and_subtree() -> None:
    assert chain_codes("500103001002003") == ["500103001002003", "500103001002", "500103001", "500103", "500000"]
    assert parent_code("500103") == "500000"
    assert is_within("500103001002003", "500103")
    assert is_within("500103001", "500000")
    assert not is_within("500104001", "500103")


@pytest.mark.parametrize(("lon", "lat", "field"), [(math.nan, 30, "lon"), (107, math.inf, "lat"), (181, 30, "lon"),
                                                   (107, -91, "lat"), ("x", 30, "lon"), (None, 30, "lon")])
def test_bad_points_name_the_coordinate(lon: object, lat: object, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        check_point(lon, lat)
    assert e.value.field == field


@given(st.floats(-180, 180), st.floats(-90, 90))
def test_any_finite_point_in_range_is_accepted(lon: float, lat: float) -> None:
    assert check_point(lon, lat) == (lon, lat)


def _div(code: str, geom: Polygon) -> Division:
    return Division(code, level_of(code), parent_code(code), "名", "name", geom)


def test_tiling_accepts_an_exact_split() -> None:
    city = _div("500000", box(0, 0, 2, 1))
    a, b = _div("500101", box(0, 0, 1, 1)), _div("500102", box(1, 0, 2, 1))
    assert check_tree([city, a, b], {}) == []


def test_tiling_names_overlap_gap_outside_and_self_intersection() -> None:
    city = _div("500000", box(0, 0, 2, 1))
    overlap = check_tree([city, _div("500101", box(0, 0, 1.2, 1)), _div("500102", box(1, 0, 2, 1))], {})
    assert [str(p) for p in overlap] == ["500101: overlaps 500102"]
    gap = check_tree([city, _div("500101", box(0, 0, 0.8, 1)), _div("500102", box(1, 0, 2, 1))], {})
    assert gap and gap[0].code == "500000" and "gap" in gap[0].reason
    outside = check_tree([city, _div("500101", box(-0.5, 0, 1, 1)), _div("500102", box(1, 0, 2, 1))], {})
    assert outside[0].code == "500101" and "outside" in outside[0].reason
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    bad = check_tree([_div("500000", bowtie)], {})
    assert bad[0].code == "500000" and "Self-intersection" in bad[0].reason


def test_duplicate_codes_and_missing_parents_are_named() -> None:
    city = _div("500000", box(0, 0, 2, 1))
    dup = check_tree([city, city], {})
    assert dup[0].reason == "appears more than once in the file"
    orphan = check_tree([_div("500101001", box(0, 0, 1, 1))], {})
    assert orphan[0].code == "500101001" and "parent 500101" in orphan[0].reason


def test_feature_parsing_names_the_feature_and_field() -> None:
    good = {"type": "Feature", "properties": {"code": "500101", "name_zh": "甲区"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}
    assert division_from_feature(good, 0).code == "500101"
    with pytest.raises(ValidationError) as e:
        division_from_feature({**good, "properties": {"code": "5001", "name_zh": "x"}}, 3)
    assert e.value.field == "features[3].properties.code"
    with pytest.raises(ValidationError) as e:
        division_from_feature({**good, "geometry": {"type": "Point", "coordinates": [0, 0]}}, 1)
    assert e.value.field == "features[1].geometry"
    with pytest.raises(ValidationError) as e:
        division_from_feature({**good, "properties": {"code": "500101"}}, 2)
    assert e.value.field == "features[2].properties.name_zh"
