"""Perception tables and queries: devices, risk points, readings (partitioned by
month on PostgreSQL), rollups, latest values, dead letters, rules, rule state, alarms."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from cityos.core.db import JSONType, UTCDateTime, metadata, upsert_insert
from cityos.core.store import BigId
from cityos.identity.model import Scope
from cityos.identity.store import in_scope

devices = Table(
    "perception_devices",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("owner_unit", String(40)),
    Column("risk_point", String(64), index=True),
    Column("status", String(16), nullable=False),
    Column("secret_hash", String(64), unique=True),
    Column("last_seen", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

risk_points = Table(
    "perception_risk_points",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(30), nullable=False),  # landslide | rockfall | debris_flow | subsidence
    Column("polygon", JSONType, nullable=False),  # GeoJSON Polygon
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("households", Integer, nullable=False, default=0),
    Column("people", Integer, nullable=False, default=0),
    Column("monitor", String(80)),  # 群测群防监测员
    Column("evacuation_route", Text),
    Column("shelter", String(200)),
    Column("creep_mm_per_h", Float, nullable=False, default=0.05),  # constant-velocity rate for the tangent angle
    Column("level", String(8), nullable=False, default="none"),
    Column("indicators", JSONType, nullable=False),
    Column("level_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# Raw readings: one row per device, key and instant. Partitioned by month on PostgreSQL.
readings = Table(
    "perception_readings",
    metadata,
    Column("device_code", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("ts", UTCDateTime, primary_key=True),
    Column("value", Float, nullable=False),
    postgresql_partition_by="RANGE (ts)",
)

rollups = Table(
    "perception_rollups",
    metadata,
    Column("device_code", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("bucket", String(2), primary_key=True),  # 1m | 1h | 1d
    Column("start", UTCDateTime, primary_key=True),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("last", Float, nullable=False),
    Column("last_ts", UTCDateTime, nullable=False),
)

latest = Table(
    "perception_latest",
    metadata,
    Column("device_code", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("value", Float, nullable=False),
)

dead_letters = Table(
    "perception_dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("source", String(10), nullable=False),  # mqtt | http
    Column("topic", String(300)),
    Column("device_code", String(64)),
    Column("reason", String(40), nullable=False),
    Column("message", Text, nullable=False),
    Column("payload", Text, nullable=False),
)

rules = Table(
    "perception_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("device_type", String(40), index=True),
    Column("device_code", String(64), index=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(64)),
    Column("op", String(2), nullable=False),
    Column("limit", Float, nullable=False),
    Column("clear", Float),
    Column("duration_s", Integer, nullable=False, default=0),
    Column("count", Integer, nullable=False, default=1),
    Column("severity", String(16), nullable=False),
    Column("alarm_type", String(60), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

rule_states = Table(
    "perception_rule_states",
    metadata,
    Column("rule_id", BigInteger, primary_key=True),
    Column("device_code", String(64), primary_key=True),
    Column("state", JSONType, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

alarms = Table(
    "perception_alarms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_code", String(64), index=True),
    Column("risk_point", String(64), index=True),
    Column("alarm_type", String(60), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    # "<device or risk point>|<type>" while active, NULL once cleared: one active alarm per device and type.
    Column("active_key", String(140), unique=True),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("rule_id", BigInteger),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("acked_at", UTCDateTime),
    Column("acked_by", String(80)),
    Column("cleared_at", UTCDateTime),
    Column("cleared_by", String(80)),
    Column("details", JSONType, nullable=False),
    Index("ix_perception_alarms_grid_status", "grid_code", "status"),
)


def _upsert(conn: Connection, table: Table) -> Any:
    return upsert_insert(conn, table)


# --- devices ------------------------------------------------------------------------

def device(conn: Connection, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(devices).where(devices.c.code == code)).mappings().first()
    return dict(r) if r else None


def devices_by_codes(conn: Connection, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    codes = list(set(codes))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(codes), 500):
        for r in conn.execute(select(devices).where(devices.c.code.in_(codes[i:i + 500]))).mappings():
            out[r["code"]] = dict(r)
    return out


def insert_device(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(devices).values(**values))


def update_device(conn: Connection, code: str, values: dict[str, Any]) -> None:
    conn.execute(update(devices).where(devices.c.code == code).values(**values))


def list_devices(conn: Connection, scope: Scope, *, type_: str | None, grid: str | None, risk_point: str | None,
                 status: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    conds = [in_scope(devices.c.grid_code, scope)]
    if type_:
        conds.append(devices.c.type == type_)
    if grid:
        conds.append(devices.c.grid_code.startswith(grid))
    if risk_point:
        conds.append(devices.c.risk_point == risk_point)
    if status:
        conds.append(devices.c.status == status)
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(devices).where(where)).scalar_one()
    rows = conn.execute(select(devices).where(where).order_by(devices.c.code).limit(limit).offset(offset)).mappings()
    return [dict(r) for r in rows], int(total)


def touch_devices(conn: Connection, seen: dict[str, datetime]) -> None:
    from sqlalchemy import bindparam, case

    if not seen:
        return
    if conn.dialect.name == "postgresql":
        items = sorted(seen.items())
        conn.execute(text(
            "UPDATE perception_devices d SET last_seen = s.ts FROM unnest(CAST(:c AS varchar[]), "
            "CAST(:t AS timestamptz[])) AS s(code, ts) "
            "WHERE d.code = s.code AND (d.last_seen IS NULL OR d.last_seen < s.ts)"),
            {"c": [c for c, _ in items], "t": [t for _, t in items]})
        return
    conn.execute(
        update(devices).where(devices.c.code == bindparam("b_code")).values(
            last_seen=case((devices.c.last_seen.is_(None), bindparam("b_ts")),
                           (devices.c.last_seen < bindparam("b_ts"), bindparam("b_ts")),
                           else_=devices.c.last_seen)),
        [{"b_code": c, "b_ts": t} for c, t in seen.items()],
    )


# --- risk points ----------------------------------------------------------------------

def risk_point(conn: Connection, code: str) -> dict[str, Any] | None:
    r = conn.execute(select(risk_points).where(risk_points.c.code == code)).mappings().first()
    return dict(r) if r else None


def insert_risk_point(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(risk_points).values(**values))


def list_risk_points(conn: Connection, scope: Scope, level: str | None, limit: int,
                     offset: int) -> tuple[list[dict[str, Any]], int]:
    conds = [in_scope(risk_points.c.grid_code, scope)]
    if level:
        conds.append(risk_points.c.level == level)
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(risk_points).where(where)).scalar_one()
    rows = conn.execute(select(risk_points).where(where).order_by(risk_points.c.code).limit(limit).offset(offset))
    return [dict(r) for r in rows.mappings()], int(total)


def set_risk_level(conn: Connection, code: str, level: str, indicators: dict[str, Any], now: datetime) -> None:
    conn.execute(update(risk_points).where(risk_points.c.code == code)
                 .values(level=level, indicators=indicators, level_at=now))


# --- readings ---------------------------------------------------------------------------

def month_start(t: datetime) -> datetime:
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def next_month(t: datetime) -> datetime:
    return datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)


# Monthly partitions live in a schema of their own, so that they are not mistaken for
# tables missing from the models (schema comparison looks at the default schema).
PARTITION_SCHEMA = "perception_parts"


def partition_name(t: datetime) -> str:
    return f"{PARTITION_SCHEMA}.readings_{t.year:04d}_{t.month:02d}"


_known_parts: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def ensure_partitions(conn: Connection, months: Iterable[datetime]) -> None:
    """PostgreSQL: create the monthly partitions these instants fall into (idempotent).
    Partitions seen once are remembered per engine: no query per batch."""
    if conn.dialect.name != "postgresql":
        return
    known = _known_parts.setdefault(conn.engine, set())
    for y, mo in sorted({(t.year, t.month) for t in months}):
        m = datetime(y, mo, 1, tzinfo=UTC)
        name = partition_name(m)
        if name in known:
            continue
        exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
        if exists is None:
            # Serialise creation across processes; IF NOT EXISTS covers the one that lost the race.
            conn.execute(text("SELECT pg_advisory_xact_lock(7311101)"))
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}"))
            conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF perception_readings "
                f"FOR VALUES FROM ('{m.isoformat()}') TO ('{next_month(m).isoformat()}')"))
        else:
            known.add(name)  # only once committed for sure; a created one is checked again next time


def partitions(conn: Connection) -> list[str]:
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(text(
        "SELECT n.nspname || '.' || c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'perception_readings' ORDER BY 1"))
    return [str(r[0]) for r in rows]


Reading = tuple[str, str, datetime, float]  # (device_code, key, ts, value)

# Staging tables for COPY: PostgreSQL's COPY has no ON CONFLICT, so batches are copied
# (binary, one round trip) into session-local temp tables and moved with one INSERT ...
# SELECT. ON COMMIT DELETE ROWS empties them at every commit.
_STAGING = (
    "SET LOCAL client_min_messages = warning;"
    "CREATE TEMP TABLE IF NOT EXISTS perception_readings_in (device_code varchar(64), key varchar(64), "
    "ts timestamptz, value float8) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS perception_rollups_in (device_code varchar(64), key varchar(64), "
    "bucket varchar(2), start timestamptz, min float8, max float8, sum float8, count int, last float8, "
    "last_ts timestamptz) ON COMMIT DELETE ROWS"
)


def _pg_copy(conn: Connection, table: str, cols: tuple[str, ...], types: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    """Binary COPY into a table on the SQLAlchemy connection's own transaction."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(list(types))
            for r in rows:
                cp.write_row(r)


