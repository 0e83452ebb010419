"""The case loop in a real browser: an operator files and dispatches a public case from the
queue; a handler on a phone signs, handles and reports back with a photo; the timeline shows it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.identity.seed import DEMO_PASSWORD
from cityos.web.app import create_app
from tests.e2e.conftest import screenshot
from tests.integration.test_case_loop import grid_point, login

pytestmark = pytest.mark.e2e
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e22d1f2c0000000049454e44ae426082")


def sign_in(page: Any, base: str, username: str, next_path: str) -> None:
    page.goto(base + next_path)  # not signed in: sent to the sign-in page, and back after it
    page.wait_for_url("**/login?next=**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + next_path)


def test_operator_dispatches_and_handler_reports_back_from_a_phone(live_server: Any, page: Any, browser: Any,
                                                                   tmp_path: Any) -> None:
    p = live_server.server.config.app.state.platform
    base = live_server.url
    lon, lat, _grid = grid_point(p)
    with TestClient(create_app(p)) as api:
        r = api.post("/api/v1/cases", json={"category": "P0101", "description": "小区门口井盖缺失", "lon": lon, "lat": lat,
                                            "source": "public", "reporter_name": "王小明"},
                     headers=login(api, "citizen"))
        assert r.status_code == 201, r.text
    case = r.json()
    row = f"#queue tr[data-number='{case['number']}']"

    # The operator: the queue, filtered to new cases; file and dispatch from the row.
    sign_in(page, base, "district.operator", "/cases?state=collected")
    assert page.locator(row).count() == 1
    page.click(f"{row} button[data-action=file]")
    page.wait_for_load_state()
    page.goto(base + "/cases?state=filed")
    page.click(f"{row} button[data-action=dispatch]")
    page.wait_for_load_state()
    page.goto(base + "/cases")
    assert "已派遣" in page.locator(f"{row} td.state").inner_text()
    screenshot(page, "case-queue")
    page.goto(base + "/cases/map")
    page.wait_for_selector("#case-map[data-points='1']", timeout=15000)
    assert page.locator("#case-map path.leaflet-interactive").count() >= 4  # 3 districts and the case
    screenshot(page, "case-map")
    assert not page.js_errors, page.js_errors

    # The handler, on a phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                locale="zh-CN", device_scale_factor=2)
    m = phone.new_page()
    sign_in(m, base, "handler", "/m/cases")
    m.click(f"#tasks li[data-number='{case['number']}'] a")
    m.wait_for_url(f"**/m/cases/{case['id']}")
    assert m.locator("#case-state").get_attribute("data-state") == "dispatched"
    m.click("form[data-action=sign] button")
    m.wait_for_selector("#case-state[data-state=signed]")
    m.click("form[data-action=start] button")
    m.wait_for_selector("#case-state[data-state=handling]")
    photo = tmp_path / "site.png"
    photo.write_bytes(PNG)
    m.set_input_files("form[data-action=report] input[name=photo]", str(photo))
    m.fill("form[data-action=report] textarea[name=note]", "已更换新井盖，现场已清理")
    screenshot(m, "case-mobile-report")
    m.click("form[data-action=report] button")
    m.wait_for_selector("#case-state[data-state=reported]")
    assert m.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on the phone
    screenshot(m, "case-mobile-reported")
    phone.close()

    # The operator sees the handler's steps and the photo in the timeline.
    page.goto(base + f"/cases/{case['id']}")
    steps = page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert steps == ["create", "file", "dispatch", "sign", "start", "report"]
    report = page.locator("#timeline li[data-action=report]").inner_text()
    assert "已更换新井盖" in report and "handler" in report
    page.wait_for_function("document.querySelector('#files img.thumb').naturalWidth > 0")
    assert page.locator("#case-state").get_attribute("data-state") == "reported"
    screenshot(page, "case-detail")
    assert not page.js_errors, page.js_errors
