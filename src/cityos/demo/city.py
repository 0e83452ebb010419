"""The demo city's division tree: polygons that tile each parent exactly.

Each parent is cut into Voronoi cells of seed points scattered inside it (one
relaxation step for even sizes), clipped to the parent, so children cover their
parent with no gap and no overlap. Everything is drawn from one seeded generator:
the same seed gives the same city.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from cityos.demo.names import CITY, DISTRICTS, TOWNSHIP_KINDS, VILLAGE_KINDS, two_syllables
from cityos.demo.scales import Scale
from cityos.geo.model import Division

BBOX = (105.3, 28.2, 110.2, 32.2)  # the real city's extent, lon/lat


def city_outline(rng: np.random.Generator, vertices: int = 96) -> Polygon:
    """An irregular outline, elongated south-west to north-east like the real city."""
    cx, cy = (BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2
    a, b = (BBOX[2] - BBOX[0]) / 2 * 0.97, (BBOX[3] - BBOX[1]) / 2 * 0.97
    angles = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
    # Smooth noise: a few low harmonics with random phases.
    r = np.ones(vertices)
    for k in (2, 3, 5, 7):
        r += rng.uniform(0.02, 0.06) * np.sin(k * angles + rng.uniform(0, 2 * math.pi))
    r = r / r.max()
    xs = cx + a * r * np.cos(angles)
    ys = cy + b * r * np.sin(angles)
    poly = Polygon(np.column_stack([np.round(xs, 6), np.round(ys, 6)]))
    return shapely.make_valid(poly).intersection(shapely.box(*BBOX))


def scatter(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random points inside geom (rejection sampling on its bounding box)."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        k = max(16, (n - have) * 3)
        xs = rng.uniform(minx, maxx, k)
        ys = rng.uniform(miny, maxy, k)
        inside = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[inside], ys[inside]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    if isinstance(g, Polygon | MultiPolygon):
        return g
    parts = [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon | MultiPolygon) and not p.is_empty]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(polys) if len(polys) != 1 else polys[0]


def split(parent: BaseGeometry, n: int, rng: np.random.Generator) -> list[BaseGeometry]:
    """Cut parent into n cells that tile it exactly, ordered west to east for readable codes."""
    if n == 1:
        return [parent]
    seeds = scatter(parent, n, rng)
    env = shapely.box(*parent.bounds).buffer(max(parent.bounds[2] - parent.bounds[0], 0.01))
    for _ in range(2):  # one Lloyd relaxation, then the final cut
        cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=env, ordered=True)
        parts = shapely.intersection(np.array(cells.geoms, dtype=object), parent)
        cent = shapely.centroid(parts)
        relaxed = np.column_stack([shapely.get_x(cent), shapely.get_y(cent)])
        inside = shapely.contains_xy(parent, relaxed[:, 0], relaxed[:, 1])
        seeds = np.where(inside[:, None], relaxed, seeds)
    result = [_polygonal(g) for g in parts]
    keep = [g for g in result if not g.is_empty]
    if len(keep) < n:  # a degenerate seed pair: fall back to the cut we have
        return keep
    order = np.lexsort((shapely.get_y(shapely.centroid(keep)) * -1, np.round(shapely.get_x(shapely.centroid(keep)), 1)))
    return [keep[i] for i in order]


def apportion(total: int, weights: np.ndarray, rng: np.random.Generator, minimum: int = 1) -> list[int]:
    """Split `total` into len(weights) whole parts near the weights (largest remainder), each ≥ minimum."""
    k = len(weights)
    spare = total - minimum * k
    if spare < 0:
        raise ValueError("fewer items than parents")
    w = weights * rng.uniform(0.7, 1.3, k)
    share = w / w.sum() * spare
    base = np.floor(share).astype(int)
    rest = spare - int(base.sum())
    for i in np.argsort(-(share - base))[:rest]:
        base[i] += 1
    return [int(b) + minimum for b in base]


def generate(scale: Scale, seed: int = 1, progress: Callable[[int], None] | None = None) -> Iterator[Division]:
    """Yield the whole tree, parents before children, with exactly the scale's counts."""
    rng = np.random.default_rng(seed)
    counts_rng = np.random.default_rng(seed + 7919)
    tick = progress or (lambda n: None)
    outline = city_outline(rng)
    city_code, city_zh, city_en = CITY
    yield Division(city_code, "city", None, city_zh, city_en, outline, {"population": scale.residents})
    tick(1)
    district_cells = split(outline, scale.districts, rng)
    areas = np.array([g.area for g in district_cells])
    district_pop = apportion(scale.residents, areas, counts_rng, 0)
    township_counts = apportion(scale.townships, areas, counts_rng)
    village_counts = iter(apportion(scale.villages, np.ones(scale.townships), counts_rng))
    grid_counts = iter(apportion(scale.grids, np.ones(scale.villages), counts_rng))
    for d_i, d_geom in enumerate(district_cells):
        d_code, d_zh, d_en = DISTRICTS[d_i]
        yield Division(d_code, "district", city_code, d_zh, d_en, d_geom, {"population": district_pop[d_i]})
        tick(1)
        towns = split(d_geom, township_counts[d_i], rng)
        t_areas = np.array([g.area for g in towns])
        t_pop = apportion(district_pop[d_i], 1 / np.sqrt(t_areas), counts_rng, 0)
        for t_i, t_geom in enumerate(towns):
            yield from _township(rng, counts_rng, d_code, t_i, t_geom, t_pop[t_i], next(village_counts),
                                 grid_counts, tick)


def _township(rng: np.random.Generator, counts_rng: np.random.Generator, d_code: str, t_i: int,
              t_geom: BaseGeometry, population: int, n_villages: int, grid_counts: Iterator[int],
              tick: Callable[[int], None]) -> Iterator[Division]:
    kind_zh, kind_en = TOWNSHIP_KINDS[0 if t_i % 3 == 0 else (1 if t_i % 7 else 2)]
    seq = t_i + 1 if kind_zh == "街道" else 100 + t_i + 1
    t_code = f"{d_code}{seq:03d}"
    zh, en = two_syllables(rng)
    yield Division(t_code, "township", d_code, zh + kind_zh, f"{en} {kind_en}", t_geom, {"population": population})
    tick(1)
    v_cells = split(t_geom, n_villages, rng)
    v_pop = apportion(population, np.ones(len(v_cells)), counts_rng, 0)
    for v_i, v_geom in enumerate(v_cells):
        v_kind = VILLAGE_KINDS[0] if kind_zh == "街道" or v_i % 4 == 0 else VILLAGE_KINDS[1]
        v_seq = v_i + 1 if v_kind[0] == "社区" else 200 + v_i + 1
        v_code = f"{t_code}{v_seq:03d}"
        vzh, ven = two_syllables(rng)
        yield Division(v_code, "village", t_code, vzh + v_kind[0], f"{ven} {v_kind[1]}", v_geom,
                       {"population": v_pop[v_i]})
        tick(1)
        g_cells = split(v_geom, next(grid_counts), rng)
        g_pop = apportion(v_pop[v_i], np.ones(len(g_cells)), counts_rng, 0)
        for g_i, g_geom in enumerate(g_cells):
            yield Division(f"{v_code}{g_i + 1:03d}", "grid", v_code, f"{vzh}{v_kind[0]}第{g_i + 1}网格",
                           f"{ven} {v_kind[1]} Grid {g_i + 1}", g_geom, {"population": g_pop[g_i]})
            tick(1)
