"""Demo cases: every state of the loop, spread over the city, consistent with their timelines.

Each case is simulated from its intake to the state it is left in: the times of its
events are in order and before now, its deadline follows from its category's limit
and the working calendar, cases still in the hands of a unit past their deadline are
marked overdue (and escalated one level per grace period, as the sweep does), and the
events carry the payloads `handlers` writes, so `handlers.apply_stats` computes the
indicators from them. Rows are written in batches (executemany), not case by case.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select

from cityos.geo import store as geo_store
from cityos.governance import handlers as h
from cityos.governance.model import LEVEL_UP, Category, WorkCalendar, route_by_category, territorial

BATCH = 5000
FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "霞", "平", "刚", "桂英", "建华", "玉兰", "志强", "红梅", "小龙", "德明", "春燕", "国平"]
# The state each case is left in, with its weight (every state of the loop appears).
FINAL_STATES: list[tuple[str, int]] = [
    ("collected", 3), ("filed", 3), ("dispatched", 6), ("signed", 5), ("handling", 12), ("reported", 5),
    ("verified", 4), ("closed", 27), ("evaluated", 18), ("parked", 3), ("cancelled", 4), ("merged", 3),
]
SOURCES: list[tuple[str, int]] = [("public", 28), ("grid", 35), ("hotline", 15), ("sensor", 4), ("staff", 12),
                                  ("upper", 6)]
ORDER = ["collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "closed", "evaluated"]
REPORTERS = {"public": ("citizen", "citizen"), "hotline": ("township.operator", "township_operator"),
             "grid": ("grid.member", "grid_member"), "sensor": ("system", "system"),
             "staff": ("district.operator", "district_operator"), "upper": ("city.operator", "city_operator")}
GRID_UNIT_ACTOR = ("grid.member", "grid_member")
DEPT_ACTOR = ("handler", "department_handler")
DISPATCHER = ("dispatcher", "dispatcher")
VERIFIER = ("verifier", "verifier")
SYSTEM_ACTOR = ("system", "system")


@dataclass
class Grid:
    code: str
    lon: float
    lat: float
    box: tuple[float, float, float, float]


@dataclass
class Sim:
    """One case being simulated: its row and its events (time, action, from, to, actor, role, note, payload)."""

    row: dict[str, Any]
    events: list[tuple[datetime, str, str | None, str, tuple[str, str], str | None, dict[str, Any]]] = \
        field(default_factory=list)


def _pick(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _grids(conn: Any) -> tuple[list[Grid], list[Any]]:
    d = geo_store.divisions
    rows = conn.execute(select(d.c.code, d.c.center_lon, d.c.center_lat, d.c.min_lon, d.c.min_lat, d.c.max_lon,
                               d.c.max_lat, d.c.geometry).where(d.c.level == "grid").order_by(d.c.code)).all()
    grids = [Grid(r[0], float(r[1]), float(r[2]), (float(r[3]), float(r[4]), float(r[5]), float(r[6]))) for r in rows]
    geoms = [shapely.from_geojson(r[7]) for r in rows]
    return grids, geoms


def _places(rng: random.Random, grids: list[Grid], arr: Any, n: int) -> list[tuple[Grid, float, float]]:
    """n points, each inside a grid (a jittered point, or the grid's inner point when the jitter falls outside)."""
    idx = [rng.randrange(len(grids)) for _ in range(n)]
    xs = np.empty(n)
    ys = np.empty(n)
    for k, i in enumerate(idx):
        g = grids[i]
        xs[k] = g.lon + (rng.random() - 0.5) * (g.box[2] - g.box[0]) * 0.6
        ys[k] = g.lat + (rng.random() - 0.5) * (g.box[3] - g.box[1]) * 0.6
    inside = shapely.contains_xy(arr[idx], xs, ys)
    out = []
    for k, i in enumerate(idx):
        g = grids[i]
        out.append((g, round(float(xs[k]), 6), round(float(ys[k]), 6)) if inside[k] else (g, g.lon, g.lat))
    return out


class Builder:
    def __init__(self, cats: list[Category], calendar: WorkCalendar, now: datetime, seed: int) -> None:
        self.cats = cats
        self.weights = [3 if c.kind == "event" else 2 for c in cats]
        self.cal = calendar
        self.now = now
        self.seed = seed
        self.masters: dict[str, list[tuple[int, str]]] = {}  # district -> [(id, number)] of live earlier cases

    def case(self, case_id: int, place: tuple[Grid, float, float]) -> Sim:
        rng = random.Random(self.seed * 1_000_003 + case_id)
        final = _pick(rng, FINAL_STATES)
        source = _pick(rng, SOURCES)
        cat = rng.choices(self.cats, weights=self.weights)[0]
        if final in ("collected", "filed", "cancelled"):
            # Trusted sources and emergencies are filed and dispatched at intake: these come from the public.
            source = rng.choice(("public", "hotline"))
            while cat.emergency:
                cat = rng.choices(self.cats, weights=self.weights)[0]
        grid, lon, lat = place
        # Open cases are recent, finished ones spread over the last four months.
        if final in ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked"):
            back = timedelta(hours=rng.uniform(1, 24 * 12))
        else:
            back = timedelta(hours=rng.uniform(24 * 3, 24 * 120))
        seed = rng.random()
        sim = self._simulate(case_id, grid, lon, lat, cat, source, final, self.now - back, seed)
        last = max(e[0] for e in sim.events)
        if last > self.now:  # the timeline ran past now: start it earlier by the overrun, and again
            for _ in range(4):
                sim = self._simulate(case_id, grid, lon, lat, cat, source, final,
                                     sim.row["created_at"] - (last - self.now) - timedelta(minutes=30), seed)
                last = max(e[0] for e in sim.events)
                if last <= self.now:
                    break
            else:  # pragma: no cover - a timeline longer than four months
                sim = self._simulate(case_id, grid, lon, lat, cat, source, final, self.now - timedelta(days=240), seed)
        if final not in ("cancelled", "merged"):
            live = self.masters.setdefault(grid.code[:6], [])
            live.append((case_id, sim.row["number"]))
            if len(live) > 400:
                del live[:200]
        return sim

    def _simulate(self, case_id: int, grid: Grid, lon: float, lat: float, cat: Category, source: str, final: str,
                  t0: datetime, seed: float) -> Sim:
        rng = random.Random(seed)
        code = grid.code
        chain: dict[str, str | None] = {"grid": code, "village": code[:12], "township": code[:9],
                                        "district": code[:6], "city": code[:2] + "0000"}
        decision = route_by_category(cat, chain) or territorial(chain)
        assert decision is not None
        public = source in ("public", "hotline")
        emergency = cat.emergency
        reporter_name = reporter_phone = reporter_user = None
        if public:
            reporter_name = rng.choice(FAMILY) + rng.choice(GIVEN)
            reporter_phone = "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
            reporter_user = "citizen" if source == "public" and rng.random() < 0.3 else None
        row: dict[str, Any] = {
            "id": case_id, "number": t0.strftime("%Y%m%d") + f"{case_id:08d}", "source": source,
            "source_ref": f"12345-{t0:%Y%m%d}-{case_id:06d}" if source == "hotline" else None,
            "category_code": cat.code, "kind": cat.kind, "title": cat.name_zh,
            "description": f"{cat.name_zh}：{cat.filing_condition or cat.name_zh}（{grid.code[-3:]}号网格）",
            "lon": lon, "lat": lat, "address": None, "grid_code": code, "village_code": code[:12],
            "township_code": code[:9], "district_code": code[:6], "node": code, "owner_level": decision.level,
            "owner_node": decision.node, "handler_unit": decision.unit, "co_units": {}, "routing": decision.as_dict(),
            "state": "collected", "deadline": None, "deadline_version": 0, "overdue": False, "overdue_at": None,
            "escalation_level": 0, "emergency": emergency, "public": public, "reporter_name": reporter_name,
            "reporter_phone": reporter_phone, "reporter_user": reporter_user, "rework_count": 0, "return_count": 0,
            "master_id": None, "extension": None, "satisfied": None, "alarm_ref": None, "reported_by": None,
            "created_by": REPORTERS[source][0], "created_at": t0, "updated_at": t0, "dispatched_at": None,
            "closed_at": None,
        }
        sim = Sim(row)
        nodes = h._nodes(row)
        unit_actor = GRID_UNIT_ACTOR if decision.level == "grid" else DEPT_ACTOR
        t = t0

        def base() -> dict[str, Any]:
            return {"nodes": nodes, "public": public,
                    "deadline": row["deadline"].isoformat() if row["deadline"] else None}

        def ev(action: str, to: str | None, who: tuple[str, str], note: str | None = None,
               **extra: Any) -> None:
            frm = row["state"]
            target = to or frm
            sim.events.append((t, action, frm, target, who, note, {**base(), **extra}))
            row["state"] = target
            row["updated_at"] = t

        def later(lo_min: float, hi_min: float) -> datetime:
            return t + timedelta(minutes=rng.uniform(lo_min, hi_min))

        sim.events.append((t, "create", None, "collected", REPORTERS[source], None,
                           {"nodes": nodes, "public": public, "routing": decision.as_dict()}))
        target_i = ORDER.index(final) if final in ORDER else None
        trusted = source in h.TRUSTED_SOURCES or emergency
        if final == "collected":
            return sim
        if final == "cancelled" or (final == "merged" and not trusted and rng.random() < 0.6):
            t = later(10, 240)
            if final == "cancelled" and rng.random() < 0.5:
                ev("file", "filed", DISPATCHER)
                t = later(10, 600)
            self._end_early(sim, ev, final, row, rng)
            return sim
        # filing and dispatch
        if trusted:
            deadline = self.cal.deadline(t, cat.limit_value, cat.limit_type)
            row.update(deadline=deadline, dispatched_at=t, deadline_version=1)
            ev("file", "filed", REPORTERS[source], "auto: trusted source", first=True, unit=row["handler_unit"])
            ev("dispatch", "dispatched", REPORTERS[source], decision.rule, first=True, unit=row["handler_unit"])
        else:
            t = later(5, 180)
            ev("file", "filed", DISPATCHER)
            if final == "filed":
                return sim
            t = later(5, 120)
            deadline = self.cal.deadline(t, cat.limit_value, cat.limit_type)
            row.update(deadline=deadline, dispatched_at=t, deadline_version=1)
            ev("dispatch", "dispatched", DISPATCHER, decision.rule, first=True, unit=row["handler_unit"])
        if final == "merged":  # a duplicate found after dispatch
            t = later(10, 300)
            self._end_early(sim, ev, "merged", row, rng)
            return sim
        dispatched_at: datetime = row["dispatched_at"]
        span = (row["deadline"] - dispatched_at).total_seconds()
        if rng.random() < 0.06:  # returned: the wrong owner; dispatched again to the right one
            t = later(20, 240)
            row["return_count"] += 1
            ev("return", "filed", unit_actor, "不属于本单位职责 not ours", first_error=True)
            t = later(10, 120)
            ev("dispatch", "dispatched", DISPATCHER, "重新派遣 dispatched again", first=False, unit=row["handler_unit"])
        elif rng.random() < 0.04:
            t = later(20, 240)
            ev("reassign", None, DISPATCHER, None, unit=row["handler_unit"], first_error=True)
        # How long the unit takes, as a share of the time allowed (some run late).
        share = rng.choice((rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.8, 2.5)))
        report_at = dispatched_at + timedelta(seconds=max(span * share, 1800.0))
        stop_open = {"dispatched": 0, "signed": 1, "handling": 2, "parked": 2}.get(final)
        steps = [("sign", "signed", (5, 60)), ("start", "handling", (5, 120))]
        for i, (action, to, (lo, hi)) in enumerate(steps):
            if stop_open is not None and i >= stop_open:
                break
            gap = (report_at - t).total_seconds()
            t = later(lo, hi) if gap <= 0 else t + timedelta(seconds=min(rng.uniform(lo, hi) * 60, gap * 0.3))
            ev(action, to, unit_actor)
        if final == "parked":
            t = later(60, 60 * 24)
            ev("park", "parked", DISPATCHER, "需纳入年度计划解决 needs a planned project")
        if stop_open is None:
            t = max(t + timedelta(minutes=5), report_at)
            self._overdue(sim, ev, row, rng, until=t)
            row["reported_by"] = unit_actor[0]
            ev("report", "reported", unit_actor, "已处置完毕 done", first=True,
               dispatched_at=dispatched_at.isoformat())
            if target_i is not None and target_i > ORDER.index("reported") and rng.random() < 0.1:
                t = later(60, 60 * 24)
                row["rework_count"] += 1
                row["reported_by"] = None
                ev("rework", "handling", VERIFIER, "核查未通过 not fixed")
                t = later(60, 60 * 24)
                row["reported_by"] = unit_actor[0]
                ev("report", "reported", unit_actor, "已整改 fixed", first=False,
                   dispatched_at=dispatched_at.isoformat())
            if target_i is not None and target_i >= ORDER.index("verified"):
                t = later(30, 60 * 20)
                ev("verify", "verified", VERIFIER, "现场核查合格 checked on site")
            if target_i is not None and target_i >= ORDER.index("closed"):
                t = later(20, 60 * 8)
                row["closed_at"] = t
                ev("close", "closed", DISPATCHER, "结案 closed")
                if public and final == "closed" and rng.random() < 0.5:
                    t = later(60, 60 * 48)
                    sat = rng.random() < 0.85
                    row["satisfied"] = sat
                    ev("follow_up", None, DISPATCHER, "电话回访 phoned back", satisfied=sat)
            if final == "evaluated":
                t = later(60, 60 * 72)
                who = (reporter_user, "citizen") if reporter_user else DISPATCHER
                if public:
                    sat = rng.random() < 0.88
                    row["satisfied"] = sat
                    ev("evaluate", "evaluated", who, "满意" if sat else "不满意", satisfied=sat)
                else:
                    ev("evaluate", "evaluated", who, "评价 evaluated")
        else:
            self._overdue(sim, ev, row, rng, until=None if final != "parked" else t)
        return sim

    def _end_early(self, sim: Sim, ev: Callable[..., None], final: str, row: dict[str, Any],
                   rng: random.Random) -> None:
        if final == "cancelled":
            ev("cancel", "cancelled", DISPATCHER, "无效信息 not a real case")
            return
        masters = self.masters.get(row["district_code"]) or []
        if not masters:
            ev("cancel", "cancelled", DISPATCHER, "重复上报 duplicate report")
            return
        mid, mnum = rng.choice(masters[-200:])
        row["master_id"] = mid
        ev("merge", "merged", DISPATCHER, f"与 {mnum} 重复 duplicate", master_id=mid, master_number=mnum)

    def _overdue(self, sim: Sim, ev: Callable[..., None], row: dict[str, Any], rng: random.Random,
                 until: datetime | None) -> None:
        """The sweep's marks: overdue once the deadline passes while the unit holds the case, then one
        escalation per grace period up to the city, as long as it still holds it (`until`: when it let go)."""
        deadline: datetime | None = row["deadline"]
        end = until or self.now
        if deadline is None or deadline >= end:
            return
        at = deadline + timedelta(seconds=rng.uniform(1, 30))
        if at >= end:
            return
        saved = row["state"], row["updated_at"]
        row.update(overdue=True, overdue_at=at)
        sim.events.append((at, "overdue", None, "overdue", SYSTEM_ACTOR, "deadline passed", {}))
        level_at = at
        while True:
            level_at = level_at + h.ESCALATION_GRACE + timedelta(seconds=rng.uniform(1, 30))
            up = LEVEL_UP.get(row["owner_level"])
            if level_at >= end or up is None:
                break
            node = {"township": row["township_code"], "district": row["district_code"],
                    "city": row["district_code"][:2] + "0000"}[up]
            sim.events.append((level_at, "escalate", None, "escalated", SYSTEM_ACTOR,
                               f"overdue past the grace: escalated to the {up} ({node})",
                               {"from": row["owner_level"], "to": up, "supervision": True}))
            row.update(owner_level=up, owner_node=node, overdue_at=level_at,
                       escalation_level=row["escalation_level"] + 1)
        row["state"], row["updated_at"] = saved


