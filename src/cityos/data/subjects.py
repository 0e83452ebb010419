"""Subject databases (主题库): declared as queries over the base databases,
materialised into their own tables, refreshed on demand and by a recurring job."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import shapely
from sqlalchemy import Select, Table, and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from cityos.data import store as s


@dataclass(frozen=True)
class Subject:
    name: str
    title: str
    title_en: str
    notes: str
    table: Table
    sources: tuple[str, ...]
    query: Callable[[date], Select[Any]]
    personal: dict[str, str]
    refine: Callable[[Connection, list[dict[str, Any]]], list[dict[str, Any]]] | None = None


def _elderly_alone(today: date) -> Select[Any]:
    r = s.residents
    cutoff = date(today.year - 65, today.month, min(today.day, 28))
    single = (select(r.c.household_id).where(r.c.status == "active").group_by(r.c.household_id)
              .having(func.count() == 1))
    return (select(r.c.id_number, r.c.name, r.c.birth_date, r.c.household_id, r.c.actual_address, r.c.phone,
                   r.c.grid_code)
            .where(r.c.status == "active", r.c.birth_date <= cutoff, r.c.household_id.in_(single)))


def _enterprises(today: date) -> Select[Any]:
    e = s.legal_entities
    return (select(e.c.industry_code, e.c.grid_code, func.count().label("entities"),
                   func.sum(e.c.registered_capital).label("registered_capital"))
            .where(e.c.status == "active").group_by(e.c.industry_code, e.c.grid_code))


def _expiring(today: date) -> Select[Any]:
    li = s.licences
    return (select(li.c.licence_no, li.c.licence_type, li.c.holder_type, li.c.holder_id, li.c.holder_name,
                   li.c.valid_until, li.c.grid_code)
            .where(li.c.status == "valid", li.c.valid_until >= today, li.c.valid_until <= today + timedelta(days=30)))


def _in_risk_areas(today: date) -> Select[Any]:
    r, b, ra = s.residents, s.buildings, s.risk_areas
    return (select(r.c.id_number, r.c.name, r.c.phone, r.c.building_id, ra.c.code.label("risk_area_code"),
                   ra.c.risk_level, r.c.grid_code)
            .select_from(r.join(b, b.c.building_id == r.c.building_id)
                         .join(ra, and_(b.c.lon >= ra.c.min_lon, b.c.lon <= ra.c.max_lon,
                                        b.c.lat >= ra.c.min_lat, b.c.lat <= ra.c.max_lat)))
            .where(r.c.status == "active"))


def _inside_polygon(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bounding-box join found candidates; keep residents whose building lies inside the polygon."""
    if not rows:
        return rows
    polys = {c: shapely.from_geojson(g) for c, g in conn.execute(select(s.risk_areas.c.code, s.risk_areas.c.geometry))}
    where = {bid: (lon, lat) for bid, lon, lat in conn.execute(
        select(s.buildings.c.building_id, s.buildings.c.lon, s.buildings.c.lat)
        .where(s.buildings.c.building_id.in_({r["building_id"] for r in rows})))}
    seen: set[str] = set()
    out = []
    for r in rows:
        lon, lat = where[r["building_id"]]
        if r["id_number"] not in seen and shapely.contains_xy(polys[r["risk_area_code"]], lon, lat):
            seen.add(r["id_number"])
            out.append(r)
    return out


SUBJECTS: dict[str, Subject] = {x.name: x for x in (
    Subject("elderly-living-alone", "独居老人主题库", "Elderly living alone",
            "65 岁及以上、户内仅一名在册人口的居民。Residents aged 65 or over who are the only active member of their household.",
            s.subj_elderly_alone, ("population",), _elderly_alone, {"id_number": "id_number", "name": "name",
                                                                     "phone": "phone"}),
    Subject("enterprises-by-industry-grid", "分行业分网格企业主题库", "Enterprises by industry and grid",
            "按行业代码和网格汇总的存续法人数量与注册资本。Active legal entities counted by industry and grid.",
            s.subj_enterprises_by_industry_grid, ("legal-entities",), _enterprises, {}),
    Subject("licences-expiring-30d", "30 日内到期证照主题库", "Licences expiring within 30 days",
            "有效期在今后 30 日内届满的有效证照。Valid licences whose validity ends within 30 days.",
            s.subj_licences_expiring, ("e-licences",), _expiring, {"holder_id": "id_number", "holder_name": "name"}),
    Subject("residents-in-risk-areas", "地灾隐患区居民主题库", "Residents in risk-point areas",
            "居住建筑位于地质灾害隐患点影响区内的居民。Residents whose building lies in a geological-hazard risk area.",
            s.subj_residents_in_risk_areas, ("population", "spatial-geography"), _in_risk_areas,
            {"id_number": "id_number", "name": "name", "phone": "phone"}, _inside_polygon),
)}


def query_text(subject: Subject, today: date) -> str:
    from sqlalchemy.dialects import postgresql

    return str(subject.query(today).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def refresh(conn: Connection, subject: Subject, today: date, now: datetime) -> int:
    """Replace the materialised rows with the query's current answer (one transaction)."""
    t = subject.table
    conn.execute(delete(t))
    q = subject.query(today)
    if subject.refine is None:
        cols = [c.name for c in q.selected_columns]
        conn.execute(insert(t).from_select(cols, q))
        n = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
    else:
        rows = subject.refine(conn, [dict(r) for r in conn.execute(q).mappings()])
        for i in range(0, len(rows), 5000):
            conn.execute(insert(t), rows[i:i + 5000])
        n = len(rows)
    c = s.catalog_datasets
    conn.execute(update(c).where(c.c.name == subject.name).values(row_count=n, refreshed_at=now,
                                                                   query=query_text(subject, today)))
    return n


def lineage(conn: Connection, name: str) -> dict[str, list[str]]:
    """Which datasets feed this one (sources) and which it feeds (derived)."""
    c = s.catalog_datasets
    row = conn.execute(select(c.c.sources).where(c.c.name == name)).first()
    sources = list(row[0] or []) if row else []
    derived = [n for n, src in conn.execute(select(c.c.name, c.c.sources).where(c.c.kind == "subject"))
               if name in (src if isinstance(src, list) else json.loads(src or "[]"))]
    return {"sources": sources, "derived": sorted(derived)}
