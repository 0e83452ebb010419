"""Identity use cases: users, role grants, sign-in, sessions, API keys and tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cityos.core.errors import Conflict, NotFound, Unauthenticated, ValidationError
from cityos.geo.model import level_of
from cityos.identity import audit, store
from cityos.identity.model import (
    Actor,
    LockoutPolicy,
    check_grantable,
    password_problem,
)

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

# Interactive sign-in should cost tens of milliseconds, not seconds, on 2 cores.
hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
LOCKOUT = LockoutPolicy()
SESSION_HOURS = 12
TOKEN_HOURS = 1
KEY_PREFIX = "cos"
# Hashed when the account does not exist, so a wrong user name costs as much as a wrong password.
_DUMMY_HASH = hasher.hash("not-a-real-password-0")


def secret_hash(secret: str) -> str:
    # Keys and tokens are 32 random bytes: a fast hash is enough (no guessing to slow down).
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return hasher.hash(password)


@dataclass(frozen=True)
class CreateUser:
    actor: Actor
    username: str
    display_name: str
    password: str | None
    home_node: str
    phone: str | None = None
    id_number: str | None = None
    grants: list[tuple[str, str]] = field(default_factory=list)  # (role, node)


def create_user(p: Platform, cmd: CreateUser) -> int:
    cmd.actor.require("user.admin", cmd.home_node)
    uname = cmd.username.strip()
    if not uname or len(uname) > 80 or not all(c.isalnum() or c in "._-" for c in uname):
        raise ValidationError("use 1-80 letters, digits, '.', '_' or '-'", field="username")
    level_of(cmd.home_node)
    if cmd.password is not None and (why := password_problem(cmd.password, uname)):
        raise ValidationError(why, field="password")
    for role, node in cmd.grants:
        check_grantable(cmd.actor, role, node)
    now = p.clock.now()
    with p.db.begin() as conn:
        if store.user_by_name(conn, uname):
            raise Conflict(f"user {uname!r} already exists", field="username")
        uid = store.insert_user(conn, {
            "username": uname, "display_name": cmd.display_name or uname, "phone": cmd.phone,
            "id_number": cmd.id_number, "password_hash": hash_password(cmd.password) if cmd.password else None,
            "active": True, "failed_logins": 0, "created_at": now, "home_node": cmd.home_node,
        })
        for role, node in cmd.grants:
            store.add_grant(conn, uid, role, node, None, cmd.actor.username, now)
        audit.record(conn, cmd.actor, "user.create", "user", uname, now, node=cmd.home_node,
                     details={"grants": [list(g) for g in cmd.grants]})
    return uid


@dataclass(frozen=True)
class GrantRole:
    actor: Actor
    username: str
    role: str
    node: str
    unit: str | None = None


def grant_role(p: Platform, cmd: GrantRole) -> int:
    now = p.clock.now()
    check_grantable(cmd.actor, cmd.role, cmd.node)  # a refusal is audited by the door (access.denied)
    with p.db.begin() as conn:
        user = store.user_by_name(conn, cmd.username)
        if user is None:
            raise NotFound(f"no user {cmd.username!r}", field="username")
        if any(g.role == cmd.role and g.node == cmd.node for g in store.active_grants(conn, user["id"])):
            raise Conflict(f"{cmd.username} already holds {cmd.role} at {cmd.node}", field="role")
        gid = store.add_grant(conn, user["id"], cmd.role, cmd.node, cmd.unit, cmd.actor.username, now)
        audit.record(conn, cmd.actor, "role.grant", "user", cmd.username, now, node=cmd.node,
                     details={"role": cmd.role, "grant_id": gid})
    return gid


@dataclass(frozen=True)
class RevokeRole:
    actor: Actor
    grant_id: int


def revoke_role(p: Platform, cmd: RevokeRole) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        g = store.grant_by_id(conn, cmd.grant_id)
        if g is None or g["revoked_at"] is not None:
            raise NotFound(f"no active grant {cmd.grant_id}", field="grant_id")
        cmd.actor.require("role.grant", g["node"])
        store.revoke_grant(conn, cmd.grant_id, now)
        audit.record(conn, cmd.actor, "role.revoke", "grant", cmd.grant_id, now, node=g["node"],
                     details={"role": g["role"]})


def load_actor(conn: Any, user: dict[str, Any], via: str, ip: str | None,
               key_scopes: frozenset[str] | None = None) -> Actor:
    return Actor(user_id=user["id"], username=user["username"], grants=store.active_grants(conn, user["id"]),
                 key_scopes=key_scopes, via=via, ip=ip, display_name=user["display_name"])


@dataclass(frozen=True)
class SignIn:
    username: str
    password: str
    ip: str | None = None


def sign_in(p: Platform, cmd: SignIn) -> Actor:
    """Check a password, with lockout after repeated failures. Every outcome is audited
    (the failure records commit even though the sign-in is refused)."""
    now = p.clock.now()
    anon = Actor(user_id=None, username=cmd.username[:80] or "anonymous", ip=cmd.ip)
    refusal: Unauthenticated | None = None
    with p.db.begin() as conn:
        user = store.user_by_name(conn, cmd.username)
        if user is None or not user["active"] or not user["password_hash"]:
            _verify(_DUMMY_HASH, cmd.password)
            audit.record(conn, anon, "auth.failed", "user", cmd.username[:80], now, details={"reason": "unknown user"})
            refusal = Unauthenticated("wrong user name or password", field="password")
        elif user["locked_until"] is not None and user["locked_until"] > now:
            audit.record(conn, anon, "auth.failed", "user", user["username"], now, details={"reason": "locked"})
            refusal = Unauthenticated(f"account locked after {LOCKOUT.max_failures} failed sign-ins; try again after "
                                      f"{user['locked_until']:%H:%M} UTC", field="username")
        elif not _verify(user["password_hash"], cmd.password):
            failures = user["failed_logins"] + 1
            lock = now + timedelta(minutes=LOCKOUT.lock_minutes) if failures >= LOCKOUT.max_failures else None
            store.record_login_failure(conn, user["id"], lock)
            audit.record(conn, anon, "auth.failed", "user", user["username"], now,
                         details={"reason": "wrong password", "failures": failures, "locked": lock is not None})
            refusal = Unauthenticated("wrong user name or password", field="password")
        else:
            store.reset_login_failures(conn, user["id"])
            actor = load_actor(conn, user, "session", cmd.ip)
            audit.record(conn, actor, "auth.sign_in", "user", user["username"], now)
    if refusal is not None:
        raise refusal
    return actor


def _verify(hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def start_session(p: Platform, actor: Actor) -> tuple[str, str]:
    """A new web session: returns (cookie token, CSRF token). Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = p.clock.now()
    with p.db.begin() as conn:
        store.insert_session(conn, {"token_hash": secret_hash(token), "user_id": actor.user_id, "csrf": csrf,
                                    "created_at": now, "expires_at": now + timedelta(hours=SESSION_HOURS),
                                    "ip": actor.ip})
    return token, csrf


