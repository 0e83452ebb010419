"""The dashboard's tables (indicator series) and its set-based read models over the
other contexts' tables (plain SQL: one grouped query per figure, whatever the count)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, Index, String, Table, UniqueConstraint, select, text
from sqlalchemy.engine import Connection

from cityos.core.db import UTCDateTime, metadata
from cityos.core.store import BigId
from cityos.geo.model import level_of

series = Table(
    "dashboard_series",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False),
    Column("unit", String(40), nullable=False),
    Column("source", String(200), nullable=False),
    Column("node", String(15), nullable=False),  # the division the figure is about
    Column("period", String(10), nullable=False),  # 2026 | 2026-Q3 | 2026-11
    Column("value", Float, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", "node", "period", name="uq_dashboard_series_name_node_period"),
    Index("ix_dashboard_series_node", "node"),
)

OPEN_STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked")
NEXT_LEN = {"city": 6, "district": 9, "township": 12, "village": 15}


def prefix(node: str) -> str:
    """The LIKE prefix of a node's subtree (a city is its province's two digits)."""
    return node[:2] if level_of(node) == "city" else node


def subtree(node: str) -> dict[str, str]:
    """Bounds of the codes in a node's subtree: a range, not LIKE, so that an index on the code
    serves it on both engines (SQLite's LIKE ignores case; PostgreSQL's needs the C collation)."""
    p = prefix(node)
    return {"lo": p, "hi": p[:-1] + chr(ord(p[-1]) + 1)}


def _scope_sql(col: str, roots: tuple[str, ...] | None, params: dict[str, Any]) -> str:
    """`roots` None: everything. Otherwise an OR of prefixes (city roots already cut to 2 digits)."""
    if roots is None:
        return "1=1"
    if not roots:
        return "1=0"
    parts = []
    for i, r in enumerate(roots):
        params[f"sr{i}"] = r + "%"
        parts.append(f"{col} LIKE :sr{i}")
    return "(" + " OR ".join(parts) + ")"


def _open_in(params: dict[str, Any]) -> str:
    for i, s in enumerate(OPEN_STATES):
        params[f"os{i}"] = s
    return "(" + ", ".join(f":os{i}" for i in range(len(OPEN_STATES))) + ")"


def children(conn: Connection, node: str) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT code, level, name_zh, name_en, geometry, population, center_lon, center_lat "
                             "FROM divisions WHERE parent_code = :n ORDER BY code"), {"n": node}).mappings().all()
    return [dict(r) for r in rows]


def case_figures(conn: Connection, node: str, roots: tuple[str, ...] | None) -> dict[str, Any]:
    """Open, overdue and emergency cases in the subtree, by child, by category class and by state,
    from the maintained counters (`case_counts`: the node's own rows and its children's)."""
    from cityos.governance import store as gov_store

    if roots is not None and not any(node.startswith(r) for r in roots):
        return case_figures_scan(conn, node, roots)  # a subtree only partly in scope (no screen asks for one)
    city = level_of(node) == "city"
    by_child: dict[str, dict[str, int]] = {}
    by_class: dict[str, int] = {}
    by_state: dict[str, int] = {}
    total = overdue = emergency = 0
    for r in gov_store.counts_under(conn, node):
        c, od = int(r["n"]), bool(r["overdue"])
        if r["node"] != node:  # a child's rows
            d = by_child.setdefault(r["node"], {"open": 0, "overdue": 0})
            d["open"] += c
            d["overdue"] += c if od else 0
            if not city:  # below the city, the node's own rows already hold its children's cases
                continue
        total += c
        overdue += c if od else 0
        emergency += c if r["emergency"] else 0
        by_class[r["cls"]] = by_class.get(r["cls"], 0) + c
        by_state[r["state"]] = by_state.get(r["state"], 0) + c
    return {"open": total, "overdue": overdue, "emergency": emergency,
            "by_child": by_child, "by_class": by_class, "by_state": by_state}


def case_figures_scan(conn: Connection, node: str, roots: tuple[str, ...] | None) -> dict[str, Any]:
    """The same figures aggregated from the open cases themselves (the recount the counters are
    checked against; slow at a million open cases)."""
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("node", roots, params)
    open_in = _open_in(params)
    base = f"FROM cases WHERE node >= :lo AND node < :hi AND {scope} AND state IN {open_in}"
    n = NEXT_LEN.get(level_of(node), 15)
    params["n"] = n
    # One pass over the open cases: grouped by child, category class, state and flags.
    rows = conn.execute(text(
        "SELECT substr(node, 1, :n), substr(category_code, 1, 3), state, "
        "CASE WHEN overdue THEN 1 ELSE 0 END, CASE WHEN emergency THEN 1 ELSE 0 END, count(*) "
        f"{base} GROUP BY substr(node, 1, :n), substr(category_code, 1, 3), state, "
        "CASE WHEN overdue THEN 1 ELSE 0 END, CASE WHEN emergency THEN 1 ELSE 0 END"), params).all()
    by_child: dict[str, dict[str, int]] = {}
    by_class: dict[str, int] = {}
    by_state: dict[str, int] = {}
    total = overdue = emergency = 0
    for child, cls, state, od, em, c in rows:
        c = int(c)
        total += c
        overdue += c if od else 0
        emergency += c if em else 0
        by_class[cls] = by_class.get(cls, 0) + c
        by_state[state] = by_state.get(state, 0) + c
        if len(child) == n:
            d = by_child.setdefault(child, {"open": 0, "overdue": 0})
            d["open"] += c
            d["overdue"] += c if od else 0
    return {"open": total, "overdue": overdue, "emergency": emergency,
            "by_child": by_child, "by_class": by_class, "by_state": by_state}


def recent_cases(conn: Connection, node: str, roots: tuple[str, ...] | None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest open cases of the subtree. Below the city: the cases of the subtree through the
    (state, node) index, then the newest of them; the city: the newest cases walking back the ids
    (its subtree is every case; an index range over all of them would sort a million rows)."""
    params: dict[str, Any] = {**subtree(node), "lim": limit}
    scope = _scope_sql("node", roots, params)
    open_in = _open_in(params)
    where = "substr(node, 1, 2) = :lo" if level_of(node) == "city" else "node >= :lo AND node < :hi"
    rows = conn.execute(text(f"SELECT id, number, title, category_code, node, lon, lat, emergency, overdue, created_at "
                             f"FROM cases WHERE {where} AND {scope} AND state IN {open_in} "
                             f"ORDER BY id DESC LIMIT :lim"), params).mappings().all()
    return [dict(r) for r in rows]


