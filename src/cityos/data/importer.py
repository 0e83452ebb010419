"""`cityos data import DATASET FILE`: CSV, JSON Lines or Parquet into a base database.

Rows are validated against the dataset's schema; bad rows go to a reject file (row
number, field, reason). Good rows are staged chunk by chunk in a staging table (COPY
on PostgreSQL), each chunk committed together with the import's row offset, so an
interrupted import resumes where it stopped (same file = same SHA-256). At the end the
staged rows are merged into the table in one transaction (upsert by key; a key that
occurs twice in the file is rejected at its later row). Past the reject limit the
import stops and the staged rows are dropped: the table is left as it was.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import desc, func, insert, select, text, update
from sqlalchemy.engine import Connection

from cityos.bootstrap import Platform
from cityos.core.errors import NotFound, ValidationError
from cityos.data import store as s
from cityos.data.model import BASE_DATASETS, DatasetSpec, RowError, validate_row
from cityos.geo import store as geo_store
from cityos.identity import audit
from cityos.identity.model import Actor

CHUNK = 50_000
ALIASES = {"legal-entities": "legal_entities", "e-licences": "licences", "social-credit": "credit",
           "residents": "population", "credit_records": "credit"}


def spec_for(name: str) -> DatasetSpec:
    spec = BASE_DATASETS.get(ALIASES.get(name, name))
    if spec is None:
        raise NotFound(f"no dataset {name!r}; import into one of {', '.join(BASE_DATASETS)}", field="dataset")
    return spec


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_rows(path: Path, spec: DatasetSpec, skip: int = 0) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number from 1, the row as a dict, or a string saying why it cannot be read)."""
    kind = path.suffix.lower()
    allowed = set(spec.field_names)
    required = {f.name for f in spec.fields if f.required}
    if kind == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ValidationError("the file is empty (no header row)", field="file")
            header = [h.strip() for h in header]
            _check_columns(header, allowed, required)
            for n, values in enumerate(reader, 1):
                if n <= skip:
                    continue
                if len(values) != len(header):
                    yield n, f"has {len(values)} values, the header has {len(header)}"
                    continue
                yield n, dict(zip(header, values, strict=True))
    elif kind in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if n <= skip or not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    yield n, f"is not JSON: {exc}"
                    continue
                if not isinstance(obj, dict):
                    yield n, "is not a JSON object"
                    continue
                extra = sorted(set(obj) - allowed)
                yield (n, f"unknown field {extra[0]!r}") if extra else (n, obj)
    elif kind == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        _check_columns(pf.schema_arrow.names, allowed, required)
        n = 0
        for batch in pf.iter_batches(batch_size=CHUNK):
            if n + batch.num_rows <= skip:
                n += batch.num_rows
                continue
            for row in batch.to_pylist():
                n += 1
                if n > skip:
                    yield n, row
    else:
        raise ValidationError(f"cannot read {kind or 'a file without extension'}; use .csv, .jsonl or .parquet",
                              field="file")


def _check_columns(header: list[str], allowed: set[str], required: set[str]) -> None:
    unknown = [h for h in header if h not in allowed]
    missing = sorted(required - set(header))
    dup = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or dup:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if dup:
            parts.append(f"repeated column(s) {', '.join(dup)}")
        raise ValidationError("wrong columns: " + "; ".join(parts) + f". Columns: {', '.join(sorted(allowed))}",
                              field="columns")


def _stage_name(import_id: int) -> str:
    return f"data_stage_{import_id}"


def _create_stage(conn: Connection, spec: DatasetSpec, name: str) -> None:
    cols = ", ".join(f'"{c}"' for c in spec.field_names)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f'CREATE UNLOGGED TABLE IF NOT EXISTS "{name}" AS SELECT {cols}, 0::bigint AS _row '
                          f'FROM "{spec.table}" WITH NO DATA'))
    else:
        conn.execute(text(f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT {cols}, 0 AS _row FROM "{spec.table}" '
                          "WHERE 0"))


