""""One thing" use cases: publish a scenario, grant it data, pre-fill, submit once, work the matters
at each department, correct a rejected part, and the overdue sweep of matters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from cityos.bootstrap import wiring
from cityos.core.errors import Conflict, Forbidden, NotFound, ValidationError
from cityos.core.outbox import emit
from cityos.data import model as data_model
from cityos.governance import store as gov_store
from cityos.identity import audit
from cityos.identity import store as identity_store
from cityos.identity.model import OPERATORS, Actor, allow
from cityos.scenarios import model, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from cityos.bootstrap import Platform

allow(("system_admin", "city_operator"), "scenario.design")
allow(("data_officer",), "scenario.grant")
allow(("citizen",), "scenario.apply")
allow(("department_handler", "city_operator", "district_operator"), "scenario.handle")  # district and city departments
allow((*OPERATORS, "system_admin", "auditor"), "scenario.read")

DATASET_FIELDS = {name: spec.field_names for name, spec in data_model.BASE_DATASETS.items()}


# --- definitions -------------------------------------------------------------------------------

def parse_source(text: str) -> Any:
    """A definition's text, YAML or JSON (JSON is YAML too), as data; a syntax error names the line."""
    if not text.strip():
        raise ValidationError("the definition is empty", field="definition")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"not valid YAML/JSON{where}: {getattr(exc, 'problem', exc)}",
                              field="definition") from None


def validate_definition(text: str) -> model.Scenario:
    return model.parse_scenario(parse_source(text), DATASET_FIELDS)


@dataclass(frozen=True)
class PublishScenario:
    actor: Actor
    source: str


def publish_scenario(p: Platform, cmd: PublishScenario) -> dict[str, Any]:
    """Publish a new version; published versions never change (a change is a new version)."""
    cmd.actor.require("scenario.design")
    sc = validate_definition(cmd.source)
    now = p.clock.now()
    with p.db.begin() as conn:
        if store.definition(conn, sc.code, sc.version) is not None:
            raise Conflict(f"{sc.code} version {sc.version} is already published; published versions are "
                           f"immutable, publish version {sc.version + 1}", field="version")
        # Pre-fills read personal data: the data owner grants them to the scenario before it is published.
        model.check_grants(sc, store.grants_of(conn, sc.code))
        latest = store.latest_definition(conn, sc.code, published_only=False)
        if latest and latest["version"] > sc.version:
            raise Conflict(f"{sc.code} is at version {latest['version']}; a new version must be higher",
                           field="version")
        store.insert_definition(conn, {"code": sc.code, "version": sc.version, "status": "published",
                                       "name_zh": sc.name_zh, "name_en": sc.name_en, "definition": sc.as_dict(),
                                       "source": cmd.source, "published_by": cmd.actor.username,
                                       "published_at": now})
        audit.record(conn, cmd.actor, "scenario.publish", "scenario", f"{sc.code}@{sc.version}", now)
        emit(conn, "scenarios.published", {"code": sc.code, "version": sc.version}, now)
    return {"code": sc.code, "version": sc.version, "status": "published", "order": sc.order()}


def retire_scenario(p: Platform, actor: Actor, code: str, version: int) -> dict[str, Any]:
    actor.require("scenario.design")
    now = p.clock.now()
    with p.db.begin() as conn:
        if not store.retire_definition(conn, code, version, now):
            raise NotFound(f"no published version {version} of scenario {code}", field="version")
        audit.record(conn, actor, "scenario.retire", "scenario", f"{code}@{version}", now)
    return {"code": code, "version": version, "status": "retired"}


def load_scenario(p: Platform, conn: Connection, code: str, version: int | None = None) -> model.Scenario:
    """The latest published definition, or a given version even if retired since (the submissions made
    on it still need it); parsed once per process, since a published version never changes."""
    ref = store.definition_ref(conn, code, version)
    if ref is None:
        raise NotFound(f"no published scenario {code}" + (f" version {version}" if version else ""), field="scenario")
    cache: dict[int, model.Scenario] = p.extras.setdefault("scenarios.parsed", {})  # type: ignore[assignment]
    sc = cache.get(ref["id"])
    if sc is None:
        sc = cache[ref["id"]] = model.parse_scenario(store.definition_body(conn, ref["id"]), DATASET_FIELDS)
    return sc


