"""Ledger use cases: register, lifecycle, dependencies, bundled applications, probes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from cityos.bootstrap import wiring
from cityos.core import outbox
from cityos.core.errors import Conflict, NotFound, ValidationError
from cityos.geo import store as geo_store
from cityos.identity import audit
from cityos.identity.model import SYSTEM, Actor
from cityos.ledger import model, store
from cityos.ledger.provisioning import ProvisionRequest, provisioner_for

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

PROBE_EVERY_S = 300
PROBE_TIMEOUT_S = 5.0


def _load(conn: Any, code: str, *, for_update: bool = False) -> dict[str, Any]:
    r = store.by_code(conn, code, for_update=for_update)
    if r is None:
        raise NotFound(f"no resource {code!r} in the ledger", field="code")
    return r


@dataclass(frozen=True)
class RegisterResource:
    actor: Actor
    resource: model.NewResource
    uses: tuple[str, ...] = ()
    state: str = "draft"  # only the system registers straight into another state


def register_resource(p: Platform, cmd: RegisterResource) -> dict[str, Any]:
    r = cmd.resource
    cmd.actor.require("ledger.register", r.division_code)
    model.validate_new(r)
    if cmd.state != "draft" and cmd.actor.via != "system":
        raise ValidationError("new resources start as draft", field="state")
    key = model.identity_key(r.rtype, r.attributes)
    now = p.clock.now()
    with p.db.begin() as conn:
        if (same := store.by_code(conn, r.code)) is not None:
            raise Conflict(f"resource code {r.code} is taken by {same['name_zh']} ({same['rtype']})", field="code")
        if (dup := store.by_identity(conn, r.rtype, key)) is not None:
            ident = ", ".join(f"{k}={r.attributes.get(k)}" for k in model.IDENTITY[r.rtype])
            raise Conflict(f"resource {r.code} duplicates {dup['code']} ({dup['name_zh']}): the same {r.rtype} "
                           f"({ident}) is already in the ledger", field="attributes",
                           details={"existing": dup["code"]})
        rid = store.insert_resource(conn, {
            "code": r.code, "rtype": r.rtype, "kind": model.subkind(r.attributes), "name_zh": r.name_zh.strip(),
            "name_en": r.name_en.strip(), "owner_unit": r.owner_unit.strip(), "level": r.level,
            "division_code": r.division_code, "description": r.description, "contacts": list(r.contacts),
            "attributes": r.attributes, "identity_key": key, "state": cmd.state,
            "endpoint": r.attributes.get("endpoint") if r.rtype == "component" else None,
            "health_url": r.attributes.get("health_url") if r.rtype == "component" else None,
            "created_by": cmd.actor.username, "created_at": now, "updated_at": now,
        }, list(r.tags))
        store.add_event(conn, rid, now, cmd.actor.username, "register", None, cmd.state, None)
        row = _load(conn, r.code)
        for used in cmd.uses:
            _add_dependency(conn, cmd.actor, row, used, "", now)
        audit.record(conn, cmd.actor, "ledger.register", "ledger_resource", r.code, now, node=r.division_code,
                     details={"type": r.rtype, "uses": list(cmd.uses)})
        outbox.emit(conn, "ledger.resource.registered", {"code": r.code, "type": r.rtype}, now)
    return {"code": r.code, "id": rid, "state": cmd.state}


@dataclass(frozen=True)
class Transition:
    actor: Actor
    code: str
    action: str
    reason: str | None = None


def transition(p: Platform, cmd: Transition) -> dict[str, Any]:
    now = p.clock.now()
    if cmd.action not in model.ACTIONS:
        model.transition(cmd.code, "draft", cmd.action, cmd.reason)  # raises the clear error
    with p.db.begin() as conn:
        r = _load(conn, cmd.code, for_update=True)
        perm = model.ACTION_PERMISSION[cmd.action]
        if not cmd.actor.can(perm, r["division_code"]):
            cmd.actor.require(perm, r["division_code"])  # raises, naming the scope or role
        to = model.transition(r["code"], r["state"], cmd.action, cmd.reason)
        if cmd.action == "retire":
            model.check_retire(r["code"], store.direct_dependents(conn, r["id"]))
        store.set_state(conn, r, to, now)
        store.add_event(conn, r["id"], now, cmd.actor.username, cmd.action, r["state"], to, cmd.reason)
        audit.record(conn, cmd.actor, f"ledger.{cmd.action}", "ledger_resource", r["code"], now,
                     node=r["division_code"], details={"from": r["state"], "to": to, "reason": cmd.reason})
        outbox.emit(conn, "ledger.resource.state", {"code": r["code"], "from": r["state"], "to": to}, now)
    return {"code": cmd.code, "state": to, "allowed": model.allowed_actions(to)}


@dataclass(frozen=True)
class AddDependency:
    actor: Actor
    code: str
    uses: str
    note: str = ""


def _add_dependency(conn: Any, actor: Actor, src: dict[str, Any], used_code: str, note: str, now: Any) -> bool:
    dst = store.by_code(conn, used_code)
    if dst is None:
        raise NotFound(f"resource {src['code']}: no resource {used_code!r} to use", field="uses")
    model.check_dependency(src["code"], src["rtype"], dst["code"], dst["rtype"])
    if dst["state"] == "retired":
        raise ValidationError(f"resource {src['code']}: {dst['code']} is retired and cannot be used", field="uses")
    if src["rtype"] not in model.CYCLES_ALLOWED:
        path = store.path_between(conn, dst["id"], src["id"])
        if path is not None:
            names = store.by_ids(conn, path)
            model.check_cycle(src["code"], src["rtype"], dst["code"],
                              [dst["code"], *[names[i]["code"] for i in path]])
    added = store.add_dependency(conn, src["id"], dst["id"], note[:200], actor.username, now)
    if added:
        store.add_event(conn, src["id"], now, actor.username, "uses", None, None, None, {"uses": dst["code"]})
    return added


def add_dependency(p: Platform, cmd: AddDependency) -> dict[str, Any]:
    now = p.clock.now()
    with p.db.begin() as conn:
        src = _load(conn, cmd.code)
        cmd.actor.require("ledger.register", src["division_code"])
        added = _add_dependency(conn, cmd.actor, src, cmd.uses, cmd.note, now)
        if added:
            audit.record(conn, cmd.actor, "ledger.uses", "ledger_resource", src["code"], now,
                         node=src["division_code"], details={"uses": cmd.uses})
    return {"code": cmd.code, "uses": cmd.uses, "added": added}


@dataclass(frozen=True)
class RemoveDependency:
    actor: Actor
    code: str
    uses: str


def remove_dependency(p: Platform, cmd: RemoveDependency) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        src = _load(conn, cmd.code)
        cmd.actor.require("ledger.register", src["division_code"])
        dst = _load(conn, cmd.uses)
        if not store.remove_dependency(conn, src["id"], dst["id"]):
            raise NotFound(f"resource {cmd.code} does not use {cmd.uses}", field="uses")
        store.add_event(conn, src["id"], now, cmd.actor.username, "stops_using", None, None, None, {"uses": cmd.uses})
        audit.record(conn, cmd.actor, "ledger.stops_using", "ledger_resource", src["code"], now,
                     node=src["division_code"], details={"uses": cmd.uses})


# --- bundled application (一揽子申请) -------------------------------------------------------
@dataclass(frozen=True)
class ApplyBundle:
    actor: Actor
    unit: str
    purpose: str
    items: tuple[tuple[str, dict[str, Any]], ...]  # (resource code, what is asked for)
    division_code: str | None = None


def apply_bundle(p: Platform, cmd: ApplyBundle) -> dict[str, Any]:
    cmd.actor.require("ledger.apply")
    if not cmd.items:
        raise ValidationError("choose at least one resource", field="items")
    if len(cmd.items) > 50:
        raise ValidationError("at most 50 resources in one application", field="items")
    if not cmd.purpose.strip() or len(cmd.purpose) > 500:
        raise ValidationError("state the purpose in 1-500 characters", field="purpose")
    if not cmd.unit.strip():
        raise ValidationError("the applying unit is needed", field="unit")
    codes = [c for c, _ in cmd.items]
    if len(set(codes)) != len(codes):
        raise ValidationError("a resource appears twice in the application", field="items")
    grant = cmd.actor.primary()
    division = cmd.division_code or (grant.node if grant else None)
    if division is None:
        raise ValidationError("the applicant's division is needed", field="division_code")
    now = p.clock.now()
    with p.db.begin() as conn:
        found = store.by_codes(conn, codes)
        items = []
        for code, request in cmd.items:
            r = found.get(code)
            if r is None:
                raise NotFound(f"no resource {code!r} in the ledger", field="items")
            model.check_appliable(code, r["state"])
            items.append({"resource_id": r["id"], "request": dict(request or {}), "status": "pending"})
        aid = store.insert_application(conn, {
            "applicant": cmd.actor.username, "applicant_unit": cmd.unit.strip(), "division_code": division,
            "purpose": cmd.purpose.strip(), "status": "pending", "created_at": now, "updated_at": now}, items)
        audit.record(conn, cmd.actor, "ledger.apply", "ledger_application", aid, now, node=division,
                     details={"resources": codes})
        outbox.emit(conn, "ledger.application.submitted", {"id": aid, "resources": codes}, now)
    return {"id": aid, "status": "pending", "items": len(items)}


@dataclass(frozen=True)
class DecideItem:
    actor: Actor
    application_id: int
    resource_code: str
    approve: bool
    reason: str | None = None


def decide_item(p: Platform, cmd: DecideItem) -> dict[str, Any]:
    """Each owner decides its own part; approval provisions access through the owning module."""
    now = p.clock.now()
    with p.db.begin() as conn:
        app = store.application(conn, cmd.application_id)
        if app is None:
            raise NotFound(f"no application {cmd.application_id}", field="application_id")
        item = next((i for i in app["items"] if i["code"] == cmd.resource_code), None)
        if item is None:
            raise NotFound(f"application {cmd.application_id} does not ask for {cmd.resource_code}", field="resource")
        cmd.actor.require("ledger.approve", item["division_code"])
        model.check_item_decision(cmd.application_id, cmd.resource_code, item["status"])
        if not cmd.approve and not (cmd.reason or "").strip():
            raise ValidationError(f"application {cmd.application_id}: rejecting {cmd.resource_code} needs a reason",
                                  field="reason")
        status = "approved" if cmd.approve else "rejected"
        store.decide_item(conn, item["id"], status, cmd.actor.username, now, cmd.reason)
        details: dict[str, Any] = {}
        if cmd.approve:
            resource = _load(conn, cmd.resource_code)
            name, fn = provisioner_for(resource["rtype"])
            details = fn(conn, ProvisionRequest(cmd.application_id, item["id"], resource, app["applicant"],
                                                app["applicant_unit"], item["request"], cmd.actor.username, now))
            store.insert_grant(conn, {"item_id": item["id"], "resource_id": resource["id"], "grantee": app["applicant"],
                                      "grantee_unit": app["applicant_unit"], "provisioner": name,
                                      "details": details, "created_at": now})
            store.add_event(conn, resource["id"], now, cmd.actor.username, "grant", None, None, cmd.reason,
                            {"application": cmd.application_id, "grantee": app["applicant"]})
        states = [status if i["id"] == item["id"] else i["status"] for i in app["items"]]
        app_status = model.application_status(states)
        store.set_application_status(conn, cmd.application_id, app_status, now)
        audit.record(conn, cmd.actor, f"ledger.application.{status}", "ledger_application", cmd.application_id, now,
                     node=item["division_code"], details={"resource": cmd.resource_code, "reason": cmd.reason})
        outbox.emit(conn, "ledger.application.decided",
                    {"id": cmd.application_id, "resource": cmd.resource_code, "status": status}, now)
    return {"application": cmd.application_id, "resource": cmd.resource_code, "item": status,
            "status": app_status, "provisioned": details}


# --- live components ------------------------------------------------------------------------------
def city_code(conn: Any) -> str | None:
    d = geo_store.divisions
    return conn.execute(select(d.c.code).where(d.c.level == "city").order_by(d.c.code).limit(1)).scalar()


def register_own_components(p: Platform) -> int:
    """Register CityOS's own capability components (idempotent): online, city level, with endpoints."""
    with p.db.read() as conn:
        city = city_code(conn)
        if city is None:
            return 0
        existing = {r["code"] for r in store.by_codes(conn, [f"CITYOS-{c.key}" for c in model.OWN_COMPONENTS]).values()}
    n = 0
    for c in model.OWN_COMPONENTS:
        code = f"CITYOS-{c.key}"
        if code in existing:
            continue
        attrs: dict[str, Any] = {"key": c.key, "version": "0.1"}
        if c.endpoint:
            attrs["endpoint"] = c.endpoint
        if c.health:
            attrs["health_url"] = c.health
        try:
            register_resource(p, RegisterResource(SYSTEM, model.NewResource(
                code, "component", c.name_zh, c.name_en, f"C-{city}", "city", city, attrs,
                description=f"CityOS 内建能力组件 / built-in capability component: {c.name_en}",
                tags=("cityos", "builtin")), state="online"))
            n += 1
        except Conflict:
            continue  # another worker registered it first
    return n