def _drop_stage(conn: Connection, name: str) -> None:
    conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


class _Stage:
    """The staging table as a SQLAlchemy Table-like target for bulk.insert_rows."""

    def __init__(self, name: str) -> None:
        self.name = name


def run_import(p: Platform, actor: Actor, dataset: str, path_str: str, *, reject_limit: int = 1000,
               resume: bool = True, progress: Callable[[int, int | None], None] | None = None,
               chunk: int = CHUNK) -> dict[str, Any]:
    from cityos.data import bulk

    spec = spec_for(dataset)
    path = Path(path_str)
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", field="file")
    if reject_limit < 0:
        raise ValidationError("must be 0 or more", field="reject_limit")
    digest = file_hash(path)
    now = p.clock.now()
    today = now.date()
    t = s.data_imports
    with p.db.begin() as conn:
        prev = conn.execute(select(t).where(t.c.dataset == spec.name, t.c.file_hash == digest)
                            .order_by(desc(t.c.id)).limit(1)).mappings().first()
        if prev and resume and prev["status"] == "done":
            return {**dict(prev), "note": "this file was imported already; nothing to do"}
        if prev and resume and prev["status"] in ("running", "interrupted"):
            import_id, skip, accepted, rejected = prev["id"], prev["rows_done"], prev["accepted"], prev["rejected"]
            conn.execute(update(t).where(t.c.id == import_id).values(status="running"))
        else:
            import_id = int(conn.execute(insert(t).values(
                dataset=spec.name, file_name=str(path), file_hash=digest, status="running", rows_done=0, accepted=0,
                rejected=0, actor=actor.username, started_at=now)).inserted_primary_key[0])  # type: ignore[index]
            skip, accepted, rejected = 0, 0, 0
        reject_path = Path(p.settings.data_dir) / "imports" / f"{import_id}-{spec.name}-rejects.csv"
        conn.execute(update(t).where(t.c.id == import_id).values(reject_file=str(reject_path)))
        _create_stage(conn, spec, _stage_name(import_id))
        grids = set(conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid"))
                    .scalars())
    reject_path.parent.mkdir(parents=True, exist_ok=True)
    stage = _Stage(_stage_name(import_id))
    cols = [*spec.field_names, "_row"]
    if progress:
        progress(skip, None)
    new_file = not reject_path.exists() or skip == 0
    with reject_path.open("w" if new_file else "a", encoding="utf-8", newline="") as rf:
        rejects = csv.writer(rf)
        if new_file:
            rejects.writerow(["row", "field", "reason", "data"])

        def fail(message: str, status: str = "rolled_back") -> dict[str, Any]:
            with p.db.begin() as conn:
                _drop_stage(conn, stage.name)
                conn.execute(update(t).where(t.c.id == import_id).values(
                    status=status, error=message, finished_at=p.clock.now(), accepted=accepted, rejected=rejected))
            rf.flush()
            return _result(p, import_id)

        batch: list[tuple[Any, ...]] = []
        last = skip

        def flush() -> None:
            with p.db.begin() as conn:
                bulk.insert_rows(conn, stage, cols, batch)  # type: ignore[arg-type]
                conn.execute(update(t).where(t.c.id == import_id).values(rows_done=last, accepted=accepted,
                                                                          rejected=rejected))
            rf.flush()
            if progress:
                progress(len(batch), None)
            batch.clear()

        try:
            for n, raw in read_rows(path, spec, skip):
                last = n
                try:
                    if isinstance(raw, str):
                        raise RowError("row", raw)
                    row = validate_row(spec, raw, today, grids)
                except RowError as exc:
                    rejected += 1
                    rejects.writerow([n, exc.field, exc.reason, json.dumps(raw, ensure_ascii=False, default=str)[:2000]])
                    if rejected > reject_limit:
                        return fail(f"more than {reject_limit} rejected rows (row {n}); nothing was imported; "
                                    f"see {reject_path}")
                    continue
                accepted += 1
                batch.append((*(row[c] for c in spec.field_names), n))
                if len(batch) >= chunk:
                    flush()
            flush()
        except UnicodeDecodeError as exc:
            return fail(f"the file is not UTF-8 (byte {exc.start}): save it as UTF-8 and import again")
        except ValidationError as exc:
            fail(str(exc), status="failed")
            raise
        except BaseException:
            # Interrupted (Ctrl-C, a crash): staged chunks and the offset stay for `resume`.
            with p.db.begin() as conn:
                conn.execute(update(t).where(t.c.id == import_id).values(status="interrupted"))
            raise
        # Keys that occur twice in the file: the later rows are rejected.
        key = spec.key
        with p.db.begin() as conn:
            conn.execute(text(f'CREATE INDEX IF NOT EXISTS "ix_{stage.name}" ON "{stage.name}" ("{key}")'))
            dups = conn.execute(text(
                f'SELECT a._row, a."{key}", m.first FROM "{stage.name}" a JOIN (SELECT "{key}" AS k, min(_row) AS first '
                f'FROM "{stage.name}" GROUP BY "{key}" HAVING count(*) > 1) m ON a."{key}" = m.k '
                'WHERE a._row > m.first ORDER BY a._row')).all()
        for row_no, k, first in dups:
            rejected += 1
            accepted -= 1
            rejects.writerow([row_no, key, f"duplicate key {k}: already on row {first}", ""])
        rf.flush()
        if rejected > reject_limit:
            return fail(f"more than {reject_limit} rejected rows; nothing was imported; see {reject_path}")
        with p.db.begin() as conn:
            if dups:
                conn.execute(text(f'DELETE FROM "{stage.name}" WHERE _row IN ({",".join(str(int(d[0])) for d in dups)})'))
            _merge(conn, spec, stage.name)
            _drop_stage(conn, stage.name)
            conn.execute(update(t).where(t.c.id == import_id).values(
                status="done", finished_at=p.clock.now(), accepted=accepted, rejected=rejected, rows_done=last))
            audit.record(conn, actor, "data.import", "dataset", spec.name, p.clock.now(),
                         details={"file": path.name, "sha256": digest, "accepted": accepted, "rejected": rejected})
    return _result(p, import_id)


