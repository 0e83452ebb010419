"""The grid member's mobile pages on a phone viewport in a real browser: my tasks,
patrol check-in, report a problem, my grid's ledger; and the command centre board."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cityos.bootstrap import Platform
from cityos.identity.seed import DEMO_PASSWORD
from tests.e2e.conftest import screenshot
from tests.integration.test_case_loop import grid_point

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors
    yield pg
    context.close()


def test_grid_member_patrols_reports_and_keeps_the_ledger_on_a_phone(live_server: Any, seeded: Platform,
                                                                     phone: Any) -> None:
    base = live_server.url
    lon, lat, grid = grid_point(seeded)
    phone.goto(base + "/login?next=/m/tasks")
    phone.fill("input[name=username]", "grid.member")
    phone.fill("input[name=password]", DEMO_PASSWORD)
    phone.click("button[type=submit]")
    phone.wait_for_url(base + "/m/tasks")
    tasks = phone.locator("#tasks li[data-task]")
    assert tasks.count() > 0
    # The page fits the phone: nothing wider than the viewport.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "grassroots-mobile-tasks")
    first = tasks.first
    task_id = first.get_attribute("data-task")
    first.locator("input[name=lon]").fill(str(lon))
    first.locator("input[name=lat]").fill(str(lat))
    first.locator("input[name=note]").fill("巡查正常")
    first.locator("button[type=submit]").click()
    phone.wait_for_url(f"{base}/m/tasks?done={task_id}")
    assert phone.locator("#checked").inner_text() == "已签到"
    assert "已完成" in phone.locator(f"#tasks li[data-task='{task_id}']").inner_text()
    phone.click("text=上报问题 >> nth=0")
    phone.select_option("#report-form select[name=category]", "E0101")
    phone.fill("#report-form textarea[name=description]", "楼下暴露垃圾")
    phone.fill("#report-form input[name=lon]", str(lon))
    phone.fill("#report-form input[name=lat]", str(lat))
    phone.click("#report-form button[type=submit]")
    phone.wait_for_url("**/m/report?number=*")
    assert phone.locator("#reported b").inner_text().isdigit()
    screenshot(phone, "grassroots-mobile-report")
    phone.goto(base + "/m/ledger")
    phone.select_option("#ledger-form select[name=kind]", "venue")
    phone.fill("#ledger-form input[name=label]", "老街面馆")
    phone.fill("#ledger-form input[name=address]", "解放路12号")
    phone.fill("#ledger-form input[name=phone]", "13800001234")
    phone.click("#ledger-form button[type=submit]")
    phone.wait_for_url(base + "/m/ledger")
    entry = phone.locator("#ledger li").first.inner_text()
    assert "老街面馆" in entry and "138****1234" in entry  # masked without a stated purpose
    screenshot(phone, "grassroots-mobile-ledger")
    assert phone.js_errors == []
    # The township operator's board on the same phone.
    phone.goto(base + "/login?next=/grassroots")
    phone.fill("input[name=username]", "township.operator")
    phone.fill("input[name=password]", DEMO_PASSWORD)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/grassroots/board/{grid[:9]}")
    assert phone.locator("#sectors .card").count() == 4
    assert phone.locator(f"#grids tr[data-grid='{grid}']").count() == 1
    screenshot(phone, "grassroots-board")
