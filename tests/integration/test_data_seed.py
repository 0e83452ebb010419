"""The demo seed fills the base databases consistently, with valid identifiers."""

from __future__ import annotations

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.data import store as s
from cityos.data.model import is_valid_id_number, is_valid_uscc
from cityos.geo import store as geo_store


def test_seeded_base_databases_are_consistent(seeded: Platform) -> None:
    with seeded.db.read() as conn:
        n = conn.execute(select(func.count()).select_from(s.residents)).scalar_one()
        assert n == 10_000
        grids = set(conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid"))
                    .scalars())
        ids = list(conn.execute(select(s.residents.c.id_number, s.residents.c.grid_code)))
        assert all(is_valid_id_number(i) for i, _ in ids)
        assert all(g in grids for _, g in ids)
        # Everyone lives in a building of their own grid.
        away = conn.execute(select(func.count()).select_from(s.residents.join(
            s.buildings, s.buildings.c.building_id == s.residents.c.building_id))
            .where(s.buildings.c.grid_code != s.residents.c.grid_code)).scalar_one()
        assert away == 0
        ents = list(conn.execute(select(s.legal_entities.c.uscc, s.legal_entities.c.legal_rep_id)))
        assert ents and all(is_valid_uscc(u) for u, _ in ents)
        reps = {r for _, r in ents}
        known = set(conn.execute(select(s.residents.c.id_number).where(s.residents.c.id_number.in_(reps))).scalars())
        assert reps == known, "every legal representative is a resident"
        holders = conn.execute(select(s.licences.c.holder_type, s.licences.c.holder_id)).all()
        persons = {h for t, h in holders if t == "person"}
        assert persons <= set(conn.execute(select(s.residents.c.id_number)
                                           .where(s.residents.c.id_number.in_(persons))).scalars())
        entities = {h for t, h in holders if t == "entity"}
        assert entities and entities <= {u for u, _ in ents}
        for t in (s.subj_elderly_alone, s.subj_enterprises_by_industry_grid, s.subj_licences_expiring,
                  s.subj_residents_in_risk_areas):
            assert conn.execute(select(func.count()).select_from(t)).scalar_one() > 0, t.name


def test_seed_is_deterministic(platform: Platform) -> None:
    from cityos.data.generator import CityGenerator, Grid, iter_batches

    grids = [Grid("500103001001001", 120, (106.0, 29.0, 106.1, 29.1), (106.05, 29.05), "重庆市某区")]
    from datetime import date

    a = [b.residents for b, _ in iter_batches(CityGenerator(7, date(2026, 1, 1)), grids)]
    b = [b.residents for b, _ in iter_batches(CityGenerator(7, date(2026, 1, 1)), grids)]
    c = [b.residents for b, _ in iter_batches(CityGenerator(8, date(2026, 1, 1)), grids)]
    assert a == b and a != c
