"""Sign-in, profile, role administration and audit search in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.identity.seed import DEMO_PASSWORD
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def sign_in(page: Any, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_admin_signs_in_grants_a_role_and_finds_it_in_the_audit(live_server: Any, page: Any) -> None:
    base = live_server.url
    sign_in(page, base, "admin", "wrong-password-1")
    assert page.locator("p.error").inner_text() == "wrong user name or password"
    sign_in(page, base, "admin")
    page.wait_for_url(base + "/me")
    assert "system_admin" not in page.locator("#my-roles").inner_text()  # labels, not codes
    assert "系统管理员" in page.locator("#my-roles").inner_text()
    page.goto(base + "/admin/users")
    assert page.locator("#users tr[data-user='grid.member']").count() == 1
    phone = page.locator("#users tr[data-user='grid.member'] td").nth(2).inner_text()
    assert phone == "138****0000"  # masked on the page
    node = page.locator("#users tr[data-user='grid.member'] td").nth(3).inner_text()
    page.fill("#grant-form input[name=username]", "grid.member")
    page.select_option("#grant-form select[name=role]", "verifier")
    page.fill("#grant-form input[name=node]", node[:12])
    page.click("#grant-form button[type=submit]")
    page.wait_for_url("**/admin/users?q=grid.member")
    assert "核查员" in page.locator("#users tr[data-user='grid.member']").inner_text()
    screenshot(page, "admin-users")
    page.goto(base + "/audit?actor_name=admin")
    assert "role.grant" in page.locator("#audit").inner_text()
    screenshot(page, "audit")
    page.click("#signout") if page.url.endswith("/me") else page.goto(base + "/me")
    page.click("#signout")
    page.wait_for_url(base + "/login")
    page.goto(base + "/admin/users")
    assert page.url.startswith(base + "/login")


def test_a_grid_member_cannot_open_administration(live_server: Any, page: Any) -> None:
    sign_in(page, live_server.url, "grid.member")
    page.wait_for_url(live_server.url + "/me")
    r = page.goto(live_server.url + "/admin/users")
    assert r is not None and r.status == 403
    assert "user.read" in page.locator("#error-page").inner_text()