def grant_data(p: Platform, actor: Actor, code: str, refs: list[str]) -> dict[str, Any]:
    """A data officer approves the base-data fields a scenario may pre-fill from."""
    actor.require("scenario.grant")
    now = p.clock.now()
    for ref in refs:
        ds, _, fname = ref.partition(".")
        if ds not in DATASET_FIELDS or (fname != "*" and fname not in DATASET_FIELDS[ds]):
            raise ValidationError(f"{ref!r} is not DATASET.FIELD of a base dataset", field="refs")
    with p.db.begin() as conn:
        for ref in refs:
            store.add_grant(conn, code, ref, actor.username, now)
        audit.record(conn, actor, "scenario.grant", "scenario", code, now, details={"refs": refs})
        granted = sorted(store.grants_of(conn, code))
    return {"code": code, "grants": granted}


# --- the applicant -----------------------------------------------------------------------------

def _applicant_user(conn: Connection, actor: Actor) -> dict[str, Any]:
    actor.require("scenario.apply")
    user = identity_store.user_by_name(conn, actor.username)
    if user is None:
        raise Forbidden("only a registered citizen applies", field="Authorization")
    return user


def prefill(p: Platform, actor: Actor, code: str, consent: bool) -> dict[str, Any]:
    """The form as far as the base databases fill it, for the signed-in applicant, with consent only."""
    now = p.clock.now()
    with p.db.begin() as conn:
        sc = load_scenario(p, conn, code)
        user = _applicant_user(conn, actor)
        if not consent:
            return {"scenario": code, "values": {}, "prefilled": [], "consent_needed": [f.prefill.ref for f in sc.fields if f.prefill]}
        model.check_grants(sc, store.grants_of(conn, code))
        rows = (store.applicant_rows(conn, user["id_number"], {pf.dataset for pf in sc.prefills})
                if user.get("id_number") else {})
        values = prefill_values(sc, rows)
        audit.record(conn, actor, "scenario.prefill", "resident", user.get("id_number") or actor.username, now,
                     details={"scenario": code, "fields": sorted(values)})
    return {"scenario": code, "values": values, "prefilled": sorted(values), "consent_needed": []}


