"""Seed step: the category catalogue and the working calendar (cases are seeded by
`cityos.governance.demo_cases`, a later step)."""

from __future__ import annotations

from datetime import date, timedelta

from cityos.core.store import bump_revision
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.governance import store
from cityos.governance.handlers import CATALOG_REVISION, DEFAULT_CATEGORIES, catalog
from cityos.governance.model import parse_categories


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# A sample holiday table in the national pattern (holidays plus make-up working days);
# a city loads its official table each year.
HOLIDAYS_2026: list[tuple[date, str, str]] = [
    *[(d, "holiday", "元旦 New Year") for d in _days(date(2026, 1, 1), date(2026, 1, 3))],
    (date(2026, 1, 4), "makeup", "元旦调休 make-up day"),
    *[(d, "holiday", "春节 Spring Festival") for d in _days(date(2026, 2, 15), date(2026, 2, 23))],
    (date(2026, 2, 14), "makeup", "春节调休 make-up day"),
    (date(2026, 2, 28), "makeup", "春节调休 make-up day"),
    *[(d, "holiday", "清明节 Qingming") for d in _days(date(2026, 4, 4), date(2026, 4, 6))],
    *[(d, "holiday", "劳动节 Labour Day") for d in _days(date(2026, 5, 1), date(2026, 5, 5))],
    (date(2026, 5, 9), "makeup", "劳动节调休 make-up day"),
    *[(d, "holiday", "端午节 Dragon Boat") for d in _days(date(2026, 6, 19), date(2026, 6, 21))],
    *[(d, "holiday", "国庆节 National Day") for d in _days(date(2026, 10, 1), date(2026, 10, 8))],
    (date(2026, 9, 27), "makeup", "国庆调休 make-up day"),
    (date(2026, 10, 10), "makeup", "国庆调休 make-up day"),
]


@seed_step("case catalogue", order=25, total=lambda scale: 1)
def seed_catalogue(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    cats = parse_categories(DEFAULT_CATEGORIES.read_text(encoding="utf-8"))
    with p.db.begin() as conn:
        store.upsert_categories(conn, cats, now)
        store.set_calendar(conn, HOLIDAYS_2026)
        bump_revision(conn, CATALOG_REVISION, now)
    catalog(p).invalidate()
    tick(1)
    return {"categories": len(cats), "classes": len({(c.kind, c.class_code) for c in cats}),
            "calendar days": len(HOLIDAYS_2026)}




@seed_step("demo cases", order=70, total=lambda scale: scale.cases)
def seed_cases(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    """Cases in every state spread over the city (S: 2,000; M: 100,000), with consistent timelines."""
    from cityos.governance import demo_cases
    from cityos.governance.handlers import apply_stats

    p = ctx.platform
    now = p.clock.now()
    cat = catalog(p)
    cat.invalidate()
    current = cat.get()
    cats = sorted(current.categories.values(), key=lambda c: c.code)
    with p.db.begin() as conn:
        store.clear_cases(conn)
        first_id = store.next_case_id(conn)

        def write(case_rows: list[dict[str, object]], event_rows: list[dict[str, object]]) -> None:
            store.bulk_insert_cases(conn, case_rows, event_rows)

        counts = demo_cases.generate(conn, cats, current.calendar, now, ctx.scale.cases, ctx.seed, first_id, write,
                                     tick)
        store.sync_case_ids(conn)
    events = apply_stats(p)
    summary: dict[str, int | str] = {"cases": sum(counts.values()), "events": events}
    summary.update({f"state {k}": v for k, v in sorted(counts.items())})
    return summary
