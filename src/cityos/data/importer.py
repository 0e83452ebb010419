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
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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

CHUNK = 100_000
BLOCK_BYTES = 1 << 24  # Arrow's CSV read unit
REBUILD_INDEXES_FROM = 100_000  # staged rows from which a merge may rebuild secondary indexes
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


class _Unfit(Exception):
    """The file is not plain enough for the columnar path (it is then read row by row)."""


def _csv_header(path: Path) -> list[str] | None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        return None  # the row-by-row path reports where
    if not header or "\n" in "".join(header) or "\r" in "".join(header):
        return None
    return [h.strip() for h in header]


def read_batches(path: Path, header: list[str], skip: int, chunk: int) -> Iterator[tuple[int, Any]]:
    """(row number of the batch's first row, an Arrow batch of string columns), `chunk` rows at a time.

    Arrow's multithreaded CSV reader; any row it cannot read as Python's csv module
    would (a wrong number of values, invalid UTF-8, ...) raises _Unfit.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def invalid(row: Any) -> str:
        return "error"  # stop: row numbers after it would be unknown

    try:  # Arrow reads the first block when opening
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=header, skip_rows=1, block_size=BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                            invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))
        n = 0  # rows read so far
        for batch in reader:
            for off in range(0, batch.num_rows, chunk):
                part = batch.slice(off, chunk)
                first = n + 1
                n += part.num_rows
                if n <= skip:
                    continue
                if first <= skip:
                    part = part.slice(skip - first + 1)
                    first = skip + 1
                yield first, part
    except pa.ArrowInvalid as exc:
        raise _Unfit(str(exc)) from None


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
    spec = spec_for(dataset)
    path = Path(path_str)
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", field="file")
    if reject_limit < 0:
        raise ValidationError("must be 0 or more", field="reject_limit")
    t0 = time.perf_counter()
    digest = file_hash(path)
    hashed = time.perf_counter() - t0
    now = p.clock.now()
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
    job = _Import(p, actor, spec, path, digest, import_id, reject_path, grids, reject_limit, progress, chunk)
    job.accepted, job.rejected, job.last = accepted, rejected, skip
    job.phases["sha256"] = round(hashed, 2)
    return job.run(skip)


class _Import:
    """One import's state: counters, the reject file, and the staging and merge steps."""

    def __init__(self, p: Platform, actor: Actor, spec: DatasetSpec, path: Path, digest: str, import_id: int,
                 reject_path: Path, grids: set[str], reject_limit: int,
                 progress: Callable[[int, int | None], None] | None, chunk: int) -> None:
        self.p, self.actor, self.spec, self.path, self.digest = p, actor, spec, path, digest
        self.import_id, self.reject_path, self.grids, self.reject_limit = import_id, reject_path, grids, reject_limit
        self.progress, self.chunk = progress, chunk
        self.stage = _stage_name(import_id)
        self.cols = [*spec.field_names, "_row"]
        self.today = p.clock.now().date()
        self.accepted = self.rejected = self.last = 0
        self.rejects: Any = None
        self.phases: dict[str, float] = {}  # seconds per step, for the benchmark and the log

    def _timed(self, phase: str, t0: float) -> None:
        self.phases[phase] = round(self.phases.get(phase, 0.0) + time.perf_counter() - t0, 2)

    def _status(self, conn: Connection, **values: Any) -> None:
        conn.execute(update(s.data_imports).where(s.data_imports.c.id == self.import_id).values(**values))

    def reject(self, n: int, field: str, reason: str, raw: Any) -> bool:
        """Write a reject; True when past the limit."""
        self.rejected += 1
        self.rejects.writerow([n, field, reason, json.dumps(raw, ensure_ascii=False, default=str)[:2000]])
        return self.rejected > self.reject_limit

    def fail(self, message: str, status: str = "rolled_back") -> dict[str, Any]:
        with self.p.db.begin() as conn:
            _drop_stage(conn, self.stage)
            self._status(conn, status=status, error=message, finished_at=self.p.clock.now(), accepted=self.accepted,
                         rejected=self.rejected)
        self.rejects_file.flush()
        return _result(self.p, self.import_id)

    def run(self, skip: int) -> dict[str, Any]:
        from cityos.data import columnar  # numpy and Arrow: loaded only for imports

        new_file = not self.reject_path.exists() or skip == 0
        header = _csv_header(self.path) if self.path.suffix.lower() == ".csv" and columnar.supports(self.spec) else None
        with self.reject_path.open("w" if new_file else "a", encoding="utf-8", newline="") as rf:
            self.rejects_file = rf
            self.rejects = csv.writer(rf)
            if new_file:
                self.rejects.writerow(["row", "field", "reason", "data"])
            if self.progress:
                self.progress(skip, None)
            try:
                if header is not None:
                    _check_columns(header, set(self.spec.field_names), {f.name for f in self.spec.fields if f.required})
                    try:
                        stopped = self._load_columnar(header, skip)
                    except _Unfit:
                        # Not plain enough for Arrow's reader: start over row by row (nothing is merged yet).
                        with self.p.db.begin() as conn:
                            conn.execute(text(f'DELETE FROM "{self.stage}"'))
                            self._status(conn, rows_done=0, accepted=0, rejected=0)
                        rf.seek(0)
                        rf.truncate()
                        self.rejects.writerow(["row", "field", "reason", "data"])
                        if self.progress:
                            self.progress(-self.accepted, None)
                        self.accepted = self.rejected = self.last = 0
                        stopped = self._load_rows(0)
                else:
                    stopped = self._load_rows(skip)
                if stopped is not None:
                    return stopped
            except UnicodeDecodeError as exc:
                return self.fail(f"the file is not UTF-8 (byte {exc.start}): save it as UTF-8 and import again")
            except ValidationError as exc:
                self.fail(str(exc), status="failed")
                raise
            except BaseException:
                # Interrupted (Ctrl-C, a crash): staged chunks and the offset stay for `resume`.
                with self.p.db.begin() as conn:
                    self._status(conn, status="interrupted")
                raise
            return self._finish()

    def _commit_chunk(self, write: Callable[[Connection], None], staged: int,
                      counts: tuple[int, int, int] | None = None) -> None:
        """Stage one chunk and its resume point in one transaction (counts: rows_done, accepted, rejected)."""
        t0 = time.perf_counter()
        done, accepted, rejected = counts or (self.last, self.accepted, self.rejected)
        with self.p.db.begin() as conn:
            write(conn)
            self._status(conn, rows_done=done, accepted=accepted, rejected=rejected)
        self._timed("stage", t0)
        if counts is None:
            self._after_chunk(staged)

    def _after_chunk(self, staged: int) -> None:
        self.rejects_file.flush()
        if self.progress:
            self.progress(staged, None)

    def _load_rows(self, skip: int) -> dict[str, Any] | None:
        """Row by row: any format, any dataset."""
        from cityos.data import bulk

        batch: list[tuple[Any, ...]] = []
        names = self.spec.field_names

        def flush() -> None:
            self._commit_chunk(lambda conn: bulk.insert_rows(conn, _Stage(self.stage), self.cols, batch),  # type: ignore[arg-type]
                               len(batch))
            batch.clear()

        for n, raw in read_rows(self.path, self.spec, skip):
            self.last = n
            try:
                if isinstance(raw, str):
                    raise RowError("row", raw)
                row = validate_row(self.spec, raw, self.today, self.grids)
            except RowError as exc:
                if self.reject(n, exc.field, exc.reason, raw):
                    return self.fail(f"more than {self.reject_limit} rejected rows (row {n}); nothing was imported; "
                                     f"see {self.reject_path}")
                continue
            self.accepted += 1
            batch.append((*(row[c] for c in names), n))
            if len(batch) >= self.chunk:
                flush()
        flush()
        return None

    def _load_columnar(self, header: list[str], skip: int) -> dict[str, Any] | None:
        """CSV through Arrow: whole columns checked at once, the few doubtful rows by `validate_row`."""
        import numpy as np
        import pyarrow as pa

        from cityos.data import bulk, columnar

        names = self.spec.field_names
        grids = pa.array(sorted(g for g in self.grids if len(g) == 15 and g.isdigit()), pa.string())
        # One thread stages chunk k (COPY: mostly the server's work, or SQLite's) while this
        # one reads and checks chunk k+1: the two cores both work.
        pending: tuple[Future[None], int] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-stage") as pool:
            t0 = time.perf_counter()
            for first, batch in read_batches(self.path, header, skip, self.chunk):
                self._timed("read", t0)
                t0 = time.perf_counter()
                ok, clean = columnar.validate_batch(self.spec, batch, self.today, grids)
                good = pa.table({**{c: clean[c] for c in names},
                                 "_row": pa.array(np.arange(first, first + batch.num_rows, dtype=np.int64))}).filter(ok)
                extra: list[tuple[Any, ...]] = []
                for i in np.flatnonzero(~ok).tolist():
                    n = first + i
                    raw = {h: batch.column(h)[i].as_py() for h in header}
                    try:
                        row = validate_row(self.spec, raw, self.today, self.grids)
                    except RowError as exc:
                        if self.reject(n, exc.field, exc.reason, raw):
                            if pending:
                                pending[0].result()
                            return self.fail(f"more than {self.reject_limit} rejected rows (row {n}); nothing was "
                                             f"imported; see {self.reject_path}")
                        continue
                    extra.append((*(row[c] for c in names), n))
                self.accepted += good.num_rows + len(extra)
                self.last = first + batch.num_rows - 1
                self._timed("validate", t0)
                t0 = time.perf_counter()
                if pending:
                    pending[0].result()
                    self._after_chunk(pending[1])
                self._timed("wait for staging", t0)

                def write(conn: Connection, good: Any = good, extra: list[tuple[Any, ...]] = extra) -> None:
                    bulk.insert_arrow(conn, self.stage, good)
                    bulk.insert_rows(conn, _Stage(self.stage), self.cols, extra)  # type: ignore[arg-type]

                staged = good.num_rows + len(extra)
                pending = (pool.submit(self._commit_chunk, write, staged, (self.last, self.accepted, self.rejected)),
                           staged)
                t0 = time.perf_counter()
            if pending:
                pending[0].result()
                self._after_chunk(pending[1])
        return None

    def _finish(self) -> dict[str, Any]:
        """Reject keys repeated in the file (at their later rows), then merge in one transaction.

        On PostgreSQL the merge is tried first: its primary key (or ON CONFLICT's "cannot
        affect row a second time") finds repeated keys for free, and only then are they
        looked for, reported and removed, and the merge run again.
        """
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        if self.p.db.is_postgres:
            t0 = time.perf_counter()
            try:
                with self.p.db.begin() as conn:
                    _tune(conn)
                    self._merge_and_close(conn)
                self._timed("merge", t0)
                return {**_result(self.p, self.import_id), "phases_s": self.phases}
            except (IntegrityError, ProgrammingError) as exc:
                if getattr(exc.orig, "sqlstate", None) not in ("23505", "21000"):
                    raise
                self._timed("merge (repeated keys found)", t0)
        key, stage = self.spec.key, self.stage
        t0 = time.perf_counter()
        with self.p.db.begin() as conn:
            _tune(conn)
            if not self.p.db.is_postgres:
                conn.execute(text(f'CREATE INDEX IF NOT EXISTS "ix_{stage}" ON "{stage}" ("{key}")'))
            dups = conn.execute(text(
                f'SELECT a._row, a."{key}", m.first FROM "{stage}" a JOIN (SELECT "{key}" AS k, min(_row) AS first '
                f'FROM "{stage}" GROUP BY "{key}" HAVING count(*) > 1) m ON a."{key}" = m.k '
                'WHERE a._row > m.first ORDER BY a._row')).all()
        self._timed("duplicates", t0)
        for row_no, k, first in dups:
            self.rejected += 1
            self.accepted -= 1
            self.rejects.writerow([row_no, key, f"duplicate key {k}: already on row {first}", ""])
        self.rejects_file.flush()
        if self.rejected > self.reject_limit:
            return self.fail(f"more than {self.reject_limit} rejected rows; nothing was imported; see {self.reject_path}")
        t0 = time.perf_counter()
        with self.p.db.begin() as conn:
            _tune(conn)
            if dups:
                conn.execute(text(f'DELETE FROM "{stage}" WHERE _row IN ({",".join(str(int(d[0])) for d in dups)})'))
            self._merge_and_close(conn)
        self._timed("merge", t0)
        return {**_result(self.p, self.import_id), "phases_s": self.phases}

    def _merge_and_close(self, conn: Connection) -> None:
        _merge(conn, self.spec, self.stage, self.accepted)
        _drop_stage(conn, self.stage)
        now = self.p.clock.now()
        self._status(conn, status="done", finished_at=now, accepted=self.accepted, rejected=self.rejected,
                     rows_done=self.last)
        audit.record(conn, self.actor, "data.import", "dataset", self.spec.name, now,
                     details={"file": self.path.name, "sha256": self.digest, "accepted": self.accepted,
                              "rejected": self.rejected})


