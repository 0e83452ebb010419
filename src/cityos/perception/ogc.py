"""OGC API - Features collections of perception: `devices` (points) and `risk_points`
(polygons, with their warning level). Public map layers: no credentials or personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.geo.index import GeoIndex
from cityos.geo.ogc import Box, Collection, register
from cityos.perception import store

d, r = store.devices, store.risk_points


def device_feature(row: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": row["code"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": {k: row[k] for k in ("code", "type", "name", "grid_code", "risk_point", "status")}
            | {"last_seen": row["last_seen"].isoformat() if row["last_seen"] else None}}


def risk_feature(row: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": row["code"], "geometry": row["polygon"],
            "properties": {k: row[k] for k in ("code", "name", "kind", "grid_code", "households", "people", "level",
                                               "shelter")}}


def _box(lon: Any, lat: Any, box: Box | None) -> ColumnElement[bool]:
    if box is None:
        return true()
    return and_(lon >= box[0], lat >= box[1], lon <= box[2], lat <= box[3])


def _extent(table: Any) -> Any:
    def extent(conn: Connection) -> Box | None:
        row = conn.execute(select(func.min(table.c.lon), func.min(table.c.lat), func.max(table.c.lon),
                                  func.max(table.c.lat))).first()
        return (row[0], row[1], row[2], row[3]) if row and row[0] is not None else None
    return extent


def _device_items(conn: Connection, index: GeoIndex, box: Box | None, filters: dict[str, str], limit: int,
                  offset: int) -> tuple[list[dict[str, Any]], int]:
    conds = [_box(d.c.lon, d.c.lat, box)]
    for k in ("type", "status", "risk_point"):
        if k in filters:
            conds.append(d.c[k] == filters[k])
    if "grid_code" in filters:
        conds.append(d.c.grid_code.startswith(filters["grid_code"]))
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(d).where(where)).scalar_one()
    rows = conn.execute(select(d).where(where).order_by(d.c.code).limit(limit).offset(offset)).mappings()
    return [device_feature(dict(x)) for x in rows], int(total)


def _risk_items(conn: Connection, index: GeoIndex, box: Box | None, filters: dict[str, str], limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
    conds = [_box(r.c.lon, r.c.lat, box)]
    if "level" in filters:
        conds.append(r.c.level == filters["level"])
    if "grid_code" in filters:
        conds.append(r.c.grid_code.startswith(filters["grid_code"]))
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(r).where(where)).scalar_one()
    rows = conn.execute(select(r).where(where).order_by(r.c.code).limit(limit).offset(offset)).mappings()
    return [risk_feature(dict(x)) for x in rows], int(total)


def _device_item(conn: Connection, fid: str) -> dict[str, Any] | None:
    row = store.device(conn, fid)
    return device_feature(row) if row else None


def _risk_item(conn: Connection, fid: str) -> dict[str, Any] | None:
    row = store.risk_point(conn, fid)
    return risk_feature(row) if row else None


register(Collection("devices", "感知设备 Sensing devices", "IoT sensing devices (points) with type and status.",
                    _extent(d), _device_items, _device_item, ("type", "status", "risk_point", "grid_code")))
register(Collection("risk_points", "地质灾害隐患点 Geological-hazard risk points",
                    "Risk points (polygons) with their current warning level (none/blue/yellow/orange/red).",
                    _extent(r), _risk_items, _risk_item, ("level", "grid_code")))
