"""Grassroots use cases: structure and staff, responsibility lists (versions, import,
export, adoption), routing by the lists, patrols (generation, check-in, reports,
overdue), grid ledgers with history."""

from __future__ import annotations

import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from cityos.core.errors import Conflict, NotFound, ValidationError
from cityos.core.store import bump_revision, read_revision
from cityos.geo import store as geo_store
from cityos.geo.model import level_of
from cityos.governance import handlers as gov
from cityos.governance import store as gov_store
from cityos.governance.model import Category, RoutingDecision
from cityos.governance.routing import register_hook
from cityos.grassroots import model as m
from cityos.grassroots import store
from cityos.identity import audit
from cityos.identity.model import GRID_STAFF, OPERATORS, Actor, allow, mask_name, mask_phone
from cityos.identity.store import in_scope

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

LOCAL = ZoneInfo("Asia/Shanghai")
LISTS_REVISION = "grassroots.lists"
STAFF_REVISION = "grassroots.staff"
TEMPLATE_CSV = Path(__file__).parent / "data" / "template.csv"
ROSTER_READERS = (*OPERATORS, *GRID_STAFF, "dispatcher", "department_handler", "verifier")

allow(ROSTER_READERS, "grassroots.roster")  # who is who (contacts masked outside grassroots.read)
allow((*OPERATORS, *GRID_STAFF), "grassroots.read")  # board, lists, patrols, contacts unmasked
allow(OPERATORS, "resplist.edit", "resplist.publish", "staff.manage")
allow(GRID_STAFF, "patrol.checkin", "gridledger.write")
allow((*OPERATORS, *GRID_STAFF), "gridledger.read")


def city_code(code: str) -> str:
    return code[:2] + "0000"


def local_day(now: datetime) -> date:
    return now.astimezone(LOCAL).date()


# --- structure and staff ---------------------------------------------------------------------------

def staff_out(r: dict[str, Any], visible: bool) -> dict[str, Any]:
    return {"id": r["id"], "node": r["node"], "post": r["post"], "post_zh": m.POSTS[r["post"]][0],
            "post_en": m.POSTS[r["post"]][1], "sector": r["sector"], "user_id": r["user_id"], "on_duty": r["on_duty"],
            "name": r["name"] if visible else mask_name(r["name"]),
            "phone": r["phone"] if visible else mask_phone(r["phone"]), "masked": not visible}


def roster(p: Platform, actor: Actor, node: str) -> dict[str, Any]:
    """Staff at a node and below: sector leads, village heads, grid 1+3+N; contacts masked outside the grid."""
    level_of(node)
    actor.require("grassroots.roster", node)
    with p.db.read() as conn:
        rows = store.staff_in(conn, store.staff.c.node.startswith(node))
    out = [staff_out(r, actor.can("grassroots.read", r["node"])) for r in rows]
    return {"node": node, "staff": out}


@dataclass(frozen=True)
class AddStaff:
    actor: Actor
    node: str
    post: str
    name: str
    phone: str | None = None
    user_id: int | None = None
    sector: str | None = None


