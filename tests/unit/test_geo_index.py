"""The uniform-grid lookup behind GeoIndex.leaf_at gives the answer of testing every leaf."""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.demo.city import BBOX, generate
from cityos.demo.scales import SCALES
from cityos.geo.index import GeoIndex


def _brute_force(index: GeoIndex, x: float, y: float) -> str | None:
    """The lowest-numbered leaf whose interior holds the point: the rule leaf_at keeps."""
    assert index.leaves is not None
    hits = np.flatnonzero(shapely.contains_xy(index.leaves.geoms, x, y))
    return str(index.leaves.codes[hits[0]]) if len(hits) else None


def test_leaf_at_matches_testing_every_leaf_on_the_demo_city() -> None:
    divisions = list(generate(SCALES["S"], seed=5))
    index = GeoIndex([(d.code, d.level, d.parent_code, shapely.to_geojson(d.geometry)) for d in divisions], 1)
    assert index.leaves is not None
    rng = np.random.default_rng(1)
    xs = rng.uniform(BBOX[0] - 0.3, BBOX[2] + 0.3, 3000)
    ys = rng.uniform(BBOX[1] - 0.3, BBOX[3] + 0.3, 3000)
    # Boundary cases too: vertices of the leaves, and midpoints of their edges.
    coords = shapely.get_coordinates(index.leaves.geoms)
    mids = (coords[:-1] + coords[1:]) / 2
    xs = np.r_[xs, coords[::7, 0], mids[::7, 0]]
    ys = np.r_[ys, coords[::7, 1], mids[::7, 1]]
    found = 0
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        got = index.leaf_at(x, y)
        assert got == _brute_force(index, x, y), (x, y)
        found += got is not None
    assert found > 1000


def _squares() -> GeoIndex:
    """A 3 x 2 block of unit squares (one grid each) under one village, township, district, city."""
    rows = [("500000", "city", None, shapely.to_geojson(shapely.box(0, 0, 3, 2))),
            ("500103", "district", "500000", shapely.to_geojson(shapely.box(0, 0, 3, 2))),
            ("500103001", "township", "500103", shapely.to_geojson(shapely.box(0, 0, 3, 2))),
            ("500103001001", "village", "500103001", shapely.to_geojson(shapely.box(0, 0, 3, 2)))]
    for i in range(3):
        for j in range(2):
            rows.append((f"500103001001{i * 2 + j + 1:03d}", "grid", "500103001001",
                         shapely.to_geojson(shapely.box(i, j, i + 1, j + 1))))
    return GeoIndex(rows, 1)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1, 4, allow_nan=False), st.floats(-1, 3, allow_nan=False))
def test_leaf_at_on_squares_matches_every_leaf_also_on_edges(x: float, y: float) -> None:
    index = _squares()
    assert index.leaf_at(x, y) == _brute_force(index, x, y)


def test_leaf_at_edges_corners_and_non_numbers() -> None:
    index = _squares()
    assert index.leaf_at(0.5, 0.5) == "500103001001001"
    assert index.leaf_at(2.5, 1.5) == "500103001001006"
    for x, y in [(0, 0), (3, 2), (1, 0.5), (3, 1.5), (1.5, 2), (-0.1, 1), (3.1, 1), (1, 2.5), (math.nan, 1),
                 (1, math.inf)]:
        assert index.leaf_at(x, y) is None, (x, y)
    assert index.locate(2.5, 1.5).chain == ("500103001001006", "500103001001", "500103001", "500103", "500000")
    assert not index.locate(5, 5).inside