def _tune(conn: Connection) -> None:
    """Memory for the big sorts of a merge (this transaction only on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
    else:
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB of page cache for this connection


def _merge(conn: Connection, spec: DatasetSpec, stage: str, staged: int) -> None:
    """Upsert the staged rows. The staged keys must be distinct: on PostgreSQL a repeated one
    raises (unique violation, or ON CONFLICT's cardinality error); SQLite would let the later
    row win, so its caller removes repeats first.

    Into an empty table it is a plain INSERT (no per-row conflict check). When the import is
    at least as big as the table, its secondary indexes are dropped and built again after
    the insert (one sort instead of millions of scattered index inserts), inside the same
    transaction, so a failure still leaves the table as it was.
    """
    cols = ", ".join(f'"{c}"' for c in spec.field_names)
    key = spec.key
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in spec.field_names if c != key)
    table = s.DATASTORE_TABLES[spec.table]
    have = int(conn.execute(text(f'SELECT count(*) FROM (SELECT 1 FROM "{spec.table}" LIMIT {max(int(staged), 1)}) x')
                            ).scalar_one())
    rebuild = sorted(table.indexes, key=lambda ix: str(ix.name)) if staged >= REBUILD_INDEXES_FROM and have < staged \
        else []
    if conn.dialect.name == "postgresql":
        # Writers wait for the merge; readers go on (unless indexes are rebuilt).
        conn.execute(text(f'LOCK TABLE "{spec.table}" IN SHARE ROW EXCLUSIVE MODE'))
    for ix in rebuild:
        ix.drop(conn)
    # "WHERE true": SQLite's parser needs it to tell ON CONFLICT from a join constraint.
    conflict = "" if have == 0 else f' ON CONFLICT ("{key}") DO UPDATE SET {sets}'
    conn.execute(text(f'INSERT INTO "{spec.table}" ({cols}) SELECT {cols} FROM "{stage}" WHERE true{conflict}'))
    for ix in rebuild:
        ix.create(conn)
    if rebuild and conn.dialect.name == "postgresql":
        conn.execute(text(f'ANALYZE "{spec.table}"'))  # the planner's statistics, after the table changed wholesale


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