def add_staff(p: Platform, cmd: AddStaff) -> int:
    lv = level_of(cmd.node)
    cmd.actor.require("staff.manage", cmd.node)
    allowed = m.ROLES_AT.get(lv)
    if allowed is None or cmd.post not in allowed:
        raise ValidationError(f"post must be one of {', '.join(allowed or ())} at a {lv}", field="post")
    if cmd.post == "sector_lead" and cmd.sector not in m.SECTORS:
        raise ValidationError(f"a sector lead needs a sector: {', '.join(m.SECTORS)}", field="sector")
    name = (cmd.name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError("must be 1-80 characters", field="name")
    now = p.clock.now()
    with p.db.begin() as conn:
        if geo_store.get(conn, cmd.node) is None:
            raise ValidationError(f"division {cmd.node} does not exist", field="node")
        store.add_staff(conn, [{"node": cmd.node, "post": cmd.post, "sector": cmd.sector, "name": name,
                                "phone": cmd.phone, "user_id": cmd.user_id, "on_duty": True, "created_at": now}])
        sid = int(conn.execute(select(func.max(store.staff.c.id))).scalar_one())
        bump_revision(conn, STAFF_REVISION, now)
        audit.record(conn, cmd.actor, "staff.add", "grid_staff", sid, now, node=cmd.node)
    LISTS.invalidate()
    return sid


def staffing_gaps(p: Platform, actor: Actor, township: str) -> dict[str, Any]:
    """Grids of a township without a full-time member (the '1' of 1+3+N), and the posts each lacks."""
    if level_of(township) != "township":
        raise ValidationError("must be a township code (9 digits)", field="township")
    actor.require("grassroots.read", township)
    d = geo_store.divisions
    with p.db.read() as conn:
        grids = conn.execute(select(d.c.code, d.c.name_zh).where(d.c.level == "grid", d.c.code.startswith(township))
                             .order_by(d.c.code)).all()
        posts: dict[str, set[str]] = defaultdict(set)
        for node, post in conn.execute(select(store.staff.c.node, store.staff.c.post)
                                       .where(store.staff.c.node.startswith(township))).all():
            posts[node].add(post)
    gaps = []
    for code, name in grids:
        have = posts.get(code, set())
        missing = [pst for pst in ("grid_head", "grid_member", "grid_member_part", "grid_instructor") if pst not in have]
        if "grid_member" in missing:
            gaps.append({"grid": code, "name_zh": name, "missing": missing})
    return {"township": township, "grids": len(grids), "without_full_time_member": len(gaps), "gaps": gaps}


# --- responsibility lists -----------------------------------------------------------------------------

def _owner_ok(owner: str) -> str:
    lv = level_of(owner)
    if lv not in ("city", "township"):
        raise ValidationError("a list belongs to the city (the template) or to a township", field="owner")
    return lv


def known_categories(p: Platform) -> set[str]:
    return set(gov.catalog(p).get().categories)


def template_items(p: Platform) -> list[m.Item]:
    return m.check_items(m.read_csv(TEMPLATE_CSV.read_text(encoding="utf-8")), known_categories(p))


def versions(p: Platform, actor: Actor, owner: str) -> list[dict[str, Any]]:
    _owner_ok(owner)
    actor.require("grassroots.read", owner) if level_of(owner) == "township" else actor.require("grassroots.read")
    with p.db.read() as conn:
        return store.list_versions(conn, owner)


def _load(conn: Connection, actor: Actor, list_id: int, permission: str) -> dict[str, Any]:
    lst = store.get_list(conn, list_id)
    if lst is None or not (actor.can(permission, lst["owner"]) or
                           (level_of(lst["owner"]) == "city" and actor.can(permission))):
        raise NotFound(f"no list version {list_id} in your scope", field="list_id")
    return lst


def _check_edit(actor: Actor, owner: str) -> None:
    actor.require("resplist.edit", owner)


def list_detail(p: Platform, actor: Actor, list_id: int) -> dict[str, Any]:
    with p.db.read() as conn:
        lst = _load(conn, actor, list_id, "grassroots.read")
        its = store.items_of(conn, list_id)
        deviations = None
        if lst["based_on"]:
            deviations = m.diff(store.items_of(conn, lst["based_on"]), its)
    return {**lst, "items": [i.as_dict() for i in its], "deviations": deviations}


def create_version(p: Platform, actor: Actor, owner: str, new_items: list[m.Item] | None = None, *,
                   note: str | None = None, adopt_template: bool = False) -> dict[str, Any]:
    """A new draft: a copy of the newest version (or the template, when adopting), or the given items."""
    _owner_ok(owner)
    _check_edit(actor, owner)
    now = p.clock.now()
    with p.db.begin() as conn:
        based_on = None
        if level_of(owner) == "township":
            tpl = store.published(conn, city_code(owner))
            based_on = tpl["id"] if tpl else None
        if new_items is None:
            src = None
            if adopt_template or not store.list_versions(conn, owner):
                src = based_on
            else:
                src = store.list_versions(conn, owner)[0]["id"]
            new_items = store.items_of(conn, src) if src else []
            if not new_items and level_of(owner) == "city":
                new_items = template_items(p)
        lid, version = store.new_list(conn, owner, based_on, note, actor.username, now)
        store.replace_items(conn, lid, new_items)
        audit.record(conn, actor, "resplist.create", "resplist", lid, now, node=owner,
                     details={"version": version, "items": len(new_items)})
    return {"id": lid, "owner": owner, "version": version, "status": "draft", "items": len(new_items)}


def _draft(conn: Connection, actor: Actor, list_id: int) -> dict[str, Any]:
    lst = _load(conn, actor, list_id, "grassroots.read")
    _check_edit(actor, lst["owner"])
    if lst["status"] != "draft":
        raise Conflict(f"version {lst['version']} is {lst['status']}; only a draft can be edited", field="status")
    return lst


def import_items(p: Platform, actor: Actor, list_id: int, filename: str, data: bytes) -> dict[str, Any]:
    """Replace a draft's items from CSV or XLSX: every bad row named, nothing written when any is bad."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        rows = m.read_xlsx(data)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"the CSV must be UTF-8 (bad byte at {exc.start})", field="file") from None
        rows = m.read_csv(text)
    new = m.check_items(rows, known_categories(p))
    now = p.clock.now()
    with p.db.begin() as conn:
        lst = _draft(conn, actor, list_id)
        old = store.items_of(conn, list_id)
        store.replace_items(conn, list_id, new)
        audit.record(conn, actor, "resplist.import", "resplist", list_id, now, node=lst["owner"],
                     details={"items": len(new)})
    return {"id": list_id, "items": len(new), "diff": m.diff(old, new)}


def put_item(p: Platform, actor: Actor, list_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """Add or change one item of a draft."""
    item = m.check_items([row], known_categories(p))[0]
    now = p.clock.now()
    with p.db.begin() as conn:
        lst = _draft(conn, actor, list_id)
        its = {i.key: i for i in store.items_of(conn, list_id)}
        its[item.key] = item
        store.replace_items(conn, list_id, list(its.values()))
        audit.record(conn, actor, "resplist.item", "resplist", list_id, now, node=lst["owner"], details={"key": item.key})
    return item.as_dict()


def delete_item(p: Platform, actor: Actor, list_id: int, key: str) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        lst = _draft(conn, actor, list_id)
        its = {i.key: i for i in store.items_of(conn, list_id)}
        if key not in its:
            raise NotFound(f"no item {key} in this version", field="key")
        del its[key]
        store.replace_items(conn, list_id, list(its.values()))
        audit.record(conn, actor, "resplist.item_delete", "resplist", list_id, now, node=lst["owner"],
                     details={"key": key})


def transition(p: Platform, actor: Actor, list_id: int, action: str) -> dict[str, Any]:
    """draft -> review (submit), review -> draft (return), review -> published (publish; the old one is archived)."""
    now = p.clock.now()
    with p.db.begin() as conn:
        lst = _load(conn, actor, list_id, "grassroots.read")
        _check_edit(actor, lst["owner"])
        new_state = m.transition(lst["status"], action)
        if action == "publish":
            actor.require("resplist.publish", lst["owner"])
            if not store.items_of(conn, list_id):
                raise ValidationError("an empty list cannot be published", field="items")
            store.archive_published(conn, lst["owner"])
            bump_revision(conn, LISTS_REVISION, now)
        store.set_status(conn, list_id, new_state, now)
        audit.record(conn, actor, f"resplist.{action}", "resplist", list_id, now, node=lst["owner"],
                     details={"version": lst["version"], "to": new_state})
    LISTS.invalidate()
    return {"id": list_id, "version": lst["version"], "status": new_state}


def version_diff(p: Platform, actor: Actor, a: int, b: int) -> dict[str, Any]:
    with p.db.read() as conn:
        la, lb = _load(conn, actor, a, "grassroots.read"), _load(conn, actor, b, "grassroots.read")
        d = m.diff(store.items_of(conn, a), store.items_of(conn, b))
    return {"from": {"id": a, "owner": la["owner"], "version": la["version"]},
            "to": {"id": b, "owner": lb["owner"], "version": lb["version"]}, **d}


def export_items(p: Platform, actor: Actor, list_id: int) -> tuple[dict[str, Any], list[m.Item]]:
    with p.db.read() as conn:
        lst = _load(conn, actor, list_id, "grassroots.read")
        return lst, store.items_of(conn, list_id)


def effective_list(conn: Connection, township: str) -> dict[str, Any] | None:
    return store.published(conn, township) or store.published(conn, city_code(township))


# --- routing by the lists --------------------------------------------------------------------------

@dataclass
class _Lists:
    revision: tuple[int, int]
    by_owner: dict[str, m.ListIndex]
    checked: float = 0.0
    holders: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)


class ListCache:
    """The published lists (and post holders met while routing), per process and database. The revision
    counters are read at most every `ttl` seconds; a publish in this process refreshes at once."""

    def __init__(self, ttl: float = 0.5) -> None:
        self.ttl = ttl
        self._by_engine: weakref.WeakKeyDictionary[Engine, _Lists] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        for v in list(self._by_engine.values()):
            v.checked = 0.0

    def get(self, conn: Connection) -> _Lists:
        cached = self._by_engine.get(conn.engine)
        now = time.monotonic()
        if cached is not None and now - cached.checked < self.ttl:
            return cached
        rev = (read_revision(conn, LISTS_REVISION), read_revision(conn, STAFF_REVISION))
        if cached is not None and cached.revision == rev:
            cached.checked = now
            return cached
        with self._lock:
            pubs = store.all_published(conn)
            its = store.items_of_many(conn, [int(x["id"]) for x in pubs])
            fresh = _Lists(rev, {x["owner"]: m.index_items(int(x["id"]), x["owner"], int(x["version"]), its[int(x["id"])])
                                 for x in pubs}, now)
            self._by_engine[conn.engine] = fresh
            return fresh

    def holder(self, conn: Connection, lists: _Lists, node: str, post: str) -> dict[str, Any] | None:
        """The post holder at a node; a miss loads every holder of the node's township in one query."""
        key = (node, post)
        if key not in lists.holders:
            township = node[:9]
            if (township, "") not in lists.holders:
                lists.holders[(township, "")] = None  # marks the township as loaded
                # A range, not LIKE: SQLite uses the index for it (codes are digits, ':' sorts after '9').
                below = (store.staff.c.node >= township) & (store.staff.c.node < township + ":")
                for r in store.staff_in(conn, below & store.staff.c.on_duty.is_(True), limit=100_000):
                    lists.holders.setdefault((r["node"], r["post"]), {"id": r["id"], "name": r["name"]})
            if key not in lists.holders:
                lists.holders[key] = None
        return lists.holders[key]


LISTS = ListCache()


def route_by_lists(conn: Connection, cat: Category, chain: dict[str, str | None]) -> RoutingDecision | None:
    """The lowest level whose published list, in the case's territory, covers the category."""
    township = chain.get("township")
    if not township:
        return None
    cached = LISTS.get(conn)
    idx = cached.by_owner.get(str(township)) or cached.by_owner.get(city_code(str(township)))
    if idx is None:
        return None
    found = m.pick(idx, cat.code, chain)
    if found is None:
        return None
    item, node = found
    which = ("city template" if level_of(idx.owner) == "city" else f"township {idx.owner} list") + f" v{idx.version}"
    because = f"responsibility list ({which}) item {item.key} '{item.name_zh}' ({m.LEVEL_ZH[item.level]}级) covers {cat.code}"
    if item.level == "grid":
        h = LISTS.holder(conn, cached, node, item.role)
        who = f"{m.POSTS[item.role][1]} {mask_name(h['name'])} (staff {h['id']})" if h else f"{m.POSTS[item.role][1]} (post vacant)"
        return RoutingDecision("grid", node, f"G-{node}", f"{because}: grid {node}, {who}")
    if item.level == "village":
        return RoutingDecision("grid", node, f"V-{node}", f"{because}: village committee {node}, {m.POSTS[item.role][1]}")
    return RoutingDecision("township", node, f"S-{node}-{item.sector}",
                           f"{because}: the township's {item.sector} sector ({m.SECTORS[item.sector][0]})")


register_hook(route_by_lists)


# --- patrols -------------------------------------------------------------------------------------------

def generate_patrols(p: Platform, day: date, *, chunk: int = 5000) -> int:
    """The day's patrol tasks for every item with a frequency due that day, at every node of its level in the
    township (the township's own published list, or the city template), assigned to the post holder.
    Idempotent: a task exists at most once per (day, node, item)."""
    d = geo_store.divisions
    created = 0
    with p.db.read() as conn:
        pubs = {x["owner"]: x for x in store.all_published(conn)}
        if not pubs:
            return 0
        its = store.items_of_many(conn, [int(x["id"]) for x in pubs.values()])
        nodes: dict[str, list[str]] = defaultdict(list)  # township -> grids and villages
        townships: list[str] = []
        for code, lv in conn.execute(select(d.c.code, d.c.level).where(d.c.level.in_(("township", "village", "grid")))
                                     .order_by(d.c.code)).all():
            if lv == "township":
                townships.append(code)
            else:
                nodes[code[:9]].append(code)
        tt = store.tasks
        existing: dict[str, int] = {str(k): int(n) for k, n in conn.execute(
            select(tt.c.township, func.count()).where(tt.c.day == day).group_by(tt.c.township)).all()}
        holders: dict[tuple[str, str], int] = {}
        for sid, node, post in conn.execute(select(store.staff.c.id, store.staff.c.node, store.staff.c.post)
                                            .where(store.staff.c.on_duty.is_(True)).order_by(store.staff.c.id.desc())):
            holders[(node, post)] = int(sid)
    due_cache: dict[int, list[m.Item]] = {}
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal created, batch
        if batch:
            with p.db.begin() as conn:
                created += store.insert_tasks(conn, batch)
            batch = []

    for t in townships:
        lst = pubs.get(t) or pubs.get(city_code(t))
        if lst is None:
            continue
        lid = int(lst["id"])
        if lid not in due_cache:
            due_cache[lid] = [i for i in its[lid] if m.due_on(i.frequency, day, i.key)]
        per_level = {"township": [t], "village": [c for c in nodes.get(t, ()) if len(c) == 12],
                     "grid": [c for c in nodes.get(t, ()) if len(c) == 15]}
        expected = sum(len(per_level[it.level]) for it in due_cache[lid])
        if existing.get(t, 0) >= expected:
            continue  # this township's day is complete already (the job runs again and again)
        for it in due_cache[lid]:
            for node in per_level[it.level]:
                batch.append({"day": day, "node": node, "level": it.level, "township": t, "item_key": it.key,
                              "item_name": it.name_zh, "list_id": lid, "role": it.role,
                              "staff_id": holders.get((node, it.role)), "status": "open", "far": False})
            if len(batch) >= chunk:
                flush()
    flush()
    return created


def mark_missed(p: Platform) -> int:
    """A patrol not checked in by the end of its day is missed (a later check-in makes it late)."""
    with p.db.begin() as conn:
        return store.mark_missed(conn, local_day(p.clock.now()))


def patrol_job(p: Platform) -> None:
    now = p.clock.now()
    generate_patrols(p, local_day(now))
    mark_missed(p)


@dataclass(frozen=True)
class CheckIn:
    actor: Actor
    task_id: int
    lon: Any
    lat: Any
    note: str | None = None


def check_in(p: Platform, cmd: CheckIn) -> dict[str, Any]:
    from cityos.geo.model import check_point

    lon, lat = check_point(cmd.lon, cmd.lat)
    note = gov._check_text(cmd.note, "note", limit=2000)
    now = p.clock.now()
    with p.db.begin() as conn:
        t = store.get_task(conn, cmd.task_id)
        if t is None or not cmd.actor.can("grassroots.read", t["node"]):
            raise NotFound(f"no patrol task {cmd.task_id} in your scope", field="task_id")
        cmd.actor.require("patrol.checkin", t["node"])
        status = m.patrol_outcome(t["status"], t["day"], local_day(now))
        div = geo_store.get(conn, t["node"])
        dist = 0.0
        if div is not None:
            dist = m.bbox_distance_m(lon, lat, (div["min_lon"], div["min_lat"], div["max_lon"], div["max_lat"]))
        far = dist > m.FAR_METRES
        store.update_task(conn, cmd.task_id, {"status": status, "done_at": now, "done_by": cmd.actor.username,
                                               "lon": lon, "lat": lat, "distance_m": round(dist, 1), "far": far,
                                               "note": note})
        audit.record(conn, cmd.actor, "patrol.checkin", "patrol_task", cmd.task_id, now, node=t["node"],
                     details={"status": status, "far": far})
    return {"id": cmd.task_id, "status": status, "far": far, "distance_m": round(dist, 1)}


@dataclass(frozen=True)
class ReportProblem:
    actor: Actor
    category: str
    description: str
    lon: Any
    lat: Any
    task_id: int | None = None
    idempotency_key: str | None = None


def report_problem(p: Platform, cmd: ReportProblem) -> dict[str, Any]:
    """A problem seen on a patrol becomes a case in one step (source grid), linked to the task."""
    if cmd.task_id is not None:
        with p.db.read() as conn:
            t = store.get_task(conn, cmd.task_id)
        if t is None or not cmd.actor.can("grassroots.read", t["node"]):
            raise NotFound(f"no patrol task {cmd.task_id} in your scope", field="task_id")
    result: dict[str, Any] = p.bus.handle(gov.ReportCase(
        actor=cmd.actor, category=cmd.category, description=cmd.description, lon=cmd.lon, lat=cmd.lat, source="grid",
        source_ref=f"patrol:{cmd.task_id}" if cmd.task_id else "patrol", idempotency_key=cmd.idempotency_key))
    if cmd.task_id is not None:
        with p.db.begin() as conn:
            store.update_task(conn, cmd.task_id, {"case_number": result["number"]})
    return result


def my_tasks(p: Platform, actor: Actor, day: date | None = None) -> list[dict[str, Any]]:
    actor.require("patrol.checkin")
    day = day or local_day(p.clock.now())
    scope = actor.scope("patrol.checkin")
    t = store.tasks
    with p.db.read() as conn:
        mine = [s["id"] for s in store.staff_of_user(conn, actor.user_id)] if actor.user_id else []
        cond = store.task_filter(in_scope(t.c.node, scope), t.c.day <= day, t.c.day >= date.fromordinal(day.toordinal() - 1))
        rows = store.list_tasks(conn, cond, limit=300)
    roles = actor.roles
    return [r for r in rows if r["staff_id"] in mine or r["role"] in roles or r["staff_id"] is None]


def patrol_stats(p: Platform, actor: Actor, node: str, since: date, until: date) -> dict[str, Any]:
    """Done, late, missed and open patrols per grid, village or township under a node."""
    lv = level_of(node)
    actor.require("grassroots.read", node)
    group_len = {"city": 6, "district": 9, "township": 12, "village": 15, "grid": 15}[lv]
    t = store.tasks
    with p.db.read() as conn:
        where = store.task_filter(t.c.node.startswith(node), t.c.day >= since, t.c.day <= until)
        rows = store.patrol_counts(conn, where, func.substr(t.c.node, 1, group_len))
    out: dict[str, dict[str, int]] = {}
    total = dict.fromkeys(m.PATROL_STATES, 0)
    for g, s, n in rows:
        out.setdefault(g, dict.fromkeys(m.PATROL_STATES, 0))[s] = n
        total[s] += n
    return {"node": node, "since": since.isoformat(), "until": until.isoformat(), "total": total,
            "by": [{"node": k, **v} for k, v in sorted(out.items())]}


# --- ledgers -----------------------------------------------------------------------------------------

def _grid_ok(grid: str) -> None:
    if level_of(grid) != "grid":
        raise ValidationError("must be a grid code (15 digits)", field="grid")


def ledger_out(r: dict[str, Any], visible: bool) -> dict[str, Any]:
    data = dict(r["data"] or {})
    if not visible:
        for f, kind in m.PERSONAL_FIELDS.items():
            if isinstance(data.get(f), str):
                data[f] = {"name": mask_name, "phone": mask_phone}.get(kind, _mask_id)(data[f])
    label = r["label"] if visible or r["kind"] not in ("resident", "key_person", "household") else mask_name(r["label"])
    return {"id": r["id"], "grid": r["grid"], "kind": r["kind"], "label": label, "data": data, "version": r["version"],
            "updated_at": r["updated_at"], "updated_by": r["updated_by"], "masked": not visible}


def _mask_id(v: str) -> str:
    from cityos.identity.model import mask_id_number

    return mask_id_number(v) or ""


def ledger_list(p: Platform, actor: Actor, grid: str, kind: str | None = None, limit: int = 100,
                offset: int = 0) -> dict[str, Any]:
    _grid_ok(grid)
    if kind is not None and kind not in m.LEDGER_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(m.LEDGER_KINDS)}", field="kind")
    if not 1 <= limit <= 500:
        raise ValidationError("must be between 1 and 500", field="limit")
    actor.require("gridledger.read", grid)
    visible = actor.may_see_personal(grid)
    with p.db.begin() as conn:
        rows, total = store.ledger_entries(conn, grid, kind, limit, max(0, offset))
        counts = store.ledger_counts(conn, grid)
        if visible and rows:
            audit.record(conn, actor, "personal.read", "grid_ledger", grid, p.clock.now(), node=grid,
                         details={"entries": len(rows), "kind": kind})
    return {"grid": grid, "total": total, "counts": counts, "entries": [ledger_out(r, visible) for r in rows]}