def alarm_figures(conn: Connection, node: str, roots: tuple[str, ...] | None) -> dict[str, Any]:
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("grid_code", roots, params)
    n = NEXT_LEN.get(level_of(node), 15)
    params["n"] = n
    by_child = {k: int(c) for k, c in conn.execute(text(
        "SELECT substr(grid_code, 1, :n), count(*) FROM perception_alarms "
        f"WHERE grid_code >= :lo AND grid_code < :hi AND {scope} AND cleared_at IS NULL GROUP BY substr(grid_code, 1, :n)"),
        params).all()}
    return {"active": sum(by_child.values()), "by_child": by_child}


def hazard_board(conn: Connection, node: str, roots: tuple[str, ...] | None) -> dict[str, Any]:
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("grid_code", roots, params)
    levels = {lv: int(c) for lv, c in conn.execute(text(
        f"SELECT level, count(*) FROM perception_risk_points WHERE grid_code >= :lo AND grid_code < :hi AND {scope} GROUP BY level"),
        params).all()}
    top = conn.execute(text(
        "SELECT code, name, kind, level, people, lon, lat FROM perception_risk_points "
        f"WHERE grid_code >= :lo AND grid_code < :hi AND {scope} AND level IN ('red', 'orange', 'yellow') "
        "ORDER BY CASE level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END, code LIMIT 10"), params).mappings().all()
    return {"by_level": levels, "top": [dict(r) for r in top]}


