"""Case loop use cases: report, act (every transition), attach, sweeps, indicators."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from cityos.core import idempotency
from cityos.core.errors import Conflict, Forbidden, NotFound, TooLarge, ValidationError
from cityos.core.groupcommit import GroupCommit
from cityos.core.outbox import emit, emit_many
from cityos.core.store import bump_revision, read_revision
from cityos.geo.model import LEVELS, level_of
from cityos.governance import store
from cityos.governance.model import (
    ACTIONS,
    LEVEL_UP,
    CaseState,
    Category,
    WorkCalendar,
    check_action,
    event_deltas,
    parse_categories,
)
from cityos.governance.routing import route
from cityos.governance.settings import case_settings
from cityos.identity import audit
from cityos.identity.model import GRID_STAFF, OPERATORS, Actor, allow

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

CATALOG_REVISION = "governance.catalog"
DEFAULT_CATEGORIES = Path(__file__).parent / "data" / "categories.csv"
MAX_TEXT = 4000
ATTACHMENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf",
                    "video/mp4": ".mp4"}
MAX_ATTACHMENT = 10 * 1024 * 1024
ESCALATION_GRACE = timedelta(seconds=case_settings().escalation_grace_s)  # CITYOS_ESCALATION_GRACE_S, default 2 h
TRUSTED_SOURCES = ("grid", "sensor", "upper", "staff")  # filed and dispatched at intake

CASE_READERS = (*OPERATORS, "dispatcher", "department_handler", "verifier", *GRID_STAFF)
allow(CASE_READERS, "case.read", "case.report")
allow(("citizen", "public"), "case.report.public")
allow(("system_admin",), "category.manage", "case.read")
allow(OPERATORS, "category.manage", "case.import")
allow(("auditor",), "case.read")


# --- the catalogue and calendar, cached per process and refreshed on change ---------------

@dataclass
class Catalog:
    revision: int
    categories: dict[str, Category]
    calendar: WorkCalendar


class CatalogService:
    def __init__(self, p: Platform, ttl: float = 5.0) -> None:
        self.p = p
        self.ttl = ttl
        self._cat: Catalog | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> Catalog:
        if self._cat is not None and time.monotonic() - self._checked < self.ttl:
            return self._cat
        with self._lock, self.p.db.read() as conn:
            rev = read_revision(conn, CATALOG_REVISION)
            if self._cat is None or self._cat.revision != rev:
                cats = {c.code: c for c in store.load_categories(conn)}
                days = store.load_calendar(conn)
                cal = WorkCalendar(frozenset(d for d, k in days if k == "holiday"),
                                   frozenset(d for d, k in days if k == "makeup"))
                self._cat = Catalog(rev, cats, cal)
            self._checked = time.monotonic()
            return self._cat

    def invalidate(self) -> None:
        self._checked = 0.0

    def category(self, code: str) -> Category:
        cat = self.get().categories.get(code)
        if cat is None:
            raise ValidationError(f"unknown category {code!r}; see /api/v1/categories", field="category")
        return cat


def catalog(p: Platform) -> CatalogService:
    svc = p.extras.get("governance.catalog")
    if svc is None:
        svc = CatalogService(p)
        p.extras["governance.catalog"] = svc
    return svc  # type: ignore[return-value]


def import_categories(p: Platform, actor: Actor, text: str) -> int:
    actor.require("category.manage")
    cats = parse_categories(text)
    now = p.clock.now()
    with p.db.begin() as conn:
        store.upsert_categories(conn, cats, now)
        bump_revision(conn, CATALOG_REVISION, now)
        audit.record(conn, actor, "category.import", "category", None, now, details={"count": len(cats)})
    catalog(p).invalidate()
    return len(cats)


def set_calendar(p: Platform, actor: Actor, days: list[tuple[Any, str, str]]) -> None:
    actor.require("category.manage")
    now = p.clock.now()
    with p.db.begin() as conn:
        store.set_calendar(conn, days)
        bump_revision(conn, CATALOG_REVISION, now)
        audit.record(conn, actor, "calendar.set", "calendar", None, now, details={"days": len(days)})
    catalog(p).invalidate()


# --- intake ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportCase:
    actor: Actor
    category: str
    description: str
    lon: Any = None
    lat: Any = None
    address: str | None = None
    title: str | None = None
    source: str = "staff"
    source_ref: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    emergency: bool | None = None
    idempotency_key: str | None = None
    node: str | None = None  # a division code when there is no point (e.g. a hotline address)
    alarm_ref: str | None = None
    # Called inside the intake transaction with (conn, case_id): a door that keeps details of
    # its own (Open311) writes them with the case, all or nothing.
    on_created: Callable[[Connection, int], None] | None = None


SOURCES = ("public", "grid", "sensor", "hotline", "upper", "staff")


def _check_text(value: str | None, field_name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    if value is None or not str(value).strip():
        if required:
            raise ValidationError("must not be empty", field=field_name)
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise ValidationError(f"must be at most {limit} characters (has {len(text)})", field=field_name)
    if "\x00" in text:
        raise ValidationError("must not contain NUL characters", field=field_name)
    return text


@dataclass
class _Intake:
    """A case checked and located, ready to be written (no IO was needed for it)."""

    cmd: ReportCase
    cat: Category
    chain: dict[str, Any]
    node: str
    public: bool
    emergency: bool
    trusted: bool
    description: str
    title: str | None
    address: str | None
    reporter_name: str | None
    reporter_phone: str | None
    key: str | None
    scope_key: str
    body_hash: str | None


def report_case(p: Platform, cmd: ReportCase) -> dict[str, Any]:
    """Take a case in: locate, route, persist, emit; trusted sources are filed and dispatched at once.

    Checked first, in this thread; then written with the other intakes of this process that
    arrive meanwhile, in one transaction (group commit), and answered once that commits."""
    item = _prepare(p, cmd)
    if cmd.on_created is not None:  # a door's own details in the same transaction: written alone
        with p.db.begin() as conn:
            out = _write_intakes(p, conn, [item])[0]
        if isinstance(out, BaseException):
            raise out
        return out
    return _intake_writer(p).submit(item)


def _intake_writer(p: Platform) -> GroupCommit[_Intake, dict[str, Any]]:
    writer = p.extras.get("governance.intake")
    if writer is None:
        # One batch at a time per process: SQLite has one writer anyway, and on PostgreSQL
        # concurrent batches of one process mostly wait for each other on the open-case counter
        # rows (case_counts) they share; one batch that takes in all that queued is faster.
        writer = GroupCommit(p.db, lambda conn, items: _write_intakes(p, conn, items),
                             parallel=1)
        p.extras["governance.intake"] = writer
    return writer  # type: ignore[return-value]


def _prepare(p: Platform, cmd: ReportCase) -> _Intake:
    actor = cmd.actor
    if cmd.source not in SOURCES:
        raise ValidationError(f"must be one of {', '.join(SOURCES)}", field="source")
    public = cmd.source in ("public", "hotline")
    if cmd.source == "public":
        actor.require("case.report.public")
    elif actor.via != "system":
        actor.require("case.report")
    description = _check_text(cmd.description, "description", required=True)
    title = _check_text(cmd.title, "title", limit=200)
    address = _check_text(cmd.address, "address", limit=300)
    reporter_name = _check_text(cmd.reporter_name, "reporter_name", limit=80)
    reporter_phone = _check_text(cmd.reporter_phone, "reporter_phone", limit=20)
    cat = catalog(p).category(cmd.category)
    chain = _chain_for(p, cmd)
    node = next(c for c in (chain.get(lv) for lv in reversed(LEVELS)) if c)
    if cmd.source != "public" and actor.via != "system" and not actor.can("case.report", node):
        raise Forbidden(f"the location {node} is outside your scope", field="location")
    key = idempotency.check_key(cmd.idempotency_key)
    body_hash = None
    if key:  # the body's hash is only needed to compare a repeated key's request
        body_hash = idempotency.request_hash(
            {k: v for k, v in cmd.__dict__.items() if k not in ("actor", "idempotency_key", "on_created")})
    emergency = cat.emergency if cmd.emergency is None else bool(cmd.emergency)
    return _Intake(cmd, cat, chain, node, public, emergency, cmd.source in TRUSTED_SOURCES or emergency,
                   description or "", title, address, reporter_name, reporter_phone, key,
                   f"case:{actor.username}", body_hash)


def _write_intakes(p: Platform, conn: Connection, items: Sequence[_Intake]) -> list[dict[str, Any] | BaseException]:
    """Write checked intakes in the caller's transaction: a few statements for all of them (one
    multi-row INSERT per table). Returns one result per item (a replayed idempotency key's
    stored answer, or its Conflict)."""
    now = p.clock.now()
    out: list[dict[str, Any] | BaseException | None] = [None] * len(items)
    keyed = [(it.scope_key, it.key) for it in items if it.key is not None]
    if keyed:
        if len(set(keyed)) < len(keyed):  # the same key twice in one batch: each alone, in order
            raise ValidationError("repeated Idempotency-Key in one batch", field="Idempotency-Key")
        seen = idempotency.lookup_many(conn, keyed)
        for i, it in enumerate(items):
            hit = seen.get((it.scope_key, it.key)) if it.key else None
            if hit is not None:
                out[i] = (Conflict("this Idempotency-Key was already used with a different request body",
                                   field="Idempotency-Key") if hit[0] != it.body_hash else dict(hit[2]))
    fresh = [i for i, o in enumerate(out) if o is None]
    if not fresh:
        return out  # type: ignore[return-value]
    ids = store.next_case_ids(conn, len(fresh))
    calendar = catalog(p).get().calendar
    day = now.strftime("%Y%m%d")
    cases_, events, notices, outbox_, audits, remember = [], [], [], [], [], []
    for i, case_id in zip(fresh, ids, strict=True):
        it = items[i]
        cmd, cat, chain, node, actor = it.cmd, it.cat, it.chain, it.node, it.cmd.actor
        decision = route(conn, cat, chain)
        routing = decision.as_dict()
        number = day + f"{case_id:08d}"
        role = _role(actor)
        values: dict[str, Any] = {
            "id": case_id, "number": number, "source": cmd.source, "source_ref": cmd.source_ref,
            "category_code": cat.code, "kind": cat.kind, "title": it.title or cat.name_zh,
            "description": it.description, "lon": chain.get("_lon"), "lat": chain.get("_lat"), "address": it.address,
            "grid_code": chain.get("grid"), "village_code": chain.get("village"), "township_code": chain.get("township"),
            "district_code": chain.get("district"), "node": node, "owner_level": decision.level,
            "owner_node": decision.node, "handler_unit": decision.unit, "co_units": {}, "routing": routing,
            "state": "collected", "deadline": None, "deadline_version": 0, "dispatched_at": None, "overdue": False,
            "escalation_level": 0, "emergency": it.emergency, "public": it.public, "reporter_name": it.reporter_name,
            "reporter_phone": it.reporter_phone, "reporter_user": actor.username if actor.authenticated else None,
            "rework_count": 0, "return_count": 0, "alarm_ref": cmd.alarm_ref, "created_by": actor.username,
            "created_at": now, "updated_at": now,
        }
        nodes = _nodes(values)
        events.append({"case_id": case_id, "action": "create", "from_state": None, "to_state": "collected", "at": now,
                       "actor": actor.username, "role": role, "node": node, "note": None,
                       "payload": {"nodes": nodes, "public": it.public, "routing": routing}})
        if it.trusted:
            # Filed and dispatched at intake: the row is written in its final state, with the events
            # of both steps (the same record as doing them one after the other).
            deadline = calendar.deadline(now, cat.limit_value, cat.limit_type)
            values.update(state="dispatched", deadline=deadline, dispatched_at=now, deadline_version=1)
            for action, frm, to in (("file", "collected", "filed"), ("dispatch", "filed", "dispatched")):
                events.append({"case_id": case_id, "action": action, "from_state": frm, "to_state": to, "at": now,
                               "actor": actor.username, "role": role, "node": node,
                               "note": "auto: trusted source" if action == "file" else routing["rule"],
                               "payload": {"nodes": nodes, "first": True, "deadline": deadline.isoformat(),
                                           "public": it.public, "unit": decision.unit}})
            if decision.unit:
                notices.append({"recipient_unit": decision.unit, "recipient_user": None, "kind": "case.dispatched",
                                "title": f"新案件 {number}: {values['title']}"[:200], "body": it.description[:500],
                                "case_id": case_id, "created_at": now})
        cases_.append(values)
        outbox_.append(("case.created", {"case_id": case_id, "number": number, "category": cat.code, "node": node,
                                         "state": values["state"], "emergency": it.emergency, "unit": decision.unit}))
        audits.append(audit.entry(actor, "case.create", "case", number, now, node=node))
        result = {"id": case_id, "number": number, "state": values["state"], "routing": routing,
                  "deadline": values["deadline"].isoformat() if values["deadline"] else None}
        if it.key:
            remember.append((it.scope_key, it.key, it.body_hash, 201, result))
        out[i] = result
    store.insert_cases(conn, cases_)
    for i in fresh:
        if items[i].cmd.on_created is not None:
            items[i].cmd.on_created(conn, int(out[i]["id"]))  # type: ignore[index, misc]
    store.add_events(conn, events)
    store.notify(conn, notices)
    emit_many(conn, outbox_, now)
    audit.record_many(conn, audits)
    idempotency.remember_many(conn, remember, now)
    return out  # type: ignore[return-value]


def _chain_for(p: Platform, cmd: ReportCase) -> dict[str, Any]:
    if cmd.lon is None and cmd.lat is None:
        if not cmd.node:
            raise ValidationError("a location is needed: lon and lat, or a division code", field="location")
        level = level_of(cmd.node)
        idx = p.geo.index()
        if cmd.node not in idx.parent:
            raise ValidationError(f"division {cmd.node} does not exist", field="node")
        chain: dict[str, Any] = {level_of(c): c for c in idx.chain(cmd.node)}
        chain[level] = cmd.node
        return chain
    if cmd.lon is None or cmd.lat is None:
        raise ValidationError("lon and lat go together", field="lat" if cmd.lat is None else "lon")
    loc = p.geo.locate(cmd.lon, cmd.lat)
    if not loc.inside:
        raise ValidationError(f"the point ({loc.lon}, {loc.lat}) lies outside the city", field="location")
    chain = {level_of(c): c for c in loc.chain}
    chain["_lon"], chain["_lat"] = loc.lon, loc.lat
    return chain


def _nodes(case: dict[str, Any]) -> list[str]:
    nodes = [case[k] for k in ("grid_code", "village_code", "township_code", "district_code") if case.get(k)]
    city = case["node"][:2] + "0000"
    return [*nodes, city, *([case["handler_unit"]] if case.get("handler_unit") else [])]


def _role(actor: Actor) -> str | None:
    g = actor.primary()
    return g.role if g else actor.via


def _auto_dispatch(p: Platform, conn: Connection, case: dict[str, Any], cat: Category, actor: Actor,
                   now: datetime, nodes: list[str]) -> str:
    """File and dispatch a case just inserted as collected (the hotline import; intake writes the
    dispatched row at once)."""
    deadline = catalog(p).get().calendar.deadline(now, cat.limit_value, cat.limit_type)
    store.update_case(conn, case, {"state": "dispatched", "deadline": deadline, "dispatched_at": now,
                                         "updated_at": now, "deadline_version": 1})
    case.update(deadline=deadline, state="dispatched")
    for action, frm, to in (("file", "collected", "filed"), ("dispatch", "filed", "dispatched")):
        store.add_event(conn, {"case_id": case["id"], "action": action, "from_state": frm, "to_state": to, "at": now,
                               "actor": actor.username, "role": _role(actor), "node": case["node"],
                               "note": "auto: trusted source" if action == "file" else case["routing"]["rule"],
                               "payload": {"nodes": nodes, "first": True, "deadline": deadline.isoformat(),
                                           "public": case["public"], "unit": case["handler_unit"]}})
    _notify_unit(conn, case, "case.dispatched", f"新案件 {case['number']}: {case['title']}", now)
    return "dispatched"


def _notify_unit(conn: Connection, case: dict[str, Any], kind: str, title: str, now: datetime,
                 unit: str | None = None) -> None:
    target = unit or case.get("handler_unit")
    if target:
        store.notify(conn, [{"recipient_unit": target, "recipient_user": None, "kind": kind, "title": title[:200],
                             "body": case.get("description", "")[:500], "case_id": case["id"], "created_at": now}])


# --- transitions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Act:
    actor: Actor
    case_id: int
    action: str
    note: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _roles_at(actor: Actor, node: str, unit: str | None) -> set[str]:
    roles = set()
    for g in actor.grants:
        if g.reaches(node) and (g.unit is None or unit is None or g.unit == unit):
            roles.add(g.role)
    if actor.via == "system":
        roles |= {r for a in ACTIONS.values() for r in a.roles}
    return roles


def act(p: Platform, cmd: Act) -> dict[str, Any]:
    """Apply one action of the loop; every transition records who, when, as which role, and a note."""
    actor = cmd.actor
    note = _check_text(cmd.note, "note", limit=2000)
    now = p.clock.now()
    with p.db.begin() as conn:
        case = store.get_case(conn, cmd.case_id, lock=True)
        if case is None or not actor.can("case.read", case["node"]):
            raise NotFound(f"no case {cmd.case_id} in your scope", field="case_id")
        state = CaseState(case["state"], case["deadline"], case["handler_unit"], dict(case["co_units"] or {}),
                          case["reported_by"], case["extension"], False)
        roles = _roles_at(actor, case["node"], case["handler_unit"])
        if cmd.action == "evaluate" and case["reporter_user"] == actor.username:
            roles.add("citizen")
        target = check_action(state, cmd.action, actor_roles=roles, actor_name=actor.username, now=now, note=note,
                              payload=cmd.payload)
        changes: dict[str, Any] = {"state": target, "updated_at": now}
        payload: dict[str, Any] = {"nodes": _nodes(case), "public": case["public"],
                                   "deadline": case["deadline"].isoformat() if case["deadline"] else None}
        _apply(p, conn, case, cmd, changes, payload, now, note)
        store.update_case(conn, case, changes)
        role = next((g.role for g in actor.grants if g.role in roles and g.reaches(case["node"])), _role(actor))
        store.add_event(conn, {"case_id": case["id"], "action": cmd.action, "from_state": case["state"],
                               "to_state": target, "at": now, "actor": actor.username, "role": role,
                               "node": case["node"], "note": note, "payload": payload})
        emit(conn, "case.transitioned", {"case_id": case["id"], "number": case["number"], "action": cmd.action,
                                         "from": case["state"], "to": target, "node": case["node"]}, now)
        audit.record(conn, actor, f"case.{cmd.action}", "case", case["number"], now, node=case["node"])
        if cmd.action == "close":
            _propagate_outcome(conn, case, now)
    return {"id": case["id"], "number": case["number"], "state": target, "action": cmd.action}


def _apply(p: Platform, conn: Connection, case: dict[str, Any], cmd: Act, changes: dict[str, Any],
           payload: dict[str, Any], now: datetime, note: str | None) -> None:
    a = cmd.action
    cat = catalog(p).category(case["category_code"])
    if a == "dispatch":
        first = case["dispatched_at"] is None
        unit = cmd.payload.get("unit") or case["handler_unit"]
        co = {u: False for u in cmd.payload.get("co_units", []) if isinstance(u, str)}
        deadline = case["deadline"] if not first and case["deadline"] else \
            catalog(p).get().calendar.deadline(now, cat.limit_value, cat.limit_type)
        changes.update(handler_unit=unit, co_units=co, deadline=deadline, deadline_version=case["deadline_version"] + 1,
                       dispatched_at=case["dispatched_at"] or now, overdue=False if first else case["overdue"])
        payload.update(first=first, deadline=deadline.isoformat(), unit=unit)
        _notify_unit(conn, {**case, "handler_unit": unit}, "case.dispatched", f"新案件 {case['number']}: {case['title']}", now)
        for u in co:
            _notify_unit(conn, case, "case.co_handling", f"协办案件 {case['number']}", now, unit=u)
    elif a == "reassign":
        unit = str(cmd.payload["unit"])
        changes.update(handler_unit=unit)
        payload.update(unit=unit, first_error=case["return_count"] == 0 and not _was_reassigned(conn, case["id"]))
        _notify_unit(conn, {**case, "handler_unit": unit}, "case.dispatched", f"改派案件 {case['number']}", now)
    elif a == "return":
        changes.update(return_count=case["return_count"] + 1)
        payload.update(first_error=case["return_count"] == 0 and not _was_reassigned(conn, case["id"]))
    elif a == "report":
        changes.update(reported_by=cmd.actor.username)
        payload.update(first=not _has_event(conn, case["id"], "report"),
                       dispatched_at=case["dispatched_at"].isoformat() if case["dispatched_at"] else None)
    elif a == "co_report":
        unit = cmd.payload.get("unit")
        co = dict(case["co_units"] or {})
        if unit not in co:
            raise ValidationError(f"{unit!r} is not a co-handling unit of this case", field="unit")
        co[unit] = True
        changes.update(co_units=co)
    elif a == "rework":
        changes.update(rework_count=case["rework_count"] + 1, reported_by=None)
    elif a == "close":
        changes.update(closed_at=now)
    elif a in ("evaluate", "follow_up"):
        sat = cmd.payload.get("satisfied")
        if sat is not None:
            changes.update(satisfied=bool(sat))
            payload.update(satisfied=bool(sat))
        if a == "follow_up" and sat is False:
            # Not satisfied: the case goes back to handling (counted as rework).
            changes.update(state="handling", rework_count=case["rework_count"] + 1, closed_at=None)
    elif a == "reopen":
        changes.update(closed_at=None, rework_count=case["rework_count"] + 1)
    elif a == "request_extension":
        changes.update(extension={"hours": cmd.payload["hours"], "by": cmd.actor.username, "at": now.isoformat(),
                                  "reason": note})
    elif a == "approve_extension":
        ext = case["extension"] or {}
        old = case["deadline"]
        new = old + timedelta(hours=float(ext.get("hours", 0)))
        changes.update(deadline=new, extension=None, deadline_version=case["deadline_version"] + 1,
                       overdue=False if new > now else case["overdue"])
        payload.update(old_deadline=old.isoformat(), deadline=new.isoformat(), hours=ext.get("hours"))
    elif a == "reject_extension":
        changes.update(extension=None)
    elif a == "merge":
        master = store.get_case(conn, int(cmd.payload["master_id"]))
        if master is None or master["id"] == case["id"] or master["state"] in ("cancelled", "merged"):
            raise ValidationError("the master case must be another open case", field="master_id")
        if not cmd.actor.can("case.read", master["node"]):
            raise NotFound("no such master case in your scope", field="master_id")
        changes.update(master_id=master["id"])
        payload.update(master_id=master["id"], master_number=master["number"])
    elif a in ("take_over", "hand_down"):
        _move_level(p, conn, case, cmd, changes, payload)
    elif a in ("supervise", "remind"):
        _notify_unit(conn, case, f"case.{a}", f"{ACTIONS[a].zh} {case['number']}: {note or ''}", now)


def _move_level(p: Platform, conn: Connection, case: dict[str, Any], cmd: Act, changes: dict[str, Any],
                payload: dict[str, Any]) -> None:
    order = ["grid", "township", "district", "city"]
    level = str(cmd.payload.get("level") or "")
    if level not in order:
        raise ValidationError(f"must be one of {', '.join(order)}", field="level")
    cur = order.index(case["owner_level"])
    if (cmd.action == "take_over" and order.index(level) <= cur) or (cmd.action == "hand_down" and order.index(level) >= cur):
        raise ValidationError(f"{cmd.action} must move the case {'up' if cmd.action == 'take_over' else 'down'} "
                              f"from {case['owner_level']}", field="level")
    node = {"grid": case["grid_code"], "township": case["township_code"], "district": case["district_code"],
            "city": case["node"][:2] + "0000"}[level]
    if not node:
        raise ValidationError(f"the case has no {level}", field="level")
    cmd.actor.require("case.read", node)
    if not _roles_at(cmd.actor, node, None) & set(ACTIONS[cmd.action].roles):
        raise Forbidden(f"you hold no dispatching role at the {level} ({node})", field="role")
    unit = f"C-{node}" if level != "grid" else f"G-{node}"
    changes.update(owner_level=level, owner_node=node, handler_unit=unit)
    payload.update(level=level, node=node, unit=unit)


def _has_event(conn: Connection, case_id: int, action: str) -> bool:
    return any(e["action"] == action for e in store.events_of(conn, case_id))


def _was_reassigned(conn: Connection, case_id: int) -> bool:
    return _has_event(conn, case_id, "reassign")


def _propagate_outcome(conn: Connection, master: dict[str, Any], now: datetime) -> None:
    """Merged duplicates follow their master: their reporters get the outcome too."""
    from sqlalchemy import select

    dup_rows = conn.execute(select(store.cases).where(store.cases.c.master_id == master["id"])).mappings().all()
    for dup in dup_rows:
        if dup["reporter_user"]:
            store.notify(conn, [{"recipient_user": dup["reporter_user"], "recipient_unit": None, "kind": "case.outcome",
                                 "title": f"您反映的问题已办结 {dup['number']} (并入 {master['number']})",
                                 "body": master["description"][:500], "case_id": dup["id"], "created_at": now}])


# --- attachments ---------------------------------------------------------------------------------

def attach(p: Platform, actor: Actor, case_id: int, filename: str, content_type: str, data: bytes) -> int:
    if content_type not in ATTACHMENT_TYPES:
        raise ValidationError(f"type {content_type!r} is not allowed; allowed: {', '.join(ATTACHMENT_TYPES)}",
                              field="content_type")
    if len(data) > MAX_ATTACHMENT:
        raise TooLarge(f"attachment over {MAX_ATTACHMENT // (1024 * 1024)} MiB", field="file")
    if not data:
        raise ValidationError("the file is empty", field="file")
    sniff_content(content_type, data)
    now = p.clock.now()
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(p.settings.data_dir) / "attachments" / digest[:2]
    with p.db.begin() as conn:
        case = store.get_case(conn, case_id)
        if case is None or not actor.can("case.read", case["node"]):
            raise NotFound(f"no case {case_id} in your scope", field="case_id")
        if case["state"] in ("cancelled", "merged"):
            raise ValidationError(f"the case is {case['state']}", field="case_id")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (digest + ATTACHMENT_TYPES[content_type])
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        aid = store.insert_attachment(conn, {"case_id": case_id, "filename": Path(filename or "file").name[:200],
                                             "content_type": content_type, "size": len(data), "sha256": digest,
                                             "path": str(path), "at": now, "actor": actor.username})
        audit.record(conn, actor, "case.attach", "case", case["number"], now, node=case["node"],
                     details={"attachment": aid, "size": len(data)})
    return aid


def sniff_content(content_type: str, data: bytes) -> None:
    """The bytes must be what the declared type says (scenarios' materials use it too)."""
    magic = {"image/jpeg": [b"\xff\xd8\xff"], "image/png": [b"\x89PNG"], "application/pdf": [b"%PDF"],
             "image/webp": [b"RIFF"], "video/mp4": [data[4:8]] if data[4:8] == b"ftyp" else [b"ftyp"]}
    if not any(data.startswith(m) or (content_type == "video/mp4" and data[4:8] == b"ftyp") for m in magic[content_type]):
        raise ValidationError(f"the file's content is not {content_type}", field="file")


# --- durable sweeps: overdue, escalation, indicators ------------------------------------------------

def sweep_overdue(p: Platform) -> dict[str, int]:
    """Mark cases past their deadline (a reminder goes to the handler); escalate those still
    overdue after the grace, one level up, with a supervision record. Safe to run anywhere,
    any number of times: each step is a conditional update."""
    now = p.clock.now()
    flagged = escalated = 0
    with p.db.begin() as conn:
        # Set-based: events, notices, their SMS copies and the counters in a few statements.
        flagged = store.flag_overdue(conn, now)
    while True:
        with p.db.begin() as conn:
            batch = store.due_for_escalation(conn, now - ESCALATION_GRACE, limit=500)
            for r in batch:
                up = LEVEL_UP[r["owner_level"]]
                node = {"township": r["township_code"], "district": r["district_code"],
                        "city": (r["district_code"] or "50")[:2] + "0000"}.get(up or "")
                if not up or not node:
                    continue
                if store.escalate(conn, r["id"], r["escalation_level"],
                                  {"owner_level": up, "owner_node": node, "overdue_at": now, "updated_at": now}):
                    escalated += 1
                    store.add_event(conn, {"case_id": r["id"], "action": "escalate", "from_state": None,
                                           "to_state": "escalated", "at": now, "actor": "system", "role": "system",
                                           "node": node, "note": f"overdue past the grace: escalated to the {up} ({node})",
                                           "payload": {"from": r["owner_level"], "to": up, "supervision": True}})
                    store.notify(conn, [{"recipient_unit": f"C-{node}", "recipient_user": None, "kind": "case.supervise",
                                         "title": f"督办: 超期案件 {r['number']} 上报", "body": "下级超期未办结，已升级督办",
                                         "case_id": r["id"], "created_at": now}])
                    emit(conn, "case.escalated", {"case_id": r["id"], "number": r["number"], "to": up, "node": node}, now)
        if len(batch) < 500:
            break
    return {"overdue": flagged, "escalated": escalated}


def apply_stats(p: Platform, batch: int = 5000) -> int:
    """Fold new case events into the indicator counters (incremental, never a full recount)."""
    done = 0
    while True:
        with p.db.begin() as conn:
            events = store.uncounted_events(conn, batch)
            deltas: dict[tuple[str, str], dict[str, float]] = {}
            for e in events:
                for k, d in event_deltas(e["action"], e["at"], e["payload"] or {}).items():
                    acc = deltas.setdefault(k, {})
                    for f, v in d.items():
                        acc[f] = acc.get(f, 0) + v
            store.add_stats(conn, deltas)
            store.mark_counted(conn, [e["id"] for e in events])
        done += len(events)
        if len(events) < batch:
            return done


# --- wiring --------------------------------------------------------------------------------------------

def _on_hazard(p: Platform, event: dict[str, Any]) -> None:
    """Perception's orange-or-red hazard warning opens an emergency case (once per alarm)."""
    from cityos.identity.model import SYSTEM

    ref = str(event.get("alarm_id") or event.get("risk_point") or event.get("id"))
    report_case(p, ReportCase(SYSTEM, category=str(event.get("category") or "E0505"),
                              description=f"地灾监测预警 {event.get('level')}: {event.get('risk_point')} "
                                          f"{event.get('description') or ''}".strip(),
                              lon=event.get("lon"), lat=event.get("lat"), node=event.get("grid"),
                              source="sensor", emergency=True, alarm_ref=ref[:60],
                              idempotency_key=f"hazard:{ref}"[:200]))


def _discard(_: object) -> None:
    return None


def _wire(p: Platform) -> None:
    p.bus.register(ReportCase, lambda c: report_case(p, c))
    p.bus.register(Act, lambda c: act(p, c))
    p.bus.register_recurring("governance.sweep_overdue", lambda payload: _discard(sweep_overdue(p)),
                            every_s=case_settings().sweep_interval_s)  # CITYOS_SWEEP_INTERVAL_S, default 30
    p.bus.register_recurring("governance.apply_stats", lambda payload: _discard(apply_stats(p)), every_s=5)
    p.bus.subscribe("perception.hazard_raised", lambda ev: _on_hazard(p, ev))


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
from cityos.governance import notify_handlers  # noqa: E402, F401  (webhooks, channels)