def _merge(conn: Connection, spec: DatasetSpec, stage: str) -> None:
    cols = ", ".join(f'"{c}"' for c in spec.field_names)
    key = spec.key
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in spec.field_names if c != key)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f'INSERT INTO "{spec.table}" ({cols}) SELECT {cols} FROM "{stage}" ORDER BY _row '
                          f'ON CONFLICT ("{key}") DO UPDATE SET {sets}'))
    else:
        conn.execute(text(f'INSERT INTO "{spec.table}" ({cols}) SELECT {cols} FROM "{stage}" WHERE true ORDER BY _row '
                          f'ON CONFLICT ("{key}") DO UPDATE SET {sets}'))


def _result(p: Platform, import_id: int) -> dict[str, Any]:
    with p.db.read() as conn:
        row = conn.execute(select(s.data_imports).where(s.data_imports.c.id == import_id)).mappings().one()
    return dict(row)


def recent(p: Platform, limit: int) -> list[dict[str, Any]]:
    t = s.data_imports
    with p.db.read() as conn:
        rows = conn.execute(select(t).order_by(desc(t.c.id)).limit(limit)).mappings().all()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]


def rejects_of(path: str, limit: int = 200) -> list[dict[str, str]]:
    """The first rows of a reject file (for the import page)."""
    f = Path(path)
    if not f.is_file():
        return []
    with f.open(encoding="utf-8", newline="") as fh:
        out = []
        for i, r in enumerate(csv.DictReader(fh)):
            if i >= limit:
                break
            out.append(dict(r))
    return out


def count_rows(conn: Connection, spec: DatasetSpec) -> int:
    return int(conn.execute(select(func.count()).select_from(s.DATASTORE_TABLES[spec.table])).scalar_one())
