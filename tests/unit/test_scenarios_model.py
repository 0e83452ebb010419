"""The "one thing" rules without IO: definitions are checked whole, errors name the item,
matters run in dependency layers, a submission is validated once."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cityos.core.errors import Conflict, ValidationError
from cityos.data.model import BASE_DATASETS, make_id_number
from cityos.scenarios import model
from cityos.scenarios.handlers import DATASET_FIELDS, parse_source
from cityos.scenarios.seed import shipped


def newborn_raw() -> dict[str, Any]:
    path = next(p for p in shipped() if p.stem == "newborn")
    raw: dict[str, Any] = parse_source(path.read_text(encoding="utf-8"))
    return raw


def parse(raw: Any) -> model.Scenario:
    return model.parse_scenario(raw, DATASET_FIELDS)


def error_of(raw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        parse(raw)
    return e.value


def test_every_shipped_scenario_parses_and_newborn_has_six_matters_in_three_layers() -> None:
    codes = {}
    for path in shipped():
        sc = parse(parse_source(path.read_text(encoding="utf-8")))
        codes[sc.code] = sc
        assert sc.name_zh and sc.name_en
        assert len(sc.matters) >= 5
    assert {"newborn", "business-startup", "retirement"} <= set(codes)
    nb = codes["newborn"]
    assert len(nb.matters) == 6
    assert nb.order() == [["birth_certificate"], ["household_registration", "maternity_benefit", "vaccination_record"],
                          ["medical_insurance", "social_security_card"]]
    assert {m.code for m in codes["business-startup"].matters} >= {
        "business_registration", "seal_engraving", "tax_invoices", "employee_insurance", "housing_fund", "bank_account"}


def test_matter_departments_are_departments_the_city_has() -> None:
    from cityos.identity.seed import DEPARTMENTS

    assert {d[0] for d in DEPARTMENTS} == model.DEPARTMENT_TYPES


def test_a_dependency_cycle_is_refused_and_named() -> None:
    raw = newborn_raw()
    bc = next(m for m in raw["matters"] if m["code"] == "birth_certificate")
    bc["requires"] = ["medical_insurance"]
    err = error_of(raw)
    assert err.field == "matters"
    assert "cycle" in err.message
    cycle = err.details["cycle"]
    assert cycle[0] == cycle[-1]
    assert {"birth_certificate", "household_registration", "medical_insurance"} <= set(cycle)


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda r: r["matters"][0].update(department="ministry_of_magic"), "matters.birth_certificate.department",
     "unknown department"),
    (lambda r: r["fields"][0].update(prefill="spells.id_number"), "fields.parent_id_number.prefill", "unknown dataset"),
    (lambda r: r["fields"][0].update(prefill="population.shoe_size"), "fields.parent_id_number.prefill", "no field"),
    (lambda r: r["matters"][1].update(requires=["no_such_matter"]), "matters.household_registration.requires",
     "unknown matter"),
    (lambda r: r["matters"][0].update(fields=["no_such_field"]), "matters.birth_certificate.fields", "unknown form field"),
    (lambda r: r["matters"].append(copy.deepcopy(r["matters"][0])), "matters", "declared twice"),
    (lambda r: r["fields"][8].update(type="enum", choices=[]), "fields.baby_gender.choices", "choices"),
    (lambda r: r["matters"][0].update(time_limit_days=0), "matters.birth_certificate.time_limit_days", "days"),
    (lambda r: r.update(code="Newborn!"), "code", "not a valid code"),
    (lambda r: r.update(matters=r["matters"][:1]), "matters", "at least two"),
])
def test_a_wrong_definition_names_the_item(change: Any, field: str, words: str) -> None:
    raw = newborn_raw()
    change(raw)
    err = error_of(raw)
    assert err.field == field
    assert words in err.message


def test_yaml_syntax_errors_name_the_line() -> None:
    with pytest.raises(ValidationError) as e:
        parse_source("code: x\nfields: [a, b\nmatters: []\n")
    assert e.value.field == "definition" and "line" in e.value.message


def test_prefill_needs_a_grant_for_each_field() -> None:
    sc = parse(newborn_raw())
    refs = {f.prefill.ref for f in sc.fields if f.prefill}
    model.check_grants(sc, refs)
    model.check_grants(sc, {"population.*"})
    with pytest.raises(ValidationError) as e:
        model.check_grants(sc, refs - {"population.phone"})
    assert e.value.field == "fields.parent_phone.prefill"


def valid_form() -> dict[str, Any]:
    from datetime import date

    return {"parent_id_number": make_id_number("500101", date(1995, 3, 1), 12, False), "parent_name": "李娟",
            "parent_phone": "13912345678", "registered_address": "渝中区解放碑街道1号", "household_id": "H0001",
            "baby_name": "李小宝", "baby_gender": "F", "baby_birth_date": "2026-11-20", "birth_hospital": "市妇幼保健院",
            "bank_account": "6222020200112233445"}


def test_form_is_checked_whole_and_the_first_wrong_field_is_named() -> None:
    sc = parse(newborn_raw())
    assert model.check_form(sc, valid_form())["baby_gender"] == "F"
    for key, value, words in [("baby_gender", "X", "not one of"), ("baby_birth_date", "2026-13-01", "not a date"),
                              ("parent_phone", "12345", "mobile"), ("bank_account", "12ab", "pattern"),
                              ("parent_id_number", "500101199503010000", "check character"),
                              ("baby_name", None, "required")]:
        form = valid_form()
        form[key] = value
        with pytest.raises(ValidationError) as e:
            model.check_form(sc, form)
        assert e.value.field == f"form.{key}", key
        assert words in e.value.message, (key, e.value.message)
    with pytest.raises(ValidationError) as e:
        model.check_form(sc, {**valid_form(), "favourite_colour": "red"})
    assert e.value.field == "form.favourite_colour"


def test_required_materials_are_named_when_missing() -> None:
    sc = parse(newborn_raw())
    full = {"birth_certificate": {"delivery_record": "file:1"}, "household_registration": {"household_booklet": "file:2"},
            "maternity_benefit": {"medical_invoices": "file:3"}}
    out = model.check_materials(sc, full)
    assert out["social_security_card"] == {}  # the photo is optional
    broken = {**full, "maternity_benefit": {}}
    with pytest.raises(ValidationError) as e:
        model.check_materials(sc, broken)
    assert e.value.field == "materials.maternity_benefit.medical_invoices"
    with pytest.raises(ValidationError) as e:
        model.check_materials(sc, {**full, "birth_certificate": {"delivery_record": "f", "selfie": "g"}})
    assert e.value.field == "materials.birth_certificate.selfie"


def test_matters_queue_when_what_they_need_is_complete_and_outputs_flow_on() -> None:
    sc = parse(newborn_raw())
    kids = {m.code: model.Child(m.code, "waiting") for m in sc.matters}
    assert model.ready_to_queue(sc, kids) == ["birth_certificate"]
    kids["birth_certificate"].state = "completed"
    kids["birth_certificate"].outputs = {"birth_medical_certificate": "EL1"}
    assert model.ready_to_queue(sc, kids) == ["household_registration", "vaccination_record", "maternity_benefit"]
    assert model.inputs_for(sc, "household_registration", kids) == {"birth_medical_certificate": "EL1"}
    assert model.submission_state(kids.values()) == "in_progress"
    kids["household_registration"].state = "rejected"
    assert model.submission_state(kids.values()) == "needs_correction"
    for c in kids.values():
        c.state = "completed"
    assert model.submission_state(kids.values()) == "completed"


def test_matter_transitions() -> None:
    assert model.next_matter_state("accept", "queued") == "accepted"
    assert model.next_matter_state("complete", "accepted") == "completed"
    assert model.next_matter_state("reject", "queued") == "rejected"
    with pytest.raises(Conflict):
        model.next_matter_state("complete", "waiting")
    with pytest.raises(ValidationError) as e:
        model.next_matter_state("approve", "queued")
    assert e.value.field == "action"


def test_dataset_fields_come_from_the_base_databases() -> None:
    assert set(DATASET_FIELDS) == set(BASE_DATASETS)


def test_cli_validate_prints_layers_or_names_the_error(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from cityos.cli import app

    runner = CliRunner()
    good = next(p for p in shipped() if p.stem == "business-startup")
    r = runner.invoke(app, ["scenario", "validate", str(good)])
    assert r.exit_code == 0 and "step 2:" in r.output and "seal_engraving" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text(encoding="utf-8").replace("department: taxation", "department: astrology"),
                   encoding="utf-8")
    r = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert r.exit_code == 1 and "matters.tax_invoices.department" in r.output
