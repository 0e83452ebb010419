"""The command screen in a real browser: it loads and the map draws, a new case appears
live without reload, drill-down by map and ranking, and a district operator sees nothing
of another district (403 page)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cityos.bootstrap import Platform
from cityos.geo import store as geo_store
from cityos.identity.seed import DEMO_PASSWORD
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in
from tests.integration.test_case_loop import grid_point

pytestmark = pytest.mark.e2e


def test_screen_loads_goes_live_and_drills_down(live_server: Any, page: Any, seeded: Platform) -> None:
    base = live_server.url
    sign_in(page, base, "city.operator")
    page.wait_for_url(base + "/me")
    page.goto(base + "/dashboard")
    page.wait_for_selector("#dashboard[data-live='1'][data-loaded]", timeout=20000)
    assert int(page.get_attribute("#dashboard", "data-map-drawn") or 0) > 0
    assert page.locator("#db-map path.leaflet-interactive").count() > 0
    assert page.locator("#trend canvas").count() >= 1
    before = page.get_attribute("#dashboard", "data-loaded")
    lon, lat, grid = grid_point(seeded)
    tok = httpx.post(f"{base}/api/v1/auth/token", data={"username": "grid.member", "password": DEMO_PASSWORD})
    r = httpx.post(f"{base}/api/v1/cases", headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
                   json={"category": "P0101", "description": "井盖缺失", "lon": lon, "lat": lat, "source": "grid"})
    number = r.json()["number"]
    page.wait_for_selector(f"#feed li[data-kind='case'][data-label='{number}']", timeout=15000)
    page.wait_for_selector(f"#dashboard:not([data-loaded='{before}'])", timeout=15000)  # figures refreshed
    assert page.locator("#t-open .n").inner_text() != "0"
    screenshot(page, "dashboard-city")
    district = grid[:6]
    page.click(f"#ranking tr[data-code='{district}'] a[href^='/dashboard/']")
    page.wait_for_url(re.compile(rf".*/dashboard/{district}.*"))
    page.wait_for_selector("#dashboard[data-loaded]", timeout=20000)
    assert page.locator("#crumbs a").count() == 2
    page.locator("#db-map path.leaflet-interactive").first.dispatch_event("click")
    page.wait_for_url(re.compile(rf".*/dashboard/{district}\d{{3}}.*"))
    page.wait_for_selector("#dashboard[data-loaded]", timeout=20000)
    assert page.locator("#crumbs a").count() == 3
    page.click("#crumbs a >> nth=1")
    page.wait_for_url(re.compile(rf".*/dashboard/{district}\?.*"))
    assert page.js_errors == []


def test_district_screen_shows_nothing_of_another(live_server: Any, browser: Any, seeded: Platform) -> None:
    d = geo_store.divisions
    with seeded.db.read() as conn:
        mine, foreign = [str(c) for c in conn.execute(select(d.c.code).where(d.c.level == "district")
                                                      .order_by(d.c.code).limit(2)).scalars()]
    ctx = browser.new_context(viewport={"width": 3840, "height": 2160}, locale="en")
    page = ctx.new_page()
    base = live_server.url
    sign_in(page, base, "district.operator")
    page.wait_for_url(base + "/me")
    page.goto(base + "/dashboard?layout=wall&lang=en")
    page.wait_for_selector("#dashboard[data-loaded]", timeout=20000)
    assert "wall-layout" in (page.get_attribute("body", "class") or "")
    codes = page.eval_on_selector_all("#ranking tr", "rs => rs.map(r => r.dataset.code)")
    assert codes and all(c.startswith(mine) for c in codes)
    screenshot(page, "dashboard-district-wall")
    resp = page.goto(base + f"/dashboard/{foreign}")
    assert resp is not None and resp.status == 403
    assert page.locator("#error-page").count() == 1 and page.locator("#dashboard").count() == 0
    screenshot(page, "dashboard-foreign-403")
    ctx.close()