def event_rows(sim: Sim) -> list[dict[str, Any]]:
    evs = sorted(sim.events, key=lambda e: e[0])  # stable: same-moment events keep their order
    node = sim.row["node"]
    return [{"case_id": sim.row["id"], "action": a, "from_state": frm, "to_state": to, "at": at, "actor": who[0],
             "role": who[1], "node": node, "note": note, "payload": payload, "counted": False}
            for at, a, frm, to, who, note, payload in evs]


def generate(conn: Any, cats: list[Category], calendar: WorkCalendar, now: datetime, n: int, seed: int,
             first_id: int, write: Callable[[list[dict[str, Any]], list[dict[str, Any]]], None],
             tick: Callable[[int], None]) -> dict[str, int]:
    grids, geoms = _grids(conn)
    if not grids:
        return {}
    rng = random.Random(seed)
    arr = np.array(geoms, dtype=object)
    shapely.prepare(arr)
    builder = Builder(cats, calendar, now, seed)
    counts: dict[str, int] = {}
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    places: list[tuple[Grid, float, float]] = []
    for k in range(n):
        if k % BATCH == 0:  # places batch by batch, so that a large scale does not hold them all
            places = _places(rng, grids, arr, min(BATCH, n - k))
        sim = builder.case(first_id + k, places[k % BATCH])
        sim.row["updated_at"] = max(sim.row["updated_at"], max(e[0] for e in sim.events))
        cases.append(sim.row)
        events.extend(event_rows(sim))
        counts[sim.row["state"]] = counts.get(sim.row["state"], 0) + 1
        if len(cases) >= BATCH:
            write(cases, events)
            tick(len(cases))
            cases, events = [], []
    if cases:
        write(cases, events)
        tick(len(cases))
    return counts
