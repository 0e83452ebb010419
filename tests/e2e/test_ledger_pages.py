"""The ledger in a real browser: facets, registration with a schema error, the lifecycle,
a dependency seen from both ends, the bundled application cart, the statistics board."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in

pytestmark = pytest.mark.e2e


def test_a_resource_administrator_works_the_ledger(live_server: Any, page: Any) -> None:
    base = live_server.url
    sign_in(page, base, "resource.admin")
    page.wait_for_url(base + "/me")
    page.goto(base + "/ledger")
    total = int(page.locator("#total").inner_text().strip("()+"))
    assert total > 300
    page.click("#facets section[data-facet=type] a[data-value=component]")
    page.wait_for_url("**/ledger?type=component")
    types = page.locator("#resources tr[data-code] td:nth-child(4)").all_inner_texts()
    assert types and set(types) == {"能力组件"}
    screenshot(page, "ledger-search")

    page.goto(base + "/ledger/new")
    page.select_option("#new-form select[name=type]", "component")
    assert "\"key\"" in (page.locator("#schema").text_content() or "")
    page.fill("#new-form input[name=code]", "CMP-e2e")
    page.fill("#new-form input[name=name_zh]", "端到端组件")
    page.fill("#new-form input[name=owner_unit]", "C-e2e")
    page.fill("#new-form input[name=uses]", "CITYOS-identity")
    page.fill("#attributes", '{"key": "E2E"}')
    page.click("#new-form button[type=submit]")
    err = page.locator("p.error").inner_text()
    assert "CMP-e2e" in err and "attributes.key" in err
    page.fill("#attributes", '{"key": "e2e-comp", "endpoint": "/api/v1/ping"}')
    page.click("#new-form button[type=submit]")
    page.wait_for_url(base + "/ledger/r/CMP-e2e")
    for action, state in (("submit", "submitted"), ("approve", "approved"), ("publish", "online")):
        page.click(f"form[data-action={action}] button")
        page.wait_for_selector(f"#res-state[data-state={state}]")
    assert "CITYOS-identity" in page.locator("#needs").inner_text()
    page.goto(base + "/ledger/r/CITYOS-identity")
    assert "CMP-e2e" in page.locator("#dependents").inner_text()
    page.fill("form[data-action=take_offline] input[name=reason]", "升级")
    page.click("form[data-action=take_offline] button")
    page.wait_for_selector("#res-state[data-state=offline]")
    page.fill("form[data-action=retire] input[name=reason]", "替换")
    page.click("form[data-action=retire] button")
    assert "CMP-e2e" in page.locator("p.error").inner_text()  # in use: refused, dependents named
    screenshot(page, "ledger-resource")

    page.goto(base + "/ledger?q=CMP-e2e")
    page.check("#resources tr[data-code='CMP-e2e'] input[type=checkbox]")
    page.click("#to-cart")
    page.wait_for_url("**/ledger/cart?**")
    assert page.locator("#cart tr[data-code='CMP-e2e']").count() == 1
    page.fill("#cart-form textarea[name=purpose]", "网格事件分派")
    page.click("#cart-form button[type=submit]")
    page.wait_for_url("**/ledger/applications/*")
    page.click("#items tr[data-code='CMP-e2e'] button[value=approve]")
    page.wait_for_selector("#app-status:text('approved')")
    assert "approved" in page.locator("#items tr[data-code='CMP-e2e'] .item-status").inner_text()

    page.goto(base + "/ledger/stats")
    page.wait_for_selector("#chart-growth[data-ready='1']")
    assert int(page.locator("#stats-total").inner_text()) == total + 1
    screenshot(page, "ledger-stats")
    assert page.js_errors == []
