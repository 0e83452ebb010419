"""Divisions table and its queries. Geometry is kept as GeoJSON text (portable between
SQLite and PostgreSQL, served as is by the OGC API) with its bounding box in columns
for quick bbox filtering; the in-process spatial index is built from it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, delete, func, select
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert
from cityos.core.store import bump_revision
from cityos.geo.model import Division

GEO_REVISION = "geo.divisions"

divisions = Table(
    "divisions",
    metadata,
    Column("code", String(15), primary_key=True),
    Column("level", String(12), nullable=False),
    Column("parent_code", String(15), index=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False, default=""),
    Column("geometry", Text, nullable=False),  # GeoJSON, WGS84
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("center_lon", Float, nullable=False),
    Column("center_lat", Float, nullable=False),
    Column("area_km2", Float, nullable=False),
    Column("population", Integer),
    Column("properties", JSONType, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_divisions_level_code", "level", "code"),
    Index("ix_divisions_level_bbox", "level", "min_lon", "max_lon", "min_lat", "max_lat"),
)

KM_PER_DEG = 111.32


def approx_area_km2(geom: Any) -> float:
    """Area on the sphere, approximated at the geometry's latitude (good to ~1 % at city size)."""
    import math

    lat = geom.centroid.y
    return float(geom.area * KM_PER_DEG * KM_PER_DEG * math.cos(math.radians(lat)))


def to_row(d: Division, now: datetime) -> dict[str, Any]:
    minx, miny, maxx, maxy = d.bbox
    rp = d.geometry.representative_point()
    return {
        "code": d.code,
        "level": d.level,
        "parent_code": d.parent_code,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "geometry": shapely.to_geojson(d.geometry, indent=None),
        "min_lon": minx,
        "min_lat": miny,
        "max_lon": maxx,
        "max_lat": maxy,
        "center_lon": float(rp.x),
        "center_lat": float(rp.y),
        "area_km2": approx_area_km2(d.geometry),
        "population": d.properties.get("population"),
        "properties": {k: v for k, v in d.properties.items() if k != "population"},
        "updated_at": now,
    }


def upsert(conn: Connection, items: Iterable[Division], now: datetime, *, chunk: int = 2000) -> int:
    """Insert or replace divisions, in chunks; bumps the geo revision once."""
    n = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if not batch:
            return
        stmt = upsert_insert(conn, divisions)
        cols = {c.name: stmt.excluded[c.name] for c in divisions.columns if c.name != "code"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_=cols), batch)
        batch.clear()

    for d in items:
        batch.append(to_row(d, now))
        n += 1
        if len(batch) >= chunk:
            flush()
    flush()
    bump_revision(conn, GEO_REVISION, now)
    return n


def load_all(conn: Connection, *, levels: Iterable[str] | None = None) -> list[Division]:
    q = select(divisions)
    if levels is not None:
        q = q.where(divisions.c.level.in_(list(levels)))
    out = []
    for r in conn.execute(q.order_by(divisions.c.code)).mappings():
        out.append(row_to_division(r))
    return out


def row_to_division(r: Any) -> Division:
    props = dict(r["properties"] or {})
    if r["population"] is not None:
        props["population"] = r["population"]
    return Division(r["code"], r["level"], r["parent_code"], r["name_zh"], r["name_en"],
                    shapely.from_geojson(r["geometry"]), props)


def iter_index_rows(conn: Connection) -> Iterator[tuple[str, str, str | None, str]]:
    q = select(divisions.c.code, divisions.c.level, divisions.c.parent_code, divisions.c.geometry)
    for row in conn.execute(q):
        yield row[0], row[1], row[2], row[3]


def get(conn: Connection, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(divisions).where(divisions.c.code == code)).mappings().first()
    return dict(r) if r else None


def get_many(conn: Connection, codes: list[str]) -> list[dict[str, Any]]:
    if not codes:
        return []
    rows = conn.execute(select(divisions).where(divisions.c.code.in_(codes))).mappings().all()
    by_code = {r["code"]: dict(r) for r in rows}
    return [by_code[c] for c in codes if c in by_code]


def names(conn: Connection, codes: list[str]) -> dict[str, tuple[str, str, str]]:
    rows = conn.execute(
        select(divisions.c.code, divisions.c.level, divisions.c.name_zh, divisions.c.name_en).where(divisions.c.code.in_(codes))
    ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def page(conn: Connection, level: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(divisions).where(divisions.c.level == level)).scalar_one()
    rows = conn.execute(
        select(divisions).where(divisions.c.level == level).order_by(divisions.c.code).limit(limit).offset(offset)
    ).mappings().all()
    return [dict(r) for r in rows], int(total)


def children(conn: Connection, code: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(divisions.c.code, divisions.c.level, divisions.c.name_zh, divisions.c.name_en)
        .where(divisions.c.parent_code == code).order_by(divisions.c.code)
    ).mappings().all()
    return [dict(r) for r in rows]


def extent(conn: Connection, level: str) -> tuple[float, float, float, float] | None:
    r = conn.execute(
        select(func.min(divisions.c.min_lon), func.min(divisions.c.min_lat), func.max(divisions.c.max_lon),
               func.max(divisions.c.max_lat)).where(divisions.c.level == level)
    ).first()
    if r is None or r[0] is None:
        return None
    return float(r[0]), float(r[1]), float(r[2]), float(r[3])


def count_by_level(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(divisions.c.level, func.count()).group_by(divisions.c.level)).all()
    return {str(level): int(n) for level, n in rows}


def delete_all(conn: Connection) -> None:
    conn.execute(delete(divisions))


def feature(row: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature for a row, with the stored geometry text parsed once."""
    return {
        "type": "Feature",
        "id": row["code"],
        "geometry": json.loads(row["geometry"]),
        "properties": {
            "code": row["code"],
            "level": row["level"],
            "parent_code": row["parent_code"],
            "name_zh": row["name_zh"],
            "name_en": row["name_en"],
            "area_km2": round(row["area_km2"], 3),
            "population": row["population"],
            **(row["properties"] or {}),
        },
    }