def probe_components(p: Platform) -> int:
    """Probe every online component with an endpoint; record availability and latency."""
    base = p.settings.public_url.rstrip("/")
    with p.db.read() as conn:
        targets = store.probe_targets(conn)
    rows = []
    with httpx.Client(timeout=PROBE_TIMEOUT_S, follow_redirects=True) as client:
        for t in targets:
            path = t["health_url"] or t["endpoint"]
            url = path if path.startswith("http") else base + path
            t0 = time.perf_counter()
            ok, status, error = False, None, None
            try:
                resp = client.get(url)
                status = resp.status_code
                ok = 200 <= status < 400
                if not ok:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            latency = (time.perf_counter() - t0) * 1000
            rows.append({"resource_id": t["id"], "at": p.clock.now(), "ok": ok, "latency_ms": round(latency, 2),
                         "status_code": status, "error": error})
    with p.db.begin() as conn:
        store.add_probes(conn, rows)
    return len(rows)


@wiring
def _wire(p: Platform) -> None:
    for cmd, fn in ((RegisterResource, register_resource), (Transition, transition),
                    (AddDependency, add_dependency), (RemoveDependency, remove_dependency),
                    (ApplyBundle, apply_bundle), (DecideItem, decide_item)):
        p.bus.register(cmd, lambda c, fn=fn: fn(p, c))  # type: ignore[misc]
    # Runs at the first worker start (recurring rows are created with run_at = now), then daily.
    def register_job(_payload: dict[str, Any]) -> None:
        register_own_components(p)

    def probe_job(_payload: dict[str, Any]) -> None:
        probe_components(p)

    p.bus.register_recurring("ledger.register_components", register_job, every_s=86_400)
    p.bus.register_recurring("ledger.probe_components", probe_job, every_s=PROBE_EVERY_S)

