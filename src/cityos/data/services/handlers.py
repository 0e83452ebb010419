"""Use cases of the data service interfaces: publish and retire versions, register consumers,
apply for interfaces (bundled), approve / reject / suspend / resume / revoke grants, issue
credentials (API key, OAuth2 client credentials and their bearer tokens), read usage."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cityos.core.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from cityos.data.services import model, store
from cityos.identity import audit
from cityos.identity import store as id_store
from cityos.identity.handlers import KEY_PREFIX, TOKEN_HOURS, secret_hash
from cityos.identity.model import OPERATORS, Actor, allow

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

allow(("data_officer", "system_admin"), "ds.publish", "ds.approve", "ds.usage", "ds.apply")
allow(("auditor",), "ds.usage")
allow((*OPERATORS, "department_handler", "resource_admin", "dispatcher"), "ds.apply")

INTERFACES_DIR = Path(__file__).parent / "interfaces"
CONSUMER_CODE = model.PARAM_NAME_RE


def city_node(p: Platform) -> str:
    from sqlalchemy import select

    from cityos.geo import store as geo_store

    with p.db.read() as conn:
        code = conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "city")
                            .order_by(geo_store.divisions.c.code).limit(1)).scalar()
    return str(code or "500000")


# --- definitions --------------------------------------------------------------------------------

def load_documents(text: str) -> list[dict[str, Any]]:
    """The definitions of a YAML (or JSON) text: one document, several `---` documents, or a list."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ValidationError(f"not valid YAML or JSON: {str(exc)[:200]}", field="file") from None
    out: list[dict[str, Any]] = []
    for d in docs:
        out.extend(d if isinstance(d, list) else [d])
    if not out:
        raise ValidationError("holds no interface definition", field="file")
    return out


def validate(docs: list[Any]) -> list[model.Definition]:
    found = []
    for i, d in enumerate(docs):
        try:
            found.append(model.parse_definition(d, store.READABLE_COLUMNS))
        except model.DefinitionError as exc:
            where = f"definitions[{i}]" + (f" ({d.get('code')})" if isinstance(d, dict) and d.get("code") else "")
            raise model.DefinitionError(exc.message, field=f"{where}.{exc.field}") from None
    return found


@dataclass(frozen=True)
class Publish:
    actor: Actor
    documents: list[dict[str, Any]]


def publish(p: Platform, cmd: Publish) -> list[dict[str, Any]]:
    """Publish each definition as a new immutable version (the same version again with the same
    content is a no-op). All or nothing."""
    cmd.actor.require("ds.publish", city_node(p))
    defs = validate(cmd.documents)
    now = p.clock.now()
    out = []
    with p.db.begin() as conn:
        for d, doc in zip(defs, cmd.documents, strict=True):
            h = model.definition_hash(doc)
            existing = {v["version"]: v for v in store.versions_of(conn, d.code)}
            latest = max(existing) if existing else None
            old = existing.get(d.version)
            if not model.check_publishable(d, latest, old["definition_hash"] if old else None, h):
                out.append({"code": d.code, "version": d.version, "published": False, "note": "already published"})
                continue
            current = store.interface(conn, d.code)
            if current and current["owner"] != d.owner:
                raise Conflict(f"{d.code} belongs to {current['owner']}; a new version cannot change the owner",
                               field="owner")
            store.insert_version(conn, {"code": d.code, "version": d.version, "definition": doc, "definition_hash": h,
                                        "status": "published", "published_by": cmd.actor.username,
                                        "published_at": now})
            store.upsert_interface(conn, {
                "code": d.code, "name": d.name, "name_en": d.name_en, "owner": d.owner, "sharing": d.sharing,
                "latest_version": d.version, "search_text": _search_text(d), "created_at": now, "updated_at": now})
            audit.record(conn, cmd.actor, "ds.publish", "ds_interface", f"{d.code}@{d.version}", now,
                         details={"hash": h, "sharing": d.sharing, "owner": d.owner})
            out.append({"code": d.code, "version": d.version, "published": True})
    return out


def _search_text(d: model.Definition) -> str:
    return " ".join([d.code, d.name, d.name_en, d.owner, d.description, *d.tags, *d.datasets]).lower()


