"""The subscriber's lag view in a real browser: a subscriber applies, the data officer approves
on the same page, the subscriber reads changes and sees its lag fall; the officer suspends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.data.rail import store as rs
from cityos.web.app import create_app
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in
from tests.integration.test_rail_api import key_for

pytestmark = pytest.mark.e2e


def test_apply_approve_and_watch_the_lag(live_server: Any, browser: Any, page: Any) -> None:
    base = live_server.url
    p = live_server.server.config.app.state.platform
    with p.db.read() as conn:
        head = rs.head(conn, "buildings")

    sign_in(page, base, "district.operator")
    page.goto(base + "/rail")
    page.select_option("#rail-apply select[name=dataset]", "buildings")
    page.fill("#rail-apply input[name=purpose]", "区县数据仓库同步")
    page.click("#rail-apply button[type=submit]")
    page.wait_for_url(base + "/rail")
    row = page.locator("#rail-mine tr[data-dataset=buildings]")
    assert "待审批" in row.locator(".status").inner_text()
    assert page.locator("#rail-owned").count() == 0, "a subscriber does not see the approvals table"

    officer_ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    officer = officer_ctx.new_page()
    sign_in(officer, base, "data.officer")
    officer.goto(base + "/rail")
    pending = officer.locator("#rail-owned tr[data-dataset=buildings]")
    assert "district.operator" in pending.inner_text()
    pending.locator("form[data-action=approve] button").click()
    officer.wait_for_url(base + "/rail")
    assert "生效" in officer.locator("#rail-owned tr[data-dataset=buildings] .status").inner_text()
    screenshot(officer, "rail-officer")

    # The subscriber reads up to 100 behind the head; the page (polling every 2 s) shows the lag.
    with TestClient(create_app(p)) as api:
        me = key_for(p, "district.operator")
        assert api.get(f"/rail/v1/buildings/changes?after={head - 100}&limit=10", headers=me).status_code == 200
    page.wait_for_function(
        "() => document.querySelector('#rail-mine tr[data-dataset=buildings] .lag-changes').textContent.trim() === '100'",
        timeout=15_000)
    assert page.locator("#rail-mine tr[data-dataset=buildings] .head").inner_text() == str(head)
    assert "生效" in row.locator(".status").inner_text()
    screenshot(page, "rail-subscriber")

    officer.locator("#rail-owned tr[data-dataset=buildings] form[data-action=suspend] button").click()
    officer.wait_for_url(base + "/rail")
    page.wait_for_function(
        "() => document.querySelector('#rail-mine tr[data-dataset=buildings] .status').textContent.includes('已暂停')",
        timeout=15_000)
    officer_ctx.close()
    assert page.js_errors == []
