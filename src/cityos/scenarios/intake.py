""""One thing" submissions, taken in by group commit.

A submission is checked in the request's thread as far as that needs no IO (permission, the
idempotency key, the body's hash); then it is written with the other submissions of this process
that arrive meanwhile, in one transaction (core.groupcommit), and answered once that commits.
Per batch, not per submission: one read of the applicants, of the idempotency keys, of each
scenario's published version and grants, of each pre-fill dataset; ids from the submissions'
sequence (the readable number carries the id, so it is written with the row, not updated after);
one multi-row INSERT each for submissions, matters, events, notices, outbox events, audit records
and idempotency keys. Each submission is still validated whole and on its own: a bad one gets
its own error and is not written, the others are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cityos.core import idempotency
from cityos.core.errors import CityOSError, Conflict, Forbidden, ValidationError
from cityos.core.groupcommit import GroupCommit
from cityos.core.outbox import emit_many
from cityos.governance import store as gov_store
from cityos.identity import audit
from cityos.identity.model import Actor
from cityos.scenarios import model, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from cityos.bootstrap import Platform


@dataclass(frozen=True)
class Submit:
    actor: Actor
    scenario: str
    form: dict[str, Any]
    materials: dict[str, Any] = field(default_factory=dict)
    consent: bool = False
    grid_code: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class _Item:
    cmd: Submit
    key: str | None
    scope_key: str
    body_hash: str


def submit(p: Platform, cmd: Submit) -> dict[str, Any]:
    """Validate once and whole, then one child per matter; the ready ones go to their queues now."""
    key = idempotency.check_key(cmd.idempotency_key)
    cmd.actor.require("scenario.apply")
    body_hash = idempotency.request_hash({"s": cmd.scenario, "f": cmd.form, "m": cmd.materials, "c": cmd.consent,
                                          "g": cmd.grid_code})
    return _writer(p).submit(_Item(cmd, key, f"scenario:{cmd.actor.username}", body_hash))


def _writer(p: Platform) -> GroupCommit[_Item, dict[str, Any]]:
    writer = p.extras.get("scenarios.intake")
    if writer is None:
        writer = GroupCommit(p.db, lambda conn, items: write_submissions(p, conn, items), parallel=1)
        p.extras["scenarios.intake"] = writer
    return writer  # type: ignore[return-value]


def write_submissions(p: Platform, conn: Connection, items: Sequence[_Item]) -> list[dict[str, Any] | BaseException]:
    """Write checked submissions in the caller's transaction; one outcome per item (its answer, a
    replayed idempotency key's stored answer, or the error that item alone is refused with)."""
    from cityos.scenarios.handlers import load_scenario, prefill_values

    now = p.clock.now()
    out: list[dict[str, Any] | BaseException | None] = [None] * len(items)
    users = store.applicants(conn, sorted({it.cmd.actor.username for it in items}))
    for i, it in enumerate(items):
        if it.cmd.actor.username not in users:
            out[i] = Forbidden("only a registered citizen applies", field="Authorization")
    keyed = [(it.scope_key, it.key) for i, it in enumerate(items) if it.key is not None and out[i] is None]
    if keyed:
        if len(set(keyed)) < len(keyed):  # the same key twice in one batch: each alone, in order
            raise ValidationError("repeated Idempotency-Key in one batch", field="Idempotency-Key")
        seen = idempotency.lookup_many(conn, keyed)
        for i, it in enumerate(items):
            hit = seen.get((it.scope_key, it.key)) if it.key is not None and out[i] is None else None
            if hit is not None:
                out[i] = (Conflict("this Idempotency-Key was already used with a different request body",
                                   field="Idempotency-Key") if hit[0] != it.body_hash else dict(hit[2]))
    pending = [i for i, o in enumerate(out) if o is None]
    scenarios: dict[str, model.Scenario | None] = {}  # None: not published (each item gets its own error)
    for code in sorted({items[i].cmd.scenario for i in pending}):
        try:
            scenarios[code] = load_scenario(p, conn, code)
        except CityOSError:
            scenarios[code] = None
    grants = {code: store.grants_of(conn, code)
              for code in sorted({items[i].cmd.scenario for i in pending if items[i].cmd.consent})
              if scenarios[code] is not None}
    wanted: dict[str, set[str]] = {}  # dataset -> ID numbers whose rows are read from it
    for i in pending:
        it = items[i]
        sc = scenarios[it.cmd.scenario]
        idn = users[it.cmd.actor.username]["id_number"]
        if sc is not None and idn:
            for ds in {"population", *({pf.dataset for pf in sc.prefills} if it.cmd.consent else ())}:
                wanted.setdefault(ds, set()).add(idn)
    found = {ds: store.applicants_rows(conn, ds, sorted(ids)) for ds, ids in sorted(wanted.items())}

    checked: list[tuple[int, model.Scenario, dict[str, Any], dict[str, Any], str]] = []
    for i in pending:
        it, cmd = items[i], items[i].cmd
        sc = scenarios[cmd.scenario]
        try:
            if sc is None:
                sc = load_scenario(p, conn, cmd.scenario)  # raises this item's NotFound
            if sc.prefills and not cmd.consent:
                raise ValidationError("this scenario reads your records in the base databases; consent is needed",
                                      field="consent")
            idn = users[cmd.actor.username]["id_number"]
            datasets = {"population", *({pf.dataset for pf in sc.prefills} if cmd.consent else ())}
            rows = {ds: found[ds][idn] for ds in datasets if idn and idn in found.get(ds, {})}
            if cmd.consent:
                model.check_grants(sc, grants[sc.code])
            form = model.check_form(sc, {**prefill_values(sc, rows), **cmd.form} if cmd.consent else cmd.form)
            materials = model.check_materials(sc, cmd.materials)
            grid = cmd.grid_code or rows.get("population", {}).get("grid_code")
            if not grid:
                raise ValidationError("your residence is not in the population database; give grid_code",
                                      field="grid_code")
            if grid not in p.geo.index().parent or len(grid) != 15:
                raise ValidationError(f"grid {grid} does not exist", field="grid_code")
        except CityOSError as exc:
            out[i] = exc
            continue
        checked.append((i, sc, form, materials, grid))
    if not checked:
        return out  # type: ignore[return-value]

    ids = store.next_submission_ids(conn, len(checked))
    subs, children, evs, notices, outbox_, audits = [], [], [], [], [], []
    remember: list[tuple[str, str, str | None, int, Any]] = []
    for (i, sc, form, materials, grid), sid in zip(checked, ids, strict=True):
        it, cmd = items[i], items[i].cmd
        user = users[cmd.actor.username]
        number = f"YJS{now:%Y%m%d}{sid:08d}"
        district = grid[:6]
        subs.append({"id": sid, "number": number, "scenario_code": sc.code, "version": sc.version,
                     "applicant_user": cmd.actor.username, "applicant_id": user["id_number"] or "",
                     "applicant_name": user["display_name"] or cmd.actor.username, "grid_code": grid,
                     "district_code": district, "form": form, "consent": cmd.consent, "state": "in_progress",
                     "created_at": now, "updated_at": now, "completed_at": None})
        # Nothing is complete yet, so the matters that need nothing are queued as they are written
        # (the rule handlers._advance applies later, without reading back what was just inserted).
        ready = _first_layer(sc)
        evs.append({"submission_id": sid, "matter_code": None, "action": "submit", "actor": cmd.actor.username,
                    "at": now, "note": None})
        for m in sc.matters:
            division = district if m.level == "district" else district[:2] + "0000"
            unit = f"D-{division}-{m.department}"
            queued = m.code in ready
            children.append({"submission_id": sid, "matter_code": m.code, "division_code": division,
                             "department_unit": unit, "state": "queued" if queued else "waiting",
                             "materials": materials.get(m.code, {}), "inputs": {}, "outputs": {}, "attempt": 1,
                             "reason": None, "deadline": now + timedelta(days=m.time_limit_days) if queued else None,
                             "overdue": False, "queued_at": now if queued else None, "handled_by": None,
                             "updated_at": now})
            if queued:
                notices.append(queue_notice(number, m, unit, now))
                evs.append({"submission_id": sid, "matter_code": m.code, "action": "queue",
                            "actor": cmd.actor.username, "at": now, "note": unit})
        outbox_.append(("scenarios.queued", {"number": number, "matters": ready}))
        audits.append(audit.entry(cmd.actor, "scenario.submit", "scenario_submission", number, now, node=grid,
                                  details={"scenario": sc.code, "version": sc.version}))
        result = {"number": number, "scenario": sc.code, "version": sc.version, "state": "in_progress",
                  "queued": ready, "matters": [m.code for m in sc.matters]}
        if it.key:
            remember.append((it.scope_key, it.key, it.body_hash, 201, result))
        out[i] = result
    store.insert_submissions(conn, subs)
    store.insert_matters(conn, children)
    store.add_events(conn, evs)
    gov_store.notify(conn, notices)
    emit_many(conn, outbox_, now)
    audit.record_many(conn, audits)
    idempotency.remember_many(conn, remember, now)
    return out  # type: ignore[return-value]


def _first_layer(sc: model.Scenario) -> list[str]:
    return model.ready_to_queue(sc, {m.code: model.Child(m.code, "waiting") for m in sc.matters})


def queue_notice(number: str, m: model.Matter, unit: str, now: Any) -> dict[str, Any]:
    return {"recipient_unit": unit, "recipient_user": None, "kind": "scenario.matter",
            "title": f"一件事待办 {number} {m.name_zh}", "body": f"{m.name_en}: a new application", "case_id": None,
            "created_at": now}