def ledger_write(p: Platform, actor: Actor, grid: str, kind: str, label: str, data: dict[str, Any],
                 entry_id: int | None = None, version: int | None = None) -> dict[str, Any]:
    _grid_ok(grid)
    actor.require("gridledger.write", grid)
    label, clean = m.check_ledger(kind, label, data)
    now = p.clock.now()
    with p.db.begin() as conn:
        if entry_id is None:
            eid = store.insert_ledger(conn, {"grid": grid, "kind": kind, "label": label, "data": clean, "version": 1,
                                             "deleted": False, "updated_at": now, "updated_by": actor.username})
            store.add_history(conn, {"entry_id": eid, "version": 1, "action": "create", "at": now,
                                     "actor": actor.username, "before": None, "after": {"label": label, **clean}})
            new_version = 1
        else:
            cur = store.ledger_entry(conn, entry_id)
            if cur is None or cur["grid"] != grid or cur["deleted"]:
                raise NotFound(f"no ledger entry {entry_id} in grid {grid}", field="entry_id")
            if version is not None and version != cur["version"]:
                raise Conflict(f"the entry changed (version {cur['version']}, you sent {version}); reload it",
                               field="version")
            new_version = cur["version"] + 1
            if not store.update_ledger(conn, entry_id, cur["version"], {"kind": kind, "label": label, "data": clean,
                                                                       "version": new_version, "updated_at": now,
                                                                       "updated_by": actor.username}):
                raise Conflict("the entry changed meanwhile; reload it", field="version")
            store.add_history(conn, {"entry_id": entry_id, "version": new_version, "action": "update", "at": now,
                                     "actor": actor.username, "before": {"label": cur["label"], **cur["data"]},
                                     "after": {"label": label, **clean}})
            eid = entry_id
        audit.record(conn, actor, "gridledger.write", "grid_ledger", eid, now, node=grid, details={"kind": kind})
    return {"id": eid, "version": new_version}


