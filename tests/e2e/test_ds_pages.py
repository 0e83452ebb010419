"""Data service pages in a real browser: the marketplace (search, documentation, try it), the
bundled application with its credentials, the owner's approval and the usage dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityos.data import store as data_store
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in

pytestmark = pytest.mark.e2e


def test_market_apply_approve_try_and_usage(live_server: Any, page: Any) -> None:
    base = live_server.url
    p = live_server.server.config.app.state.platform
    with p.db.read() as conn:
        resident = conn.execute(select(data_store.residents.c.id_number, data_store.residents.c.name)
                                .order_by(data_store.residents.c.id_number).limit(1)).one()

    # the marketplace, anonymous: search and documentation
    page.goto(base + "/ds?q=company")
    assert page.locator("#ds-list tr[data-code='company.by_uscc']").count() == 1
    assert page.locator("#ds-list tr[data-code='person.verify']").count() == 0
    page.click("#ds-list tr[data-code='company.by_uscc'] a")
    page.wait_for_url("**/ds/i/company.by_uscc")
    assert "uscc" in page.inner_text("#ds-params")
    screenshot(page, "ds-interface")

    # bundled application: one unconditional (granted at once), one conditional (waits)
    sign_in(page, base, "data.officer")
    page.wait_for_url(base + "/me")
    page.goto(base + "/ds/apply?interfaces=person.verify")
    page.select_option("#ds-consumer", "__new__")
    page.fill("input[name=new_code]", "street-app")
    page.fill("input[name=new_name]", "街道民生应用")
    page.select_option("select[name=new_department]", "civil_affairs")
    page.check("#ds-choose input[value='resident.basic']")
    page.fill("input[name=purpose]", "街道走访核验居民信息")
    page.fill("input[name=legal_basis]", "《重庆市公共数据管理办法》")
    page.click("#ds-apply button")
    page.wait_for_selector("#ds-result")
    assert "active" in page.inner_text("#ds-result li[data-interface='person.verify']")
    assert "pending" in page.inner_text("#ds-result li[data-interface='resident.basic']")
    key = page.inner_text("#ds-api-key").strip()
    assert key.startswith("cos_")
    screenshot(page, "ds-applied")

    # the owner approves the conditional one
    page.goto(base + "/ds/approvals?status=pending&owner=public_security")
    row = page.locator("#ds-grants tr[data-consumer='street-app'][data-interface='resident.basic']")
    row.locator("form.approve input[name=daily_quota]").fill("500")
    row.locator("form.approve button").click()
    page.wait_for_url("**/ds/approvals**")
    page.goto(base + "/ds/approvals?status=active&owner=public_security")
    assert "500" in page.inner_text("#ds-grants tr[data-consumer='street-app'][data-interface='resident.basic']")

    # try it with the consumer's key: masked answer
    page.goto(base + "/ds/i/resident.basic")
    page.fill("#ds-try input[name=api_key]", key)
    page.fill("#ds-try input[name=id_number]", resident.id_number)
    page.click("#ds-try button")
    page.wait_for_selector("#ds-try-status")
    assert page.inner_text("#ds-try-status") == "200"
    body = page.inner_text("#ds-try-body")
    assert resident.id_number[:6] in body and resident.id_number not in body and resident.name not in body
    # a bad parameter: the field is named, nothing echoed
    page.fill("#ds-try input[name=id_number]", "12345")
    page.click("#ds-try button")
    page.wait_for_selector("#ds-try-status:text-is('400')")
    assert "id_number" in page.inner_text("#ds-try-body")
    screenshot(page, "ds-try")

    # the owner's usage dashboard
    page.goto(base + "/ds/usage?owner=public_security")
    row = page.locator("#ds-usage-consumers tr[data-consumer='street-app'][data-interface='resident.basic']")
    assert row.locator("td.calls").inner_text() == "1"
    assert page.locator("#ds-recent td.outcome-invalid").count() >= 1
    screenshot(page, "ds-usage")
    assert not page.js_errors
