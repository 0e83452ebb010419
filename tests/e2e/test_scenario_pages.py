""""One thing" in a real browser: a citizen on a phone consents, gets a pre-filled form, uploads
the materials and submits once; the health department completes its matter from its queue; the
citizen sees the next matters queued and opens the issued e-licence; the designer sees the graph."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_case_pages import PNG, sign_in

pytestmark = pytest.mark.e2e
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_citizen_applies_once_department_completes_citizen_gets_the_licence(live_server: Any, browser: Any,
                                                                             tmp_path: Any) -> None:
    base = live_server.url
    png, pdf = tmp_path / "photo.png", tmp_path / "record.pdf"
    png.write_bytes(PNG)
    pdf.write_bytes(PDF)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "citizen", "/services/apply/newborn")
    page.goto(base + "/services")
    page.click("a.scenario-card[data-code=newborn]")
    page.wait_for_url("**/services/apply/newborn")
    page.click("#consent-button")
    page.wait_for_selector("#prefilled-note")
    assert page.input_value("#f_parent_name") != ""  # from the population database
    assert page.get_attribute("#f_parent_id_number", "readonly") is not None
    # a missing field is named and nothing is lost of what was typed
    page.fill("#f_baby_name", "王小雨")
    page.click("#apply-button")
    page.wait_for_selector("#apply-error")
    assert "baby" in page.inner_text("#apply-error").lower() or "form." in page.inner_text("#apply-error")
    assert page.input_value("#f_baby_name") == "王小雨"
    page.select_option("#f_baby_gender", "F")
    page.fill("#f_baby_birth_date", "2026-11-20")
    page.fill("#f_birth_hospital", "市妇幼保健院")
    page.fill("#f_bank_account", "6222020200112233445")
    page.set_input_files("#m_birth_certificate_delivery_record", str(pdf))
    page.set_input_files("#m_household_registration_household_booklet", str(png))
    page.set_input_files("#m_maternity_benefit_medical_invoices", str(pdf))
    page.click("#apply-button")
    page.wait_for_url("**/services/s/**")
    number = page.inner_text("#sub-number")
    assert page.locator("tr[data-matter=birth_certificate] .matter-state").inner_text() == "待受理"
    assert page.locator("tr[data-matter=household_registration] .matter-state").inner_text() == "等待前置事项"
    assert page.locator("#dep-graph .matter-box").count() == 6
    screenshot(page, "scenario-track-phone")

    desk = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    hp = desk.new_page()
    sign_in(hp, base, "handler", "/services/queue")
    row = hp.locator(f"#queue tr[data-number='{number}'][data-matter=birth_certificate]")
    row.locator("button[value=complete]").click()
    hp.wait_for_url("**/services/queue")
    assert hp.locator(f"#queue tr[data-number='{number}'][data-matter=birth_certificate]").count() == 0
    # rejecting without a reason is refused with a message
    row = hp.locator(f"#queue tr[data-number='{number}'][data-matter=household_registration]")
    row.locator("button[value=reject]").click()
    hp.wait_for_selector("#queue-error")
    screenshot(hp, "scenario-queue")

    page.reload()
    assert page.locator("tr[data-matter=birth_certificate] .matter-state").inner_text() == "已办结"
    assert page.locator("tr[data-matter=vaccination_record] .matter-state").inner_text() == "待受理"
    page.click("tr[data-matter=birth_certificate] a.licence")
    page.wait_for_selector("#licence-no")
    assert page.inner_text("#licence tr:first-child td") == "birth_medical_certificate"
    assert errors == []

    office = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    admin = office.new_page()
    sign_in(admin, base, "admin", "/services/design/newborn")
    assert admin.locator("#dep-graph .matter-box").count() == 6
    assert admin.locator("#dep-graph line.edge").count() == 5
    source = admin.input_value("#source")
    admin.fill("#source", source.replace("    issues: [birth_medical_certificate]",
                                         "    issues: [birth_medical_certificate]\n    requires: [medical_insurance]"))
    admin.click("#validate-button")
    admin.wait_for_selector("#design-error")
    assert "cycle" in admin.inner_text("#design-error")
    screenshot(admin, "scenario-design")
    admin.goto(base + "/programme?lang=en")
    assert admin.locator("#system-boards tr[data-system]").count() == 6
    assert admin.locator("#list-items tr[data-code=SCN-001]").count() == 1
    screenshot(admin, "programme-boards")
    for ctx in (phone, desk, office):
        ctx.close()