def prefill_values(sc: model.Scenario, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Form values from the applicant's own rows of the base databases (population, e-licences, ...)."""
    values: dict[str, Any] = {}
    for f in sc.fields:
        if f.prefill and (row := rows.get(f.prefill.dataset)) is not None:
            v = row.get(f.prefill.field)
            if v is not None:
                values[f.name] = v.isoformat() if hasattr(v, "isoformat") else v
    return values


def _children(conn: Connection, sid: int) -> tuple[list[dict[str, Any]], dict[str, model.Child]]:
    rows = store.matters_of(conn, sid)
    return rows, {r["matter_code"]: model.Child(r["matter_code"], r["state"], dict(r["outputs"] or {})) for r in rows}


def _advance(p: Platform, conn: Connection, sc: model.Scenario, sub: dict[str, Any], actor: str
             ) -> tuple[list[str], str]:
    """Queue every matter whose inputs are now complete; settle the submission's state. `sub` is the
    submission as the caller read it (locked) in this transaction; returns the queued matters and
    the submission's state."""
    now = p.clock.now()
    sid = sub["id"]
    rows, children = _children(conn, sid)
    by_code = {r["matter_code"]: r for r in rows}
    ready = model.ready_to_queue(sc, children)
    notices, evs = [], []
    for code in ready:
        m, r = sc.matter(code), by_code[code]
        deadline = now + timedelta(days=m.time_limit_days)
        if store.update_matter(conn, r["id"], "waiting", {"state": "queued", "inputs": model.inputs_for(sc, code, children),
                                                         "deadline": deadline, "queued_at": now, "updated_at": now}):
            children[code].state = "queued"
            notices.append(queue_notice(sub["number"], m, r["department_unit"], now))
            evs.append({"submission_id": sid, "matter_code": code, "action": "queue", "actor": actor, "at": now,
                        "note": r["department_unit"]})
    gov_store.notify(conn, notices)
    store.add_events(conn, evs)
    state = model.submission_state(children.values())
    if state != sub["state"]:
        store.update_submission(conn, sid, {"state": state, "updated_at": now,
                                            "completed_at": now if state == "completed" else None})
        if state == "completed":
            gov_store.notify(conn, [{"recipient_user": sub["applicant_user"], "recipient_unit": None,
                                     "kind": "scenario.done", "title": f"一件事办结 {sub['number']}",
                                     "body": f"{sc.name_en}: every matter is done", "case_id": None,
                                     "created_at": now}])
            emit(conn, "scenarios.completed", {"number": sub["number"], "scenario": sc.code}, now)
    if ready:
        emit(conn, "scenarios.queued", {"number": sub["number"], "matters": ready}, now)
    return ready, state


# --- departments work their matters ---------------------------------------------------------------

def _units(actor: Actor) -> list[str]:
    return sorted({g.unit for g in actor.grants_for("scenario.handle") if g.unit})


def department_queue(p: Platform, actor: Actor, states: tuple[str, ...], limit: int, offset: int) -> dict[str, Any]:
    actor.require("scenario.handle")
    for s in states:
        if s not in model.MATTER_STATES:
            raise ValidationError(f"unknown state {s!r}; one of {', '.join(model.MATTER_STATES)}", field="state")
    if not 1 <= limit <= 200:
        raise ValidationError("must be between 1 and 200", field="limit")
    with p.db.read() as conn:
        rows, total = store.queue(conn, _units(actor), actor.scope("scenario.handle"), states, limit, max(0, offset))
    from cityos.identity.model import mask_id_number

    for r in rows:
        r["applicant_id"] = mask_id_number(r["applicant_id"])
    return {"total": total, "matters": rows}


@dataclass(frozen=True)
class ActOnMatter:
    actor: Actor
    matter_id: int
    action: str  # accept | complete | reject
    reason: str | None = None


def act_on_matter(p: Platform, cmd: ActOnMatter) -> dict[str, Any]:
    cmd.actor.require("scenario.handle")
    now = p.clock.now()
    with p.db.begin() as conn:
        row = store.matter_by_id(conn, cmd.matter_id)
        if row is None:
            raise NotFound(f"no matter {cmd.matter_id}", field="matter_id")
        units = _units(cmd.actor)
        if (units and row["department_unit"] not in units) or not cmd.actor.can("scenario.handle", row["division_code"]):
            raise Forbidden(f"matter {cmd.matter_id} belongs to {row['department_unit']}, not to your department",
                            field="matter_id")
        to = model.next_matter_state(cmd.action, row["state"])
        reason = (cmd.reason or "").strip()
        if cmd.action == "reject" and not reason:
            raise ValidationError("say why, so the applicant can correct it", field="reason")
        if len(reason) > 1000:
            raise ValidationError("is longer than 1000 characters", field="reason")
        sub = store.submission_by_id(conn, row["submission_id"], for_update=True)
        sc = load_scenario(p, conn, sub["scenario_code"], sub["version"])
        values: dict[str, Any] = {"state": to, "updated_at": now, "handled_by": cmd.actor.username,
                                  "reason": reason or None}
        if cmd.action == "complete":
            values["outputs"] = _issue_licences(conn, sc, sub, row, now)
        if not store.update_matter(conn, row["id"], row["state"], values):
            raise Conflict("someone else acted on this matter just now; reload", field="matter_id")
        store.add_events(conn, [{"submission_id": sub["id"], "matter_code": row["matter_code"], "action": cmd.action,
                                 "actor": cmd.actor.username, "at": now, "note": reason or None}])
        if cmd.action == "reject":
            gov_store.notify(conn, [{"recipient_user": sub["applicant_user"], "recipient_unit": None,
                                     "kind": "scenario.rejected", "title": f"一件事需补正 {sub['number']}",
                                     "body": f"{sc.matter(row['matter_code']).name_en}: {reason}", "case_id": None,
                                     "created_at": now}])
        queued, state = _advance(p, conn, sc, sub, cmd.actor.username)
        audit.record(conn, cmd.actor, f"scenario.matter.{cmd.action}", "scenario_matter", str(row["id"]), now,
                     node=row["division_code"], details={"submission": sub["number"], "matter": row["matter_code"]})
    return {"matter_id": row["id"], "state": to, "outputs": values.get("outputs", {}), "queued": queued,
            "submission_state": state}


def _issue_licences(conn: Connection, sc: model.Scenario, sub: dict[str, Any], row: dict[str, Any], now: Any
                    ) -> dict[str, str]:
    """The e-licences a completed matter issues go into the e-licence base database."""
    m = sc.matter(row["matter_code"])
    out: dict[str, str] = {}
    for i, ltype in enumerate(m.issues):
        number = f"EL{now:%Y%m%d}{row['id']:09d}{i}"
        content = {"scenario": sc.code, "submission": sub["number"], "matter": m.code, "inputs": row["inputs"]}
        store.issue_licence(conn, {
            "licence_no": number, "licence_type": ltype, "holder_type": "person",
            "holder_id": sub["applicant_id"] or sub["applicant_user"][:18], "holder_name": sub["applicant_name"],
            "issuer_dept": row["department_unit"], "issued_on": now.date(), "valid_until": None, "status": "valid",
            "content": content, "content_hash": _hash(content), "grid_code": sub["grid_code"]})
        out[ltype] = number
    return out


def _hash(content: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Correct:
    actor: Actor
    number: str
    matter: str
    form: dict[str, Any] = field(default_factory=dict)
    materials: dict[str, Any] = field(default_factory=dict)


def correct(p: Platform, cmd: Correct) -> dict[str, Any]:
    """Fix only the rejected part: its fields and materials; the other matters are left as they are."""
    now = p.clock.now()
    with p.db.begin() as conn:
        _applicant_user(conn, cmd.actor)
        sub = store.submission_by_number(conn, cmd.number, for_update=True)
        if sub is None or sub["applicant_user"] != cmd.actor.username:
            raise NotFound(f"you have no submission {cmd.number}", field="number")
        sc = load_scenario(p, conn, sub["scenario_code"], sub["version"])
        try:
            m = sc.matter(cmd.matter)
        except KeyError:
            raise ValidationError(f"scenario {sc.code} has no matter {cmd.matter}", field="matter") from None
        row = next(r for r in store.matters_of(conn, sub["id"]) if r["matter_code"] == m.code)
        if row["state"] != "rejected":
            raise Conflict(f"matter {m.code} is {row['state']}, only a rejected matter is corrected", field="matter")
        outside = sorted(set(cmd.form) - set(m.fields))
        if outside:
            raise ValidationError(f"field {outside[0]} is not part of matter {m.code}", field=f"form.{outside[0]}")
        form = {**sub["form"], **model.check_form(sc, {**sub["form"], **cmd.form}, only=list(cmd.form))}
        materials = model.check_materials(sc, {m.code: {**row["materials"], **cmd.materials}}, only=[m.code])
        store.update_submission(conn, sub["id"], {"form": form, "updated_at": now})
        store.update_matter(conn, row["id"], "rejected", {"state": "waiting", "materials": materials[m.code],
                                                          "attempt": row["attempt"] + 1, "updated_at": now,
                                                          "overdue": False, "deadline": None})
        store.add_events(conn, [{"submission_id": sub["id"], "matter_code": m.code, "action": "correct",
                                 "actor": cmd.actor.username, "at": now, "note": None}])
        queued, _state = _advance(p, conn, sc, sub, cmd.actor.username)
        audit.record(conn, cmd.actor, "scenario.correct", "scenario_submission", sub["number"], now,
                     details={"matter": m.code})
    return {"number": sub["number"], "matter": m.code, "queued": queued}


def status(p: Platform, actor: Actor, number: str) -> dict[str, Any]:
    """The applicant's view (or an operator's in scope): every matter, its state, reason and outputs."""
    with p.db.read() as conn:
        sub = store.submission_by_number(conn, number)
        if sub is None:
            raise NotFound(f"no submission {number}", field="number")
        if sub["applicant_user"] != actor.username:
            actor.require("scenario.read", sub["grid_code"])
        sc = load_scenario(p, conn, sub["scenario_code"], sub["version"])
        rows = store.matters_of(conn, sub["id"])
        evs = store.events_of(conn, sub["id"])
        units = store.units_by_code(conn, sorted({r["department_unit"] for r in rows}))
    return {
        "number": sub["number"], "scenario": sc.code, "version": sc.version, "name_zh": sc.name_zh,
        "name_en": sc.name_en, "state": sub["state"], "created_at": sub["created_at"], "completed_at": sub["completed_at"],
        "matters": [{"id": r["id"], "code": r["matter_code"], "name_zh": sc.matter(r["matter_code"]).name_zh,
                     "name_en": sc.matter(r["matter_code"]).name_en, "department": r["department_unit"],
                     "department_zh": units.get(r["department_unit"], {}).get("name_zh", r["department_unit"]),
                     "department_en": units.get(r["department_unit"], {}).get("name_en", r["department_unit"]),
                     "state": r["state"], "reason": r["reason"], "deadline": r["deadline"], "overdue": r["overdue"],
                     "attempt": r["attempt"], "outputs": r["outputs"], "requires": list(sc.matter(r["matter_code"]).requires)}
                    for r in rows],
        "history": [{"matter": e["matter_code"], "action": e["action"], "at": e["at"], "note": e["note"]} for e in evs],
    }


def my_submissions(p: Platform, actor: Actor) -> list[dict[str, Any]]:
    actor.require_signed_in()
    with p.db.read() as conn:
        rows = store.submissions_of(conn, actor.username)
    return [{"number": r["number"], "scenario": r["scenario_code"], "state": r["state"],
             "created_at": r["created_at"]} for r in rows]


# --- timers: matters past their time limit -----------------------------------------------------------

def sweep_matters(p: Platform) -> int:
    """Flag queued/accepted matters past their time limit and remind the department (durable, idempotent)."""
    now = p.clock.now()
    with p.db.begin() as conn:
        due = store.due_matters(conn, now)
        store.flag_overdue(conn, [r["id"] for r in due], now)
        gov_store.notify(conn, [{"recipient_unit": r["department_unit"], "recipient_user": None,
                                 "kind": "scenario.overdue", "title": f"一件事事项超期 {r['matter_code']}",
                                 "body": "已超过办理时限", "case_id": None, "created_at": now} for r in due])
        store.add_events(conn, [{"submission_id": r["submission_id"], "matter_code": r["matter_code"],
                                 "action": "overdue", "actor": "system", "at": now, "note": None} for r in due])
    return len(due)


def _wire(p: Platform) -> None:
    p.bus.register(PublishScenario, lambda c: publish_scenario(p, c))
    p.bus.register(Submit, lambda c: submit(p, c))
    p.bus.register(ActOnMatter, lambda c: act_on_matter(p, c))
    p.bus.register(Correct, lambda c: correct(p, c))
    p.bus.register_recurring("scenarios.sweep_matters", lambda payload: _discard(sweep_matters(p)), every_s=60)


def _discard(_: object) -> None:
    return None


wiring(_wire)


def store_material(p: Platform, actor: Actor, filename: str, content_type: str, data: bytes) -> dict[str, Any]:
    """Keep an uploaded material (content-addressed under the data folder); its reference goes in a submission."""
    import hashlib
    from pathlib import Path

    from cityos.core.errors import TooLarge
    from cityos.governance.handlers import ATTACHMENT_TYPES, MAX_ATTACHMENT, sniff_content

    actor.require("scenario.apply")
    if content_type not in ATTACHMENT_TYPES:
        raise ValidationError(f"type {content_type!r} is not allowed; allowed: {', '.join(ATTACHMENT_TYPES)}",
                              field="file")
    if not data:
        raise ValidationError("the file is empty", field="file")
    if len(data) > MAX_ATTACHMENT:
        raise TooLarge(f"file over {MAX_ATTACHMENT // (1024 * 1024)} MiB", field="file")
    sniff_content(content_type, data)
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(p.settings.data_dir) / "materials" / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (digest + ATTACHMENT_TYPES[content_type])
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    with p.db.begin() as conn:
        audit.record(conn, actor, "scenario.material", "material", digest, p.clock.now(),
                     details={"filename": Path(filename or "file").name[:100], "size": len(data)})
    return {"ref": f"sha256:{digest}", "size": len(data), "content_type": content_type}


def licence_for(p: Platform, actor: Actor, licence_no: str) -> dict[str, Any]:
    """An e-licence a submission issued, for its holder (the applicant) to download."""
    from cityos.data.store import licences

    with p.db.read() as conn:
        row = conn.execute(select(licences).where(licences.c.licence_no == licence_no)).mappings().first()
        sub = None
        if row is not None and isinstance(row["content"], dict) and row["content"].get("submission"):
            sub = store.submission_by_number(conn, str(row["content"]["submission"]))
    if row is None or sub is None or (sub["applicant_user"] != actor.username
                                      and not actor.can("scenario.read", sub["grid_code"])):
        raise NotFound(f"no e-licence {licence_no} of yours", field="licence_no")
    return dict(row)


from cityos.scenarios import programme_handlers  # noqa: E402, F401  (the plan: runways, businesses, lists)
from cityos.scenarios.intake import Submit, queue_notice, submit  # noqa: E402  (submissions: group commit)
