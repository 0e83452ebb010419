"""Case loop tables and queries: categories, calendar, cases, their events and
attachments, notifications, and the incremental indicator counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, insert_rows, metadata, signal, upsert_insert
from cityos.core.store import BigId
from cityos.governance.model import CATEGORY_COLUMNS, Category, Stats
from cityos.identity.model import Scope
from cityos.identity.store import in_scope

case_categories = Table(
    "case_categories",
    metadata,
    Column("code", String(5), primary_key=True),
    Column("kind", String(5), nullable=False),
    Column("class_code", String(2), nullable=False),
    Column("class_zh", String(80), nullable=False),
    Column("class_en", String(120), nullable=False),
    Column("name_zh", String(80), nullable=False),
    Column("name_en", String(120), nullable=False),
    Column("limit_value", Integer, nullable=False),
    Column("limit_type", String(16), nullable=False),
    Column("owner_level", String(10), nullable=False),
    Column("dept_city", String(40), nullable=False),
    Column("dept_district", String(40), nullable=False),
    Column("sector_township", String(40), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("filing_condition", Text, nullable=False),
    Column("closing_condition", Text, nullable=False),
    Column("attributes", JSONType, nullable=False),  # extra questions (Open311 attributes)
    Column("updated_at", UTCDateTime, nullable=False),
)

calendar_days = Table(
    "calendar_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("kind", String(8), nullable=False),  # holiday | makeup
    Column("name", String(80), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("source", String(12), nullable=False),  # public | grid | sensor | hotline | upper | staff
    Column("source_ref", String(60)),  # e.g. the 12345 work-order number
    Column("category_code", String(5), nullable=False),
    Column("kind", String(5), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("address", String(300)),
    Column("grid_code", String(15)),
    Column("village_code", String(12)),
    Column("township_code", String(9)),
    Column("district_code", String(6)),
    Column("node", String(15), nullable=False),  # the finest division the case lies in (scope key)
    Column("owner_level", String(10), nullable=False),
    Column("owner_node", String(15), nullable=False),
    Column("handler_unit", String(40)),
    Column("co_units", JSONType, nullable=False),
    Column("routing", JSONType, nullable=False),
    Column("state", String(12), nullable=False),
    Column("deadline", UTCDateTime),
    Column("deadline_version", Integer, nullable=False, default=0),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("overdue_at", UTCDateTime),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("emergency", Boolean, nullable=False, default=False),
    Column("public", Boolean, nullable=False, default=False),
    Column("reporter_name", String(80)),
    Column("reporter_phone", String(20)),
    Column("reporter_user", String(80)),
    Column("rework_count", Integer, nullable=False, default=0),
    Column("return_count", Integer, nullable=False, default=0),
    Column("master_id", BigInteger),
    Column("extension", JSONType),
    Column("satisfied", Boolean),
    Column("alarm_ref", String(60)),
    Column("reported_by", String(80)),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("dispatched_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Index("ix_cases_state_node", "state", "node"),
    Index("ix_cases_district_state", "district_code", "state"),
    Index("ix_cases_township_state", "township_code", "state"),
    Index("ix_cases_overdue_deadline", "overdue", "deadline"),
    Index("ix_cases_handler_state", "handler_unit", "state"),
    Index("ix_cases_category_created", "category_code", "created_at"),
    Index("ix_cases_created", "created_at"),
    Index("ix_cases_source_ref", "source", "source_ref"),
    Index("ix_cases_master", "master_id"),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, nullable=False, index=True),
    Column("action", String(24), nullable=False),
    Column("from_state", String(12)),
    Column("to_state", String(12), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("role", String(40)),
    Column("node", String(15)),
    Column("note", Text),
    Column("payload", JSONType, nullable=False),
    Column("counted", Boolean, nullable=False, default=False),  # applied to case_stats yet?
    Index("ix_case_events_uncounted", "counted", "id"),
)

case_attachments = Table(
    "case_attachments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, nullable=False, index=True),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(80), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", String(400), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("recipient_user", String(80), index=True),
    Column("recipient_unit", String(40), index=True),
    Column("kind", String(30), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("case_id", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime),
)

# Open cases counted per division node, kept in the same transaction as every case write that
# changes them (insert, state change, overdue flag), so the command screen reads a few hundred
# rows instead of aggregating the open cases. Every node on a case's division path has its own
# rows (district down to the case's node); the city has none (it is the sum of its districts,
# and one city-wide row would be a lock that every case write in the city waits for), except
# for cases whose node is the city itself. `parent` lets a screen read its children's rows.
OPEN_STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked")
COUNT_KEY = ("node", "cls", "state", "overdue", "emergency")
_COUNTS_CONFLICT = f"ON CONFLICT ({', '.join(COUNT_KEY)}) DO UPDATE SET n = case_counts.n + excluded.n"
case_counts = Table(
    "case_counts",
    metadata,
    Column("node", String(15), primary_key=True),
    Column("cls", String(3), primary_key=True),  # category class: the code's first three characters
    Column("state", String(12), primary_key=True),
    Column("overdue", Boolean, primary_key=True),
    Column("emergency", Boolean, primary_key=True),
    Column("parent", String(15), nullable=False),  # "" for the city
    Column("n", Integer, nullable=False),
    Index("ix_case_counts_parent", "parent"),
)

STAT_FIELDS = [f for f in Stats.__dataclass_fields__]
case_stats = Table(
    "case_stats",
    metadata,
    Column("period", String(7), primary_key=True),
    Column("node", String(40), primary_key=True),  # a division code or a unit code
    *[Column(f, Float if f == "handling_seconds" else Integer, nullable=False, default=0) for f in STAT_FIELDS],
)


# --- categories and calendar ----------------------------------------------------------------

def upsert_categories(conn: Connection, cats: list[Category], now: datetime) -> None:
    rows = [{**c.as_row(), "attributes": [], "updated_at": now} for c in cats]
    stmt = upsert_insert(conn, case_categories)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["code"], set_={c: stmt.excluded[c] for c in [*CATEGORY_COLUMNS[1:], "updated_at"]}), rows)


def load_categories(conn: Connection) -> list[Category]:
    rows = conn.execute(select(*[case_categories.c[c] for c in CATEGORY_COLUMNS]).order_by(case_categories.c.code)).all()
    return [Category(*r) for r in rows]


def category_attributes(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    return {r[0]: r[1] for r in conn.execute(select(case_categories.c.code, case_categories.c.attributes))}


def set_calendar(conn: Connection, days: list[tuple[date, str, str]]) -> None:
    conn.execute(calendar_days.delete())
    if days:
        conn.execute(insert(calendar_days), [{"day": d, "kind": k, "name": n} for d, k, n in days])


def load_calendar(conn: Connection) -> list[tuple[date, str]]:
    return [(r[0], r[1]) for r in conn.execute(select(calendar_days.c.day, calendar_days.c.kind))]


# --- cases ------------------------------------------------------------------------------------

def next_case_id(conn: Connection) -> int:
    """Take the next case id before inserting, so the readable number can carry it.

    PostgreSQL: the column's sequence (no lock held); SQLite: the writer holds the
    database's only write lock, so max+1 cannot be taken twice."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")).scalar_one())
    return int(conn.execute(select(func.coalesce(func.max(cases.c.id), 0) + 1)).scalar_one())


