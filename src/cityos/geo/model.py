"""Administrative divisions and grids: codes, levels and the tiling rules. No IO.

Codes follow the national scheme: a 6-digit county code (GB/T 2260), +3 digits for the
township/street, +3 for the village/community, +3 for the grid (15 digits). The city
itself carries a 6-digit code ending in "0000" (e.g. 500000 for Chongqing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from cityos.core.errors import ValidationError

LEVELS: tuple[str, ...] = ("city", "district", "township", "village", "grid")
LEVEL_ZH = {"city": "市", "district": "区县", "township": "镇街", "village": "村社区", "grid": "网格"}
CODE_LENGTH = {"city": 6, "district": 6, "township": 9, "village": 12, "grid": 15}
# Relative area below which a gap or overlap is floating-point noise, not a mistake.
AREA_TOLERANCE = 1e-6


def level_of(code: str) -> str:
    """The level a code denotes; raises ValidationError for a malformed code."""
    if not isinstance(code, str) or not code.isdigit() or not code.isascii():
        raise ValidationError(f"division code {code!r} must be digits only", field="code")
    n = len(code)
    if n == 6:
        if code[2:] == "0000":
            return "city"
        if code[4:] == "00":
            raise ValidationError(f"division code {code} is a prefecture code, not a county/district", field="code")
        return "district"
    for level in ("township", "village", "grid"):
        if n == CODE_LENGTH[level]:
            if code[-3:] == "000":
                raise ValidationError(f"division code {code}: the {level} part must not be 000", field="code")
            return level
    raise ValidationError(f"division code {code!r} must have 6, 9, 12 or 15 digits (has {n})", field="code")


def parent_code(code: str, city_code: str | None = None) -> str | None:
    """The parent's code, read off the code itself (the city's for a district)."""
    level = level_of(code)
    if level == "city":
        return None
    if level == "district":
        return city_code or code[:2] + "0000"
    return code[: len(code) - 3]


def chain_codes(code: str, city_code: str | None = None) -> list[str]:
    """The code followed by every ancestor's, up to the city."""
    out = [code]
    p = parent_code(code, city_code)
    while p is not None:
        out.append(p)
        p = parent_code(p, city_code)
    return out


def is_within(code: str, ancestor: str) -> bool:
    """Whether `code` is `ancestor` or lies in its subtree (pure code arithmetic)."""
    if level_of(ancestor) == "city":
        return code[:2] == ancestor[:2]
    return code.startswith(ancestor)


def check_point(lon: Any, lat: Any, *, lon_field: str = "lon", lat_field: str = "lat") -> tuple[float, float]:
    """A WGS84 point or a ValidationError naming the bad coordinate."""
    out = []
    for value, name, limit in ((lon, lon_field, 180.0), (lat, lat_field, 90.0)):
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"must be a number, got {value!r}", field=name) from None
        if math.isnan(f) or math.isinf(f):
            raise ValidationError("must be a finite number", field=name)
        if not -limit <= f <= limit:
            raise ValidationError(f"must be between -{limit:g} and {limit:g}, got {f:g}", field=name)
        out.append(f)
    return out[0], out[1]


@dataclass
class Division:
    code: str
    level: str
    parent_code: str | None
    name_zh: str
    name_en: str
    geometry: BaseGeometry
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.geometry.bounds
        return float(minx), float(miny), float(maxx), float(maxy)


