"""Seed step: device types' demo devices spread over the grids, geological-hazard risk
points with their monitoring devices, and a few alarm rules."""

from __future__ import annotations

import json
import random
from typing import Any

import shapely
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store as geo_store
from cityos.perception import model as m
from cityos.perception import store

DEVICES_PER_SCALE = {"S": 300, "M": 3000, "L": 20000}
RISK_POINTS_PER_SCALE = {"S": 12, "M": 120, "L": 1000}
GENERIC_TYPES = ("water_level", "gas", "smoke", "manhole_cover", "camera", "tilt_meter", "rain_gauge")

DEMO_RULES: list[dict[str, Any]] = [
    {"name": "燃气浓度超限 Gas over 20 %LEL", "device_type": "gas", "kind": "threshold", "key": "ch4_pct_lel",
     "op": ">=", "limit": 20.0, "clear": 10.0, "severity": "CRITICAL", "alarm_type": "gas_leak"},
    {"name": "积水水位持续偏高 Water level high for 10 min", "device_type": "water_level", "kind": "duration",
     "key": "level_m", "op": ">", "limit": 2.5, "clear": 2.2, "duration_s": 600, "severity": "MAJOR",
     "alarm_type": "high_water"},
    {"name": "烟感报警 Smoke", "device_type": "smoke", "kind": "repeat", "key": "smoke", "op": ">=", "limit": 1.0,
     "count": 2, "severity": "CRITICAL", "alarm_type": "smoke"},
    {"name": "井盖倾斜 Manhole cover tilted", "device_type": "manhole_cover", "kind": "threshold", "key": "tilt_deg",
     "op": ">", "limit": 15.0, "clear": 5.0, "severity": "MAJOR", "alarm_type": "cover_displaced"},
    {"name": "裂缝快速扩张 Crack widening fast", "device_type": "crack_meter", "kind": "rate", "key": "crack_mm",
     "op": ">", "limit": 0.5, "severity": "MAJOR", "alarm_type": "crack_rate"},
    {"name": "设备离线 Device silent 1 h", "device_type": "camera", "kind": "inactivity", "key": None,
     "duration_s": 3600, "severity": "WARNING", "alarm_type": "offline"},
]


def _total(scale: Scale) -> int:
    return DEVICES_PER_SCALE.get(scale.name, 300) + RISK_POINTS_PER_SCALE.get(scale.name, 12)


def grid_points(conn: Connection, n: int, rng: random.Random) -> list[tuple[str, float, float]]:
    """n points, each inside a grid (grids taken round-robin in a shuffled order)."""
    d = geo_store.divisions
    rows = list(conn.execute(select(d.c.code, d.c.geometry).where(d.c.level == "grid").order_by(d.c.code)).all())
    if not rows:
        return []
    rng.shuffle(rows)
    out = []
    for i in range(n):
        code, gj = rows[i % len(rows)]
        geom = shapely.from_geojson(gj)
        minx, miny, maxx, maxy = geom.bounds
        pt = geom.representative_point()
        for _ in range(20):
            cand = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if geom.contains(cand):
                pt = cand
                break
        out.append((str(code), round(pt.x, 6), round(pt.y, 6)))
    return out


@seed_step("perception devices and risk points", order=40, total=_total)
def seed_perception(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    rng = random.Random(ctx.seed * 7919 + 40)
    n_dev = DEVICES_PER_SCALE.get(ctx.scale.name, 300)
    n_rp = RISK_POINTS_PER_SCALE.get(ctx.scale.name, 12)
    with p.db.begin() as conn:
        for table in (store.alarms, store.rule_states, store.rules, store.latest, store.rollups, store.readings,
                  store.dead_letters, store.devices, store.risk_points):
            conn.execute(delete(table))
        from cityos.identity.store import org_units

        units = {str(r[0]): str(r[1]) for r in conn.execute(
            select(org_units.c.division_code, org_units.c.code).where(org_units.c.dept_type == "urban_management"))}
        points = grid_points(conn, n_dev + n_rp, rng)
        rps: list[dict[str, Any]] = []
        devs: list[dict[str, Any]] = []
        for i, (grid, lon, lat) in enumerate(points[:n_rp]):
            code = f"RP-{grid[:6]}-{i + 1:04d}"
            d = 0.002
            poly = {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                        [lon - d, lat + d], [lon - d, lat - d]]]}
            kind = rng.choice(("landslide", "rockfall", "dangerous_rock", "debris_flow"))
            households = rng.randint(3, 60)
            rps.append({"code": code, "name": f"{grid[-6:]} 号{ {'landslide': '滑坡', 'rockfall': '崩塌', 'dangerous_rock': '危岩', 'debris_flow': '泥石流'}[kind]}隐患点",
                        "kind": kind, "polygon": poly, "lon": lon, "lat": lat, "grid_code": grid,
                        "households": households, "people": households * rng.randint(2, 4),
                        "monitor": f"监测员{i + 1:03d}", "evacuation_route": "沿村道向北撤离至安置点",
                        "shelter": f"{grid[-6:]} 村委会避灾点", "creep_mm_per_h": 0.05, "level": "none",
                        "indicators": {}, "level_at": None, "created_at": now})
            # each risk point: one rain gauge and two displacement sensors (GNSS, crack meter)
            for j, t in enumerate(("rain_gauge", "gnss", "crack_meter")):
                devs.append(_device(f"{code}-{t[:4].upper()}", t, lon + (j - 1) * 0.0005, lat, grid, code, units, now))
            tick(1)
        for k, (grid, lon, lat) in enumerate(points[n_rp:]):
            t = GENERIC_TYPES[k % len(GENERIC_TYPES)]
            devs.append(_device(f"D-{grid[:6]}-{t[:4].upper()}-{k + 1:05d}", t, lon, lat, grid, None, units, now))
            tick(1)
        if rps:
            conn.execute(insert(store.risk_points), rps)
        for i in range(0, len(devs), 2000):
            conn.execute(insert(store.devices), devs[i:i + 2000])
        for r in DEMO_RULES:
            store.insert_rule(conn, {"device_code": None, "op": ">", "limit": 0.0, "clear": None, "duration_s": 0,
                                     "count": 1, "enabled": True, "created_at": now, **r})
    return {"devices": len(devs), "risk points": len(rps), "rules": len(DEMO_RULES),
            "device types": json.dumps(sorted(m.DEVICE_TYPES))[:80]}


def _device(code: str, t: str, lon: float, lat: float, grid: str, rp: str | None, units: dict[str, str],
            now: Any) -> dict[str, Any]:
    dtype = m.DEVICE_TYPES[t]
    return {"code": code, "type": t, "name": f"{dtype.zh} {code}", "lon": lon, "lat": lat, "grid_code": grid,
            "owner_unit": units.get(grid[:6]), "risk_point": rp, "status": "active", "secret_hash": None,
            "last_seen": None, "created_at": now}