def ledger_delete(p: Platform, actor: Actor, entry_id: int) -> None:
    now = p.clock.now()
    with p.db.begin() as conn:
        cur = store.ledger_entry(conn, entry_id)
        if cur is None or cur["deleted"] or not actor.can("gridledger.read", cur["grid"]):
            raise NotFound(f"no ledger entry {entry_id} in your scope", field="entry_id")
        actor.require("gridledger.write", cur["grid"])
        store.update_ledger(conn, entry_id, cur["version"], {"deleted": True, "version": cur["version"] + 1,
                                                              "updated_at": now, "updated_by": actor.username})
        store.add_history(conn, {"entry_id": entry_id, "version": cur["version"] + 1, "action": "delete", "at": now,
                                 "actor": actor.username, "before": {"label": cur["label"], **cur["data"]}, "after": None})
        audit.record(conn, actor, "ledger.delete", "grid_ledger", entry_id, now, node=cur["grid"])


def ledger_history(p: Platform, actor: Actor, entry_id: int) -> list[dict[str, Any]]:
    with p.db.begin() as conn:
        cur = store.ledger_entry(conn, entry_id)
        if cur is None or not actor.can("gridledger.read", cur["grid"]):
            raise NotFound(f"no ledger entry {entry_id} in your scope", field="entry_id")
        visible = actor.may_see_personal(cur["grid"])
        hist = store.history_of(conn, entry_id)
        if visible:
            audit.record(conn, actor, "personal.read", "grid_ledger", entry_id, p.clock.now(), node=cur["grid"])
    out = []
    for h in hist:
        row = {k: h[k] for k in ("version", "action", "at", "actor")}
        for side in ("before", "after"):
            v = dict(h[side]) if h[side] else None
            if v is not None and not visible:
                v = ledger_out({"id": entry_id, "grid": cur["grid"], "kind": cur["kind"], "label": v.get("label", ""),
                                "data": {k: x for k, x in v.items() if k != "label"}, "version": 0, "updated_at": None,
                                "updated_by": ""}, False)["data"]
            row[side] = v
        out.append(row)
    return out