@dataclass(frozen=True)
class Problem:
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def division_from_feature(feature: Any, index: int) -> Division:
    """Build a Division from a GeoJSON Feature, or raise naming the feature and field."""
    where = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValidationError("must be a GeoJSON Feature object", field=where)
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise ValidationError("properties must be an object", field=f"{where}.properties")
    code = props.get("code", feature.get("id"))
    if code is None:
        raise ValidationError("has no code (properties.code or id)", field=f"{where}.properties.code")
    code = str(code)
    try:
        level = level_of(code)
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"{where}.properties.code") from None
    declared = props.get("level")
    if declared is not None and declared != level:
        raise ValidationError(f"level {declared!r} does not match code {code} (a {level} code)", field=f"{where}.properties.level")
    name_zh = props.get("name_zh") or props.get("name")
    if not name_zh or not isinstance(name_zh, str):
        raise ValidationError(f"{code} has no name_zh", field=f"{where}.properties.name_zh")
    name_en = props.get("name_en") or ""
    geom_json = feature.get("geometry")
    if not isinstance(geom_json, dict) or geom_json.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValidationError(f"{code}: geometry must be a Polygon or MultiPolygon", field=f"{where}.geometry")
    try:
        import json

        geom = shapely.from_geojson(json.dumps(geom_json))
    except Exception as exc:  # shapely raises GEOSException with the parser's reason
        raise ValidationError(f"{code}: geometry cannot be read ({exc})", field=f"{where}.geometry") from None
    parent = props.get("parent_code")
    expected_parent = parent_code(code)
    if level == "district":
        expected_parent = str(parent) if parent else expected_parent
    if parent is not None and str(parent) != expected_parent:
        raise ValidationError(f"{code}: parent_code {parent} does not match the code (expected {expected_parent})",
                              field=f"{where}.properties.parent_code")
    extra = {k: v for k, v in props.items() if k not in ("code", "level", "name", "name_zh", "name_en", "parent_code")}
    return Division(code, level, expected_parent, name_zh, str(name_en), geom, extra)


def geometry_problems(d: Division) -> list[Problem]:
    g = d.geometry
    if g.is_empty:
        return [Problem(d.code, "geometry is empty")]
    if not g.is_valid:
        return [Problem(d.code, f"geometry is invalid: {shapely.is_valid_reason(g)}")]
    minx, miny, maxx, maxy = g.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return [Problem(d.code, "coordinates outside WGS84 range (lon -180..180, lat -90..90)")]
    return []


def tiling_problems(parent: Division, children: list[Division]) -> list[Problem]:
    """Children must lie inside their parent, not overlap each other, and (when the
    set of children is complete) leave no gap inside the parent."""
    problems: list[Problem] = []
    tol = AREA_TOLERANCE * max(parent.geometry.area, 1e-12)
    geoms = [c.geometry for c in children]
    prepared = parent.geometry
    shapely.prepare(prepared)
    for c in children:
        outside = c.geometry.difference(parent.geometry).area
        if outside > tol:
            problems.append(Problem(c.code, f"lies partly outside its parent {parent.code}"))
    if len(children) > 1:
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i < j:
                area = geoms[i].intersection(geoms[j]).area
                if area > tol:
                    problems.append(Problem(children[i].code, f"overlaps {children[j].code}"))
    if not problems:
        covered = shapely.union_all(geoms).area if geoms else 0.0
        gap = parent.geometry.area - covered
        if gap > tol * 10:
            problems.append(Problem(parent.code, f"its children leave a gap of {gap / parent.geometry.area:.4%} of its area"))
    return problems


def check_tree(incoming: list[Division], existing: dict[str, Division]) -> list[Problem]:
    """All the reasons an import would break the tree; empty means it may be written."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for d in incoming:
        if d.code in seen:
            problems.append(Problem(d.code, "appears more than once in the file"))
        seen[d.code] = 1
        problems.extend(geometry_problems(d))
    if problems:
        return problems
    merged = dict(existing)
    merged.update({d.code: d for d in incoming})
    cities = [d for d in merged.values() if d.level == "city"]
    if len(cities) > 1:
        problems.append(Problem(cities[1].code, f"a second city; this platform serves {cities[0].code}"))
    city_code = cities[0].code if cities else None
    incoming_codes = {d.code for d in incoming}
    children: dict[str, list[Division]] = {}
    for d in merged.values():
        if d.level == "city":
            continue
        p = city_code if d.level == "district" else d.parent_code
        if d.level == "district" and city_code and d.code[:2] != city_code[:2]:
            problems.append(Problem(d.code, f"district code is not in the city's province {city_code[:2]}"))
        if p is None or p not in merged:
            if d.code in incoming_codes:
                problems.append(Problem(d.code, f"parent {p} is neither in the file nor in the database"))
            continue
        children.setdefault(p, []).append(d)
    touched = {d.parent_code if d.level != "district" else city_code for d in incoming} | incoming_codes
    for p, kids in children.items():
        if p in touched:
            problems.extend(tiling_problems(merged[p], kids))
    return problems
