""""One thing" end to end on a real database: a citizen applies once over HTTP, departments work
their matters, e-licences flow to the matters that need them, a rejected part is corrected alone."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.core.errors import Conflict, Forbidden, ValidationError
from cityos.data.store import licences
from cityos.governance.store import notifications
from cityos.identity.model import SYSTEM, Actor, Grant
from cityos.identity.seed import DEMO_PASSWORD
from cityos.scenarios import handlers as h
from cityos.scenarios import store


def bearer(client: Any, user: str) -> dict[str, str]:
    tok = client.post("/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {tok}"}


def worker(unit: str, node: str) -> Actor:
    return Actor(user_id=9, username=f"w.{unit}", grants=(Grant("department_handler", node, unit),), via="token")


def count(p: Platform, table: Any) -> int:
    with p.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


MATERIALS = {"birth_certificate": {"delivery_record": "upload:dr-1"},
             "household_registration": {"household_booklet": "upload:hb-1"},
             "maternity_benefit": {"medical_invoices": "upload:mi-1"}}
CHILD = {"baby_name": "王小雨", "baby_gender": "F", "baby_birth_date": "2026-11-20", "birth_hospital": "市妇幼保健院",
         "bank_account": "6222020200112233445"}


@pytest.fixture
def http(seeded: Platform, client: Any) -> Any:
    return client


def test_newborn_one_form_fans_out_flows_licences_and_corrects_one_part(seeded: Platform, http: Any) -> None:
    p = seeded
    citizen = bearer(http, "citizen")
    # pre-fill needs consent; with it the form comes from the population database (and is audited)
    r = http.get("/api/v1/scenarios/newborn/prefill", headers=citizen)
    assert r.status_code == 200 and r.json()["values"] == {} and "population.id_number" in r.json()["consent_needed"]
    r = http.get("/api/v1/scenarios/newborn/prefill", params={"consent": "true"}, headers=citizen)
    values = r.json()["values"]
    assert {"parent_id_number", "parent_name", "registered_address", "household_id"} <= set(values)

    # bad input: named, nothing written
    before = count(p, store.submissions)
    for body, field in [({"form": {**CHILD, "baby_gender": "X"}, "materials": MATERIALS, "consent": True}, "form.baby_gender"),
                        ({"form": CHILD, "materials": {**MATERIALS, "maternity_benefit": {}}, "consent": True},
                         "materials.maternity_benefit.medical_invoices"),
                        ({"form": CHILD, "materials": MATERIALS, "consent": False}, "consent"),
                        ({"form": {k: v for k, v in CHILD.items() if k != "baby_name"}, "materials": MATERIALS,
                          "consent": True}, "form.baby_name")]:
        r = http.post("/api/v1/scenarios/newborn/submissions", json=body, headers=citizen)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field
    assert count(p, store.submissions) == before
    assert http.post("/api/v1/scenarios/newborn/submissions", json={"form": CHILD, "consent": True}).status_code == 401

    # one submission, six children; only the birth certificate is queued; a retry with the key is the same answer
    body = {"form": CHILD, "materials": MATERIALS, "consent": True}
    r = http.post("/api/v1/scenarios/newborn/submissions", json=body, headers={**citizen, "Idempotency-Key": "nb-1"})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["queued"] == ["birth_certificate"] and len(sub["matters"]) == 6
    again = http.post("/api/v1/scenarios/newborn/submissions", json=body, headers={**citizen, "Idempotency-Key": "nb-1"})
    assert again.json()["number"] == sub["number"]
    assert count(p, store.submissions) == before + 1
    number = sub["number"]
    status = http.get(f"/api/v1/submissions/{number}", headers=citizen).json()
    by = {m["code"]: m for m in status["matters"]}
    assert by["birth_certificate"]["state"] == "queued" and by["household_registration"]["state"] == "waiting"
    district = by["birth_certificate"]["department"].split("-")[1]
    assert status["state"] == "in_progress"

    # departments: only the right unit in the right district acts
    health = worker(f"D-{district}-health", district)
    queue = h.department_queue(p, health, ("queued",), 50, 0)["matters"]
    mine = [m for m in queue if m["number"] == number]
    assert len(mine) == 1 and "*" in mine[0]["applicant_id"]  # masked for the department's list
    bc_id = mine[0]["id"]
    with pytest.raises(Forbidden):
        p.bus.handle(h.ActOnMatter(worker(f"D-{district}-public_security", district), bc_id, "complete"))
    other = "500102" if district != "500102" else "500101"
    with pytest.raises(Forbidden):
        p.bus.handle(h.ActOnMatter(worker(f"D-{other}-health", other), bc_id, "complete"))
    with pytest.raises(ValidationError) as e:
        p.bus.handle(h.ActOnMatter(health, bc_id, "reject", "  "))
    assert e.value.field == "reason"
    out = p.bus.handle(h.ActOnMatter(health, bc_id, "complete"))
    assert sorted(out["queued"]) == ["household_registration", "maternity_benefit", "vaccination_record"]
    cert = out["outputs"]["birth_medical_certificate"]
    with p.db.read() as conn:
        lic = conn.execute(select(licences).where(licences.c.licence_no == cert)).mappings().one()
        from cityos.data.rail import store as rail_store  # the e-licence reaches the data rail's change log

        logged = [c for c in rail_store.changes(conn, "licences", rail_store.head(conn, "licences") - 50, 50)
                  if c.key == cert]
    assert lic["licence_type"] == "birth_medical_certificate" and lic["status"] == "valid"
    assert [(c.op, c.data["licence_type"]) for c in logged] == [("I", "birth_medical_certificate")]
    with pytest.raises(Conflict):
        p.bus.handle(h.ActOnMatter(health, bc_id, "complete"))

    # household registration is rejected; the applicant corrects that part only
    status = http.get(f"/api/v1/submissions/{number}", headers=citizen).json()
    by = {m["code"]: m for m in status["matters"]}
    police = worker(f"D-{district}-public_security", district)
    hr = by["household_registration"]
    p.bus.handle(h.ActOnMatter(police, hr["id"], "reject", "户口簿照片不清晰 the booklet photo is unreadable"))
    status = http.get(f"/api/v1/submissions/{number}", headers=citizen).json()
    assert status["state"] == "needs_correction"
    by = {m["code"]: m for m in status["matters"]}
    assert "unreadable" in by["household_registration"]["reason"]
    assert by["vaccination_record"]["state"] == "queued"  # the other parts go on
    r = http.post(f"/api/v1/submissions/{number}/matters/household_registration/correction",
                  json={"form": {"bank_account": "6222020200112233446"}}, headers=citizen)
    assert r.status_code == 400 and r.json()["error"]["field"] == "form.bank_account"
    r = http.post(f"/api/v1/submissions/{number}/matters/vaccination_record/correction", json={}, headers=citizen)
    assert r.status_code == 409
    r = http.post(f"/api/v1/submissions/{number}/matters/household_registration/correction",
                  json={"materials": {"household_booklet": "upload:hb-2"}}, headers=citizen)
    assert r.status_code == 200, r.text
    assert r.json()["queued"] == ["household_registration"]
    with p.db.read() as conn:
        row = next(m for m in store.matters_of(conn, store.submission_by_number(conn, number)["id"])
                   if m["matter_code"] == "household_registration")
    assert row["attempt"] == 2 and row["inputs"] == {"birth_medical_certificate": cert}
    assert row["materials"] == {"household_booklet": "upload:hb-2"}

    # everyone completes; the submission completes and the applicant is told
    units = {"household_registration": "public_security", "vaccination_record": "health",
             "maternity_benefit": "healthcare_security", "medical_insurance": "healthcare_security",
             "social_security_card": "human_resources"}
    for _ in range(3):
        status = http.get(f"/api/v1/submissions/{number}", headers=citizen).json()
        for m in status["matters"]:
            if m["state"] == "queued":
                p.bus.handle(h.ActOnMatter(worker(f"D-{district}-{units[m['code']]}", district), m["id"], "complete"))
    status = http.get(f"/api/v1/submissions/{number}", headers=citizen).json()
    assert status["state"] == "completed", status
    assert all(m["state"] == "completed" for m in status["matters"])
    ssc = next(m for m in status["matters"] if m["code"] == "social_security_card")
    assert "social_security_card" in ssc["outputs"]
    with p.db.read() as conn:
        done = conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.recipient_user == "citizen", notifications.c.kind == "scenario.done")).scalar_one()
    assert done == 1
    assert [s["number"] for s in http.get("/api/v1/submissions", headers=citizen).json()["submissions"]] == [number]
    # someone else's submission is not visible to another citizen-less user
    r = http.get(f"/api/v1/submissions/{number}", headers=bearer(http, "grid.member"))
    assert r.status_code == 403


def test_definitions_publish_versions_and_refuse_bad_ones(seeded: Platform, http: Any) -> None:
    admin = bearer(http, "admin")
    sc = http.get("/api/v1/scenarios/newborn").json()
    assert sc["version"] == 1 and len(sc["order"]) == 3
    from cityos.scenarios.seed import shipped

    text = next(x for x in shipped() if x.stem == "newborn").read_text(encoding="utf-8")
    r = http.post("/api/v1/scenarios", json={"source": text}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["field"] == "version"  # published versions are immutable
    v2 = text.replace("version: 1", "version: 2").replace("time_limit_days: 2\n    fields: [parent_name",
                                                         "time_limit_days: 3\n    fields: [parent_name")
    r = http.post("/api/v1/scenarios", json={"source": v2}, headers=admin)
    assert r.status_code == 201, r.text
    assert http.get("/api/v1/scenarios/newborn").json()["version"] == 2
    assert http.get("/api/v1/scenarios/newborn", params={"version": 1}).json()["version"] == 1
    cyc = v2.replace("version: 2", "version: 3").replace("    issues: [birth_medical_certificate]",
                                                        "    issues: [birth_medical_certificate]\n    requires: [vaccination_record]")
    r = http.post("/api/v1/scenarios/validate", json={"source": cyc}, headers=admin)
    assert r.status_code == 400 and "cycle" in r.json()["error"]["message"]
    r = http.post("/api/v1/scenarios", json={"source": cyc}, headers=admin)
    assert r.status_code == 400
    assert http.get("/api/v1/scenarios/newborn").json()["version"] == 2
    # a pre-fill the data owner did not grant is refused at publish, naming the field
    raw = text.replace("code: newborn", "code: newborn-test")
    r = http.post("/api/v1/scenarios", json={"source": raw}, headers=admin)
    assert r.status_code == 400 and r.json()["error"]["field"] == "fields.parent_id_number.prefill"
    r = http.post("/api/v1/scenarios", json={"source": "code: [\n"}, headers=admin)
    assert r.status_code == 400 and r.json()["error"]["field"] == "definition"
    r = http.post("/api/v1/scenarios", json={"source": text}, headers=bearer(http, "citizen"))
    assert r.status_code == 403
    # the data officer grants; then it publishes
    h.grant_data(seeded, SYSTEM, "newborn-test", ["population.*"])
    r = http.post("/api/v1/scenarios", json={"source": raw}, headers=admin)
    assert r.status_code == 201, r.text
    r = http.post("/api/v1/scenarios/newborn-test/grants", json={"refs": ["population.shoe_size"]},
                  headers=bearer(http, "data.officer"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "refs"


def test_overdue_matters_are_flagged_once_and_their_department_reminded(seeded: Platform, http: Any,
                                                                         clock: FixedClock) -> None:
    p = seeded
    p.clock = clock
    citizen = bearer(http, "citizen")
    r = http.post("/api/v1/scenarios/newborn/submissions", json={"form": CHILD, "materials": MATERIALS,
                                                                  "consent": True}, headers=citizen)
    assert r.status_code == 201
    clock.advance(days=3)
    assert h.sweep_matters(p) == 1
    assert h.sweep_matters(p) == 0
    citizen = bearer(http, "citizen")  # the first token expired in those three days
    status = http.get(f"/api/v1/submissions/{r.json()['number']}", headers=citizen).json()
    bc = next(m for m in status["matters"] if m["code"] == "birth_certificate")
    assert bc["overdue"] is True
    assert any(e["action"] == "overdue" for e in status["history"])


def systems_apps(http: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    systems = http.get("/api/v1/programme/systems", headers=headers).json()["systems"]
    codes = sorted({a for s in systems for r in s["runways"] for a in r["apps"]})
    return [http.get(f"/api/v1/ledger/resources/{c}", headers=headers).json() for c in codes]


def test_plan_boards_lists_links_and_spreadsheets(seeded: Platform, http: Any) -> None:
    from openpyxl import Workbook, load_workbook

    from cityos.scenarios import programme_handlers as ph

    p = seeded
    op = bearer(http, "city.operator")
    boards = http.get("/api/v1/programme/boards", headers=op).json()
    assert set(boards["systems"]) == {"party", "government", "economy", "society", "culture", "rule_of_law"}
    prog = boards["progress"]
    assert prog["scenarios_planned"] == 4 and prog["scenarios_launched"] == 2 and prog["core_businesses"] == 6
    assert prog["multi_department_scenarios_online"] == 3 and prog["core_businesses_per_unit"]
    assert prog["major_applications_online"] == sum(1 for r in systems_apps(http, op) if r["state"] == "online")
    assert boards["systems"]["government"]["scenario"]["launched"] == 1
    systems = http.get("/api/v1/programme/systems", headers=op).json()["systems"]
    gov = next(s for s in systems if s["code"] == "government")
    assert any(r["code"] == "gov-one-thing" and r["apps"] for r in gov["runways"])
    items = http.get("/api/v1/programme/lists", params={"kind": "scenario"}, headers=op).json()["items"]
    scn = next(i for i in items if i["code"] == "SCN-001")
    assert scn["links"] == ["REF-001", "REF-002"] and scn["scenario_code"] == "newborn"
    assert http.get("/api/v1/programme/lists", headers=bearer(http, "citizen")).status_code == 403

    city = scn["owner_unit"].split("-")[1]
    base = {"kind": "demand", "code": "DEM-900", "title_zh": "测试需求", "owner_unit": f"D-{city}-health",
            "system": "government"}
    for change, field in [({"links": ["REF-001"]}, "links"), ({"owner_unit": "D-nowhere"}, "owner_unit"),
                          ({"system": "sport"}, "system"), ({"due_on": "2026-01-01", "start_on": "2026-02-01"}, "due_on"),
                          ({"scenario_code": "newborn"}, "scenario_code"), ({"links": ["NOPE-1"]}, "links")]:
        r = http.post("/api/v1/programme/lists", json={**base, **change}, headers=op)
        assert r.status_code == 400, (change, r.text)
        assert r.json()["error"]["field"] == field
    assert http.get("/api/v1/programme/lists/DEM-900", headers=op).status_code == 404
    r = http.post("/api/v1/programme/lists", json={**base, "links": ["SCN-004"]}, headers=op)
    assert r.status_code == 200
    # a district operator may not write the city's items
    r = http.post("/api/v1/programme/lists", json={**base, "title_zh": "改"}, headers=bearer(http, "district.operator"))
    assert r.status_code == 403

    # runways and core businesses check the ledger and the catalog
    r = http.post("/api/v1/programme/runways", json={"code": "x-1", "system": "culture", "name_zh": "x", "name_en": "x",
                                                      "owner_unit": f"C-{city}", "apps": [f"CLD-{city}-000"]}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["field"] == "apps"
    r = http.post("/api/v1/programme/businesses", json={
        "code": "CB-X", "unit": f"D-{city}-water", "name_zh": "供水", "name_en": "Water supply", "system": "society",
        "items": [{"code": "CB-X-1", "name_zh": "报装", "name_en": "Connection", "datasets": ["rainbows"]}]}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["field"] == "items[0].datasets"

    # spreadsheets: export, import back (same items), a bad file names its rows and writes nothing
    r = http.get("/api/v1/programme/lists/export", params={"format": "xlsx"}, headers=op)
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    rows = list(wb.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][:3] == ("kind", "code", "title_zh") and len(rows) == 1 + 11
    r = http.post("/api/v1/programme/lists/import", files={"file": ("lists.xlsx", r.content)}, headers=op)
    assert r.status_code == 200 and r.json()["imported"] == 11
    new = Workbook()
    ws = new.active
    assert ws is not None
    ws.append(["kind", "code", "title_zh", "title_en", "owner_unit", "system", "runway", "status", "links"])
    ws.append(["demand", "DEM-950", "新需求", "New demand", f"D-{city}-water", "society", "", "proposed", "SCN-950"])
    ws.append(["scenario", "SCN-950", "新场景", "New scenario", f"D-{city}-water", "society", "", "planned", ""])
    ws.append(["reform", "REF-950", "坏行", "Bad row", f"D-{city}-water", "sport", "", "planned", ""])
    buf = io.BytesIO()
    new.save(buf)
    r = http.post("/api/v1/programme/lists/import", files={"file": ("new.xlsx", buf.getvalue())}, headers=op)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["rows"] == [{"row": 4, "field": "system", "reason": r.json()["error"]["details"]["rows"][0]["reason"]}]
    assert http.get("/api/v1/programme/lists/DEM-950", headers=op).status_code == 404
    ws.delete_rows(4)
    buf = io.BytesIO()
    new.save(buf)
    r = http.post("/api/v1/programme/lists/import", files={"file": ("new.xlsx", buf.getvalue())}, headers=op)
    assert r.status_code == 200, r.text
    assert http.get("/api/v1/programme/lists/DEM-950", headers=op).json()["kind"] == "demand"
    assert next(i for i in ph.list_items(p, SYSTEM, "demand", None, None) if i["code"] == "DEM-950")["links"] == ["SCN-950"]
    r = http.post("/api/v1/programme/lists/import", files={"file": ("x.txt", b"hello")}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["field"] == "file"


def test_a_retired_version_takes_no_new_submissions_but_its_submissions_still_work(seeded: Platform, http: Any) -> None:
    citizen, admin = bearer(http, "citizen"), bearer(http, "admin")
    r = http.post("/api/v1/scenarios/retirement/submissions", json={
        "form": {"employer": "重庆某厂", "retire_on": "2026-12-01", "bank_account": "6222020200112233445"},
        "materials": {"retirement_approval": {"work_record": "upload:wr"}}, "consent": True}, headers=citizen)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert http.post("/api/v1/scenarios/retirement/versions/1/retire", headers=admin).status_code == 200
    r = http.post("/api/v1/scenarios/retirement/submissions", json={"form": {}, "consent": True}, headers=citizen)
    assert r.status_code == 404 and r.json()["error"]["field"] == "scenario"
    st = http.get(f"/api/v1/submissions/{number}", headers=citizen)
    assert st.status_code == 200 and st.json()["version"] == 1