# --- the command centre board ------------------------------------------------------------------------

def board(p: Platform, actor: Actor, township: str) -> dict[str, Any]:
    """A township command centre: sectors with leads, grids with staff on duty, open cases, today's patrols,
    laggards (grids with the most missed patrols)."""
    if level_of(township) != "township":
        raise ValidationError("must be a township code (9 digits)", field="township")
    actor.require("grassroots.read", township)
    today = local_day(p.clock.now())
    d = geo_store.divisions
    c = gov_store.cases
    t = store.tasks
    with p.db.read() as conn:
        name = conn.execute(select(d.c.name_zh).where(d.c.code == township)).scalar()
        if name is None:
            raise NotFound(f"no township {township}", field="township")
        grids = conn.execute(select(d.c.code, d.c.name_zh).where(d.c.level == "grid", d.c.code.startswith(township))
                             .order_by(d.c.code)).all()
        staff = store.staff_in(conn, store.staff.c.node.startswith(township))
        open_cases: dict[str, int] = dict(conn.execute(
            select(c.c.handler_unit, func.count()).where(c.c.township_code == township,
                                                         c.c.state.notin_(("closed", "cancelled", "merged")))
            .group_by(c.c.handler_unit)).all())
        today_counts = store.patrol_counts(conn, store.task_filter(t.c.township == township, t.c.day == today),
                                           func.substr(t.c.node, 1, 15))
        missed = conn.execute(select(t.c.node, func.count()).where(t.c.township == township, t.c.status == "missed")
                              .group_by(t.c.node).order_by(func.count().desc()).limit(5)).all()
        lst = effective_list(conn, township)
    by_node: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in staff:
        by_node[s["node"]].append(staff_out(s, actor.can("grassroots.read", s["node"])))
    sectors = [{"code": k, "zh": zh, "en": en, "unit": f"S-{township}-{k}",
                "leads": [s for s in by_node.get(township, []) if s["sector"] == k],
                "open_cases": int(open_cases.get(f"S-{township}-{k}", 0))} for k, (zh, en) in m.SECTORS.items()]
    patrols: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(m.PATROL_STATES, 0))
    for g, st, n in today_counts:
        patrols[g][st] = n
    grid_rows = [{"code": g, "name_zh": nm, "staff": by_node.get(g, []),
                  "on_duty": sum(1 for s in by_node.get(g, []) if s["on_duty"]),
                  "open_cases": int(open_cases.get(f"G-{g}", 0)), "patrols": patrols.get(g, dict.fromkeys(m.PATROL_STATES, 0))}
                 for g, nm in grids]
    total_today = dict.fromkeys(m.PATROL_STATES, 0)
    for v in patrols.values():
        for k, n in v.items():
            total_today[k] += n
    return {"township": township, "name_zh": name, "sectors": sectors, "grids": grid_rows,
            "open_cases": sum(int(n) for n in open_cases.values()), "patrols_today": total_today,
            "laggards": [{"node": n, "missed": int(k)} for n, k in missed],
            "list": {"id": lst["id"], "owner": lst["owner"], "version": lst["version"]} if lst else None}


# --- wiring ---------------------------------------------------------------------------------------------

def _wire(p: Platform) -> None:
    p.bus.register(AddStaff, lambda c: add_staff(p, c))
    p.bus.register(CheckIn, lambda c: check_in(p, c))
    p.bus.register(ReportProblem, lambda c: report_problem(p, c))
    p.bus.register_recurring("grassroots.patrols", lambda payload: patrol_job(p), every_s=900)


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)

