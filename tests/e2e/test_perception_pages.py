"""Perception pages in a real browser: alarm console (acknowledge, clear), hazard map
coloured by level, device map from the OGC collections."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityos.perception import handlers as h
from cityos.perception import store
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in

pytestmark = pytest.mark.e2e


def test_alarm_console_and_hazard_and_device_maps(live_server: Any, page: Any) -> None:
    p = live_server.server.config.app.state.platform
    base = live_server.url
    now = p.clock.now()
    with p.db.begin() as conn:
        dev = conn.execute(select(store.devices).order_by(store.devices.c.code).limit(1)).mappings().one()
        aid, _ = h.raise_alarm(conn, subject=dev["code"], device_code=dev["code"], risk_point=None,
                               grid=dev["grid_code"], alarm_type="gas_leak", severity="CRITICAL", rule_id=None,
                               details={}, now=now)
        rp = conn.execute(select(store.risk_points.c.code).order_by(store.risk_points.c.code).limit(1)).scalar_one()
        store.set_risk_level(conn, rp, "red", {}, now)
    sign_in(page, base, "city.operator")
    page.wait_for_url(base + "/me")
    page.goto(base + "/perception/alarms")
    row = page.locator(f"#alarms tr[data-alarm='{aid}']")
    assert row.get_attribute("data-status") == "ACTIVE_UNACK"
    row.locator("button.ack").click()
    page.wait_for_url("**/perception/alarms?all=true")
    assert page.locator(f"#alarms tr[data-alarm='{aid}']").get_attribute("data-status") == "ACTIVE_ACK"
    page.locator(f"#alarms tr[data-alarm='{aid}'] button.clear").click()
    page.wait_for_url("**/perception/alarms?all=true")
    assert page.locator(f"#alarms tr[data-alarm='{aid}']").get_attribute("data-status") == "CLEARED_ACK"
    screenshot(page, "perception-alarms")
    page.goto(base + "/perception/hazards")
    page.wait_for_selector("#map[data-drawn]", timeout=15000)
    assert page.locator("#map svg path.level-red").count() == 1
    assert page.locator(f"#risk-points tr[data-code='{rp}']").get_attribute("data-level") == "red"
    screenshot(page, "perception-hazards")
    page.goto(base + "/perception/devices")
    page.wait_for_selector("#map[data-drawn]", timeout=20000)
    assert page.locator("#map svg path.dev").count() >= 300
    screenshot(page, "perception-devices")
    assert not page.js_errors, page.js_errors
