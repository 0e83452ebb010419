"""Three taps to report an emergency on a phone; the wall rings and the person on duty
acknowledges; an instruction issued from its form shows its progress tree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cityos.bootstrap import Platform
from cityos.governance.command.handlers import set_duty
from cityos.identity.model import SYSTEM
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in

pytestmark = pytest.mark.e2e


def test_three_taps_then_the_wall_acknowledges(live_server: Any, browser: Any, seeded: Platform) -> None:
    now = seeded.clock.now()
    set_duty(seeded, SYSTEM, "C-500000", "city.operator", 1, now - timedelta(hours=1), now + timedelta(hours=4))
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = phone.new_page()
    sign_in(pg, live_server.url, "grid.member")
    pg.wait_for_url(live_server.url + "/me")
    pg.goto(live_server.url + "/m/emergency")
    pg.tap("button.type[data-code='E0401']")
    pg.tap("#use-grid")
    pg.tap("#send")
    pg.wait_for_selector("#result.ok", timeout=15000)
    assert "四级中心已同时响铃" in pg.locator("#result").inner_text()
    screenshot(pg, "emergency-phone")
    phone.close()
    desk = browser.new_context(viewport={"width": 1600, "height": 900})
    wall = desk.new_page()
    sign_in(wall, live_server.url, "city.operator")
    wall.wait_for_url(live_server.url + "/me")
    wall.goto(live_server.url + "/command/emergencies")
    wall.wait_for_selector(".em-card .ring[data-level='city'].ringing", timeout=15000)
    assert wall.locator(".em-card .ring").count() == 4
    screenshot(wall, "emergency-wall-ringing")
    wall.click(".ring[data-level='city'] button")
    wall.wait_for_selector(".ring[data-level='city'].acked", timeout=15000)
    assert "city.operator" in wall.locator(".ring[data-level='city']").inner_text()
    desk.close()


def test_issue_an_instruction_from_the_form(live_server: Any, page: Any, seeded: Platform) -> None:
    sign_in(page, live_server.url, "district.operator")
    page.wait_for_url(live_server.url + "/me")
    page.goto(live_server.url + "/command/instructions/new")
    page.fill("input[name=title]", "防汛检查")
    page.fill("textarea[name=body]", "立即排查易涝点")
    page.select_option("select[name=level]", "township")
    page.click("#instruction-form button[type=submit]")
    page.wait_for_selector("#progress", timeout=15000)
    assert "delivered" in page.locator("#progress").inner_text()
    n = page.locator("#laggards tr").count()
    assert n >= 1
    page.click("#remind")
    page.wait_for_url("**?reminded=1")
    screenshot(page, "instruction-progress")
    page.goto(live_server.url + "/command/instructions/new")
    page.fill("input[name=title]", "越权")
    page.fill("textarea[name=body]", "x")
    page.fill("input[name=node]", "500000")
    page.click("#instruction-form button[type=submit]")
    assert "outside your scope" in page.locator("p.error").inner_text()
