"""Open311 request details that a case does not carry itself, and batch tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, and_, insert, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId
from cityos.governance.store import cases
from cityos.identity.store import org_units

open311_requests = Table(
    "open311_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, unique=True),  # empty while a batch request waits for its case
    Column("token", String(40), unique=True),
    Column("service_code", String(5), nullable=False),
    Column("attributes", JSONType, nullable=False),
    Column("email", String(200)),
    Column("first_name", String(80)),
    Column("last_name", String(80)),
    Column("device_id", String(200)),
    Column("account_id", String(200)),
    Column("media_url", Text),
    Column("address_id", String(60)),
    Column("jurisdiction_id", String(60)),
    Column("api_user", String(80), nullable=False),
    Column("pending", JSONType),  # the whole request, for batch services until the case is filed
    Column("created_at", UTCDateTime, nullable=False),
)

# GET requests filters public cases by time: an index for exactly that.
Index("ix_cases_source_created", cases.c.source, cases.c.created_at)
# ... and by status (a list of states), with or without service codes: one ordered range per
# (code, state) pair, see newest_ids.
Index("ix_cases_source_state_created", cases.c.source, cases.c.state, cases.c.created_at)
Index("ix_cases_source_category_state_created", cases.c.source, cases.c.category_code, cases.c.state,
      cases.c.created_at)


def insert_request(conn: Connection, values: dict[str, Any]) -> int:
    # Values as parameters, not baked into the statement: its compiled form is then cached
    # (building the statement anew per request was the largest extra cost of an Open311 POST).
    return int(conn.execute(insert(open311_requests).returning(open311_requests.c.id), values).scalar_one())


def by_token(conn: Connection, token: str) -> dict[str, Any] | None:
    r = conn.execute(select(open311_requests).where(open311_requests.c.token == token)).mappings().first()
    return dict(r) if r else None


def by_id(conn: Connection, rid: int) -> dict[str, Any] | None:
    r = conn.execute(select(open311_requests).where(open311_requests.c.id == rid)).mappings().first()
    return dict(r) if r else None


def set_case(conn: Connection, rid: int, case_id: int) -> None:
    conn.execute(update(open311_requests).where(open311_requests.c.id == rid).values(case_id=case_id, pending=None))


def requests(conn: Connection, where: ColumnElement[bool], limit: int) -> list[Any]:
    """Public cases joined with their Open311 details and the responsible unit's name."""
    c = cases.c
    # Only the columns a request shows: the JSON and the other datetime columns of a case cost
    # a decode per row, which at 1,000 rows was a third of the request.
    q = (select(c.id, c.number, c.category_code, c.description, c.handler_unit, c.state, c.created_at, c.updated_at,
                c.deadline, c.address, c.lat, c.lon, c.master_id, open311_requests.c.media_url,
                open311_requests.c.address_id, org_units.c.name_zh.label("unit_name"))
         .select_from(cases.outerjoin(open311_requests, open311_requests.c.case_id == cases.c.id)
                      .outerjoin(org_units, org_units.c.code == cases.c.handler_unit))
         .where(and_(cases.c.source == "public", where)).order_by(cases.c.created_at.desc()).limit(limit))
    return list(conn.execute(q).all())  # rows, read by attribute: no dict per row


# Past this many (code, state) ranges one ordered scan of the window is the cheaper plan.
MAX_RANGES = 60


def newest_ids(conn: Connection, window: ColumnElement[bool], codes: Sequence[str] | None,
               states: Sequence[str] | None, limit: int) -> list[int]:
    """Ids of the newest public cases in `window` with one of `states` (and `codes`), newest first.

    Planners answer "ORDER BY created_at DESC LIMIT n" with a backward scan of the time index
    and filter states and codes on the way; when the wanted ones are rare in the newest part of
    the window (open cases months ago, closed cases in the last weeks, a few service codes) that
    walks 70,000-180,000 cases. Here each (code, state) pair is its own ordered range of an index
    (at most `limit` entries each) and the newest of them win."""
    c = cases.c
    code_opts: list[str | None] = list(dict.fromkeys(codes)) if codes else [None]
    state_opts: list[str | None] = list(dict.fromkeys(states)) if states else [None]
    pairs = [(code, st) for code in code_opts for st in state_opts]
    if len(pairs) > MAX_RANGES:
        cond = and_(c.source == "public", window)
        if states:
            cond = and_(cond, c.state.in_(states))
        if codes:
            cond = and_(cond, c.category_code.in_(codes))
        q = select(c.id).where(cond).order_by(c.created_at.desc()).limit(limit)
        return [int(x) for x in conn.execute(q).scalars()]
    # On PostgreSQL the state is a one-value range, and in the ORDER BY: with "state = x" it drops
    # it from the order, sees "ORDER BY created_at" and (estimating the matches spread evenly in
    # time) walks ix_cases_created backward past 70,000 others. Ordered by (state, created_at)
    # only the composite index gives the order without a sort, and the Merge Append of the
    # ranges reads about `limit` entries in all. (A range on the code as well would stop the
    # btree from positioning on the state.) SQLite picks the composite index for "=".
    pg = conn.dialect.name == "postgresql"
    parts = []
    for code, st in pairs:
        cond = and_(c.source == "public", window)
        order: list[Any] = []
        if code is not None:
            cond = and_(cond, c.category_code == code)
        if st is not None:
            cond = and_(cond, c.state >= st, c.state <= st) if pg else and_(cond, c.state == st)
            order.append(c.state.desc())
        order.append(c.created_at.desc())
        part = select(c.id, c.created_at).where(cond).order_by(*order).limit(limit).subquery()
        parts.append(select(part.c.id, part.c.created_at))
    if len(parts) == 1:
        return [int(x) for x in conn.execute(parts[0]).scalars()]
    u = union_all(*parts).subquery()
    q = select(u.c.id).order_by(u.c.created_at.desc()).limit(limit)
    return [int(x) for x in conn.execute(q).scalars()]


def last_notes(conn: Connection, case_ids: list[int]) -> dict[int, str]:
    from cityos.governance.store import case_events

    if not case_ids:
        return {}
    rows = conn.execute(select(case_events.c.case_id, case_events.c.note).where(
        case_events.c.case_id.in_(case_ids), case_events.c.note.is_not(None)).order_by(case_events.c.id)).all()
    out: dict[int, str] = {}
    for cid, note in rows:
        out[int(cid)] = str(note)
    return out


def master_states(conn: Connection, ids: list[int]) -> dict[int, tuple[str, datetime]]:
    if not ids:
        return {}
    rows = conn.execute(select(cases.c.id, cases.c.state, cases.c.updated_at).where(cases.c.id.in_(ids))).all()
    return {int(r[0]): (str(r[1]), r[2]) for r in rows}