def next_case_ids(conn: Connection, n: int) -> list[int]:
    """`n` case ids taken at once (see `next_case_id`)."""
    if n == 1:
        return [next_case_id(conn)]
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, :n)"),
                            {"n": n})
        return sorted(int(r[0]) for r in rows)
    first = next_case_id(conn)
    return list(range(first, first + n))


def insert_case(conn: Connection, values: dict[str, Any]) -> int:
    # Values go as parameters, not baked into the statement: its compiled form is cached.
    case_id = int(conn.execute(insert(cases).returning(cases.c.id), values).scalar_one())
    count_cases(conn, [(None, values)])
    return case_id


def insert_cases(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Cases with their ids, all of one shape, in one statement (their open-case counters follow)."""
    if rows:
        insert_rows(conn, cases, rows)
        count_cases(conn, [(None, r) for r in rows])


def get_case(conn: Connection, case_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    q = select(cases).where(cases.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).mappings().first()
    return dict(r) if r else None


def update_case(conn: Connection, case: dict[str, Any], values: dict[str, Any]) -> None:
    """Write `values` to the case whose current row is `case` (its open-case counters follow)."""
    conn.execute(update(cases).where(cases.c.id == bindparam("case_id_")), {**values, "case_id_": case["id"]})
    count_cases(conn, [(case, {**case, **values})])


def add_event(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(case_events), {**values, "counted": False})


def add_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Several events at once (the sweeps)."""
    insert_many(conn, case_events, [{**r, "counted": False} for r in rows])


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows of one shape in one statement (see `core.db.insert_rows`)."""
    insert_rows(conn, table, rows)


def events_of(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)).mappings()
    return [dict(r) for r in rows]


def case_filter(scope: Scope, *, state: str | None = None, states: tuple[str, ...] | None = None,
                category: str | None = None, node: str | None = None, handler_unit: str | None = None,
                overdue: bool | None = None, source: str | None = None, q: str | None = None,
                emergency: bool | None = None) -> ColumnElement[bool]:
    conds: list[ColumnElement[bool]] = [in_scope(cases.c.node, scope)]
    if state:
        conds.append(cases.c.state == state)
    if states:
        conds.append(cases.c.state.in_(states))
    if category:
        conds.append(cases.c.category_code == category)
    if node:
        conds.append(cases.c.node.startswith(node))
    if handler_unit:
        conds.append(cases.c.handler_unit == handler_unit)
    if overdue is not None:
        conds.append(cases.c.overdue == overdue)
    if source:
        conds.append(cases.c.source == source)
    if emergency is not None:
        conds.append(cases.c.emergency == emergency)
    if q:
        like = f"%{q}%"
        conds.append((cases.c.title.like(like)) | (cases.c.description.like(like)) | (cases.c.number == q))
    return and_(*conds)


def list_cases(conn: Connection, where: ColumnElement[bool], limit: int, offset: int,
               order: str = "-created_at") -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(cases).where(where)).scalar_one()
    col = cases.c[order.lstrip("-")]
    rows = conn.execute(select(cases).where(where).order_by(col.desc() if order.startswith("-") else col, cases.c.id.desc())
                        .limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows], int(total)


def counts_by_state(conn: Connection, where: ColumnElement[bool]) -> dict[str, int]:
    rows = conn.execute(select(cases.c.state, func.count()).where(where).group_by(cases.c.state)).all()
    return {str(s): int(n) for s, n in rows}


def insert_attachment(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(case_attachments).values(**values).returning(case_attachments.c.id)).scalar_one())


def attachments_of(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(case_attachments).where(case_attachments.c.case_id == case_id)
                        .order_by(case_attachments.c.id)).mappings()
    return [dict(r) for r in rows]


def find_by_source_ref(conn: Connection, source: str, refs: list[str]) -> set[str]:
    if not refs:
        return set()
    rows = conn.execute(select(cases.c.source_ref).where(cases.c.source == source, cases.c.source_ref.in_(refs)))
    return {r[0] for r in rows}


# --- timers: overdue and escalation sweeps (set-based; safe with several workers) --------------

OVERDUE_TITLE = "案件超期 "  # + the case number
OVERDUE_BODY = "已超过处置时限，请尽快处置"
OVERDUE_STATES = ("dispatched", "signed", "handling")
SMS_PER_EVENT = 500  # SMS copies of overdue notices per outbox event (governance.channels.PER_EVENT)


def _overdue_writes(pg: bool, src: str) -> list[str]:
    """INSERT ... SELECT statements writing what flagging the cases of `src` (an SQL FROM item
    aliased c, with id, number, handler_unit, owner_node) brings: the `overdue` events, the
    handlers' inbox notices, and their SMS copies (governance.channels.route_to_channels) as one
    outbox event per SMS_PER_EVENT messages {recipient, kind, title, body, case_id}."""
    empty = "CAST('{}' AS JSONB)" if pg else "'{}'"
    obj, agg = ("jsonb_build_object", "jsonb_agg(m ORDER BY rn)") if pg else ("json_object", "json_group_array(json(m))")
    return [
        "INSERT INTO case_events (case_id, action, from_state, to_state, at, actor, role, node, note, payload, counted) "
        "SELECT c.id, 'overdue', NULL, 'overdue', :now, 'system', 'system', c.owner_node, 'deadline passed', "
        f"{empty}, false FROM {src} ORDER BY c.id",
        "INSERT INTO notifications (recipient_user, recipient_unit, kind, title, body, case_id, created_at) "
        "SELECT NULL, c.handler_unit, 'case.overdue', CAST(:title || c.number AS TEXT), CAST(:body AS TEXT), c.id, :now "
        f"FROM {src} AND c.handler_unit IS NOT NULL ORDER BY c.id",
        "INSERT INTO outbox (topic, payload, created_at, available_at, attempts) "
        f"SELECT 'notification.channel', {obj}('channel', 'sms', 'messages', {agg}), :now, :now, 0 FROM ("
        f"SELECT (rn - 1) / :per AS chunk, rn, {obj}('recipient', 'unit:' || handler_unit, 'kind', 'case.overdue', "
        "'title', CAST(:title || number AS TEXT), 'body', CAST(:body AS TEXT), 'case_id', id) AS m FROM ("
        "SELECT c.id, c.number, c.handler_unit, row_number() OVER (ORDER BY c.id) AS rn "
        f"FROM {src} AND c.handler_unit IS NOT NULL) AS f) AS g GROUP BY chunk ORDER BY chunk",
    ]


_OVERDUE_GROUPS = ("SELECT c.node, substr(c.category_code, 1, 3), c.state, c.emergency, count(*) FROM {src} "
                   "GROUP BY c.node, substr(c.category_code, 1, 3), c.state, c.emergency")


def flag_overdue(conn: Connection, now: datetime, limit: int = 50_000) -> int:
    """Flag open, dispatched cases whose deadline passed, set-based, with their events, inbox
    notices, SMS outbox events and open-case counters: no statement, Python object or JSON
    encoding per case. PostgreSQL: one statement (the UPDATE ... RETURNING feeds the inserts as
    data-modifying CTEs); SQLite: the UPDATE ... RETURNING id, then each insert selects the
    flagged rows by id. Returns how many were flagged now."""
    params: dict[str, Any] = {"now": now, "limit": limit, "title": OVERDUE_TITLE, "body": OVERDUE_BODY,
                              "per": SMS_PER_EVENT}
    ts = bindparam("now", type_=UTCDateTime)
    if conn.dialect.name == "postgresql":
        # ANY(ARRAY(...)): the due ids are looked up by primary key (`IN (subquery)` was planned as a
        # hash join over every not-overdue case). SKIP LOCKED: two sweeps at once flag disjoint cases.
        src = "flagged c WHERE true"
        writes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(_overdue_writes(True, src)))
        groups = conn.execute(text(
            "WITH flagged AS (UPDATE cases SET overdue = true, overdue_at = :now, updated_at = :now "
            "WHERE id = ANY(ARRAY(SELECT id FROM cases WHERE overdue = false AND deadline < :now "
            "AND state IN ('dispatched', 'signed', 'handling') LIMIT :limit FOR UPDATE SKIP LOCKED)) "
            "AND overdue = false RETURNING id, number, handler_unit, owner_node, node, category_code, state, emergency), "
            f"{writes} " + _OVERDUE_GROUPS.format(src=src)).bindparams(ts), params).all()
    else:
        due = select(cases.c.id).where(cases.c.overdue.is_(False), cases.c.deadline < now,
                                       cases.c.state.in_(OVERDUE_STATES)).limit(limit)
        ids = [int(r[0]) for r in conn.execute(
            update(cases).where(cases.c.id.in_(due.scalar_subquery()), cases.c.overdue.is_(False))
            .values(overdue=True, overdue_at=now, updated_at=now).returning(cases.c.id))]
        if not ids:
            return 0
        params["ids"] = "[" + ",".join(map(str, ids)) + "]"  # one parameter (a JSON array), not one per id
        src = "cases c WHERE c.id IN (SELECT value FROM json_each(:ids))"
        for sql in _overdue_writes(False, src):
            conn.execute(text(sql).bindparams(ts), params)
        groups = conn.execute(text(_OVERDUE_GROUPS.format(src=src)), params).all()
    # Counters: each flagged case leaves (…, overdue=false) for (…, overdue=true); one delta per group.
    deltas: dict[CountKey, int] = {}
    flagged = 0
    for node, cls, state, emergency, n in groups:
        flagged += int(n)
        if state in OPEN_STATES:
            deltas[(str(node), str(cls), str(state), False, bool(emergency))] = -int(n)
            deltas[(str(node), str(cls), str(state), True, bool(emergency))] = int(n)
    add_count_deltas(conn, deltas)
    if flagged:
        # The handlers' notices were written here, not through `notify`: wake the live inbox
        # streams on commit all the same (else they would wait for their slow poll).
        signal(conn, "notifications")
    return flagged


def _unindexed(conn: Connection, col: Any) -> Any:
    """`col` as a term SQLite cannot look up by index (unary +). Its planner would otherwise walk
    every open case through (state, node) instead of the few overdue ones through (overdue, deadline);
    PostgreSQL's statistics choose right on their own."""
    return literal_column(f"+{col.table.name}.{col.name}", col.type) if conn.dialect.name == "sqlite" else col


def due_for_escalation(conn: Connection, before: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    q = (select(cases.c.id, cases.c.escalation_level, cases.c.owner_level, cases.c.owner_node, cases.c.number,
                cases.c.grid_code, cases.c.township_code, cases.c.district_code, cases.c.overdue_at)
         .where(cases.c.overdue.is_(True), cases.c.overdue_at < before, cases.c.owner_level != "city",
                _unindexed(conn, cases.c.state).in_(OVERDUE_STATES))
         .order_by(cases.c.overdue_at).limit(limit))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def escalate(conn: Connection, case_id: int, from_level: int, values: dict[str, Any]) -> bool:
    """Move a case one level up, only if nobody did it already (exactly once)."""
    res = conn.execute(update(cases).where(cases.c.id == case_id, cases.c.escalation_level == from_level)
                       .values(escalation_level=from_level + 1, **values))
    return res.rowcount == 1


# --- notifications --------------------------------------------------------------------------------

def notify(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        insert_many(conn, notifications, rows)
        signal(conn, "notifications")  # the live inbox reads them as soon as this commits
        from cityos.governance.channels import route_to_channels  # overdue/supervision notices also go by SMS

        route_to_channels(conn, rows)


def inbox(conn: Connection, user: str, units: list[str], after_id: int, limit: int) -> list[dict[str, Any]]:
    cond = notifications.c.recipient_user == user
    if units:
        cond = cond | notifications.c.recipient_unit.in_(units)
    rows = conn.execute(select(notifications).where(cond, notifications.c.id > after_id)
                        .order_by(notifications.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


# --- open-case counters (the command screen's read model) --------------------------------------------

CountKey = tuple[str, str, str, bool, bool]  # node, class, state, overdue, emergency


def count_path(node: str) -> list[tuple[str, str]]:
    """(node, parent) of every counter row a case lying in `node` adds to."""
    if len(node) == 6 and node[2:] == "0000":
        return [(node, "")]
    city = node[:2] + "0000"
    return [(node[:n], node[:n - 3] if n > 6 else city) for n in (6, 9, 12, 15) if n <= len(node)]


def _count_key(case: dict[str, Any] | None) -> CountKey | None:
    if case is None or case["state"] not in OPEN_STATES:
        return None
    return (str(case["node"]), str(case["category_code"])[:3], str(case["state"]), bool(case["overdue"]),
            bool(case["emergency"]))


class _PendingCounts:
    """Counter deltas of one transaction, written in one statement just before its commit: the
    counter rows (shared with every other case write in the same district) stay locked only
    for the commit, and a case that is created and dispatched at once writes them once."""

    def __init__(self) -> None:
        self.deltas: dict[CountKey, int] = {}

    def __call__(self, conn: Connection) -> None:
        deltas, self.deltas = self.deltas, {}
        _write_counts(conn, deltas)


def _pending(conn: Connection) -> _PendingCounts | None:
    hooks = conn.info.get("before_commit")
    if hooks is None:
        return None
    found = next((h for h in hooks if isinstance(h, _PendingCounts)), None)
    if found is None:
        found = _PendingCounts()
        hooks.append(found)
    return found


def count_cases(conn: Connection, changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]) -> None:
    """Apply case changes (before, after; None: absent) to the open-case counters: at the end of
    the transaction when it came from `Database.begin`, else at once."""
    deltas: dict[CountKey, int] = {}
    for before, after in changes:
        old, new = _count_key(before), _count_key(after)
        if old == new:
            continue
        for key, d in ((old, -1), (new, 1)):
            if key is not None:
                deltas[key] = deltas.get(key, 0) + d
    add_count_deltas(conn, deltas)


def add_count_deltas(conn: Connection, deltas: dict[CountKey, int]) -> None:
    """Add counter deltas: at the end of the transaction when it came from `Database.begin`, else at once."""
    pending = _pending(conn)
    if pending is None:
        _write_counts(conn, deltas)
        return
    for k, d in deltas.items():
        pending.deltas[k] = pending.deltas.get(k, 0) + d


def _write_counts(conn: Connection, deltas: dict[CountKey, int]) -> None:
    rows: dict[CountKey, dict[str, Any]] = {}
    for (node, cls, state, od, em), d in deltas.items():
        if d == 0:
            continue
        for n, parent in count_path(node):
            k = (n, cls, state, od, em)
            r = rows.setdefault(k, {"node": n, "cls": cls, "state": state, "overdue": od, "emergency": em,
                                    "parent": parent, "n": 0})
            r["n"] += d
    rows = {k: r for k, r in rows.items() if r["n"]}
    if not rows:
        return
    # Sorted: concurrent writers take the rows' locks in the same order (no deadlock between them).
    ordered = [rows[k] for k in sorted(rows)]
    if conn.dialect.name == "postgresql":  # one statement for all rows (unnest keeps their order)
        insert_rows(conn, case_counts, ordered, on_conflict=_COUNTS_CONFLICT)
        return
    stmt = upsert_insert(conn, case_counts)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(COUNT_KEY), set_={"n": case_counts.c.n + stmt.excluded.n}),
                 ordered)


def discard_pending_counts(conn: Connection) -> None:
    """Forget this transaction's counter deltas (the counters are about to be recounted or cleared)."""
    pending = _pending(conn)
    if pending is not None:
        pending.deltas.clear()


def rebuild_case_counts(conn: Connection) -> int:
    """Recount the counters from the cases (set-based; for existing databases and bulk loads)."""
    if conn.dialect.name == "postgresql":  # case writes wait until the recount commits (none lost or doubled)
        conn.execute(text("LOCK TABLE cases IN SHARE MODE"))
    discard_pending_counts(conn)
    conn.execute(case_counts.delete())
    open_in = ", ".join(f"'{s}'" for s in OPEN_STATES)
    for n in (6, 9, 12, 15):
        parent = ("CASE WHEN substr(node, 3, 4) = '0000' THEN '' ELSE substr(node, 1, 2) || '0000' END" if n == 6
                  else f"substr(node, 1, {n - 3})")
        conn.execute(text(
            "INSERT INTO case_counts (node, cls, state, overdue, emergency, parent, n) "
            f"SELECT substr(node, 1, {n}), substr(category_code, 1, 3), state, overdue, emergency, {parent}, count(*) "
            f"FROM cases WHERE state IN ({open_in}) AND length(node) >= {n} "
            f"GROUP BY substr(node, 1, {n}), substr(category_code, 1, 3), state, overdue, emergency, {parent}"))
    return int(conn.execute(select(func.count()).select_from(case_counts)).scalar_one())


def counts_under(conn: Connection, node: str) -> list[dict[str, Any]]:
    """The counter rows of `node` itself and of its children."""
    c = case_counts.c
    rows = conn.execute(select(c.node, c.parent, c.cls, c.state, c.overdue, c.emergency, c.n)
                        .where((c.node == node) | (c.parent == node), c.n != 0)).mappings().all()
    return [dict(r) for r in rows]


# --- indicators -------------------------------------------------------------------------------------

def uncounted_events(conn: Connection, limit: int) -> list[dict[str, Any]]:
    q = select(case_events.c.id, case_events.c.action, case_events.c.at, case_events.c.payload).where(
        case_events.c.counted.is_(False)).order_by(case_events.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [dict(r) for r in conn.execute(q).mappings()]


def mark_counted(conn: Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(update(case_events).where(case_events.c.id.in_(ids)).values(counted=True))


def add_stats(conn: Connection, deltas: dict[tuple[str, str], dict[str, float]]) -> None:
    """Add counter deltas to (period, node) rows, creating them as needed."""
    if not deltas:
        return
    rows = []
    for (period, node), d in sorted(deltas.items()):
        rows.append({"period": period, "node": node, **{f: d.get(f, 0) for f in STAT_FIELDS}})
    stmt = upsert_insert(conn, case_stats)
    conn.execute(stmt.on_conflict_do_update(index_elements=["period", "node"],
                                            set_={f: case_stats.c[f] + stmt.excluded[f] for f in STAT_FIELDS}), rows)


def stats_for(conn: Connection, nodes: list[str], periods: list[str]) -> dict[str, Stats]:
    out = {n: Stats() for n in nodes}
    if not nodes:
        return out
    rows = conn.execute(select(case_stats.c.node, *[func.sum(case_stats.c[f]) for f in STAT_FIELDS])
                        .where(case_stats.c.node.in_(nodes), case_stats.c.period.in_(periods))
                        .group_by(case_stats.c.node)).all()
    for r in rows:
        values: dict[str, Any] = {f: (float(v or 0) if f == "handling_seconds" else int(v or 0))
                                  for f, v in zip(STAT_FIELDS, r[1:], strict=True)}
        out[r[0]] = Stats(**values)
    return out


# The notification doors' tables (webhooks, deliveries, channel sends) live in their own module.
from cityos.governance import notify_store as _notify_store  # noqa: E402, F401

# --- demo cases and operator pages (bulk writes, task lists, map points) ----------------------------

def clear_cases(conn: Connection) -> None:
    """Remove every case and what hangs on it (the demo seed replaces the demo data)."""
    discard_pending_counts(conn)
    for t in (case_counts, case_stats, notifications, case_attachments, case_events, cases):
        conn.execute(t.delete())


def bulk_insert_cases(conn: Connection, case_rows: list[dict[str, Any]], event_rows: list[dict[str, Any]]) -> None:
    """Insert cases (with their ids) and their events in batches (executemany)."""
    for table, rows in ((cases, case_rows), (case_events, event_rows)):
        if not rows:
            continue
        if conn.dialect.name != "sqlite":
            conn.execute(insert(table), rows)  # PostgreSQL: SQLAlchemy's batched multi-row VALUES
            continue
        # SQLite: the columns' own bind processors, then the driver's executemany (a third of the time).
        cols = list(rows[0])
        procs = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in cols]
        sql = f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) ' \
              f'VALUES ({", ".join("?" for _ in cols)})'
        data = [tuple(pr(r[c]) if pr else r[c] for c, pr in zip(cols, procs, strict=True)) for r in rows]
        conn.exec_driver_sql(sql, data)
    count_cases(conn, [(None, r) for r in case_rows])


def sync_case_ids(conn: Connection) -> None:
    """After inserting cases with explicit ids: move PostgreSQL's sequence past them."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                          "(SELECT coalesce(max(id), 0) + 1 FROM cases), false)"))


def task_filter(scope: Scope, units: list[str], unit_prefixes: list[str], grids: list[str],
                states: tuple[str, ...]) -> ColumnElement[bool]:
    """Cases in `states` held by one of my units (exact or by prefix) or lying in one of my grids."""
    from sqlalchemy import false, or_

    mine: list[ColumnElement[bool]] = []
    if units:
        mine.append(cases.c.handler_unit.in_(units))
    mine.extend(cases.c.handler_unit.startswith(pre) for pre in unit_prefixes)
    mine.extend(cases.c.node.startswith(g) for g in grids)
    return and_(in_scope(cases.c.node, scope), cases.c.state.in_(states), or_(*mine) if mine else false())


def case_points(conn: Connection, where: ColumnElement[bool], limit: int) -> list[dict[str, Any]]:
    """Located cases for the map: id, number, state, category, overdue, emergency, lon, lat."""
    rows = conn.execute(select(cases.c.id, cases.c.number, cases.c.state, cases.c.category_code, cases.c.title,
                               cases.c.overdue, cases.c.emergency, cases.c.escalation_level, cases.c.lon, cases.c.lat)
                        .where(where, cases.c.lon.is_not(None)).order_by(cases.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def attachment(conn: Connection, attachment_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(case_attachments).where(case_attachments.c.id == attachment_id)).mappings().first()
    return dict(r) if r else None