def instructions_in_flight(conn: Connection, node: str, roots: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """Instructions issued in the subtree with tasks not yet completed."""
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("i.issuer_node", roots, params)
    rows = conn.execute(text(
        "SELECT i.id, i.title, i.urgency, i.issuer_node, i.complete_deadline, count(t.id) AS open_tasks "
        "FROM instructions i JOIN instruction_tasks t ON t.instruction_id = i.id "
        f"WHERE i.issuer_node >= :lo AND i.issuer_node < :hi AND {scope} AND t.state <> 'completed' "
        "GROUP BY i.id, i.title, i.urgency, i.issuer_node, i.complete_deadline ORDER BY i.id DESC LIMIT 10"),
        params).mappings().all()
    return [dict(r) for r in rows]


def emergencies_open(conn: Connection, node: str, roots: tuple[str, ...] | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("node", roots, params)
    rows = conn.execute(text(
        "SELECT id, case_id, category_code, node, lon, lat, casualties, created_at FROM emergency_reports "
        f"WHERE node >= :lo AND node < :hi AND {scope} AND resolved_at IS NULL ORDER BY id DESC LIMIT 20"), params).mappings().all()
    return [dict(r) for r in rows]


def enterprises_by_industry(conn: Connection, node: str, roots: tuple[str, ...] | None) -> dict[str, int]:
    """Legal entities by industry section (GB/T 4754 letter), if the base database is loaded."""
    params: dict[str, Any] = {**subtree(node)}
    scope = _scope_sql("grid_code", roots, params)
    rows = conn.execute(text(
        "SELECT substr(industry_code, 1, 1), count(*) FROM legal_entities "
        f"WHERE grid_code >= :lo AND grid_code < :hi AND {scope} GROUP BY substr(industry_code, 1, 1)"), params).all()
    return {k: int(c) for k, c in rows}


def series_for(conn: Connection, nodes: list[str]) -> list[dict[str, Any]]:
    rows = conn.execute(select(series.c.name, series.c.unit, series.c.source, series.c.node, series.c.period,
                               series.c.value).where(series.c.node.in_(nodes))
                        .order_by(series.c.name, series.c.node, series.c.period)).mappings().all()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        s = out.setdefault((r["name"], r["node"]), {"name": r["name"], "unit": r["unit"], "source": r["source"],
                                                    "node": r["node"], "points": []})
        s["points"].append([r["period"], r["value"]])
    return list(out.values())


def upsert_series(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> int:
    for r in rows:
        conn.execute(series.delete().where(series.c.name == r["name"], series.c.node == r["node"],
                                           series.c.period == r["period"]))
    if rows:
        conn.execute(series.insert(), [{**r, "imported_at": now} for r in rows])
    return len(rows)


def max_ids(conn: Connection) -> dict[str, int]:
    out = {}
    for t in ("cases", "perception_alarms", "emergency_reports"):
        out[t] = int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar_one())
    return out


def new_rows(conn: Connection, after: dict[str, int], limit: int = 500) -> list[dict[str, Any]]:
    """New cases, alarms and emergency reports since the given ids (one query per table)."""
    out: list[dict[str, Any]] = []
    for kind, sql in (
        ("case", "SELECT id, node, lon, lat, number AS label, emergency FROM cases WHERE id > :a ORDER BY id LIMIT :l"),
        ("alarm", "SELECT id, grid_code AS node, NULL AS lon, NULL AS lat, alarm_type AS label, 0 AS emergency "
                  "FROM perception_alarms WHERE id > :a ORDER BY id LIMIT :l"),
        ("emergency", "SELECT id, node, lon, lat, category_code AS label, 1 AS emergency FROM emergency_reports "
                      "WHERE id > :a ORDER BY id LIMIT :l"),
    ):
        table = {"case": "cases", "alarm": "perception_alarms", "emergency": "emergency_reports"}[kind]
        for r in conn.execute(text(sql), {"a": after[table], "l": limit}).mappings().all():
            out.append({"kind": kind, "table": table, **dict(r)})
    return out
