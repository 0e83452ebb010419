from __future__ import annotations

from collections import Counter

import shapely

from cityos.demo.city import BBOX, generate
from cityos.demo.scales import SCALES
from cityos.geo.index import GeoIndex
from cityos.geo.model import check_tree


def test_small_city_has_the_scale_counts_and_tiles_exactly() -> None:
    divisions = list(generate(SCALES["S"], seed=1))
    counts = Counter(d.level for d in divisions)
    assert counts == {"city": 1, "district": 3, "township": 12, "village": 60, "grid": 300}
    assert check_tree(divisions, {}) == []
    city = divisions[0]
    minx, miny, maxx, maxy = city.geometry.bounds
    assert BBOX[0] <= minx and maxx <= BBOX[2] and BBOX[1] <= miny and maxy <= BBOX[3]
    assert sum(d.properties["population"] for d in divisions if d.level == "grid") == SCALES["S"].residents


def test_same_seed_same_city_other_seed_other_city() -> None:
    a = [(d.code, d.geometry.wkb) for d in generate(SCALES["S"], seed=7)]
    b = [(d.code, d.geometry.wkb) for d in generate(SCALES["S"], seed=7)]
    c = [(d.code, d.geometry.wkb) for d in generate(SCALES["S"], seed=8)]
    assert a == b
    assert a != c


def test_locate_single_and_batch_agree_on_the_demo_city() -> None:
    divisions = list(generate(SCALES["S"], seed=3))
    index = GeoIndex([(d.code, d.level, d.parent_code, shapely.to_geojson(d.geometry)) for d in divisions], 1)
    import numpy as np

    rng = np.random.default_rng(0)
    lons = rng.uniform(BBOX[0] - 0.5, BBOX[2] + 0.5, 2000)
    lats = rng.uniform(BBOX[1] - 0.5, BBOX[3] + 0.5, 2000)
    batch = index.locate_many(lons, lats)
    grids = {d.code: d.geometry for d in divisions if d.level == "grid"}
    inside = 0
    for x, y, code in zip(lons, lats, batch, strict=True):
        single = index.locate(x, y)
        assert (single.chain[0] if single.inside else None) == code
        if code is not None:
            inside += 1
            assert grids[code].covers(shapely.Point(x, y))
            assert single.code_at("district") == code[:6] and single.code_at("city") == "500000"
        else:
            assert not divisions[0].geometry.contains(shapely.Point(x, y))
    assert inside > 500
