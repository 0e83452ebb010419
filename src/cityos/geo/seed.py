"""Seed step: the division tree (city, districts, townships, villages, grids)."""

from __future__ import annotations

from sqlalchemy import delete

from cityos.core.outbox import emit
from cityos.demo.city import generate
from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store


def _total(scale: Scale) -> int:
    return 1 + scale.districts + scale.townships + scale.villages + scale.grids


@seed_step("divisions", order=10, total=_total)
def seed_divisions(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    counts: dict[str, int | str] = {}

    def counted():  # type: ignore[no-untyped-def]
        for d in generate(ctx.scale, ctx.seed, tick):
            counts[d.level] = int(counts.get(d.level, 0)) + 1
            yield d

    with p.db.begin() as conn:
        # The demo replaces the whole tree: a seed is a fresh city.
        conn.execute(delete(store.divisions))
        store.upsert(conn, counted(), now, chunk=5000)
        emit(conn, "geo.divisions_imported", {"count": sum(int(v) for v in counts.values()), "source": "demo"}, now)
    p.geo.invalidate()
    return counts
