"""The dashboard's use cases: all figures of one node's screen, and the series import."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cityos.dashboard import model, store
from cityos.geo.model import level_of
from cityos.identity.model import OPERATORS, Actor, allow

allow(("system_admin", "data_officer", *OPERATORS), "series.import")

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

LEVEL_ORDER = ("city", "district", "township", "village", "grid")


def scope_roots(actor: Actor) -> tuple[str, ...] | None:
    """The actor's case.read scope as LIKE prefixes (None: all)."""
    s = actor.scope("case.read")
    return None if s.all else tuple(store.prefix(r) for r in s.roots)


def months_back(now: datetime, n: int) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out[::-1]


def breadcrumb(p: Platform, node: str) -> list[dict[str, str]]:
    from cityos.geo import store as geo_store

    level_of(node)
    chain = [node[:2] + "0000"]
    for n in (6, 9, 12, 15):
        if n <= len(node) and node[:n] not in chain:
            chain.append(node[:n])
    with p.db.read() as conn:
        names = geo_store.names(conn, chain)
    return [{"code": c, "level": names.get(c, ("", c, c))[0], "name_zh": names.get(c, ("", c, c))[1],
             "name_en": names.get(c, ("", c, c))[2]} for c in chain]


def figures(p: Platform, actor: Actor, node: str) -> dict[str, Any]:
    """Everything on the screen of `node` (the caller checked that `node` is in scope)."""
    from cityos.governance import store as gov_store
    from cityos.governance.model import rates

    level_of(node)
    roots = scope_roots(actor)
    periods = months_back(p.clock.now(), 6)
    with p.db.read() as conn:
        kids = store.children(conn, node)
        cases = store.case_figures(conn, node, roots)
        alarms = store.alarm_figures(conn, node, roots)
        hazards = store.hazard_board(conn, node, roots)
        instructions = store.instructions_in_flight(conn, node, roots)
        emergencies = store.emergencies_open(conn, node, roots)
        enterprises = store.enterprises_by_industry(conn, node, roots)
        recent = store.recent_cases(conn, node, roots)
        codes = [k["code"] for k in kids]
        stats = gov_store.stats_for(conn, [node, *codes], periods)
        trend_rows = {per: gov_store.stats_for(conn, [node], [per])[node] for per in periods}
        series = store.series_for(conn, [node])
    units = []
    for k in kids:
        c = cases["by_child"].get(k["code"], {"open": 0, "overdue": 0})
        pop = k["population"] or 0
        units.append({"code": k["code"], "level": k["level"], "name_zh": k["name_zh"], "name_en": k["name_en"],
                      "population": pop, "open": c["open"], "overdue": c["overdue"],
                      "alarms": alarms["by_child"].get(k["code"], 0),
                      "per_10k": round(c["open"] * 10_000 / pop, 2) if pop else None,
                      "rates": rates(stats[k["code"]]),
                      "geometry": json.loads(k["geometry"]) if k["geometry"] else None})
    ranking = sorted(units, key=lambda u: (-float(u["rates"]["on_time_closure_rate"] or -1), u["code"]))
    trend = [{"period": per, **trend_rows[per].__dict__, **rates(trend_rows[per])} for per in periods]
    by_class = cases["by_class"]
    sectors = {  # the four sectors, from the case categories' classes (part/event)
        "urban_operation": sum(v for k, v in by_class.items() if k.startswith("P")),
        "social_governance": sum(v for k, v in by_class.items() if k.startswith("E") and k not in ("E04", "E05")),
        "emergency_management": cases["emergency"] + alarms["active"],
        "convenient_service": sum(v for k, v in cases["by_state"].items() if k == "collected"),
    }
    return {"node": node, "level": level_of(node), "breadcrumb": breadcrumb(p, node), "periods": periods,
            "totals": {"open": cases["open"], "overdue": cases["overdue"], "emergency": cases["emergency"],
                       "alarms": alarms["active"], "emergencies_open": len(emergencies)},
            "indicators": {"counts": stats[node].__dict__, "rates": rates(stats[node]), "trend": trend},
            "units": units, "ranking": [{k: u[k] for k in ("code", "name_zh", "name_en", "open", "overdue", "rates")}
                                        for u in ranking],
            "sectors": sectors, "cases_by_state": cases["by_state"], "hazards": hazards,
            "instructions": instructions, "emergencies": emergencies, "recent_cases": recent,
            "digital_economy": {"enterprises_by_industry": enterprises, "series": series}}


def import_series(p: Platform, actor: Actor, content: str) -> int:
    """Check every row, then write them all (or nothing)."""
    actor.require("series.import")
    rows = model.parse_series_csv(content)
    for r in rows:
        actor.require("series.import", r["node"])
    with p.db.begin() as conn:
        return store.upsert_series(conn, rows, p.clock.now())