def publish_shipped(p: Platform, actor: Actor) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for f in sorted(INTERFACES_DIR.glob("*.yaml")):
        docs.extend(load_documents(f.read_text(encoding="utf-8")))
    return publish(p, Publish(actor, docs))


@dataclass(frozen=True)
class Retire:
    actor: Actor
    code: str
    version: int


def retire(p: Platform, cmd: Retire) -> dict[str, Any]:
    """Retire one version: calls to it are refused (410); the interface's latest version moves
    to the newest one still published."""
    cmd.actor.require("ds.publish", city_node(p))
    now = p.clock.now()
    with p.db.begin() as conn:
        versions = {v["version"]: v for v in store.versions_of(conn, cmd.code)}
        if not versions:
            raise NotFound(f"no interface {cmd.code!r}", field="code")
        v = versions.get(cmd.version)
        if v is None:
            raise NotFound(f"no version {cmd.version} of {cmd.code}", field="version")
        if v["status"] == "retired":
            raise Conflict(f"version {cmd.version} of {cmd.code} is already retired", field="version")
        store.set_version_status(conn, cmd.code, cmd.version, "retired", now)
        latest = store.latest_published(conn, cmd.code)
        i = store.interface(conn, cmd.code)
        assert i is not None
        store.upsert_interface(conn, {**i, "latest_version": latest, "updated_at": now})
        audit.record(conn, cmd.actor, "ds.retire", "ds_interface", f"{cmd.code}@{cmd.version}", now)
    return {"code": cmd.code, "version": cmd.version, "status": "retired", "latest_version": latest}


# --- consumers ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterConsumer:
    actor: Actor
    code: str
    name: str
    department: str
    ledger_code: str | None = None


def register_consumer(p: Platform, cmd: RegisterConsumer) -> dict[str, Any]:
    """A consumer (an application of a department) and its service principal: an identity user
    without password or roles, whose credentials the gateway accepts."""
    node = _apply_node(cmd.actor)
    code = cmd.code.strip().lower()
    if not model.PARAM_NAME_RE.match(code.replace("-", "_")):
        raise ValidationError("use 1-40 lower-case letters, digits, '_' or '-', starting with a letter", field="code")
    if not cmd.name.strip() or len(cmd.name) > 200:
        raise ValidationError("a name of 1-200 characters is needed", field="name")
    if not cmd.department.strip() or len(cmd.department) > 100:
        raise ValidationError("name the department the application belongs to", field="department")
    now = p.clock.now()
    with p.db.begin() as conn:
        if store.consumer_by_code(conn, code):
            raise Conflict(f"consumer {code!r} already exists", field="code")
        if cmd.ledger_code:
            _check_ledger(conn, cmd.ledger_code)
        username = f"ds.{code}"
        if id_store.user_by_name(conn, username):
            raise Conflict(f"user {username!r} already exists", field="code")
        uid = id_store.insert_user(conn, {"username": username, "display_name": cmd.name.strip(), "phone": None,
                                          "id_number": None, "password_hash": None, "active": True,
                                          "failed_logins": 0, "created_at": now, "home_node": node})
        cid = store.insert_row(conn, store.ds_consumers, {
            "code": code, "name": cmd.name.strip(), "department": cmd.department.strip(), "user_id": uid,
            "node": node, "ledger_code": cmd.ledger_code, "created_by": cmd.actor.username, "created_at": now})
        audit.record(conn, cmd.actor, "ds.consumer.create", "ds_consumer", code, now, node=node,
                     details={"department": cmd.department, "ledger_code": cmd.ledger_code})
    return {"id": cid, "code": code, "name": cmd.name.strip(), "department": cmd.department.strip(),
            "principal": username, "ledger_code": cmd.ledger_code}


def _check_ledger(conn: Any, code: str) -> None:
    try:
        from cityos.ledger import store as ledger_store
    except ImportError:  # the ledger is optional
        return
    r = ledger_store.by_code(conn, code)
    if r is None:
        raise NotFound(f"no resource {code!r} in the resource ledger", field="ledger_code")
    if r.get("type") not in (None, "application"):
        raise ValidationError(f"{code} is a {r.get('type')}, not an application", field="ledger_code")


