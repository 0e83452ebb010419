"""OGC API - Features collections. Contexts register their own collections here
(divisions now; risk points and devices later) through `Collection` providers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from cityos.geo import store
from cityos.geo.index import GeoIndex

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    extent: Callable[[Connection], Box | None]
    # (conn, index, bbox, filters, limit, offset) -> (features, numberMatched)
    items: Callable[[Connection, GeoIndex, Box | None, dict[str, str], int, int], tuple[list[dict[str, Any]], int]]
    item: Callable[[Connection, str], dict[str, Any] | None]
    queryables: tuple[str, ...] = ()


COLLECTIONS: dict[str, Collection] = {}


def register(c: Collection) -> None:
    COLLECTIONS[c.id] = c


def _division_collection(cid: str, level: str, title: str, description: str) -> Collection:
    def items(conn: Connection, index: GeoIndex, bbox: Box | None, filters: dict[str, str], limit: int,
              offset: int) -> tuple[list[dict[str, Any]], int]:
        parent = filters.get("parent_code")
        if bbox is None and parent is None:
            rows, total = store.page(conn, level, limit, offset)
            return [store.feature(r) for r in rows], total
        if bbox is not None:
            codes = index.within(level, bbox)
        else:
            codes = [c["code"] for c in store.children(conn, str(parent)) if c["level"] == level]
        if parent is not None:
            codes = [c for c in codes if index.parent.get(c) == parent]
        return [store.feature(r) for r in store.get_many(conn, codes[offset:offset + limit])], len(codes)

    def item(conn: Connection, fid: str) -> dict[str, Any] | None:
        row = store.get(conn, fid)
        return store.feature(row) if row and row["level"] == level else None

    return Collection(cid, title, description, lambda conn: store.extent(conn, level), items, item, ("parent_code",))


for _cid, _level, _title, _desc in (
    ("districts", "district", "区县 Districts and counties", "District/county divisions (GB/T 2260 codes)."),
    ("townships", "township", "镇街 Townships and streets", "Township/street divisions (9-digit codes)."),
    ("villages", "village", "村社区 Villages and communities", "Village/community divisions (12-digit codes)."),
    ("grids", "grid", "网格 Grids", "Grid-management cells (15-digit codes), the finest division."),
):
    register(_division_collection(_cid, _level, _title, _desc))