def end_session(p: Platform, token: str, actor: Actor) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        store.end_session(conn, secret_hash(token), now)
        audit.record(conn, actor, "auth.sign_out", "user", actor.username, now)


def session_actor(p: Platform, token: str, ip: str | None) -> tuple[Actor, str] | None:
    """The actor and CSRF token of a live session, or None (unknown, forged, ended or expired)."""
    now = p.clock.now()
    with p.db.read() as conn:
        s = store.session_by_hash(conn, secret_hash(token))
        if s is None or s["ended_at"] is not None or s["expires_at"] <= now:
            return None
        user = store.user_by_id(conn, s["user_id"])
        if user is None or not user["active"]:
            return None
        return load_actor(conn, user, "session", ip), s["csrf"]


@dataclass(frozen=True)
class CreateCredential:
    actor: Actor
    username: str
    name: str
    kind: str = "api_key"  # api_key | token
    scopes: tuple[str, ...] = ("*",)
    expires_at: datetime | None = None


def create_credential(p: Platform, cmd: CreateCredential) -> tuple[int, str]:
    """Issue an API key or bearer token; the secret is returned once and stored only as a hash."""
    now = p.clock.now()
    if cmd.kind not in ("api_key", "token"):
        raise ValidationError("must be api_key or token", field="kind")
    if not cmd.name.strip() or len(cmd.name) > 120:
        raise ValidationError("a name of 1-120 characters is needed", field="name")
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise ValidationError("must be in the future", field="expires_at")
    for s in cmd.scopes:
        if not s or len(s) > 60 or not all(c.isalnum() or c in "._*" for c in s):
            raise ValidationError(f"scope {s!r} is not a permission name like 'case.read' or 'case.*'", field="scopes")
    with p.db.begin() as conn:
        user = store.user_by_name(conn, cmd.username)
        if user is None:
            raise NotFound(f"no user {cmd.username!r}", field="user")
        if cmd.actor.user_id != user["id"]:
            cmd.actor.require("apikey.manage", user["home_node"])
        prefix = secrets.token_hex(4)
        secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        expires = cmd.expires_at or (now + timedelta(hours=TOKEN_HOURS) if cmd.kind == "token" else None)
        cid = store.insert_credential(conn, {
            "user_id": user["id"], "kind": cmd.kind, "name": cmd.name.strip(), "prefix": prefix,
            "secret_hash": secret_hash(secret), "scopes": list(cmd.scopes), "created_at": now, "expires_at": expires,
        })
        audit.record(conn, cmd.actor, f"{cmd.kind}.create", "credential", cid, now, node=user["home_node"],
                     details={"user": cmd.username, "name": cmd.name, "scopes": list(cmd.scopes)})
    return cid, secret


