"""Who may see and do what, at which level. No IO.

A person acts through grants: a role held at a node of the division tree (and
optionally in an organisational unit). A grant reaches its node's subtree and no
further. Contexts add their permissions to roles with `allow()`; one function,
`Actor.scope(permission)`, decides which part of the tree a query may read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityos.core.errors import Forbidden, Unauthenticated
from cityos.geo.model import is_within, level_of


@dataclass(frozen=True)
class RoleSpec:
    name: str
    zh: str
    en: str
    levels: tuple[str, ...]  # division levels at which the role may be held


ROLES: dict[str, RoleSpec] = {r.name: r for r in (
    RoleSpec("city_operator", "市级运行中心值班员", "City operator", ("city",)),
    RoleSpec("district_operator", "区县运行中心值班员", "District operator", ("district",)),
    RoleSpec("township_operator", "镇街运行中心值班员", "Township operator", ("township",)),
    RoleSpec("dispatcher", "派遣员", "Dispatcher", ("city", "district", "township")),
    RoleSpec("department_handler", "部门处置员", "Department handler", ("city", "district", "township")),
    RoleSpec("verifier", "核查员", "Verifier (inspector)", ("city", "district", "township", "village")),
    RoleSpec("grid_head", "网格长", "Grid head", ("village", "grid")),
    RoleSpec("grid_member", "专职网格员", "Full-time grid member", ("grid",)),
    RoleSpec("grid_member_part", "兼职网格员", "Part-time grid member", ("grid",)),
    RoleSpec("grid_instructor", "网格指导员", "Grid instructor", ("village", "grid")),
    RoleSpec("data_officer", "数据专员", "Data officer", ("city", "district", "township")),
    RoleSpec("resource_admin", "资源管理员", "Resource administrator", ("city", "district", "township")),
    RoleSpec("auditor", "审计员", "Auditor", ("city", "district")),
    RoleSpec("system_admin", "系统管理员", "System administrator", ("city", "district", "township")),
    RoleSpec("citizen", "注册市民", "Registered citizen", ("city",)),
)}

# Permissions per role. Contexts extend this with allow() when they add resources.
PERMISSIONS: dict[str, set[str]] = {name: set() for name in ROLES}
PUBLIC_PERMISSIONS: set[str] = set()

ADMIN_PERMISSIONS = {"user.read", "user.admin", "role.grant", "apikey.manage"}


def allow(roles: Iterable[str], *permissions: str) -> None:
    """Give roles permissions (called by contexts at import time)."""
    for role in roles:
        if role == "public":
            PUBLIC_PERMISSIONS.update(permissions)
            continue
        if role not in ROLES:
            raise KeyError(f"unknown role {role}")
        PERMISSIONS[role].update(permissions)


OPERATORS = ("city_operator", "district_operator", "township_operator")
GRID_STAFF = ("grid_head", "grid_member", "grid_member_part", "grid_instructor")
allow(("system_admin",), *ADMIN_PERMISSIONS, "division.read", "division.import", "audit.read")
allow(OPERATORS, "user.read", "division.read", "personal.read")
allow(("auditor",), "audit.read", "user.read", "division.read")
allow(GRID_STAFF, "division.read", "personal.read")
allow(("dispatcher", "department_handler", "verifier", "data_officer", "resource_admin"), "division.read")
allow(("public", "citizen"), "division.read")

# Who may grant which roles: an administrator grants any role except system_admin
# below their own node; only a city-level administrator creates other administrators.
GRANTABLE_BY_ADMIN = frozenset(ROLES) - {"system_admin"}


@dataclass(frozen=True)
class Grant:
    role: str
    node: str  # a division code
    unit: str | None = None
    id: int | None = None

    def reaches(self, code: str) -> bool:
        return is_within(code, self.node)


@dataclass(frozen=True)
class Scope:
    """The part of the division tree a permission reaches: a set of subtree roots,
    or everything (`all`), or nothing."""

    roots: tuple[str, ...]
    all: bool = False

    @property
    def empty(self) -> bool:
        return not self.all and not self.roots

    def contains(self, code: str | None) -> bool:
        if self.all:
            return True
        if code is None:
            return False
        return any(is_within(code, r) for r in self.roots)


@dataclass(frozen=True)
class Actor:
    """Who is asking, as established by a credential; carries the grants it acts under."""

    user_id: int | None
    username: str
    grants: tuple[Grant, ...] = ()
    key_scopes: frozenset[str] | None = None  # named scopes of the API key/token; None = the user's own
    via: str = "anonymous"  # anonymous | session | api_key | token | system
    ip: str | None = None
    purpose: str | None = None
    display_name: str = ""

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None or self.via == "system"

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    def _key_allows(self, permission: str) -> bool:
        if self.key_scopes is None or "*" in self.key_scopes:
            return True
        area = permission.split(".", 1)[0]
        return permission in self.key_scopes or f"{area}.*" in self.key_scopes

    def grants_for(self, permission: str) -> list[Grant]:
        if not self._key_allows(permission):
            return []
        return [g for g in self.grants if permission in PERMISSIONS.get(g.role, ())]

    def can(self, permission: str, node: str | None = None) -> bool:
        if self.via == "system":
            return True
        if permission in PUBLIC_PERMISSIONS and self._key_allows(permission):
            return True
        grants = self.grants_for(permission)
        if node is None:
            return bool(grants)
        return any(g.reaches(node) for g in grants)

    def require(self, permission: str, node: str | None = None) -> None:
        if self.can(permission, node):
            return
        if not self.authenticated:
            raise Unauthenticated(f"sign in or present an API key to {permission}", field="Authorization")
        where = f" at {node}" if node else ""
        if self.grants_for(permission) or not self._key_allows(permission):
            why = "outside your scope" if self._key_allows(permission) else "not among this key's scopes"
            raise Forbidden(f"{permission}{where} is {why}", field="scope")
        raise Forbidden(f"none of your roles ({', '.join(sorted(self.roles)) or 'none'}) may {permission}{where}",
                        field="role")

    def require_signed_in(self) -> None:
        if not self.authenticated:
            raise Unauthenticated("sign in or present an API key or bearer token", field="Authorization")

    def scope(self, permission: str) -> Scope:
        """The subtree roots where this actor holds `permission` (the one scope function)."""
        if self.via == "system" or (permission in PUBLIC_PERMISSIONS and self._key_allows(permission)):
            return Scope((), all=True)
        roots = sorted({g.node for g in self.grants_for(permission)}, key=len)
        kept: list[str] = []
        for r in roots:
            if level_of(r) == "city":
                return Scope((), all=True)
            if not any(is_within(r, k) for k in kept):
                kept.append(r)
        return Scope(tuple(kept))

    def may_see_personal(self, node: str | None) -> bool:
        """Personal data is shown unmasked only with the permission, in scope, and a stated purpose."""
        return bool(self.purpose) and self.can("personal.read", node)

    def primary(self) -> Grant | None:
        """The grant shown as 'acting as' (the highest node)."""
        return min(self.grants, key=lambda g: len(g.node), default=None)


ANONYMOUS = Actor(user_id=None, username="anonymous")
SYSTEM = Actor(user_id=None, username="system", via="system")


def check_grantable(granter: Actor, role: str, node: str) -> None:
    """A user may grant only roles they may hand out, at nodes inside their own scope."""
    if role not in ROLES:
        from cityos.core.errors import ValidationError

        raise ValidationError(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}", field="role")
    spec = ROLES[role]
    level = level_of(node)
    if level not in spec.levels:
        from cityos.core.errors import ValidationError

        raise ValidationError(f"{role} is held at {'/'.join(spec.levels)} level, not at a {level}", field="node")
    granter.require("role.grant", node)
    if role == "system_admin" and not granter.can("role.grant", node[:2] + "0000"):
        raise Forbidden("only a city-level administrator may create administrators", field="role")


# --- personal data masking ---------------------------------------------------

def mask_id_number(v: str | None) -> str | None:
    """Resident ID number: keep the first 6 and the last 4 characters."""
    if not v:
        return v
    return v[:6] + "*" * max(0, len(v) - 10) + v[-4:] if len(v) > 10 else "*" * len(v)


def mask_phone(v: str | None) -> str | None:
    """Phone: keep the first 3 and the last 4 digits."""
    if not v:
        return v
    return v[:3] + "*" * max(0, len(v) - 7) + v[-4:] if len(v) > 7 else "*" * len(v)


def mask_name(v: str | None) -> str | None:
    """Name: keep the family name (the first character of a Chinese name, the last word of a Latin one)."""
    if not v:
        return v
    if v.isascii() and " " in v.strip():
        parts = v.split()
        return " ".join("*" * len(p) for p in parts[:-1]) + " " + parts[-1]
    return v[0] + "*" * (len(v) - 1)


MASKERS = {"id_number": mask_id_number, "phone": mask_phone, "name": mask_name}


def mask_record(record: dict[str, Any], personal: dict[str, str], visible: bool) -> dict[str, Any]:
    """Mask the personal fields of a record ({field: kind}) unless visible."""
    if visible:
        return record
    out = dict(record)
    for fieldname, kind in personal.items():
        if fieldname in out and isinstance(out[fieldname], str):
            out[fieldname] = MASKERS[kind](out[fieldname])
    return out


# --- passwords and lockout ------------------------------------------------------

MIN_PASSWORD = 10


def password_problem(password: str, username: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"must have at least {MIN_PASSWORD} characters"
    if username and username.lower() in password.lower():
        return "must not contain the user name"
    return None


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_minutes: int = 15


# --- the audit chain -------------------------------------------------------------

@dataclass
class AuditEntry:
    at: datetime
    actor: str
    role: str | None
    node: str | None
    action: str
    object_type: str
    object_id: str | None
    ip: str | None
    purpose: str | None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


# The canonical form hashed for a record (one encoder, reused: json.dumps would build one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def content_hash_of(record_id: int | None, at: datetime, actor: str, role: str | None, node: str | None, action: str,
                    object_type: str, object_id: str | None, ip: str | None, purpose: str | None,
                    details: dict[str, Any]) -> str:
    """The hash of one audit record's content (the fields of `content_hash`, given one by one)."""
    body = [record_id, at.isoformat(timespec="microseconds"), actor, role, node, action, object_type, object_id, ip,
            purpose, details]
    return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()


def content_hash(e: AuditEntry) -> str:
    return content_hash_of(e.id, e.at, e.actor, e.role, e.node, e.action, e.object_type, e.object_id, e.ip, e.purpose,
                           e.details)


GENESIS = "0" * 64


def chain_hash(prev: str, content: str) -> str:
    return hashlib.sha256((prev + content).encode()).hexdigest()
