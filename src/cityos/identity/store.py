"""Identity tables: units, users, role grants, credentials, web sessions, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cityos.core.db import JSONType, UTCDateTime, insert_rows, metadata
from cityos.core.store import BigId
from cityos.identity.model import AuditEntry, Grant, Scope

org_units = Table(
    "org_units",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False, default=""),
    # centre | department | committee | grid_station | sector
    Column("kind", String(20), nullable=False),
    Column("level", String(12), nullable=False),  # division level of the unit
    Column("division_code", String(15), nullable=False, index=True),
    Column("dept_type", String(40)),  # for departments: urban_management, water, ...
    Column("parent_code", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_org_units_kind_division", "kind", "division_code"),
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("phone", String(20)),
    Column("id_number", String(18)),
    Column("password_hash", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("home_node", String(15), index=True),  # where the user belongs (for admin scope)
)

role_grants = Table(
    "role_grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("role", String(40), nullable=False),
    Column("node", String(15), nullable=False, index=True),
    Column("unit_code", String(40)),
    Column("granted_by", String(80), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # api_key | token
    Column("name", String(120), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("ip", String(64)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("role", String(40)),
    Column("node", String(15)),
    Column("action", String(80), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(120)),
    Column("ip", String(64)),
    Column("purpose", String(200)),
    Column("details", JSONType, nullable=False),
    # Filled by the sealer, in seal order: the record's own hash and the chain hash.
    Column("seal_seq", BigInteger, unique=True),
    Column("content_hash", String(64)),
    Column("chain_hash", String(64)),
    Index("ix_audit_actor_at", "actor", "at"),
    Index("ix_audit_object", "object_type", "object_id"),
    Index("ix_audit_at", "at"),
)


def in_scope(column: Any, scope: Scope) -> ColumnElement[bool]:
    """A WHERE clause limiting a division-code column to a scope (codes nest by prefix)."""
    if scope.all:
        return true()
    if not scope.roots:
        return false()
    return or_(*[column.startswith(r) for r in scope.roots])


# --- users and grants ---------------------------------------------------------------

def user_by_name(conn: Connection, username: str) -> dict[str, Any] | None:
    r = conn.execute(select(users).where(users.c.username == username)).mappings().first()
    return dict(r) if r else None


def user_by_id(conn: Connection, user_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return dict(r) if r else None


def insert_user(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(users).values(**values).returning(users.c.id)).scalar_one())


def active_grants(conn: Connection, user_id: int) -> tuple[Grant, ...]:
    rows = conn.execute(
        select(role_grants.c.id, role_grants.c.role, role_grants.c.node, role_grants.c.unit_code)
        .where(role_grants.c.user_id == user_id, role_grants.c.revoked_at.is_(None))
        .order_by(role_grants.c.id)
    ).all()
    return tuple(Grant(r.role, r.node, r.unit_code, r.id) for r in rows)


def add_grant(conn: Connection, user_id: int, role: str, node: str, unit: str | None, by: str, now: datetime) -> int:
    return int(conn.execute(
        insert(role_grants).values(user_id=user_id, role=role, node=node, unit_code=unit, granted_by=by, granted_at=now)
        .returning(role_grants.c.id)
    ).scalar_one())


def grant_by_id(conn: Connection, grant_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(role_grants).where(role_grants.c.id == grant_id)).mappings().first()
    return dict(r) if r else None


def revoke_grant(conn: Connection, grant_id: int, now: datetime) -> None:
    conn.execute(update(role_grants).where(role_grants.c.id == grant_id).values(revoked_at=now))


def list_users(conn: Connection, scope: Scope, q: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Users whose home node, or any of whose grants, lies in scope."""
    in_grants = select(role_grants.c.user_id).where(role_grants.c.revoked_at.is_(None),
                                                    in_scope(role_grants.c.node, scope))
    cond = or_(in_scope(users.c.home_node, scope), users.c.id.in_(in_grants))
    if q:
        like = f"%{q}%"
        cond = and_(cond, or_(users.c.username.like(like), users.c.display_name.like(like)))
    total = conn.execute(select(func.count()).select_from(users).where(cond)).scalar_one()
    rows = conn.execute(select(users).where(cond).order_by(users.c.username).limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows], int(total)


def grants_of(conn: Connection, user_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    rows = conn.execute(select(role_grants).where(role_grants.c.user_id.in_(user_ids), role_grants.c.revoked_at.is_(None))
                        .order_by(role_grants.c.id)).mappings().all()
    for r in rows:
        out[r["user_id"]].append(dict(r))
    return out


def record_login_failure(conn: Connection, user_id: int, lock_until: datetime | None) -> None:
    values: dict[str, Any] = {"failed_logins": users.c.failed_logins + 1}
    if lock_until is not None:
        values["locked_until"] = lock_until
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


def reset_login_failures(conn: Connection, user_id: int) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None))


# --- credentials and sessions -----------------------------------------------------

def insert_credential(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(credentials).values(**values).returning(credentials.c.id)).scalar_one())


