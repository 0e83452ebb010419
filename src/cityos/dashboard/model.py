"""Indicator series from CSV: every row checked first; a bad file names its bad rows."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from cityos.core.errors import ValidationError
from cityos.geo.model import level_of

COLUMNS = ("name", "unit", "source", "node", "period", "value")
PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")
MAX_ROWS = 100_000


def parse_series_csv(content: str) -> list[dict[str, Any]]:
    """Rows of `name,unit,source,node,period,value` (period 2026, 2026-Q3 or 2026-11)."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(f"missing columns: {', '.join(missing)} (need {', '.join(COLUMNS)})", field="file")
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for line, raw in enumerate(reader, start=2):
        if len(rows) + len(errors) >= MAX_ROWS:
            raise ValidationError(f"more than {MAX_ROWS} rows", field="file")
        r = {k: (raw.get(k) or "").strip() for k in COLUMNS}
        why = []
        if not r["name"] or len(r["name"]) > 120:
            why.append("name: 1 to 120 characters")
        if len(r["unit"]) > 40:
            why.append("unit: at most 40 characters")
        if len(r["source"]) > 200:
            why.append("source: at most 200 characters")
        try:
            level_of(r["node"])
        except ValidationError:
            why.append(f"node: {r['node']!r} is not a division code")
        if not PERIOD.match(r["period"]):
            why.append(f"period: {r['period']!r} is not like 2026, 2026-Q3 or 2026-11")
        try:
            value = float(r["value"])
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        except ValueError:
            why.append(f"value: {r['value']!r} is not a number")
            value = 0.0
        key = (r["name"], r["node"], r["period"])
        if not why and key in seen:
            why.append("duplicate of an earlier row (same name, node and period)")
        if why:
            errors.append(f"row {line}: " + "; ".join(why))
            continue
        seen.add(key)
        rows.append({**r, "value": value})
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ValidationError(f"{len(errors)} bad row(s), nothing imported: " + " | ".join(shown), field="file")
    if not rows:
        raise ValidationError("the CSV has no rows", field="file")
    return rows
