"""Instructions down every level, emergencies up at once, duty rosters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cityos.bootstrap import wiring
from cityos.core import idempotency
from cityos.core.errors import Forbidden, NotFound, ValidationError
from cityos.core.outbox import emit
from cityos.geo.model import level_of
from cityos.governance import handlers as cases
from cityos.governance import store as gstore
from cityos.governance.command import store
from cityos.governance.command.model import (
    DEFAULT_ACK_MINUTES,
    URGENCIES,
    TargetRule,
    check_deadlines,
    parse_rule,
    task_move,
    unit_for,
)
from cityos.identity import audit
from cityos.identity.model import GRID_STAFF, OPERATORS, Actor, allow
from cityos.identity.store import org_units

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

allow(OPERATORS, "instruction.issue", "duty.manage", "emergency.report")
allow((*OPERATORS, "dispatcher", "department_handler", *GRID_STAFF), "instruction.task")
allow((*GRID_STAFF, "dispatcher"), "emergency.report")
allow(("system_admin",), "duty.manage")


# --- instructions --------------------------------------------------------------------------

@dataclass(frozen=True)
class IssueInstruction:
    actor: Actor
    title: str
    body: str
    targets: dict[str, Any]
    sign_deadline: datetime
    complete_deadline: datetime
    urgency: str = "normal"
    relay_of_task: int | None = None
    idempotency_key: str | None = None


def resolve_targets(p: Platform, conn: Connection, rule: TargetRule) -> list[tuple[str, str, str]]:
    """(unit code, division code, level) of every target the rule picks."""
    idx = p.geo.index()
    if rule.kind == "children":
        assert rule.node and rule.level
        level_of(rule.node)
        li = idx.levels.get(rule.level)
        codes = [] if li is None else [c for c in li.codes.tolist() if c.startswith(rule.node) or rule.node.endswith("0000")]
        return [(unit_for(rule.level, c), c, rule.level) for c in codes]
    if rule.kind == "polygon":
        assert rule.level and rule.polygon
        try:
            poly = shapely.from_geojson(__import__("json").dumps(rule.polygon))
        except Exception as exc:
            raise ValidationError(f"the polygon cannot be read ({exc})", field="targets.polygon") from None
        if not poly.is_valid:
            raise ValidationError(f"the polygon is invalid: {shapely.is_valid_reason(poly)}", field="targets.polygon")
        li = idx.levels.get(rule.level)
        if li is None:
            return []
        hits = li.tree.query(poly, predicate="intersects")
        codes = sorted(np.asarray(li.codes)[hits].tolist())
        return [(unit_for(rule.level, c), c, rule.level) for c in codes]
    if rule.kind == "department":
        q = select(org_units.c.code, org_units.c.division_code, org_units.c.level).where(
            org_units.c.kind == "department", org_units.c.dept_type == rule.dept_type)
        if rule.node:
            q = q.where(org_units.c.division_code.startswith(rule.node))
        return [(r[0], r[1], r[2]) for r in conn.execute(q.order_by(org_units.c.code))]
    rows = conn.execute(select(org_units.c.code, org_units.c.division_code, org_units.c.level)
                        .where(org_units.c.code.in_(rule.units))).all()
    found = {r[0] for r in rows}
    missing = [u for u in rule.units if u not in found]
    if missing:
        raise ValidationError(f"unknown unit(s): {', '.join(missing[:10])}", field="targets.units")
    return [(r[0], r[1], r[2]) for r in rows]


def issue_instruction(p: Platform, cmd: IssueInstruction) -> dict[str, Any]:
    """Deliver to every target at once (one transaction: every target or none)."""
    actor = cmd.actor
    actor.require("instruction.issue") if cmd.relay_of_task is None else actor.require("instruction.task")
    title = cases._check_text(cmd.title, "title", required=True, limit=200)
    body = cases._check_text(cmd.body, "body", required=True, limit=20_000)
    if cmd.urgency not in URGENCIES:
        raise ValidationError(f"must be one of {', '.join(URGENCIES)}", field="urgency")
    now = p.clock.now()
    check_deadlines(now, cmd.sign_deadline, cmd.complete_deadline)
    rule = parse_rule(cmd.targets)
    key = idempotency.check_key(cmd.idempotency_key)
    if key is None:
        return _issue(p, cmd, rule, title, body, now, None)
    scope = f"instruction:{actor.username}"
    body_hash = idempotency.request_hash({k: v for k, v in cmd.__dict__.items() if k not in ("actor", "idempotency_key")})
    try:
        return _issue(p, cmd, rule, title, body, now, (scope, key, body_hash))
    except IntegrityError:
        # The same key sent twice at once (a client retrying on another server): the other
        # request committed first; written again, this one finds its answer.
        return _issue(p, cmd, rule, title, body, now, (scope, key, body_hash))


def _issue(p: Platform, cmd: IssueInstruction, rule: TargetRule, title: str | None, body: str | None,
           now: datetime, keyed: tuple[str, str, str] | None) -> dict[str, Any]:
    actor = cmd.actor
    with p.db.begin() as conn:
        if keyed is not None:
            seen = idempotency.lookup(conn, *keyed)
            if seen is not None:
                return dict(seen[1])
        parent = None
        if cmd.relay_of_task is not None:
            parent = store.get_task(conn, cmd.relay_of_task, lock=True)
            if parent is None or not actor.can("instruction.task", parent["node"]):
                raise NotFound(f"no task {cmd.relay_of_task} in your scope", field="task_id")
        targets = resolve_targets(p, conn, rule)
        if not targets:
            raise ValidationError("the rule picks no target", field="targets")
        limit_node = parent["node"] if parent else None
        scope = actor.scope("instruction.issue" if parent is None else "instruction.task")  # once, not per target
        outside = [u for u, node, _ in targets
                   if not scope.contains(node) or (limit_node and not node.startswith(limit_node))]
        if outside:
            raise Forbidden(f"{len(outside)} target(s) outside your scope, nothing sent: {', '.join(outside[:10])}",
                            field="targets")
        grant = actor.primary()
        root = parent["root_id"] if parent else None
        iid = store.insert_instruction(conn, {
            "title": title, "body": body, "urgency": cmd.urgency, "issuer": actor.username,
            "issuer_node": parent["node"] if parent else (grant.node if grant else "500000"),
            "rule": cmd.targets, "sign_deadline": cmd.sign_deadline, "complete_deadline": cmd.complete_deadline,
            "parent_task_id": cmd.relay_of_task, "root_id": root, "targets": len(targets), "created_at": now})
        root = root or iid
        if parent is None:
            conn.execute(store.instructions.update().where(store.instructions.c.id == iid).values(root_id=iid))
        else:
            store.update_task(conn, parent["id"], {"relayed_as": iid})
        store.insert_tasks(conn, [{"instruction_id": iid, "root_id": root, "unit_code": u, "node": n, "level": lv,
                                   "state": "delivered", "sign_overdue": 0, "complete_overdue": 0}
                                  for u, n, lv in targets])
        tag = {"normal": "", "urgent": "【紧急】", "critical": "【特急】"}[cmd.urgency]
        gstore.notify(conn, [{"recipient_unit": u, "recipient_user": None, "kind": "instruction", "title": f"{tag}{title}"[:200],
                              "body": (body or "")[:500], "case_id": None, "created_at": now} for u, _, _ in targets])
        emit(conn, "instruction.issued", {"instruction_id": iid, "root_id": root, "targets": len(targets)}, now)
        audit.record(conn, actor, "instruction.issue", "instruction", iid, now, details={"targets": len(targets)})
        result = {"id": iid, "root_id": root, "targets": len(targets)}
        if keyed is not None:
            idempotency.remember(conn, *keyed, 201, result, now)
    return result


@dataclass(frozen=True)
class MoveTask:
    actor: Actor
    task_id: int
    action: str
    report: str | None = None


def move_task(p: Platform, cmd: MoveTask) -> dict[str, Any]:
    now = p.clock.now()
    report = cases._check_text(cmd.report, "report", limit=4000)
    with p.db.begin() as conn:
        task = store.get_task(conn, cmd.task_id, lock=True)
        if task is None or not cmd.actor.can("instruction.task", task["node"]):
            raise NotFound(f"no task {cmd.task_id} in your scope", field="task_id")
        state = task_move(task["state"], cmd.action)
        if cmd.action == "complete" and not report:
            raise ValidationError("completion needs a report", field="report")
        values: dict[str, Any] = {"state": state}
        if cmd.action == "sign":
            values.update(signed_by=cmd.actor.username, signed_at=now)
        if state == "completed":
            values.update(completed_at=now, report=report)
            if task["signed_at"] is None:
                values.update(signed_by=cmd.actor.username, signed_at=now)
        store.update_task(conn, task["id"], values)
        audit.record(conn, cmd.actor, f"instruction.task.{cmd.action}", "instruction_task", task["id"], now,
                     node=task["node"])
    return {"id": task["id"], "state": state}


def instruction_progress(p: Platform, actor: Actor, iid: int) -> dict[str, Any]:
    with p.db.read() as conn:
        ins = store.get_instruction(conn, iid)
        if ins is None or not (actor.can("instruction.issue", ins["issuer_node"]) or ins["issuer"] == actor.username):
            raise NotFound(f"no instruction {iid} in your scope", field="instruction_id")
        rows = store.progress(conn, ins["root_id"] or iid)
        lag = store.laggards(conn, iid, p.clock.now())
    by_level: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for inst, level, state, n in rows:
        if inst == iid:
            by_level.setdefault(level, {}).setdefault(state, 0)
            by_level[level][state] += n
        totals[state] = totals.get(state, 0) + n
    return {"instruction": ins, "by_level": by_level, "tree_totals": totals,
            "laggards": [{k: t[k] for k in ("id", "unit_code", "node", "level", "state", "sign_overdue", "complete_overdue")}
                         for t in lag]}


def remind_laggards(p: Platform, actor: Actor, iid: int) -> int:
    now = p.clock.now()
    with p.db.begin() as conn:
        ins = store.get_instruction(conn, iid)
        if ins is None or not (actor.can("instruction.issue", ins["issuer_node"]) or ins["issuer"] == actor.username):
            raise NotFound(f"no instruction {iid} in your scope", field="instruction_id")
        t = store.instruction_tasks
        units = conn.execute(select(t.c.unit_code).where(t.c.instruction_id == iid, t.c.state != "completed")).scalars().all()
        gstore.notify(conn, [{"recipient_unit": u, "recipient_user": None, "kind": "instruction.remind",
                              "title": f"催办: {ins['title']}"[:200], "body": "请尽快签收并办结", "case_id": None,
                              "created_at": now} for u in units])
        audit.record(conn, actor, "instruction.remind", "instruction", iid, now, details={"laggards": len(units)})
    return len(units)


# --- emergencies -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportEmergency:
    actor: Actor
    category: str
    description: str
    lon: Any = None
    lat: Any = None
    casualties: int = 0
    media: list[str] = field(default_factory=list)
    source: str = "grid"
    ack_minutes: int = DEFAULT_ACK_MINUTES
    idempotency_key: str | None = None


def report_emergency(p: Platform, cmd: ReportEmergency) -> dict[str, Any]:
    """File the case and ring the grid, township, district and city at the same moment."""
    if cmd.actor.via != "system":
        cmd.actor.require("emergency.report")
    cat = cases.catalog(p).category(cmd.category)
    if not cat.emergency:
        raise ValidationError(f"{cat.code} {cat.name_zh} is not an emergency class", field="category")
    if not isinstance(cmd.casualties, int) or not 0 <= cmd.casualties <= 100_000:
        raise ValidationError("must be a whole number from 0", field="casualties")
    if not 1 <= cmd.ack_minutes <= 120:
        raise ValidationError("must be 1 to 120 minutes", field="ack_minutes")
    now = p.clock.now()
    made: dict[str, Any] = {}

    def ring_all(conn: Connection, case_id: int) -> None:
        case = gstore.get_case(conn, case_id)
        assert case is not None
        rid = store.insert_report(conn, {
            "case_id": case_id, "category_code": cat.code, "casualties": cmd.casualties, "lon": case["lon"],
            "lat": case["lat"], "node": case["node"], "reporter": cmd.actor.username, "ack_minutes": cmd.ack_minutes,
            "media": list(cmd.media)[:20], "created_at": now})
        levels = [("grid", case["grid_code"]), ("township", case["township_code"]), ("district", case["district_code"]),
                  ("city", case["node"][:2] + "0000")]
        units = [(level, unit_for(level, code)) for level, code in levels if code]
        duty = store.first_on_duty(conn, [u for _, u in units], now)
        rings, notes = [], []
        for level, unit in units:
            user = duty.get(unit)
            rings.append({"report_id": rid, "level": level, "unit_code": unit, "rung_at": now, "attempts": 1,
                          "position": 1, "ringing_user": user,
                          "next_ring_at": now + timedelta(minutes=cmd.ack_minutes)})
            notes.append({"recipient_unit": unit, "recipient_user": user, "kind": "emergency.ring",
                          "title": f"【直报】{cat.name_zh} {case['number']}", "body": case["description"][:500],
                          "case_id": case_id, "created_at": now})
        store.insert_rings(conn, rings)
        gstore.notify(conn, notes)
        emit(conn, "emergency.reported", {"report_id": rid, "case_id": case_id, "levels": [r["level"] for r in rings]},
             now)
        made.update(report_id=rid, levels=[r["level"] for r in rings])

    result = cases.report_case(p, cases.ReportCase(
        actor=cmd.actor, category=cat.code, description=cmd.description, lon=cmd.lon, lat=cmd.lat,
        source=cmd.source if cmd.source in cases.SOURCES else "grid", emergency=True,
        idempotency_key=cmd.idempotency_key, on_created=ring_all))
    return {**result, **made}


def acknowledge(p: Platform, actor: Actor, report_id: int, ring_id: int) -> dict[str, Any]:
    now = p.clock.now()
    with p.db.begin() as conn:
        rings = {r["id"]: r for r in store.rings_of(conn, report_id)}
        ring = rings.get(ring_id)
        if ring is None:
            raise NotFound(f"no ring {ring_id} on emergency {report_id}", field="ring_id")
        if not any(d["username"] == actor.username for d in store.on_duty(conn, ring["unit_code"], now)):
            raise Forbidden(f"you are not on duty at {ring['unit_code']} now", field="duty")
        if not store.ack_ring(conn, ring_id, actor.username, now):
            raise ValidationError(f"already acknowledged by {ring['ack_by']}", field="ring_id")
        audit.record(conn, actor, "emergency.ack", "emergency", report_id, now, details={"level": ring["level"]})
    return {"ring_id": ring_id, "ack_by": actor.username, "ack_at": now.isoformat(),
            "seconds": (now - ring["rung_at"]).total_seconds()}


def on_site(p: Platform, actor: Actor, report_id: int) -> dict[str, Any]:
    now = p.clock.now()
    with p.db.begin() as conn:
        rep = store.get_report(conn, report_id)
        if rep is None or not actor.can("case.read", rep["node"]):
            raise NotFound(f"no emergency {report_id} in your scope", field="report_id")
        if rep["first_on_site_at"] is None:
            store.update_report(conn, report_id, {"first_on_site_at": now, "first_on_site_by": actor.username})
        audit.record(conn, actor, "emergency.on_site", "emergency", report_id, now, node=rep["node"])
    return {"report_id": report_id, "on_site_at": (rep["first_on_site_at"] or now).isoformat()}


def timeline(p: Platform, actor: Actor, report_id: int) -> dict[str, Any]:
    with p.db.read() as conn:
        rep = store.get_report(conn, report_id)
        if rep is None or not actor.can("case.read", rep["node"]):
            raise NotFound(f"no emergency {report_id} in your scope", field="report_id")
        rings = store.rings_of(conn, report_id)
        case = gstore.get_case(conn, rep["case_id"])
    t0 = rep["created_at"]

    def secs(t: datetime | None) -> int | None:
        return None if t is None else int((t - t0).total_seconds())

    return {"report": rep, "case": {"id": case["id"], "number": case["number"], "state": case["state"]} if case else None,
            "levels": [{"level": r["level"], "unit": r["unit_code"], "attempts": r["attempts"], "ringing": r["ringing_user"],
                        "ack_by": r["ack_by"], "ack_after_s": secs(r["ack_at"])} for r in rings],
            "first_on_site_after_s": secs(rep["first_on_site_at"]), "resolved_after_s": secs(rep["resolved_at"])}


def sweep_rings(p: Platform) -> int:
    """Ring unacknowledged levels again, each time the next person on the duty roster."""
    now = p.clock.now()
    n = 0
    with p.db.begin() as conn:
        for ring in store.due_rings(conn, now):
            rep = store.get_report(conn, ring["report_id"])
            minutes = rep["ack_minutes"] if rep else DEFAULT_ACK_MINUTES
            duty = store.on_duty(conn, ring["unit_code"], now)
            nxt = next((d for d in duty if d["position"] > ring["position"]), duty[0] if duty else None)
            if store.ring_again(conn, ring, {"attempts": ring["attempts"] + 1, "rung_at": now,
                                             "next_ring_at": now + timedelta(minutes=minutes),
                                             "position": nxt["position"] if nxt else ring["position"],
                                             "ringing_user": nxt["username"] if nxt else None}):
                n += 1
                gstore.notify(conn, [{"recipient_unit": ring["unit_code"], "recipient_user": nxt["username"] if nxt else None,
                                      "kind": "emergency.ring", "title": f"【直报·未响应第{ring['attempts']}次】",
                                      "body": "上一位值班人员未在时限内确认，请立即响应", "case_id": rep["case_id"] if rep else None,
                                      "created_at": now}])
        for t in store.mark_task_overdue(conn, now):
            parent = t["node"][: max(6, len(t["node"]) - 3)] if len(t["node"]) > 6 else t["node"][:2] + "0000"
            gstore.notify(conn, [{"recipient_unit": f"C-{parent}", "recipient_user": None, "kind": "instruction.overdue",
                                  "title": f"指令{'签收' if t['kind'] == 'sign_overdue' else '办结'}超期: {t['unit_code']}",
                                  "body": f"instruction {t['instruction_id']}", "case_id": None, "created_at": now}])
    return n


def _on_case(p: Platform, ev: dict[str, Any]) -> None:
    if ev.get("to") != "closed":
        return
    with p.db.begin() as conn:
        conn.execute(store.emergency_reports.update().where(store.emergency_reports.c.case_id == ev["case_id"],
                                                            store.emergency_reports.c.resolved_at.is_(None))
                     .values(resolved_at=p.clock.now()))


# --- duty rosters --------------------------------------------------------------------------------

def set_duty(p: Platform, actor: Actor, unit: str, username: str, position: int, starts: datetime, ends: datetime) -> int:
    now = p.clock.now()
    if ends <= starts:
        raise ValidationError("the shift must end after it starts", field="ends_at")
    if not 1 <= position <= 9:
        raise ValidationError("must be 1 (on duty) to 9", field="position")
    with p.db.begin() as conn:
        u = conn.execute(select(org_units.c.division_code).where(org_units.c.code == unit)).scalar()
        if u is None:
            raise NotFound(f"no unit {unit}", field="unit")
        actor.require("duty.manage", u)
        did = store.add_duty(conn, {"unit_code": unit, "username": username, "position": position, "starts_at": starts,
                                    "ends_at": ends, "handed_over_by": None})
        audit.record(conn, actor, "duty.set", "duty", did, now, node=u)
    return did


def hand_over(p: Platform, actor: Actor, unit: str, to_user: str) -> int:
    """The person on duty hands over: their shift ends now and the successor's begins."""
    now = p.clock.now()
    with p.db.begin() as conn:
        mine = [d for d in store.on_duty(conn, unit, now) if d["username"] == actor.username]
        if not mine:
            raise Forbidden(f"you are not on duty at {unit}", field="duty")
        d = mine[0]
        store.end_duty(conn, unit, actor.username, now)
        did = store.add_duty(conn, {"unit_code": unit, "username": to_user, "position": d["position"], "starts_at": now,
                                    "ends_at": d["ends_at"], "handed_over_by": actor.username})
        audit.record(conn, actor, "duty.handover", "duty", did, now, details={"to": to_user, "unit": unit})
    return did


def _wire(p: Platform) -> None:
    p.bus.register(IssueInstruction, lambda c: issue_instruction(p, c))
    p.bus.register(MoveTask, lambda c: move_task(p, c))
    p.bus.register(ReportEmergency, lambda c: report_emergency(p, c))
    p.bus.register_recurring("command.sweep", lambda payload: cases._discard(sweep_rings(p)), every_s=20)
    p.bus.subscribe("case.transitioned", lambda ev: _on_case(p, ev))


wiring(_wire)