def insert_readings(conn: Connection, rows: list[Reading]) -> list[Reading]:
    """Insert readings, skipping ones already stored (redelivery); returns the rows that were new.

    The primary key (device, key, ts) makes a redelivered reading a no-op: exactly once."""
    if not rows:
        return []
    ensure_partitions(conn, {r[2] for r in rows})
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_STAGING)
        _pg_copy(conn, "perception_readings_in", ("device_code", "key", "ts", "value"),
                 ("varchar", "varchar", "timestamptz", "float8"), rows)
        raw = conn.connection.driver_connection
        with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
            # ORDER BY: concurrent consumers take index locks in the same order
            cur.execute("INSERT INTO perception_readings (device_code, key, ts, value) "
                        "SELECT device_code, key, ts, value FROM perception_readings_in "
                        "ORDER BY device_code, key, ts ON CONFLICT DO NOTHING RETURNING device_code, key, ts")
            got = cur.fetchall()
        if len(got) == len(rows):
            return rows
        fresh = {(d, k, t) for d, k, t in got}
        return [r for r in rows if (r[0], r[1], r[2]) in fresh]
    # executemany with RETURNING: one compiled statement, sent in multi-row batches (insertmanyvalues)
    stmt = _upsert(conn, readings).on_conflict_do_nothing().returning(
        readings.c.device_code, readings.c.key, readings.c.ts, readings.c.value)
    res = conn.execute(stmt, [{"device_code": d, "key": k, "ts": t, "value": v} for d, k, t, v in rows])
    return [(r[0], r[1], r[2], r[3]) for r in res]


