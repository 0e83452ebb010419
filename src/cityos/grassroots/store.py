"""Grassroots tables: staff, responsibility lists and their items, patrol tasks, grid ledgers."""

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
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId
from cityos.grassroots.model import Item, item_from

# Staff of the 1+3+N pattern at a grid (and sector leads at a township, heads at a village).
staff = Table(
    "gr_staff",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("node", String(15), nullable=False, index=True),  # grid, village or township code
    Column("post", String(24), nullable=False),  # a model.POSTS key
    Column("sector", String(12)),  # for sector leads
    Column("name", String(80), nullable=False),
    Column("phone", String(20)),
    Column("user_id", BigInteger, index=True),  # the account, where the person has one
    Column("on_duty", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_gr_staff_node_post", "node", "post"),
)

lists = Table(
    "gr_lists",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("owner", String(15), nullable=False),  # the city (template) or a township code
    Column("version", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # draft | review | published | archived
    Column("based_on", BigInteger),  # the template version a township list adopted
    Column("note", String(500)),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    UniqueConstraint("owner", "version", name="uq_gr_lists_owner_version"),
    Index("ix_gr_lists_owner_status", "owner", "status"),
)

items = Table(
    "gr_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("list_id", BigInteger, nullable=False),
    Column("key", String(40), nullable=False),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("sector", String(12), nullable=False),
    Column("level", String(12), nullable=False),
    Column("categories", JSONType, nullable=False),
    Column("role", String(24), nullable=False),
    Column("frequency", String(12), nullable=False),
    Column("legal_basis", String(500), nullable=False),
    Column("done_standard", String(500), nullable=False),
    UniqueConstraint("list_id", "key", name="uq_gr_items_list_key"),
)

tasks = Table(
    "gr_patrol_tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),
    Column("node", String(15), nullable=False),  # grid, village or township where the patrol is
    Column("level", String(12), nullable=False),
    Column("township", String(15), nullable=False),
    Column("item_key", String(40), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("list_id", BigInteger, nullable=False),
    Column("role", String(24), nullable=False),
    Column("staff_id", BigInteger),  # the responsible person, where the post is filled
    Column("status", String(8), nullable=False),  # open | done | late | missed
    Column("done_at", UTCDateTime),
    Column("done_by", String(80)),
    Column("lon", Float),
    Column("lat", Float),
    Column("distance_m", Float),
    Column("far", Boolean, nullable=False, default=False),
    Column("note", Text),
    Column("case_number", String(20)),
    UniqueConstraint("day", "node", "item_key", name="uq_gr_tasks_day_node_item"),
    Index("ix_gr_tasks_node_day", "node", "day"),
    Index("ix_gr_tasks_status_day", "status", "day"),
)

ledger = Table(
    "gr_ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("grid", String(15), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("label", String(200), nullable=False),
    Column("data", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(80), nullable=False),
    Index("ix_gr_ledger_grid_kind", "grid", "kind"),
)

ledger_history = Table(
    "gr_ledger_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("action", String(12), nullable=False),  # create | update | delete
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("before", JSONType),
    Column("after", JSONType),
)


# --- staff ----------------------------------------------------------------------------------

def add_staff(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(staff), rows)


def staff_at(conn: Connection, nodes: list[str]) -> list[dict[str, Any]]:
    rows = conn.execute(select(staff).where(staff.c.node.in_(nodes)).order_by(staff.c.node, staff.c.id)).mappings()
    return [dict(r) for r in rows]


def staff_in(conn: Connection, where: ColumnElement[bool], limit: int = 5000) -> list[dict[str, Any]]:
    rows = conn.execute(select(staff).where(where).order_by(staff.c.node, staff.c.id).limit(limit)).mappings()
    return [dict(r) for r in rows]


def holder(conn: Connection, node: str, post: str) -> dict[str, Any] | None:
    # No ORDER BY/LIMIT: SQLite would walk the primary key for it instead of using the (node, post) index.
    rows = conn.execute(select(staff).where(staff.c.node == node, staff.c.post == post,
                                            staff.c.on_duty.is_(True))).mappings().all()
    return dict(min(rows, key=lambda r: r["id"])) if rows else None


def staff_of_user(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(staff).where(staff.c.user_id == user_id)).mappings()]


def grids_with_post(conn: Connection, prefix: str, post: str) -> set[str]:
    q = select(staff.c.node).where(staff.c.post == post, staff.c.node.startswith(prefix), func.length(staff.c.node) == 15)
    return set(conn.execute(q).scalars())


def clear_staff(conn: Connection) -> None:
    conn.execute(delete(staff))


# --- lists ------------------------------------------------------------------------------------

def list_versions(conn: Connection, owner: str) -> list[dict[str, Any]]:
    q = (select(lists, select(func.count()).where(items.c.list_id == lists.c.id).scalar_subquery().label("items"))
         .where(lists.c.owner == owner).order_by(lists.c.version.desc()))
    return [dict(r) for r in conn.execute(q).mappings()]


def get_list(conn: Connection, list_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(lists).where(lists.c.id == list_id)).mappings().first()
    return dict(r) if r else None


def published(conn: Connection, owner: str) -> dict[str, Any] | None:
    r = conn.execute(select(lists).where(lists.c.owner == owner, lists.c.status == "published")).mappings().first()
    return dict(r) if r else None


def all_published(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(lists).where(lists.c.status == "published")).mappings()]


def new_list(conn: Connection, owner: str, based_on: int | None, note: str | None, by: str, now: datetime) -> tuple[int, int]:
    version = int(conn.execute(select(func.coalesce(func.max(lists.c.version), 0)).where(lists.c.owner == owner))
                  .scalar_one()) + 1
    lid = int(conn.execute(insert(lists).values(owner=owner, version=version, status="draft", based_on=based_on,
                                                note=note, created_by=by, created_at=now).returning(lists.c.id))
              .scalar_one())
    return lid, version


def set_status(conn: Connection, list_id: int, status: str, now: datetime) -> None:
    values: dict[str, Any] = {"status": status}
    if status == "published":
        values["published_at"] = now
    conn.execute(update(lists).where(lists.c.id == list_id).values(**values))


def archive_published(conn: Connection, owner: str) -> None:
    conn.execute(update(lists).where(lists.c.owner == owner, lists.c.status == "published").values(status="archived"))


def items_of(conn: Connection, list_id: int) -> list[Item]:
    rows = conn.execute(select(items).where(items.c.list_id == list_id).order_by(items.c.key)).mappings()
    return [item_from(dict(r)) for r in rows]


def items_of_many(conn: Connection, list_ids: list[int]) -> dict[int, list[Item]]:
    out: dict[int, list[Item]] = {i: [] for i in list_ids}
    if list_ids:
        for r in conn.execute(select(items).where(items.c.list_id.in_(list_ids)).order_by(items.c.key)).mappings():
            out[int(r["list_id"])].append(item_from(dict(r)))
    return out


def replace_items(conn: Connection, list_id: int, new: list[Item]) -> None:
    conn.execute(delete(items).where(items.c.list_id == list_id))
    if new:
        conn.execute(insert(items), [{**i.as_dict(), "list_id": list_id} for i in new])


# --- patrol tasks --------------------------------------------------------------------------------

def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert tasks, skipping those that exist (same day, node and item): generation is idempotent."""
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        # The driver's executemany on plain tuples: several times faster than Core for a city's day.
        cols = list(rows[0])
        sql = (f"INSERT INTO gr_patrol_tasks ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
               "ON CONFLICT (day, node, item_key) DO NOTHING")
        before = int(conn.exec_driver_sql("SELECT total_changes()").scalar_one())
        conn.exec_driver_sql(sql, [tuple(_raw(r[c]) for c in cols) for r in rows])
        return int(conn.exec_driver_sql("SELECT total_changes()").scalar_one()) - before
    ins = postgresql.insert(tasks)
    stmt = ins.on_conflict_do_nothing(index_elements=["day", "node", "item_key"]).returning(tasks.c.id)
    return len(conn.execute(stmt, rows).all())  # rowcount is not reliable for executemany on every driver


def _raw(v: Any) -> Any:
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def get_task(conn: Connection, task_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
    return dict(r) if r else None


def update_task(conn: Connection, task_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))


def list_tasks(conn: Connection, where: ColumnElement[bool], limit: int = 200) -> list[dict[str, Any]]:
    rows = conn.execute(select(tasks).where(where).order_by(tasks.c.day.desc(), tasks.c.node, tasks.c.item_key)
                        .limit(limit)).mappings()
    return [dict(r) for r in rows]


def mark_missed(conn: Connection, before: date) -> int:
    res = conn.execute(update(tasks).where(tasks.c.status == "open", tasks.c.day < before).values(status="missed"))
    return int(res.rowcount or 0)


def patrol_counts(conn: Connection, where: ColumnElement[bool], group: Any) -> list[tuple[str, str, int]]:
    q = select(group.label("g"), tasks.c.status, func.count()).where(where).group_by(group, tasks.c.status)
    return [(str(g), str(s), int(n)) for g, s, n in conn.execute(q).all()]


def task_filter(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(*conds)


# --- ledger ------------------------------------------------------------------------------------

def ledger_entries(conn: Connection, grid: str, kind: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    cond = and_(ledger.c.grid == grid, ledger.c.deleted.is_(False), *([ledger.c.kind == kind] if kind else []))
    total = int(conn.execute(select(func.count()).select_from(ledger).where(cond)).scalar_one())
    rows = conn.execute(select(ledger).where(cond).order_by(ledger.c.kind, ledger.c.id).limit(limit).offset(offset))
    return [dict(r) for r in rows.mappings()], total


def ledger_entry(conn: Connection, entry_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(ledger).where(ledger.c.id == entry_id)).mappings().first()
    return dict(r) if r else None


def insert_ledger(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(ledger).values(**values).returning(ledger.c.id)).scalar_one())


def update_ledger(conn: Connection, entry_id: int, version: int, values: dict[str, Any]) -> bool:
    res = conn.execute(update(ledger).where(ledger.c.id == entry_id, ledger.c.version == version).values(**values))
    return bool(res.rowcount)


def add_history(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(ledger_history).values(**values))


def history_of(conn: Connection, entry_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(ledger_history).where(ledger_history.c.entry_id == entry_id)
                        .order_by(ledger_history.c.version))
    return [dict(r) for r in rows.mappings()]


def ledger_counts(conn: Connection, grid: str) -> dict[str, int]:
    q = (select(ledger.c.kind, func.count()).where(ledger.c.grid == grid, ledger.c.deleted.is_(False))
         .group_by(ledger.c.kind))
    return {str(k): int(n) for k, n in conn.execute(q).all()}