def _apply_node(actor: Actor) -> str:
    if not actor.authenticated:
        raise Unauthenticated("sign in first", field="Authorization")
    if actor.via == "system":
        return ""
    g = next((g for g in actor.grants if actor.can("ds.apply", g.node)), None)
    if g is None:
        raise Forbidden("applying for data services needs the ds.apply permission", field="role")
    return g.node


def _consumer_for(conn: Any, actor: Actor, code: str) -> dict[str, Any]:
    c = store.consumer_by_code(conn, code)
    if c is None:
        raise NotFound(f"no consumer {code!r}", field="consumer")
    if not (actor.can("ds.approve", c["node"]) or actor.can("ds.apply", c["node"])):
        raise Forbidden(f"consumer {code} is outside your scope", field="consumer")
    return c


# --- applications and grants ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Apply:
    actor: Actor
    consumer: str
    interfaces: tuple[str, ...]
    purpose: str
    legal_basis: str
    expected_daily: int


def apply(p: Platform, cmd: Apply) -> dict[str, Any]:
    """One application for several interfaces (一揽子申请): unconditional ones are granted at once,
    conditional ones wait for their owner's approval, not-shared ones are refused (the whole
    application, so nothing is half-applied)."""
    _apply_node(cmd.actor)
    if not cmd.interfaces:
        raise ValidationError("choose at least one interface", field="interfaces")
    if len(set(cmd.interfaces)) != len(cmd.interfaces) or len(cmd.interfaces) > 100:
        raise ValidationError("list each interface once (at most 100)", field="interfaces")
    if not 5 <= len(cmd.purpose.strip()) <= 500:
        raise ValidationError("state the purpose in 5-500 characters", field="purpose")
    if not 2 <= len(cmd.legal_basis.strip()) <= 500:
        raise ValidationError("name the legal basis (law, regulation or document) in 2-500 characters",
                              field="legal_basis")
    if not 1 <= cmd.expected_daily <= 50_000_000:
        raise ValidationError("must be from 1 to 50,000,000 calls a day", field="expected_daily")
    now = p.clock.now()
    quota = model.quota_for(cmd.expected_daily)
    with p.db.begin() as conn:
        c = _consumer_for(conn, cmd.actor, cmd.consumer)
        plan = []
        for code in cmd.interfaces:
            i = store.interface(conn, code)
            if i is None or i["latest_version"] is None:
                raise NotFound(f"no published interface {code!r}", field="interfaces")
            try:
                state = model.initial_grant_state(i["sharing"])
            except ValidationError:
                raise ValidationError(f"{code} is not shared (不予共享): it cannot be applied for",
                                      field="interfaces") from None
            old = store.grant_for(conn, c["id"], code)
            if old is not None and old["status"] in ("pending", "active", "suspended"):
                raise Conflict(f"the consumer already holds a {old['status']} grant for {code}", field="interfaces")
            plan.append((i, state, old))
        app_id = store.insert_row(conn, store.ds_applications, {
            "consumer_id": c["id"], "purpose": cmd.purpose.strip(), "legal_basis": cmd.legal_basis.strip(),
            "expected_daily": cmd.expected_daily, "submitted_by": cmd.actor.username, "submitted_at": now})
        grants = []
        for i, state, old in plan:
            values = {"application_id": app_id, "owner": i["owner"], "status": state, "purpose": cmd.purpose.strip(),
                      "daily_quota": quota.daily, "rate_per_minute": quota.per_minute, "plain_personal": False,
                      "decided_by": "auto" if state == "active" else None,
                      "decided_at": now if state == "active" else None, "reason": None, "updated_at": now}
            if old is None:
                gid = store.insert_row(conn, store.ds_grants, {**values, "consumer_id": c["id"],
                                                                "interface_code": i["code"], "created_at": now})
            else:  # applying again after a refusal or a revocation
                gid = old["id"]
                store.update_grant(conn, gid, values)
            grants.append({"id": gid, "interface": i["code"], "status": state, "owner": i["owner"],
                           "daily_quota": quota.daily, "rate_per_minute": quota.per_minute})
        audit.record(conn, cmd.actor, "ds.apply", "ds_application", app_id, now, node=c["node"],
                     details={"consumer": c["code"], "interfaces": list(cmd.interfaces),
                              "granted": [g["interface"] for g in grants if g["status"] == "active"]})
        credentials = None
        if any(g["status"] == "active" for g in grants) and not _has_live_key(conn, c["user_id"], now):
            credentials = _issue(conn, c, cmd.actor, now)
    return {"application": app_id, "consumer": c["code"], "grants": grants, "credentials": credentials}


