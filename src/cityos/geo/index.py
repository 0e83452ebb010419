"""The spatial index behind locate() and bbox queries.

Built from the divisions table (shapely 2 STRtree per level plus one over the leaf
divisions); each process keeps one and rebuilds it when the geo revision in the
database moves, checked at most every `ttl` seconds, so another process's import is
seen without a restart.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from cityos.core.db import Database
from cityos.core.store import read_revision
from cityos.geo.model import LEVELS, check_point, level_of
from cityos.geo.store import GEO_REVISION, iter_index_rows


@dataclass(frozen=True)
class Location:
    """Where a point lies: the chain from the finest division up to the city."""

    lon: float
    lat: float
    chain: tuple[str, ...]  # leaf first, city last

    @property
    def inside(self) -> bool:
        return bool(self.chain)

    def code_at(self, level: str) -> str | None:
        return next((code for code in self.chain if level_of(code) == level), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lon": self.lon,
            "lat": self.lat,
            "inside": self.inside,
            "message": None if self.inside else "the point lies outside the city",
            "chain": list(self.chain),
            **{level: self.code_at(level) for level in LEVELS},
        }


class LevelIndex:
    def __init__(self, codes: list[str], geoms: np.ndarray) -> None:
        self.codes = np.array(codes, dtype=object)
        self.geoms = geoms
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def __len__(self) -> int:
        return len(self.codes)

    def intersecting(self, box: tuple[float, float, float, float]) -> list[str]:
        idx = self.tree.query(shapely.box(*box), predicate="intersects")
        return sorted(self.codes[idx].tolist())


class LeafGrid:
    """A uniform grid of cells over the leaves, for single-point lookups without a tree query.

    A cell is *pure* when exactly one leaf touches it and holds it in its interior (with a
    small margin): every point mapped to it lies in that leaf, so no geometry test is needed.
    Other cells keep the list of leaves that touch them (ascending order), tested with one
    vectorised `contains_xy`. The answer is the same as testing every leaf: the leaf whose
    interior holds the point (the lowest-numbered one, should leaves ever overlap).
    """

    CELLS_PER_LEAF = 4  # ~250,000 cells at L scale: built in about a second, a few MB
    MAX_CELLS = 2_000_000

    def __init__(self, leaves: LevelIndex) -> None:
        self.codes = leaves.codes
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(leaves.geoms))
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        cells = min(self.CELLS_PER_LEAF * len(leaves), self.MAX_CELLS)
        size = max(math.sqrt(width * height / cells), max(width, height) / 4096)
        self.x0, self.y0, self.inv = minx, miny, 1.0 / size
        # One spare column and row, so a point on the far edge never falls off by rounding.
        self.nx, self.ny = int(width / size) + 2, int(height / size) + 2
        eps = size * 1e-6  # margin against rounding in the cell arithmetic
        ii, jj = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        cx0, cy0 = minx + ii.ravel() * size, miny + jj.ravel() * size
        boxes = shapely.box(cx0 - eps, cy0 - eps, cx0 + size + eps, cy0 + size + eps)
        cell_i, leaf_i = leaves.tree.query(boxes, predicate="intersects")
        order = np.lexsort((leaf_i, cell_i))
        cell_i, leaf_i = cell_i[order], leaf_i[order]
        counts = np.bincount(cell_i, minlength=len(boxes))
        single = np.flatnonzero(counts == 1)
        single_leaf = leaf_i[np.searchsorted(cell_i, single)]
        inside = shapely.within(boxes[single], leaves.geoms[single_leaf])
        pure = np.full(len(boxes), -1, dtype=np.int64)
        pure[single[inside]] = single_leaf[inside]
        keep = pure[cell_i] < 0  # pure cells need no candidate list
        cell_i, leaf_i = cell_i[keep], leaf_i[keep]
        # array.array: compact, and indexing it gives a plain int quickly.
        self.start = array("q", np.searchsorted(cell_i, np.arange(len(boxes) + 1)).tolist())
        self.pure = array("q", pure.tolist())
        self.cand = leaf_i
        self.cand_geoms = leaves.geoms[leaf_i]

    def leaf_at(self, x: float, y: float) -> str | None:
        fx, fy = (x - self.x0) * self.inv, (y - self.y0) * self.inv
        if not (0.0 <= fx < self.nx and 0.0 <= fy < self.ny):  # also False for NaN
            return None
        cell = int(fy) * self.nx + int(fx)
        leaf = self.pure[cell]
        if leaf >= 0:
            return str(self.codes[leaf])
        a, b = self.start[cell], self.start[cell + 1]
        if a == b:
            return None
        for k, hit in enumerate(shapely.contains_xy(self.cand_geoms[a:b], x, y).tolist()):
            if hit:
                return str(self.codes[self.cand[a + k]])
        return None


class GeoIndex:
    """An immutable snapshot of the division tree for point and box queries."""

    def __init__(self, rows: list[tuple[str, str, str | None, str]], revision: int) -> None:
        self.revision = revision
        self.parent: dict[str, str | None] = {}
        self.level: dict[str, str] = {}
        by_level: dict[str, list[tuple[str, str]]] = {lv: [] for lv in LEVELS}
        has_child: set[str] = set()
        for code, level, parent, geom in rows:
            self.parent[code] = parent
            self.level[code] = level
            by_level[level].append((code, geom))
            if parent:
                has_child.add(parent)
        self.levels: dict[str, LevelIndex] = {}
        leaf_codes: list[str] = []
        leaf_geoms: list[Any] = []
        for level, items in by_level.items():
            if not items:
                continue
            codes = [c for c, _ in items]
            geoms = shapely.from_geojson(np.array([g for _, g in items], dtype=object))
            self.levels[level] = LevelIndex(codes, geoms)
            for c, g in zip(codes, geoms, strict=True):
                if c not in has_child:
                    leaf_codes.append(c)
                    leaf_geoms.append(g)
        self.leaves = LevelIndex(leaf_codes, np.array(leaf_geoms, dtype=object)) if leaf_codes else None
        self._grid = LeafGrid(self.leaves) if self.leaves is not None else None
        self._chains: dict[str, tuple[str, ...]] = {}

    def chain(self, code: str) -> tuple[str, ...]:
        cached = self._chains.get(code)
        if cached is not None:
            return cached
        out = [code]
        p = self.parent.get(code)
        while p:
            out.append(p)
            p = self.parent.get(p)
        result = tuple(out)
        self._chains[code] = result
        return result

    def locate(self, lon: Any, lat: Any) -> Location:
        """The chain for one point, or an empty chain when it lies outside the city."""
        x, y = check_point(lon, lat)
        return Location(x, y, self.chain(c) if (c := self.leaf_at(x, y)) else ())

    def leaf_at(self, x: float, y: float) -> str | None:
        """The leaf division whose interior holds (x, y), or None (outside, or on a shared edge)."""
        if self._grid is None:
            return None
        return self._grid.leaf_at(x, y)

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Leaf codes for many points at once (None where outside); vectorised."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        out = np.full(len(lons), None, dtype=object)
        if self.leaves is None or len(lons) == 0:
            return out
        ok = np.isfinite(lons) & np.isfinite(lats) & (np.abs(lons) <= 180) & (np.abs(lats) <= 90)
        idx = np.flatnonzero(ok)
        points = shapely.points(lons[idx], lats[idx])
        p_i, g_i = self.leaves.tree.query(points, predicate="intersects")
        # A point on a shared edge matches two leaves; keep the first, like locate().
        order = np.lexsort((g_i, p_i))
        p_i, g_i = p_i[order], g_i[order]
        first = np.r_[True, p_i[1:] != p_i[:-1]] if len(p_i) else np.array([], dtype=bool)
        out[idx[p_i[first]]] = self.leaves.codes[g_i[first]]
        return out

    def within(self, level: str, box: tuple[float, float, float, float]) -> list[str]:
        li = self.levels.get(level)
        return li.intersecting(box) if li else []


class GeoService:
    """Holds this process's GeoIndex and refreshes it when the tree changes."""

    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._index: GeoIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def index(self) -> GeoIndex:
        now = time.monotonic()
        current = self._index
        if current is not None and now - self._checked < self.ttl:
            return current
        with self._lock:
            if self._index is not None and time.monotonic() - self._checked < self.ttl:
                return self._index
            with self.db.read() as conn:
                rev = read_revision(conn, GEO_REVISION)
                if self._index is None or self._index.revision != rev:
                    self._index = GeoIndex(list(iter_index_rows(conn)), rev)
            self._checked = time.monotonic()
            return self._index

    def invalidate(self) -> None:
        with self._lock:
            self._checked = 0.0

    def locate(self, lon: Any, lat: Any) -> Location:
        return self.index().locate(lon, lat)