@dataclass(frozen=True)
class RevokeCredential:
    actor: Actor
    credential_id: int


def revoke_credential(p: Platform, cmd: RevokeCredential) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        c = store.credential_by_id(conn, cmd.credential_id)
        if c is None:
            raise NotFound(f"no credential {cmd.credential_id}", field="credential_id")
        owner = store.user_by_id(conn, c["user_id"])
        if cmd.actor.user_id != c["user_id"]:
            cmd.actor.require("apikey.manage", owner["home_node"] if owner else None)
        store.revoke_credential(conn, cmd.credential_id, now)
        audit.record(conn, cmd.actor, "credential.revoke", "credential", cmd.credential_id, now)


class CredentialRefused(Unauthenticated):
    """A presented key or token that is unknown, expired or revoked (the reason is audited)."""


def credential_actor(p: Platform, secret: str, ip: str | None) -> Actor:
    """The actor behind an API key or bearer token; refuses unknown, expired or revoked ones.

    Every request reads the credential, its user and the user's grants afresh (one query,
    no cache), so a revoked key, a deactivated user or a revoked grant takes effect at once."""
    now = p.clock.now()
    found = None
    if secret.startswith(KEY_PREFIX + "_"):
        # One SELECT outside a transaction: a single round trip on PostgreSQL.
        hashed = secret_hash(secret)
        found = p.db.read_once(lambda conn: store.credential_actor_rows(conn, hashed))
    c, grants = found if found else (None, ())
    reason = None
    if c is None:
        reason = "unknown"
    elif c["revoked_at"] is not None:
        reason = "revoked"
    elif c["expires_at"] is not None and c["expires_at"] <= now:
        reason = "expired"
    elif not c["active"]:
        reason = "user inactive"
    if reason is None and c is not None:
        return Actor(user_id=c["user_id"], username=c["username"], grants=grants, key_scopes=frozenset(c["scopes"]),
                     via=c["kind"], ip=ip, display_name=c["display_name"])
    with p.db.begin() as conn:
        audit.record(conn, Actor(None, "anonymous", ip=ip), "auth.failed", "credential",
                     c["id"] if c else secret[:12], now, details={"reason": reason})
    raise CredentialRefused(f"this API key or token is {reason}", field="Authorization")


def _wire(p: Platform) -> None:
    p.bus.register(CreateUser, lambda c: create_user(p, c))
    p.bus.register(GrantRole, lambda c: grant_role(p, c))
    p.bus.register(RevokeRole, lambda c: revoke_role(p, c))
    p.bus.register(SignIn, lambda c: sign_in(p, c))
    p.bus.register(CreateCredential, lambda c: create_credential(p, c))
    p.bus.register(RevokeCredential, lambda c: revoke_credential(p, c))
    p.bus.register_recurring("identity.audit_seal", lambda payload: _seal(p), every_s=5)
    from cityos.identity.ratelimit import make_limiter

    p.extras["ratelimiter"] = make_limiter(p.settings.redis_url)


def _seal(p: Platform) -> None:
    audit.seal(p.db, p.clock.now())


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