BUCKETS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
_BUCKET_S = {"1m": 60, "1h": 3600, "1d": 86400}


def bucket_start(t: datetime, bucket: str) -> datetime:
    t = t.astimezone(UTC)
    if bucket == "1m":
        return t.replace(second=0, microsecond=0)
    if bucket == "1h":
        return t.replace(minute=0, second=0, microsecond=0)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


Rollup = tuple[str, str, str, datetime, float, float, float, int, float, datetime]


def rollup_rows(new: Iterable[Reading]) -> list[Rollup]:
    """Aggregate readings into 1 min / 1 h / 1 day rows (device, key, bucket, start, min, max,
    sum, count, last, last_ts), one per bucket: minutes first, then hours and days from the
    minutes, so each reading is touched once."""
    minute: dict[tuple[str, str, int], list[Any]] = {}
    for d, k, ts, v in new:
        mk = (d, k, int(ts.timestamp() // 60))
        a = minute.get(mk)
        if a is None:
            minute[mk] = [v, v, v, 1, v, ts]
            continue
        if v < a[0]:
            a[0] = v
        if v > a[1]:
            a[1] = v
        a[2] += v
        a[3] += 1
        if ts >= a[5]:
            a[4], a[5] = v, ts
    out: list[Rollup] = []
    starts: dict[int, datetime] = {}

    def start_of(sec: int) -> datetime:
        t = starts.get(sec)
        if t is None:
            t = starts[sec] = datetime.fromtimestamp(sec, UTC)
        return t

    for bucket, per in (("1h", 60), ("1d", 1440)):
        coarse: dict[tuple[str, str, int], list[Any]] = {}
        for (d, k, mi), a in minute.items():
            ck = (d, k, mi // per)
            c = coarse.get(ck)
            if c is None:
                coarse[ck] = list(a)
                continue
            c[0] = min(c[0], a[0])
            c[1] = max(c[1], a[1])
            c[2] += a[2]
            c[3] += a[3]
            if a[5] >= c[5]:
                c[4], c[5] = a[4], a[5]
        out.extend((d, k, bucket, start_of(ci * per * 60), *c) for (d, k, ci), c in coarse.items())
    out.extend((d, k, "1m", start_of(mi * 60), *a) for (d, k, mi), a in minute.items())
    out.sort(key=lambda r: (r[0], r[1], r[2], r[3]))  # one lock order for concurrent consumers
    return out


_ROLLUP_COLS = ("device_code", "key", "bucket", "start", "min", "max", "sum", "count", "last", "last_ts")


def update_rollups(conn: Connection, new: list[Reading]) -> None:
    """Fold new readings into the 1 min / 1 h / 1 day rollups (min/max/sum/count/last):
    aggregated here first, then one upsert row per (device, key, bucket, start)."""
    rows = rollup_rows(new)
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _pg_copy(conn, "perception_rollups_in", _ROLLUP_COLS, (
            "varchar", "varchar", "varchar", "timestamptz", "float8", "float8", "float8", "int4", "float8",
            "timestamptz"), rows)
        conn.exec_driver_sql(
            'INSERT INTO perception_rollups (device_code, key, bucket, start, min, max, sum, count, "last", last_ts) '
            'SELECT device_code, key, bucket, start, min, max, sum, count, "last", last_ts FROM perception_rollups_in '
            "ORDER BY device_code, key, bucket, start "
            "ON CONFLICT (device_code, key, bucket, start) DO UPDATE SET "
            "min = LEAST(perception_rollups.min, EXCLUDED.min), max = GREATEST(perception_rollups.max, EXCLUDED.max), "
            "sum = perception_rollups.sum + EXCLUDED.sum, count = perception_rollups.count + EXCLUDED.count, "
            '"last" = CASE WHEN EXCLUDED.last_ts >= perception_rollups.last_ts THEN EXCLUDED."last" '
            'ELSE perception_rollups."last" END, '
            "last_ts = GREATEST(perception_rollups.last_ts, EXCLUDED.last_ts)")
        return
    from sqlalchemy import case

    stmt = _upsert(conn, rollups)
    ex = stmt.excluded
    newer = ex.last_ts >= rollups.c.last_ts
    stmt = stmt.on_conflict_do_update(
        index_elements=["device_code", "key", "bucket", "start"],
        set_={"min": func.min(rollups.c.min, ex.min), "max": func.max(rollups.c.max, ex.max),
              "sum": rollups.c.sum + ex.sum, "count": rollups.c.count + ex.count,
              "last": case((newer, ex["last"]), else_=rollups.c["last"]),
              "last_ts": case((newer, ex.last_ts), else_=rollups.c.last_ts)})
    # RETURNING makes SQLAlchemy send multi-row batches instead of one statement per row
    conn.execute(stmt.returning(rollups.c.count), [dict(zip(_ROLLUP_COLS, r, strict=True)) for r in rows]).all()


def update_latest(conn: Connection, new: list[Reading]) -> None:
    last: dict[tuple[str, str], Reading] = {}
    for r in new:
        k = (r[0], r[1])
        cur = last.get(k)
        if cur is None or r[2] >= cur[2]:
            last[k] = r
    if not last:
        return
    vals = sorted(last.values(), key=lambda r: (r[0], r[1]))
    if conn.dialect.name == "postgresql":
        conn.execute(text(
            "INSERT INTO perception_latest (device_code, key, ts, value) "
            "SELECT * FROM unnest(CAST(:d AS varchar[]), CAST(:k AS varchar[]), CAST(:t AS timestamptz[]), "
            "CAST(:v AS float8[])) ON CONFLICT (device_code, key) DO UPDATE SET "
            "ts = EXCLUDED.ts, value = EXCLUDED.value WHERE EXCLUDED.ts >= perception_latest.ts"),
            {"d": [r[0] for r in vals], "k": [r[1] for r in vals], "t": [r[2] for r in vals],
             "v": [r[3] for r in vals]})
        return
    from sqlalchemy import case

    stmt = _upsert(conn, latest)
    newer = stmt.excluded.ts >= latest.c.ts
    stmt = stmt.on_conflict_do_update(index_elements=["device_code", "key"], set_={
        "ts": case((newer, stmt.excluded.ts), else_=latest.c.ts),
        "value": case((newer, stmt.excluded.value), else_=latest.c.value)})
    conn.execute(stmt.returning(latest.c.ts), [{"device_code": d, "key": k, "ts": t, "value": v}
                                               for d, k, t, v in vals]).all()


def device_kinds(conn: Connection) -> dict[str, tuple[str, str]]:
    """{device code: (type, status)} of every device (for bulk checks)."""
    return {str(c): (str(t), str(s)) for c, t, s in conn.execute(
        select(devices.c.code, devices.c.type, devices.c.status))}


def backfill_readings(conn: Connection, rows: Iterable[Reading], failed: Callable[[], bool],
                      progress: Callable[[str, int, int], None] | None = None) -> int:
    """Store historical readings (already checked) in the caller's transaction; returns how
    many were new. Rollups and latest values fold in the new readings only, so a re-run
    changes nothing. `failed()` is asked once the rows are read: when it says so,
    nothing more is done (the caller rolls back)."""
    if conn.dialect.name != "postgresql":
        inserted = 0
        chunk: list[Reading] = []
        it = iter(rows)
        while True:
            chunk = [r for _, r in zip(range(50_000), it, strict=False)]
            if not chunk:
                return inserted
            if failed():
                continue  # read on to report every bad row; nothing is kept
            ensure_partitions(conn, {r[2] for r in chunk})
            new = insert_readings(conn, list({(r[0], r[1], r[2]): r for r in chunk}.values()))
            update_rollups(conn, new)
            update_latest(conn, new)
            seen: dict[str, datetime] = {}
            for d, _k, t, _v in new:
                if d not in seen or t > seen[d]:
                    seen[d] = t
            touch_devices(conn, seen)
            inserted += len(new)
    conn.exec_driver_sql(
        "SET LOCAL TimeZone = 'UTC'; SET LOCAL client_min_messages = warning;"
        "CREATE TEMP TABLE perception_backfill_in (device_code varchar(64), key varchar(64), ts timestamptz, "
        "value float8) ON COMMIT DROP;"
        "CREATE TEMP TABLE perception_backfill_min (device_code varchar(64), key varchar(64), start timestamptz, "
        "min float8, max float8, sum float8, count bigint, last float8, last_ts timestamptz) ON COMMIT DROP")
    months: set[tuple[int, int]] = set()

    def staged() -> Iterator[Reading]:
        for r in rows:
            t = r[2]
            months.add((t.year, t.month))
            yield r

    _pg_copy(conn, "perception_backfill_in", ("device_code", "key", "ts", "value"),
             ("varchar", "varchar", "timestamptz", "float8"), staged())
    if failed():
        return 0
    if progress:
        progress("insert", 0, 0)
    ensure_partitions(conn, [datetime(y, mo, 1, tzinfo=UTC) for y, mo in months])
    # New readings only (ON CONFLICT DO NOTHING ... RETURNING), folded into minute aggregates on the way.
    conn.exec_driver_sql(
        "WITH ins AS (INSERT INTO perception_readings (device_code, key, ts, value) "
        "SELECT device_code, key, ts, value FROM perception_backfill_in ON CONFLICT DO NOTHING "
        "RETURNING device_code, key, ts, value) "
        "INSERT INTO perception_backfill_min SELECT device_code, key, date_trunc('minute', ts), min(value), "
        "max(value), sum(value), count(*), (array_agg(value ORDER BY ts DESC))[1], max(ts) FROM ins GROUP BY 1, 2, 3")
    inserted = int(conn.exec_driver_sql("SELECT coalesce(sum(count), 0) FROM perception_backfill_min").scalar_one())
    if not inserted:
        return 0
    if progress:
        progress("rollups", 0, 0)
    levels = " UNION ALL ".join(
        f"SELECT device_code, key, '{b}', date_trunc('{unit}', start), min(min), max(max), sum(sum), sum(count), "
        f"(array_agg(last ORDER BY last_ts DESC))[1], max(last_ts) FROM perception_backfill_min GROUP BY 1, 2, 4"
        for b, unit in (("1h", "hour"), ("1d", "day")))
    conn.exec_driver_sql(
        'INSERT INTO perception_rollups (device_code, key, bucket, start, min, max, sum, count, "last", last_ts) '
        "SELECT * FROM (SELECT device_code, key, '1m', start, min, max, sum, count, last, last_ts "
        f"FROM perception_backfill_min UNION ALL {levels}) AS r ORDER BY 1, 2, 3, 4 "
        "ON CONFLICT (device_code, key, bucket, start) DO UPDATE SET "
        "min = LEAST(perception_rollups.min, EXCLUDED.min), max = GREATEST(perception_rollups.max, EXCLUDED.max), "
        "sum = perception_rollups.sum + EXCLUDED.sum, count = perception_rollups.count + EXCLUDED.count, "
        '"last" = CASE WHEN EXCLUDED.last_ts >= perception_rollups.last_ts THEN EXCLUDED."last" '
        'ELSE perception_rollups."last" END, last_ts = GREATEST(perception_rollups.last_ts, EXCLUDED.last_ts)')
    conn.exec_driver_sql(
        "INSERT INTO perception_latest (device_code, key, ts, value) "
        "SELECT DISTINCT ON (device_code, key) device_code, key, last_ts, last FROM perception_backfill_min "
        "ORDER BY device_code, key, last_ts DESC "
        "ON CONFLICT (device_code, key) DO UPDATE SET ts = EXCLUDED.ts, value = EXCLUDED.value "
        "WHERE EXCLUDED.ts >= perception_latest.ts")
    conn.exec_driver_sql(
        "UPDATE perception_devices d SET last_seen = s.ts FROM (SELECT device_code, max(last_ts) AS ts "
        "FROM perception_backfill_min GROUP BY 1) AS s "
        "WHERE d.code = s.device_code AND (d.last_seen IS NULL OR d.last_seen < s.ts)")
    return inserted


def latest_of(conn: Connection, code: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(latest).where(latest.c.device_code == code).order_by(latest.c.key)).mappings()
    return [dict(r) for r in rows]


def range_of(conn: Connection, code: str, key: str, since: datetime, until: datetime,
             limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(readings.c.ts, readings.c.value).where(
        readings.c.device_code == code, readings.c.key == key, readings.c.ts >= since, readings.c.ts < until)
        .order_by(readings.c.ts).limit(limit)).mappings()
    return [dict(r) for r in rows]


def rollups_of(conn: Connection, code: str, key: str, bucket: str, since: datetime, until: datetime,
               limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(rollups).where(
        rollups.c.device_code == code, rollups.c.key == key, rollups.c.bucket == bucket,
        rollups.c.start >= since, rollups.c.start < until).order_by(rollups.c.start).limit(limit)).mappings()
    return [dict(r) for r in rows]


def sum_since(conn: Connection, codes: list[str], key: str, since: datetime) -> float:
    if not codes:
        return 0.0
    v = conn.execute(select(func.sum(readings.c.value)).where(
        readings.c.device_code.in_(codes), readings.c.key == key, readings.c.ts >= since)).scalar()
    return float(v or 0.0)


def series_since(conn: Connection, code: str, key: str, since: datetime) -> list[tuple[datetime, float]]:
    rows = conn.execute(select(readings.c.ts, readings.c.value).where(
        readings.c.device_code == code, readings.c.key == key, readings.c.ts >= since).order_by(readings.c.ts))
    return [(r[0], float(r[1])) for r in rows]


def apply_retention(conn: Connection, raw_before: datetime, minute_before: datetime) -> dict[str, int]:
    """Drop raw readings (whole monthly partitions on PostgreSQL) and 1-minute rollups past retention."""
    dropped = 0
    if conn.dialect.name == "postgresql":
        for name in partitions(conn):
            y, m = int(name[-7:-3]), int(name[-2:])
            if next_month(datetime(y, m, 1, tzinfo=UTC)) <= raw_before:
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
                _known_parts.get(conn.engine, set()).discard(name)
                dropped += 1
    else:
        dropped = conn.execute(delete(readings).where(readings.c.ts < raw_before)).rowcount or 0
    n = conn.execute(delete(rollups).where(rollups.c.bucket == "1m", rollups.c.start < minute_before)).rowcount
    return {"raw": int(dropped), "rollups_1m": int(n or 0)}


# --- dead letters -----------------------------------------------------------------------

def insert_dead_letters(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(dead_letters), rows)


def list_dead_letters(conn: Connection, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


# --- rules and their state ----------------------------------------------------------------

def insert_rule(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(rules).values(**values).returning(rules.c.id)).scalar_one())


def rule_by_id(conn: Connection, rule_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(rules).where(rules.c.id == rule_id)).mappings().first()
    return dict(r) if r else None


def rules_for(conn: Connection, types: Iterable[str], codes: Iterable[str]) -> list[dict[str, Any]]:
    from sqlalchemy import or_

    rows = conn.execute(select(rules).where(rules.c.enabled.is_(True), or_(
        rules.c.device_type.in_(list(set(types))), rules.c.device_code.in_(list(set(codes)))))
        .order_by(rules.c.id)).mappings()
    return [dict(r) for r in rows]


def all_rules(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(rules).order_by(rules.c.id)).mappings()]


def states_for(conn: Connection, pairs: Iterable[tuple[int, str]], lock: bool = False) -> dict[tuple[int, str], dict[str, Any]]:
    pairs = list(set(pairs))
    out: dict[tuple[int, str], dict[str, Any]] = {}
    if not pairs:
        return out
    if conn.dialect.name == "postgresql":
        pairs.sort()  # one lock order for concurrent consumers
        pq = text(
            "SELECT s.rule_id, s.device_code, s.state FROM perception_rule_states s "
            "JOIN unnest(CAST(:r AS bigint[]), CAST(:d AS varchar[])) AS u(r, d) ON s.rule_id = u.r AND s.device_code = u.d"
            + (" ORDER BY s.rule_id, s.device_code FOR UPDATE OF s" if lock else ""))
        for rid, code, st in conn.execute(pq, {"r": [p[0] for p in pairs], "d": [p[1] for p in pairs]}):
            out[(int(rid), code)] = dict(st)
        return out
    from sqlalchemy import tuple_

    for i in range(0, len(pairs), 500):
        q = select(rule_states).where(tuple_(rule_states.c.rule_id, rule_states.c.device_code).in_(pairs[i:i + 500]))
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        for r in conn.execute(q).mappings():
            out[(int(r["rule_id"]), r["device_code"])] = dict(r["state"])
    return out


def save_states(conn: Connection, states: dict[tuple[int, str], dict[str, Any]], now: datetime) -> None:
    if not states:
        return
    items = sorted(states.items())
    if conn.dialect.name == "postgresql":
        import json

        conn.execute(text(
            "INSERT INTO perception_rule_states (rule_id, device_code, state, updated_at) "
            "SELECT r, d, CAST(s AS jsonb), :now FROM unnest(CAST(:r AS bigint[]), CAST(:d AS varchar[]), "
            "CAST(:s AS text[])) AS u(r, d, s) "
            "ON CONFLICT (rule_id, device_code) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at"),
            {"r": [k[0] for k, _ in items], "d": [k[1] for k, _ in items],
             "s": [json.dumps(v, separators=(",", ":")) for _, v in items], "now": now})
        return
    stmt = _upsert(conn, rule_states)
    stmt = stmt.on_conflict_do_update(index_elements=["rule_id", "device_code"],
                                      set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at})
    conn.execute(stmt.returning(rule_states.c.rule_id), [{"rule_id": k[0], "device_code": k[1], "state": v,
                                                          "updated_at": now} for k, v in items]).all()


def states_of_rule(conn: Connection, rule_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute(select(rule_states.c.device_code, rule_states.c.state)
                        .where(rule_states.c.rule_id == rule_id)).all()
    return [(str(r[0]), dict(r[1])) for r in rows]


# --- alarms ---------------------------------------------------------------------------------

def active_alarm(conn: Connection, active_key: str) -> dict[str, Any] | None:
    r = conn.execute(select(alarms).where(alarms.c.active_key == active_key)).mappings().first()
    return dict(r) if r else None


def alarm(conn: Connection, alarm_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).mappings().first()
    return dict(r) if r else None


def insert_alarm(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(alarms).values(**values).returning(alarms.c.id)).scalar_one())


def update_alarm(conn: Connection, alarm_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(alarms).where(alarms.c.id == alarm_id).values(**values))


def list_alarms(conn: Connection, scope: Scope, *, status: str | None, device: str | None, active_only: bool,
                limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    conds = [in_scope(alarms.c.grid_code, scope)]
    if status:
        conds.append(alarms.c.status == status)
    if active_only:
        conds.append(alarms.c.status.in_(("ACTIVE_UNACK", "ACTIVE_ACK")))
    if device:
        conds.append(alarms.c.device_code == device)
    where = and_(*conds)
    total = conn.execute(select(func.count()).select_from(alarms).where(where)).scalar_one()
    rows = conn.execute(select(alarms).where(where).order_by(alarms.c.id.desc()).limit(limit).offset(offset))
    return [dict(r) for r in rows.mappings()], int(total)
