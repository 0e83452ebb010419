"""Use cases of the division tree: import (checked whole, written whole) and export."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityos.core.errors import ValidationError
from cityos.core.outbox import emit
from cityos.geo import store
from cityos.geo.model import Division, check_tree, division_from_feature

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

MAX_REPORTED_PROBLEMS = 50


@dataclass(frozen=True)
class ImportDivisions:
    collection: Any  # a parsed GeoJSON FeatureCollection
    source: str = "api"


def parse_geojson_file(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", field="file") from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path} is not UTF-8 text (byte {exc.start})", field="file") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              field="file") from None


def features_to_divisions(collection: Any) -> list[Division]:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValidationError("must be a GeoJSON FeatureCollection", field="type")
    feats = collection.get("features")
    if not isinstance(feats, list) or not feats:
        raise ValidationError("must be a non-empty list of Features", field="features")
    return [division_from_feature(f, i) for i, f in enumerate(feats)]


def import_divisions(platform: Platform, cmd: ImportDivisions,
                     progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Check the whole file against the tree in the database; write all of it or nothing."""
    incoming = features_to_divisions(cmd.collection)
    codes = {d.code for d in incoming}
    parents = {d.parent_code for d in incoming if d.parent_code}
    with platform.db.begin() as conn:
        # The neighbourhood that the checks need: parents, siblings and existing children.
        related = codes | parents
        existing_rows = store.get_many(conn, sorted(related))
        for p in sorted(related):
            existing_rows.extend(_children_rows(conn, p))
        existing = {r["code"]: store.row_to_division(r) for r in existing_rows}
        if any(d.level == "district" for d in incoming):
            existing.update({d.code: d for d in store.load_all(conn, levels=["city", "district"])})
        problems = check_tree(incoming, existing)
        if problems:
            shown = problems[:MAX_REPORTED_PROBLEMS]
            more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
            raise ValidationError(
                f"{len(problems)} problem(s), nothing written: " + "; ".join(map(str, shown)) + more,
                field="features",
                details=[{"code": p.code, "reason": p.reason} for p in shown],
            )
        now = platform.clock.now()
        n = store.upsert(conn, incoming, now)
        emit(conn, "geo.divisions_imported", {"count": n, "source": cmd.source}, now)
    platform.geo.invalidate()
    if progress:
        progress(n)
    by_level: dict[str, int] = {}
    for d in incoming:
        by_level[d.level] = by_level.get(d.level, 0) + 1
    return by_level


def _children_rows(conn: Any, code: str) -> list[dict[str, Any]]:
    kids = store.children(conn, code)
    return store.get_many(conn, [k["code"] for k in kids])


def export_divisions(platform: Platform, levels: list[str] | None = None) -> dict[str, Any]:
    with platform.db.read() as conn:
        q_levels = levels or None
        features = []
        from sqlalchemy import select

        q = select(store.divisions).order_by(store.divisions.c.code)
        if q_levels:
            q = q.where(store.divisions.c.level.in_(q_levels))
        for r in conn.execute(q).mappings():
            features.append(store.feature(dict(r)))
    return {"type": "FeatureCollection", "features": features}


def _wire(platform: Platform) -> None:
    platform.bus.register(ImportDivisions, lambda cmd: import_divisions(platform, cmd))


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
