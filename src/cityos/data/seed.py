"""Seed step: the five base databases of the demo city, its catalog, its subject databases."""

from __future__ import annotations

from sqlalchemy import delete, select

from cityos.data import bulk, catalog
from cityos.data import store as s
from cityos.data.generator import (
    BUILDING_COLS,
    CREDIT_COLS,
    ENTITY_COLS,
    LICENCE_COLS,
    POI_COLS,
    RESIDENT_COLS,
    RISK_COLS,
    CityGenerator,
    Grid,
    iter_batches,
)
from cityos.data.subjects import SUBJECTS, refresh
from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store as geo_store


def _total(scale: Scale) -> int:
    return scale.residents


def load_grids(conn: object) -> list[Grid]:
    from sqlalchemy.engine import Connection

    assert isinstance(conn, Connection)
    d = geo_store.divisions
    names = dict(conn.execute(select(d.c.code, d.c.name_zh).where(d.c.level != "grid")).all())
    grids = []
    for code, pop, x0, y0, x1, y1, cx, cy in conn.execute(
            select(d.c.code, d.c.population, d.c.min_lon, d.c.min_lat, d.c.max_lon, d.c.max_lat, d.c.center_lon,
                   d.c.center_lat).where(d.c.level == "grid").order_by(d.c.code)):
        address = "重庆市" + "".join(names.get(code[:n], "") for n in (6, 9, 12))
        grids.append(Grid(code, int(pop or 0), (x0, y0, x1, y1), (cx, cy), address))
    return grids


BASE_TABLES = (s.subj_elderly_alone, s.subj_enterprises_by_industry_grid, s.subj_licences_expiring,
               s.subj_residents_in_risk_areas, s.credit_records, s.licences, s.legal_entities, s.residents, s.pois,
               s.buildings, s.risk_areas)


@seed_step("base databases", order=30, total=_total)
def seed_data(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    today = now.date()
    with p.db.begin() as conn:
        for t in BASE_TABLES:
            conn.execute(delete(t))
        grids = load_grids(conn)
    gen = CityGenerator(ctx.seed, today)
    counts = dict.fromkeys(("residents", "buildings", "pois", "legal entities", "licences", "credit records",
                            "risk areas"), 0)
    for batch, made in iter_batches(gen, grids, chunk=50_000 if ctx.scale.residents > 100_000 else 20_000):
        with p.db.begin() as conn:
            for table, cols, rows, key in ((s.buildings, BUILDING_COLS, batch.buildings, "buildings"),
                                           (s.pois, POI_COLS, batch.pois, "pois"),
                                           (s.residents, RESIDENT_COLS, batch.residents, "residents"),
                                           (s.legal_entities, ENTITY_COLS, batch.entities, "legal entities"),
                                           (s.licences, LICENCE_COLS, batch.licences, "licences"),
                                           (s.credit_records, CREDIT_COLS, batch.credit, "credit records"),
                                           (s.risk_areas, RISK_COLS, batch.risk_areas, "risk areas")):
                counts[key] += bulk.insert_rows(conn, table, cols, rows)
        tick(made)
    with p.db.begin() as conn:
        catalog.install_defaults(conn, now, today)
        for sub in SUBJECTS.values():
            counts[sub.name] = refresh(conn, sub, today, now)
        _set_counts(conn, now)
    return dict(counts)


def _set_counts(conn: object, now: object) -> None:
    """Row counts of the base resources in the catalog."""
    from sqlalchemy import func, update
    from sqlalchemy.engine import Connection

    assert isinstance(conn, Connection)
    c = s.catalog_datasets
    for name, _zh, _en, _owner, resources, *_ in catalog.BASE:
        n = sum(int(conn.execute(select(func.count()).select_from(s.DATASTORE_TABLES[rid])).scalar_one())
                for rid, _spec in resources)
        conn.execute(update(c).where(c.c.name == name).values(row_count=n, refreshed_at=now))