def _has_live_key(conn: Any, user_id: int, now: datetime) -> bool:
    return any(k["kind"] == "api_key" and k["revoked_at"] is None and (k["expires_at"] is None or k["expires_at"] > now)
               for k in id_store.credentials_of(conn, user_id))


def _issue(conn: Any, c: dict[str, Any], actor: Actor, now: datetime) -> dict[str, Any]:
    """A new API key and OAuth2 client secret for the consumer (returned once, stored as hashes)."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    cred_id = id_store.insert_credential(conn, {
        "user_id": c["user_id"], "kind": "api_key", "name": f"data services: {c['code']}", "prefix": prefix,
        "secret_hash": secret_hash(key), "scopes": ["ds.call"], "created_at": now, "expires_at": None})
    client_secret = secrets.token_urlsafe(32)
    from sqlalchemy import update

    conn.execute(update(store.ds_consumers).where(store.ds_consumers.c.id == c["id"])
                 .values(client_secret_hash=secret_hash(client_secret)))
    audit.record(conn, actor, "ds.credentials.issue", "ds_consumer", c["code"], now, node=c["node"],
                 details={"credential": cred_id})
    return {"api_key": key, "client_id": c["code"], "client_secret": client_secret, "credential_id": cred_id}


@dataclass(frozen=True)
class IssueCredentials:
    actor: Actor
    consumer: str


def issue_credentials(p: Platform, cmd: IssueCredentials) -> dict[str, Any]:
    """Issue (or rotate) the consumer's API key and client secret; needs an active grant. The old
    API keys are revoked in the same transaction."""
    now = p.clock.now()
    with p.db.begin() as conn:
        c = _consumer_for(conn, cmd.actor, cmd.consumer)
        if not any(g["status"] == "active" for g in store.list_grants(conn, consumer_id=c["id"])):
            raise Conflict("the consumer has no approved interface yet: credentials are issued on approval",
                           field="consumer")
        for k in id_store.credentials_of(conn, c["user_id"]):
            if k["revoked_at"] is None:
                id_store.revoke_credential(conn, k["id"], now)
        return _issue(conn, c, cmd.actor, now)


@dataclass(frozen=True)
class Decide:
    actor: Actor
    grant_id: int
    action: str  # approve | reject | suspend | resume | revoke
    reason: str | None = None
    daily_quota: int | None = None
    rate_per_minute: int | None = None
    plain_personal: bool | None = None


def decide(p: Platform, cmd: Decide) -> dict[str, Any]:
    """The owner's decision on a grant. Approving sets the quota (the application's estimate when
    none is given) and may allow personal fields plain; revoking also ends the consumer's live
    bearer tokens when it holds no other active grant."""
    now = p.clock.now()
    with p.db.begin() as conn:
        g = store.grant(conn, cmd.grant_id)
        if g is None:
            raise NotFound(f"no grant {cmd.grant_id}", field="grant_id")
        c = store.consumer_by_id(conn, g["consumer_id"])
        assert c is not None
        cmd.actor.require("ds.approve", city_node(p))
        to = model.grant_move(g["status"], cmd.action)
        if cmd.action == "reject" and not (cmd.reason or "").strip():
            raise ValidationError("say why the application is refused", field="reason")
        values: dict[str, Any] = {"status": to, "decided_by": cmd.actor.username, "decided_at": now,
                                  "reason": (cmd.reason or "").strip()[:500] or None, "updated_at": now}
        if cmd.action == "approve":
            q = model.Quota(cmd.daily_quota or g["daily_quota"], cmd.rate_per_minute or g["rate_per_minute"])
            model.check_quota(q)
            values.update(daily_quota=q.daily, rate_per_minute=q.per_minute,
                          plain_personal=bool(cmd.plain_personal))
        store.update_grant(conn, g["id"], values)
        audit.record(conn, cmd.actor, f"ds.grant.{cmd.action}", "ds_grant", g["id"], now, node=c["node"],
                     details={"consumer": c["code"], "interface": g["interface_code"], "from": g["status"], "to": to,
                              "reason": values["reason"]})
        credentials = None
        if to == "active" and cmd.action == "approve" and not _has_live_key(conn, c["user_id"], now):
            credentials = {"issued": False, "note": "the consumer's department issues its credentials now "
                                                    f"(POST /api/v1/ds/consumers/{c['code']}/credentials)"}
    out = {**store_grant_view(p, g["id"])}
    if credentials:
        out["credentials"] = credentials
    return out


def store_grant_view(p: Platform, gid: int) -> dict[str, Any]:
    with p.db.read() as conn:
        g = store.grant(conn, gid)
    assert g is not None
    return {k: g[k] for k in ("id", "interface_code", "owner", "status", "daily_quota", "rate_per_minute",
                              "plain_personal", "decided_by", "reason")}


# --- OAuth2 client credentials -------------------------------------------------------------------------------

def client_token(p: Platform, client_id: str, client_secret: str) -> dict[str, Any]:
    """RFC 6749 4.4: a bearer token for the consumer, an identity credential of kind token."""
    now = p.clock.now()
    with p.db.begin() as conn:
        c = store.consumer_by_code(conn, client_id) if client_id else None
        ok = c is not None and c["client_secret_hash"] is not None and hmac.compare_digest(
            c["client_secret_hash"], secret_hash(client_secret or ""))
        if not ok:
            audit.record(conn, Actor(None, "anonymous"), "auth.failed", "ds_consumer", client_id[:64] or None, now,
                         details={"reason": "client credentials"})
    if not ok or c is None:
        raise Unauthenticated("unknown client or wrong client secret", field="client_secret")
    prefix = secrets.token_hex(4)
    token = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    expires = now + timedelta(hours=TOKEN_HOURS)
    with p.db.begin() as conn:
        id_store.insert_credential(conn, {
            "user_id": c["user_id"], "kind": "token", "name": f"oauth2 client credentials: {c['code']}",
            "prefix": prefix, "secret_hash": secret_hash(token), "scopes": ["ds.call"], "created_at": now,
            "expires_at": expires})
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_HOURS * 3600, "scope": "ds.call"}


# --- usage --------------------------------------------------------------------------------------------------

def usage(p: Platform, actor: Actor, *, since: date | None, until: date | None, owner: str | None,
          code: str | None, consumer: str | None) -> dict[str, Any]:
    actor.require("ds.usage", city_node(p))
    today = p.clock.now().date()
    until = until or today
    since = since or (until - timedelta(days=29))
    if since > until:
        raise ValidationError("must not be after until", field="since")
    with p.db.read() as conn:
        cid = None
        if consumer:
            c = store.consumer_by_code(conn, consumer)
            if c is None:
                raise NotFound(f"no consumer {consumer!r}", field="consumer")
            cid = c["id"]
        rows = store.usage(conn, since=since, until=until, owner=owner, code=code, consumer_id=cid)
    per_interface: dict[str, dict[str, int]] = {}
    for r in rows:
        t = per_interface.setdefault(r["interface_code"], {"calls": 0, "ok": 0, "errors": 0, "rows": 0, "consumers": 0})
        for k in ("calls", "ok", "errors", "rows"):
            t[k] += r[k]
        t["consumers"] += 1 if r["consumer_id"] else 0
    return {"since": since.isoformat(), "until": until.isoformat(), "owner": owner, "by_consumer": rows,
            "by_interface": per_interface}


def _wire(p: Platform) -> None:
    p.bus.register(Publish, lambda c: publish(p, c))
    p.bus.register(Retire, lambda c: retire(p, c))
    p.bus.register(RegisterConsumer, lambda c: register_consumer(p, c))
    p.bus.register(Apply, lambda c: apply(p, c))
    p.bus.register(Decide, lambda c: decide(p, c))
    p.bus.register(IssueCredentials, lambda c: issue_credentials(p, c))


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