# One query per request for the credential, its user and the user's live grants (built
# once: the statement is compiled once and cached by SQLAlchemy, only the hash varies).
_CREDENTIAL_ACTOR = (
    select(credentials.c.id, credentials.c.kind, credentials.c.scopes, credentials.c.expires_at,
           credentials.c.revoked_at, users.c.id.label("user_id"), users.c.username, users.c.display_name,
           users.c.active, role_grants.c.id.label("grant_id"), role_grants.c.role, role_grants.c.node,
           role_grants.c.unit_code)
    .select_from(credentials.join(users, users.c.id == credentials.c.user_id)
                 .outerjoin(role_grants, and_(role_grants.c.user_id == users.c.id, role_grants.c.revoked_at.is_(None))))
    .where(credentials.c.secret_hash == bindparam("secret_hash"))
    .order_by(role_grants.c.id)
)


def credential_actor_rows(conn: Connection, secret_hash: str) -> tuple[dict[str, Any], tuple[Grant, ...]] | None:
    """The credential with its user's fields (user_id, username, display_name, active) and the
    user's active grants in grant order, in one query; None for an unknown hash."""
    rows = conn.execute(_CREDENTIAL_ACTOR, {"secret_hash": secret_hash}).all()
    if not rows:
        return None
    first = rows[0]
    cred = {"id": first.id, "kind": first.kind, "scopes": first.scopes, "expires_at": first.expires_at,
            "revoked_at": first.revoked_at, "user_id": first.user_id, "username": first.username,
            "display_name": first.display_name, "active": first.active}
    grants = tuple(Grant(r.role, r.node, r.unit_code, r.grant_id) for r in rows if r.grant_id is not None)
    return cred, grants


def credential_by_id(conn: Connection, cred_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(credentials).where(credentials.c.id == cred_id)).mappings().first()
    return dict(r) if r else None


def revoke_credential(conn: Connection, cred_id: int, now: datetime) -> None:
    conn.execute(update(credentials).where(credentials.c.id == cred_id).values(revoked_at=now))


def credentials_of(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(credentials).where(credentials.c.user_id == user_id).order_by(credentials.c.id)).mappings()
    return [dict(r) for r in rows]


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(web_sessions).values(**values))


def session_by_hash(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    r = conn.execute(select(web_sessions).where(web_sessions.c.token_hash == token_hash)).mappings().first()
    return dict(r) if r else None


def end_session(conn: Connection, token_hash: str, now: datetime) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.token_hash == token_hash).values(ended_at=now))


# --- audit -----------------------------------------------------------------------------

def append_audit(conn: Connection, entries: list[AuditEntry]) -> None:
    if entries:
        insert_rows(conn, audit_log, [{
            "at": e.at, "actor": e.actor, "role": e.role, "node": e.node, "action": e.action,
            "object_type": e.object_type, "object_id": e.object_id, "ip": e.ip, "purpose": e.purpose,
            "details": e.details,
        } for e in entries])


def row_to_entry(r: Any) -> AuditEntry:
    return AuditEntry(at=r["at"], actor=r["actor"], role=r["role"], node=r["node"], action=r["action"],
                      object_type=r["object_type"], object_id=r["object_id"], ip=r["ip"], purpose=r["purpose"],
                      details=r["details"] or {}, id=r["id"])


def seal_head(conn: Connection) -> tuple[int, str]:
    r = conn.execute(select(audit_log.c.seal_seq, audit_log.c.chain_hash).where(audit_log.c.seal_seq.is_not(None))
                     .order_by(audit_log.c.seal_seq.desc()).limit(1)).first()
    return (int(r[0]), str(r[1])) if r else (0, "")


def unsealed(conn: Connection, before: datetime, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(audit_log).where(audit_log.c.seal_seq.is_(None), audit_log.c.at < before)
                        .order_by(audit_log.c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def set_seals(conn: Connection, seals: list[dict[str, Any]]) -> None:
    if seals:
        conn.execute(
            update(audit_log).where(audit_log.c.id == bindparam("b_id"))
            .values(seal_seq=bindparam("b_seq"), content_hash=bindparam("b_content"), chain_hash=bindparam("b_chain")),
            seals,
        )


def count_unsealed(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.seal_seq.is_(None))).scalar_one())


def search_audit(conn: Connection, *, actor: str | None, object_type: str | None, object_id: str | None,
                 since: datetime | None, until: datetime | None, scope: Scope, limit: int,
                 offset: int) -> tuple[list[dict[str, Any]], int]:
    conds: list[ColumnElement[bool]] = []
    if not scope.all:
        conds.append(in_scope(func.coalesce(audit_log.c.node, ""), scope))
    if actor:
        conds.append(audit_log.c.actor == actor)
    if object_type:
        conds.append(audit_log.c.object_type == object_type)
    if object_id:
        conds.append(audit_log.c.object_id == object_id)
    if since:
        conds.append(audit_log.c.at >= since)
    if until:
        conds.append(audit_log.c.at < until)
    where = and_(true(), *conds)
    total = conn.execute(select(func.count()).select_from(audit_log).where(where)).scalar_one()
    rows = conn.execute(select(audit_log).where(where).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)).mappings()
    return [dict(r) for r in rows], int(total)
