"""`cityos perception backfill FILE`: historical readings from a file, in one transaction.

Formats (chosen by the file's suffix, or --format):
* CSV with the header `device_code,key,ts,value`: one reading per row;
* JSON Lines: one object per line, `{"device_code": "...", "ts": ..., "values": {"key": number, ...}}`
  (the MQTT payload form with its device).
`ts` is epoch milliseconds or ISO 8601 with a zone (`2026-11-25T08:00:00Z`, `...+08:00`);
values are numbers (booleans count 1/0). Every row is checked as live ingest checks a
message (known, enabled device; a key of its type; a finite number; not older than the
raw retention nor more than 5 minutes ahead); bad rows are reported by line and field
(the first 20) and nothing is written. Readings already stored are skipped (the key
(device, key, ts)), so a re-run adds nothing; the rollups and latest values take in the
new readings only, so they stay equal to a rebuild from the raw readings. Rules are not
run over history (alarms are for now).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityos.core.errors import ValidationError
from cityos.perception import model as m
from cityos.perception import store
from cityos.perception.handlers import RAW_RETENTION

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

CSV_HEADER = ["device_code", "key", "ts", "value"]
MAX_ERRORS = 20
CHUNK = 50_000


@dataclass
class BackfillResult:
    rows: int = 0  # readings in the file
    inserted: int = 0  # new readings stored (the rest were already there)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class _Rows:
    """Parses and checks a file into (device_code, key, ts, value) tuples, collecting errors."""

    def __init__(self, p: Platform, kinds: dict[str, tuple[str, str]]) -> None:
        self.kinds = kinds  # device code -> (type, status)
        now = p.clock.now()
        self.latest = now + m.MAX_FUTURE
        self.oldest = now - RAW_RETENTION
        self.errors: list[str] = []
        self.n_errors = 0
        self._ts_cache: dict[str, datetime] = {}

    def error(self, line: int, fieldname: str, reason: str) -> None:
        self.n_errors += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"line {line}, field {fieldname}: {reason}")

    def ts(self, raw: Any, line: int) -> datetime | None:
        try:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int | float):
                t = datetime.fromtimestamp(raw / 1000, UTC)
            elif isinstance(raw, str) and raw.lstrip("-").isdigit():
                t = datetime.fromtimestamp(int(raw) / 1000, UTC)
            elif isinstance(raw, str):
                t = datetime.fromisoformat(raw)
                if t.tzinfo is None:
                    self.error(line, "ts", f"{raw!r} has no time zone; add Z or an offset such as +08:00")
                    return None
                t = t.astimezone(UTC)
            else:
                raise ValueError
        except (ValueError, OverflowError, OSError):
            self.error(line, "ts", f"{raw!r} is neither epoch milliseconds nor an ISO 8601 time")
            return None
        if t > self.latest:
            self.error(line, "ts", f"{t.isoformat()} is more than {m.MAX_FUTURE} ahead of now")
            return None
        if t < self.oldest:
            self.error(line, "ts", f"{t.isoformat()} is older than the raw retention ({RAW_RETENTION.days} days)")
            return None
        return t

    def device(self, code: Any, line: int) -> str | None:
        kind = self.kinds.get(code) if isinstance(code, str) else None
        if kind is None:
            self.error(line, "device_code", f"no device {code!r}")
            return None
        if kind[1] == "disabled":
            self.error(line, "device_code", f"device {code!r} is disabled")
            return None
        return kind[0]

    def key_ok(self, dtype: str, key: Any, line: int) -> bool:
        keys = m.DEVICE_TYPES[dtype].keys
        if key not in keys:
            self.error(line, "key", f"{dtype} has no telemetry key {key!r}; keys: {', '.join(keys)}")
            return False
        return True

    def value(self, raw: Any, line: int, fieldname: str = "value") -> float | None:
        if isinstance(raw, str):
            low = raw.strip().lower()
            if low in ("true", "false"):
                return 1.0 if low == "true" else 0.0
            try:
                v = float(raw)
            except ValueError:
                self.error(line, fieldname, f"{raw!r} is not a number")
                return None
        elif isinstance(raw, bool):
            return 1.0 if raw else 0.0
        elif isinstance(raw, int | float):
            v = float(raw)
        else:
            self.error(line, fieldname, f"must be a number or a boolean, not {type(raw).__name__}")
            return None
        if not math.isfinite(v):
            self.error(line, fieldname, "is not a finite number")
            return None
        return v

    def csv_rows(self, f: io.TextIOBase) -> Iterator[tuple[str, str, datetime, float]]:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != CSV_HEADER:
            self.error(1, "header", f"must be {','.join(CSV_HEADER)}, not {','.join(header or [])!r}")
            return
        line = 1
        for rec in reader:
            line += 1
            if len(rec) != 4:
                if rec:
                    self.error(line, "row", f"{len(rec)} fields; want 4 ({','.join(CSV_HEADER)})")
                continue
            code, key, ts_raw, v_raw = rec
            dtype = self.device(code, line)
            t = self.ts(ts_raw, line)
            v = self.value(v_raw, line)
            if dtype is None or t is None or v is None or not self.key_ok(dtype, key, line):
                continue
            yield code, key, t, v

    def jsonl_rows(self, f: io.TextIOBase) -> Iterator[tuple[str, str, datetime, float]]:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text, parse_constant=lambda c: float("nan"))
            except ValueError as exc:
                self.error(line, "json", f"not JSON: {exc}")
                continue
            if not isinstance(obj, dict) or set(obj) != {"device_code", "ts", "values"}:
                self.error(line, "json", 'must be {"device_code": ..., "ts": ..., "values": {...}}')
                continue
            code, values = obj["device_code"], obj["values"]
            dtype = self.device(code, line)
            t = self.ts(obj["ts"], line)
            if not isinstance(values, dict) or not values:
                self.error(line, "values", "must be a non-empty object of key: number")
                continue
            if dtype is None or t is None:
                continue
            for k, raw in values.items():
                v = self.value(raw, line, f"values.{k}")
                if v is not None and self.key_ok(dtype, k, line):
                    yield code, k, t, v


ProgressFn = Callable[[str, int, int], None]


def backfill(p: Platform, path: Path, fmt: str | None = None, progress: ProgressFn | None = None) -> BackfillResult:
    """Load the file in one transaction; raises ValidationError (naming line and field of
    the first bad rows) with nothing written when any row is bad."""
    fmt = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
    if fmt not in ("csv", "jsonl"):
        raise ValidationError("must be csv or jsonl", field="format")
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", field="file")
    t0 = time.perf_counter()
    size = path.stat().st_size
    res = BackfillResult()
    with p.db.read() as conn:
        kinds = store.device_kinds(conn)
    rows = _Rows(p, kinds)
    with p.db.begin() as conn, path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
        it = rows.csv_rows(f) if fmt == "csv" else rows.jsonl_rows(f)

        def counted() -> Iterator[tuple[str, str, datetime, float]]:
            last = time.monotonic()
            for r in it:
                res.rows += 1
                if progress and res.rows % 100_000 == 0 and time.monotonic() - last > 1:
                    last = time.monotonic()
                    progress("read", raw.tell(), size)
                yield r

        try:
            res.inserted = store.backfill_readings(conn, counted(), lambda: rows.n_errors > 0, progress)
        except UnicodeDecodeError as exc:
            rows.error(0, "file", f"not UTF-8: {exc}")
        if rows.n_errors:  # raising inside the transaction rolls it back: nothing is written
            more = f" (and {rows.n_errors - len(rows.errors)} more)" if rows.n_errors > len(rows.errors) else ""
            raise ValidationError(f"{rows.n_errors} bad row(s) in {path.name}; nothing was written{more}",
                                  field="file", details=rows.errors)
    res.seconds = time.perf_counter() - t0
    return res
