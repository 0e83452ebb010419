"""Operator and handler pages of the case loop, through the real app (session, CSRF, scope)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from cityos.bootstrap import Platform
from cityos.identity.seed import DEMO_PASSWORD
from cityos.web.app import create_app
from tests.integration.test_case_loop import grid_point, login

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def browser(p: Platform, user: str) -> Any:
    c = TestClient(create_app(p))
    r = c.post("/login", data={"username": user, "password": DEMO_PASSWORD, "next": "/me"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def new_case(p: Platform, client: Any, source: str = "public", category: str = "P0101") -> dict[str, Any]:
    lon, lat, _ = grid_point(p)
    who = login(client, "citizen" if source == "public" else "city.operator")
    r = client.post("/api/v1/cases", json={"category": category, "description": "井盖缺失", "lon": lon, "lat": lat,
                                           "source": source, "reporter_name": "王小明", "reporter_phone": "13912345678"},
                    headers=who)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_pages_need_a_session_and_keep_to_the_scope(seeded: Platform, client: Any) -> None:
    case = new_case(seeded, client)
    for path in ("/cases?state=collected", f"/cases/{case['id']}", "/cases/map", "/m/cases", f"/m/cases/{case['id']}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F"), path
    assert client.get("/cases/map.json").status_code == 401
    op = browser(seeded, "district.operator")
    page = op.get("/cases")
    assert page.status_code == 200 and case["number"] in page.text and "已采集" in page.text
    assert "王*" not in page.text  # the queue shows no personal data
    detail = op.get(f"/cases/{case['id']}")
    assert detail.status_code == 200
    assert "王**" in detail.text and "139****5678" in detail.text and "13912345678" not in detail.text
    forms = re.findall(r'class="act" data-action="(\w+)"', detail.text)
    assert forms == ["file", "merge", "cancel", "supervise", "remind", "take_over", "hand_down"]
    # Filters: state, category, overdue, node, text; bad ones are shown, not a 500.
    assert case["number"] in op.get("/cases", params={"state": "collected", "category": "P0101", "overdue": "0",
                                                      "node": case_node(seeded, case), "q": "井盖"}).text
    assert case["number"] not in op.get("/cases", params={"state": "closed"}).text
    bad = op.get("/cases", params={"node": "12x"})
    assert bad.status_code == 400 and "digits only" in bad.text
    assert op.get("/cases", params={"state": "nonsense"}).status_code == 400
    pts = op.get("/cases/map.json").json()
    assert [f["properties"]["number"] for f in pts["features"]] == [case["number"]]
    assert op.get("/cases/map").status_code == 200
    # A grid member of the same grid sees it; an operator of another district does not.
    from cityos.identity.handlers import CreateUser
    from cityos.identity.model import SYSTEM

    other = next(d for d in ("500101", "500102", "500103", "500104", "500105") if d != case_node(seeded, case)[:6])
    seeded.bus.handle(CreateUser(SYSTEM, "far.operator", "far", DEMO_PASSWORD, other, grants=[("district_operator", other)]))
    far = browser(seeded, "far.operator")
    assert case["number"] not in far.get("/cases").text
    assert far.get(f"/cases/{case['id']}").status_code == 404
    assert far.get("/cases/map.json").json()["features"] == []
    assert browser(seeded, "citizen").get("/cases").status_code == 403


def case_node(p: Platform, case: dict[str, Any]) -> str:
    return grid_point(p)[2]


def test_operator_and_handler_work_a_case_through_the_forms(seeded: Platform, client: Any) -> None:
    case = new_case(seeded, client)
    cid = case["id"]
    op = browser(seeded, "district.operator")
    token = csrf(op.get("/cases").text)
    # No or a wrong CSRF token: refused, nothing changes.
    r = op.post(f"/cases/{cid}/act", data={"action": "file", "csrf_token": "nope"})
    assert r.status_code == 403 and "CSRF" in r.text
    # Quick actions on the queue's rows: file, then dispatch.
    r = op.post(f"/cases/{cid}/act", data={"action": "file", "csrf_token": token, "next": "/cases?state=collected"},
                follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/cases?state=collected"
    row = re.search(rf'data-number="{case["number"]}".*?</tr>', op.get("/cases").text, re.S)
    assert row and "已立案" in row.group(0) and 'data-action="dispatch"' in row.group(0)
    r = op.post(f"/cases/{cid}/act", data={"action": "dispatch", "csrf_token": token, "next": "/cases"})
    assert r.status_code == 200 and "已派遣" in r.text
    # A refused action is shown on the page (the state, what is allowed), not a server error.
    r = op.post(f"/cases/{cid}/act", data={"action": "close", "csrf_token": token})
    assert r.status_code == 409 and "cannot close a case that is dispatched" in r.text and 'id="case-error"' in r.text
    r = op.post(f"/cases/{cid}/act", data={"action": "file", "csrf_token": token, "next": "/cases"})
    assert r.status_code == 409 and 'id="queue-error"' in r.text
    r = op.post(f"/cases/{cid}/act", data={"action": "request_extension", "hours": "many", "csrf_token": token})
    assert r.status_code == 400 and "hours" in r.text
    # The handler's phone: my tasks, sign, start, report back with a photo.
    hd = browser(seeded, "handler")
    tasks = hd.get("/m/cases")
    assert tasks.status_code == 200 and case["number"] in tasks.text
    assert case["number"] in browser(seeded, "grid.member").get("/m/cases").text  # it lies in the member's grid
    assert case["number"] not in browser(seeded, "verifier").get("/m/cases").text  # verifiers handle nothing
    m = hd.get(f"/m/cases/{cid}")
    assert re.findall(r'class="m-act" data-action="(\w+)"', m.text) == ["sign", "return", "request_extension"]
    t2 = csrf(m.text)
    for action in ("sign", "start"):
        r = hd.post(f"/m/cases/{cid}/act", data={"action": action, "csrf_token": t2}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/m/cases/{cid}?done={action}"
    r = hd.post(f"/m/cases/{cid}/act", data={"action": "report", "csrf_token": t2, "note": "已更换"},
                files={"photo": ("site.exe", b"MZ", "application/x-msdownload")})
    assert r.status_code == 400 and "not allowed" in r.text and "已更换" not in r.text.split('id="timeline"')[1]
    r = hd.post(f"/m/cases/{cid}/act", data={"action": "report", "csrf_token": t2, "note": "已更换井盖"},
                files={"photo": ("site.png", PNG, "image/png")})
    assert r.status_code == 200 and 'data-state="reported"' in r.text
    page = op.get(f"/cases/{cid}").text
    timeline = page.split('id="timeline"')[1]
    assert [a for a in re.findall(r'data-action="(\w+)"', timeline)] == ["create", "file", "dispatch", "sign", "start",
                                                                          "report"]
    assert "已更换井盖" in timeline and "site.png" in timeline
    img = re.search(rf'src="(/cases/{cid}/files/\d+)"', timeline)
    assert img is not None
    f = op.get(img.group(1))
    assert f.status_code == 200 and f.content == PNG and f.headers["content-type"] == "image/png"
    assert hd.get(f"/cases/{cid}/files/99999").status_code == 404
    # The verifier's forms on the detail page; a missing reason is shown on the page.
    vf = browser(seeded, "verifier")
    page = vf.get(f"/cases/{cid}").text
    assert re.findall(r'class="act" data-action="(\w+)"', page) == ["verify", "rework"]
    r = vf.post(f"/cases/{cid}/act", data={"action": "rework", "csrf_token": csrf(page)})
    assert r.status_code == 400 and "needs a reason" in r.text
    # Upload from the detail page.
    r = op.post(f"/cases/{cid}/attach", data={"csrf_token": token}, files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")},
                follow_redirects=False)
    assert r.status_code == 303
    r = op.post(f"/cases/{cid}/attach", data={"csrf_token": token}, files={"file": ("a.png", b"GIF89a", "image/png")})
    assert r.status_code == 400 and "content is not image/png" in r.text
