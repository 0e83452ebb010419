"""The data catalog in a real browser: search with facets, a dataset page, the import page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cityos.data.importer import run_import
from cityos.identity.model import SYSTEM
from tests.e2e.conftest import screenshot
from tests.e2e.test_identity_pages import sign_in

pytestmark = pytest.mark.e2e


def test_catalog_search_dataset_page_and_import_report(live_server: Any, page: Any, tmp_path: Path) -> None:
    base = live_server.url
    p = live_server.server.config.app.state.platform
    bad = tmp_path / "bad.csv"
    bad.write_text("id_number,name,gender,birth_date,ethnicity,household_id,household_role,registered_address,"
                   "actual_address,grid_code,status\n110105194912310021,张三,M,1949-12-31,汉族,H1,head,a,b,"
                   "500103001001001,active\n", encoding="utf-8")
    run_import(p, SYSTEM, "population", str(bad))

    page.goto(base + "/data")
    assert "数据集" in page.locator("#result-count").inner_text()
    page.locator("#facets [data-facet=groups] a", has_text="主题库").click()
    page.wait_for_url("**fq=groups*")
    assert page.locator("article.dataset").count() == 4
    page.locator("article.dataset h2 a", has_text="独居老人").click()
    page.wait_for_url("**/data/dataset/elderly-living-alone")
    assert "population" in page.locator("#lineage").inner_text()
    assert page.locator("#sample-denied").count() == 1  # anonymous: no sample rows
    screenshot(page, "data-dataset-anonymous")

    sign_in(page, base, "data.officer")
    page.goto(base + "/data/dataset/population")
    cells = page.locator("#sample-residents tr").nth(1).locator("td")
    assert "*" in cells.nth(0).inner_text(), "ID numbers are masked in the sample"
    assert "datastore_search?resource_id=residents" in page.locator("#api-examples").inner_text()
    page.goto(base + "/data/imports")
    page.locator("#imports a").first.click()
    assert "check character" in page.locator("#rejects").inner_text()
    screenshot(page, "data-import-rejects")
    assert page.js_errors == []
