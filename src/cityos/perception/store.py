"""Perception tables and queries: devices, risk points, readings (partitioned by
month on PostgreSQL), rollups, latest values, dead letters, rules, rule state, alarms."""

from __future__ import annotations

from collections.abc import Iterable
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

    if seen:
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


def ensure_partitions(conn: Connection, months: Iterable[datetime]) -> None:
    """PostgreSQL: create the monthly partitions these instants fall into (idempotent)."""
    if conn.dialect.name != "postgresql":
        return
    for m in sorted({month_start(t) for t in months}):
        name = partition_name(m)
        exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
        if exists is None:
            # Serialise creation across processes; IF NOT EXISTS covers the one that lost the race.
            conn.execute(text("SELECT pg_advisory_xact_lock(7311101)"))
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}"))
            conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF perception_readings "
                f"FOR VALUES FROM ('{m.isoformat()}') TO ('{next_month(m).isoformat()}')"))


def partitions(conn: Connection) -> list[str]:
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(text(
        "SELECT n.nspname || '.' || c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'perception_readings' ORDER BY 1"))
    return [str(r[0]) for r in rows]


def insert_readings(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert readings, skipping ones already stored (redelivery); returns the rows that were new."""
    if not rows:
        return []
    ensure_partitions(conn, [r["ts"] for r in rows])
    if conn.dialect.name == "postgresql":
        # Arrays through unnest(): one short statement whatever the batch size (fast to send and parse).
        res = conn.execute(text(
            "INSERT INTO perception_readings (device_code, key, ts, value) "
            "SELECT * FROM unnest(CAST(:d AS varchar[]), CAST(:k AS varchar[]), CAST(:t AS timestamptz[]), "
            "CAST(:v AS float8[])) ON CONFLICT DO NOTHING RETURNING device_code, key, ts, value"),
            {"d": [r["device_code"] for r in rows], "k": [r["key"] for r in rows], "t": [r["ts"] for r in rows],
             "v": [r["value"] for r in rows]})
        return [dict(r) for r in res.mappings()]
    # executemany with RETURNING: one compiled statement, sent in multi-row batches (insertmanyvalues)
    stmt = _upsert(conn, readings).on_conflict_do_nothing().returning(
        readings.c.device_code, readings.c.key, readings.c.ts, readings.c.value)
    return [dict(r) for r in conn.execute(stmt, rows).mappings()]


BUCKETS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


def bucket_start(t: datetime, bucket: str) -> datetime:
    t = t.astimezone(UTC)
    if bucket == "1m":
        return t.replace(second=0, microsecond=0)
    if bucket == "1h":
        return t.replace(minute=0, second=0, microsecond=0)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def update_rollups(conn: Connection, new: list[dict[str, Any]]) -> None:
    """Fold new readings into the 1 min / 1 h / 1 day rollups (min/max/sum/count/last)."""
    agg: dict[tuple[str, str, str, datetime], dict[str, Any]] = {}
    for r in new:
        for b in BUCKETS:
            k = (r["device_code"], r["key"], b, bucket_start(r["ts"], b))
            a = agg.get(k)
            v = r["value"]
            if a is None:
                agg[k] = {"device_code": k[0], "key": k[1], "bucket": b, "start": k[3], "min": v, "max": v,
                          "sum": v, "count": 1, "last": v, "last_ts": r["ts"]}
            else:
                a["min"], a["max"], a["sum"], a["count"] = min(a["min"], v), max(a["max"], v), a["sum"] + v, a["count"] + 1
                if r["ts"] >= a["last_ts"]:
                    a["last"], a["last_ts"] = v, r["ts"]
    if not agg:
        return
    pg = conn.dialect.name == "postgresql"
    rows = sorted(agg.values(), key=lambda a: (a["device_code"], a["key"], a["bucket"], a["start"]))
    if pg:
        cols = ("device_code", "key", "bucket", "start", "min", "max", "sum", "count", "last", "last_ts")
        types = ("varchar", "varchar", "varchar", "timestamptz", "float8", "float8", "float8", "int", "float8",
                 "timestamptz")
        conn.execute(text(
            'INSERT INTO perception_rollups (device_code, key, bucket, start, min, max, sum, count, "last", last_ts) '
            "SELECT * FROM unnest(" + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(cols, types, strict=True)) + ") "
            "ON CONFLICT (device_code, key, bucket, start) DO UPDATE SET "
            "min = LEAST(perception_rollups.min, EXCLUDED.min), max = GREATEST(perception_rollups.max, EXCLUDED.max), "
            "sum = perception_rollups.sum + EXCLUDED.sum, count = perception_rollups.count + EXCLUDED.count, "
            '"last" = CASE WHEN EXCLUDED.last_ts >= perception_rollups.last_ts THEN EXCLUDED."last" '
            'ELSE perception_rollups."last" END, '
            "last_ts = GREATEST(perception_rollups.last_ts, EXCLUDED.last_ts)"),
            {c: [r[c] for r in rows] for c in cols})
        return
    least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
    stmt = _upsert(conn, rollups)
    ex = stmt.excluded
    from sqlalchemy import case

    newer = ex.last_ts >= rollups.c.last_ts
    stmt = stmt.on_conflict_do_update(
        index_elements=["device_code", "key", "bucket", "start"],
        set_={"min": least(rollups.c.min, ex.min), "max": greatest(rollups.c.max, ex.max),
              "sum": rollups.c.sum + ex.sum, "count": rollups.c.count + ex.count,
              "last": case((newer, ex["last"]), else_=rollups.c["last"]),
              "last_ts": case((newer, ex.last_ts), else_=rollups.c.last_ts)})
    # RETURNING makes SQLAlchemy send multi-row batches instead of one statement per row
    conn.execute(stmt.returning(rollups.c.count), rows).all()


def update_latest(conn: Connection, new: list[dict[str, Any]]) -> None:
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in new:
        k = (r["device_code"], r["key"])
        if k not in last or r["ts"] >= last[k]["ts"]:
            last[k] = r
    if not last:
        return
    if conn.dialect.name == "postgresql":
        vals = sorted(last.values(), key=lambda r: (r["device_code"], r["key"]))
        conn.execute(text(
            "INSERT INTO perception_latest (device_code, key, ts, value) "
            "SELECT * FROM unnest(CAST(:d AS varchar[]), CAST(:k AS varchar[]), CAST(:t AS timestamptz[]), "
            "CAST(:v AS float8[])) ON CONFLICT (device_code, key) DO UPDATE SET "
            "ts = EXCLUDED.ts, value = EXCLUDED.value WHERE EXCLUDED.ts >= perception_latest.ts"),
            {"d": [r["device_code"] for r in vals], "k": [r["key"] for r in vals], "t": [r["ts"] for r in vals],
             "v": [r["value"] for r in vals]})
        return
    stmt = _upsert(conn, latest)
    newer = stmt.excluded.ts >= latest.c.ts
    from sqlalchemy import case

    stmt = stmt.on_conflict_do_update(index_elements=["device_code", "key"], set_={
        "ts": case((newer, stmt.excluded.ts), else_=latest.c.ts),
        "value": case((newer, stmt.excluded.value), else_=latest.c.value)})
    conn.execute(stmt.returning(latest.c.ts), sorted(last.values(), key=lambda r: (r["device_code"], r["key"]))).all()


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
    stmt = _upsert(conn, rule_states)
    stmt = stmt.on_conflict_do_update(index_elements=["rule_id", "device_code"],
                                      set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at})
    conn.execute(stmt.returning(rule_states.c.rule_id), [{"rule_id": k[0], "device_code": k[1], "state": v, "updated_at": now}
                                                         for k, v in sorted(states.items())]).all()


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
