"""The division map draws the city's polygons in a real browser, with no internet tiles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_division_map_draws_and_drills_down(live_server: Any, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(live_server.url + "/map")
    page.wait_for_selector("#map[data-drawn='3']", timeout=15000)
    paths = page.locator("#map svg path.leaflet-interactive")
    assert paths.count() == 3  # the S city's three districts
    assert page.locator("#crumbs").inner_text().startswith("全市")
    screenshot(page, "map-districts")
    # Click the first district: its townships are drawn and the breadcrumb grows.
    paths.first.click(force=True)
    page.wait_for_selector("#map[data-collection='townships']", timeout=15000)
    assert int(page.locator("#map").get_attribute("data-drawn")) >= 1
    assert "›" in page.locator("#crumbs").inner_text()
    screenshot(page, "map-townships")
    assert not page.js_errors, page.js_errors
    assert all(u.startswith(live_server.url) for u in requests), "the page must load nothing from outside"


def test_layout_is_bilingual(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/")
    assert "区划统计" in page.content()
    page.goto(live_server.url + "/?lang=en")
    assert "Divisions" in page.content() and page.locator("html").get_attribute("lang") == "en"
    page.goto(live_server.url + "/map")
    assert page.locator("#map").get_attribute("data-lang") == "en"  # the choice is remembered
