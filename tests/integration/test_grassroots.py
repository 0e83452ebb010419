"""Grassroots governance through the API with the demo accounts, on a real database:
structure and staff, responsibility lists, routing by the lists, patrols, ledgers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.geo import store as geo_store
from cityos.grassroots import handlers as h
from cityos.grassroots import model as m
from cityos.grassroots import store
from cityos.identity import store as id_store
from cityos.identity.model import SYSTEM
from tests.integration.test_case_loop import grid_point, login


def first(p: Platform, level: str) -> str:
    d = geo_store.divisions
    with p.db.read() as conn:
        return str(conn.execute(select(d.c.code).where(d.c.level == level).order_by(d.c.code).limit(1)).scalar_one())


def test_structure_staff_contacts_masked_outside_the_grid_and_gaps(seeded: Platform, client: Any) -> None:
    grid = first(seeded, "grid")
    township = grid[:9]
    member = login(client, "grid.member")
    mine = client.get("/api/v1/grassroots/staff", params={"node": grid}, headers=member).json()["staff"]
    posts = sorted(s["post"] for s in mine)
    assert {"grid_head", "grid_member", "grid_member_part", "grid_instructor"} <= set(posts) and "grid_other" in posts
    assert all(not s["masked"] for s in mine)
    linked = next(s for s in mine if s["post"] == "grid_member")
    with seeded.db.read() as conn:
        uid = id_store.user_by_name(conn, "grid.member")["id"]  # type: ignore[index]
    assert linked["user_id"] == uid
    # A district dispatcher sees who the grid staff are, but not their contacts.
    other = client.get("/api/v1/grassroots/staff", params={"node": grid}, headers=login(client, "dispatcher")).json()["staff"]
    assert other and all(s["masked"] and "*" in s["phone"] for s in other)
    raw = next(s for s in mine if s["id"] == other[0]["id"])
    assert other[0]["phone"] == raw["phone"][:3] + "****" + raw["phone"][-4:]
    # The grid member's scope does not reach the neighbouring grid.
    far = client.get("/api/v1/grassroots/staff", params={"node": grid[:12]}, headers=member)
    assert far.status_code == 403
    op = login(client, "township.operator")
    tree = client.get("/api/v1/grassroots/staff", params={"node": township}, headers=op).json()["staff"]
    leads = [s for s in tree if s["post"] == "sector_lead"]
    assert sorted(s["sector"] for s in leads) == sorted(m.SECTORS)
    gaps = client.get("/api/v1/grassroots/gaps", params={"township": township}, headers=op).json()
    with seeded.db.read() as conn:
        grids = conn.execute(select(geo_store.divisions.c.code).where(geo_store.divisions.c.level == "grid",
                                                                       geo_store.divisions.c.code.startswith(township))).scalars().all()
        staffed = store.grids_with_post(conn, township, "grid_member")
    assert gaps["grids"] == len(grids)
    assert {g["grid"] for g in gaps["gaps"]} == set(grids) - staffed
    assert all("grid_member" in g["missing"] for g in gaps["gaps"])
    # Adding the missing member closes the gap.
    if gaps["gaps"]:
        gap = gaps["gaps"][0]["grid"]
        r = client.post("/api/v1/grassroots/staff", json={"node": gap, "post": "grid_member", "name": "新网格员",
                                                          "phone": "13900001111"}, headers=op)
        assert r.status_code == 201, r.text
        again = client.get("/api/v1/grassroots/gaps", params={"township": township}, headers=op).json()
        assert gap not in {g["grid"] for g in again["gaps"]}
    bad = client.post("/api/v1/grassroots/staff", json={"node": grid, "post": "sector_lead", "name": "x"}, headers=op)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "post"
    board = client.get(f"/api/v1/grassroots/board/{township}", headers=op).json()
    assert [s["code"] for s in board["sectors"]] == list(m.SECTORS) and board["grids"]
    assert board["list"]["owner"] == township and board["patrols_today"]["open"] > 0


def _csv(items: list[m.Item], extra: list[str] | None = None) -> bytes:
    text = m.items_csv(items)
    return (text + "".join(x + "\n" for x in extra or [])).encode()


def test_lists_versions_import_export_diff_and_template_deviations(seeded: Platform, client: Any) -> None:
    township = first(seeded, "township")
    op = login(client, "township.operator")
    versions = client.get("/api/v1/grassroots/lists", params={"owner": township}, headers=op).json()["versions"]
    assert versions[0]["status"] == "published"
    tpl = client.get("/api/v1/grassroots/lists", params={"owner": "500000"}, headers=op).json()["versions"][0]
    template = client.get(f"/api/v1/grassroots/lists/{tpl['id']}", headers=op).json()
    assert len(template["items"]) >= 60
    assert {(i["level"], i["sector"]) for i in template["items"]} == {(lv, s) for lv in m.LIST_LEVELS for s in m.SECTORS}
    published = client.get(f"/api/v1/grassroots/lists/{versions[0]['id']}", headers=op).json()
    assert [i["key"] for i in published["deviations"]["added"]] == ["X-ECO-01", "X-SAF-01"]
    # A township operator cannot touch the city template.
    assert client.post("/api/v1/grassroots/lists", json={"owner": "500000"}, headers=op).status_code == 403
    draft = client.post("/api/v1/grassroots/lists", json={"owner": township, "note": "2027"}, headers=op).json()
    assert draft["status"] == "draft" and draft["version"] == versions[0]["version"] + 1
    lid = draft["id"]
    exported = client.get(f"/api/v1/grassroots/lists/{lid}/export", params={"format": "csv"}, headers=op)
    assert exported.status_code == 200 and exported.text.startswith(",".join(m.ITEM_COLUMNS))
    items = m.check_items(m.read_csv(exported.text), h.known_categories(seeded))
    before = len(items)
    # A bad spreadsheet names each bad row and writes nothing.
    missing = client.post(f"/api/v1/grassroots/lists/{lid}/import",
                          files={"file": ("l.csv", b"key,name_zh\nA,b\n", "text/csv")}, headers=op)
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "columns"
    assert "sector" in missing.json()["error"]["message"]
    bad_rows = [
        "Z-1,未知类别,Unknown,safety,grid,Q9999,grid_member,daily,,",
        f"{items[0].key},重复,Dup,safety,grid,,grid_member,daily,,",
        "Z-2,无此角色,No role,safety,grid,,street_sweeper,daily,,",
        "Z-3,级别错,Bad level,safety,grid,,sector_lead,daily,,",
    ]
    r = client.post(f"/api/v1/grassroots/lists/{lid}/import", files={"file": ("l.csv", _csv(items, bad_rows), "text/csv")},
                    headers=op)
    assert r.status_code == 400, r.text
    problems = r.json()["error"]["details"]
    n = before + 2
    assert problems[0].startswith(f"line {n}:") and "Q9999" in problems[0]
    assert problems[1].startswith(f"line {n + 1}:") and "duplicate item" in problems[1]
    assert problems[2].startswith(f"line {n + 2}:") and "street_sweeper" in problems[2] and "does not exist" in problems[2]
    assert problems[3].startswith(f"line {n + 3}:") and "not held at grid" in problems[3]
    assert len(problems) == 4
    assert len(client.get(f"/api/v1/grassroots/lists/{lid}", headers=op).json()["items"]) == before
    # A good XLSX replaces the items: one changed, one removed, one added.
    changed = [m.Item(**{**i.as_dict(), "categories": tuple(i.categories), "frequency": "weekly"})
               if i.key == "G-SVC-01" else i for i in items if i.key != "T-PTY-05"]
    changed.append(m.Item("X-SVC-09", "社区食堂巡查", "Community canteen check", "services", "grid", ("E0806",),
                          "grid_member", "weekly", "中华人民共和国食品安全法", "每周检查一次"))
    xlsx = m.items_xlsx(changed)
    r = client.post(f"/api/v1/grassroots/lists/{lid}/import",
                    files={"file": ("l.xlsx", xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
                    headers=op)
    assert r.status_code == 200, r.text
    assert [x["key"] for x in r.json()["diff"]["added"]] == ["X-SVC-09"]
    assert [x["key"] for x in r.json()["diff"]["removed"]] == ["T-PTY-05"]
    assert r.json()["diff"]["changed"] == [{"key": "G-SVC-01", "name_zh": "暴露垃圾巡查",
                                            "fields": {"frequency": {"from": "daily", "to": "weekly"}}}]
    back = client.get(f"/api/v1/grassroots/lists/{lid}/export", params={"format": "xlsx"}, headers=op)
    assert [i.key for i in m.check_items(m.read_xlsx(back.content), h.known_categories(seeded))] == sorted(
        i.key for i in changed)
    diff = client.get("/api/v1/grassroots/lists/diff", params={"a": versions[0]["id"], "b": lid}, headers=op).json()
    assert [x["key"] for x in diff["added"]] == ["X-SVC-09"] and [x["key"] for x in diff["removed"]] == ["T-PTY-05"]
    # Until published, the old version routes; publish goes through review.
    assert client.post(f"/api/v1/grassroots/lists/{lid}/actions/publish", headers=op).status_code == 409
    assert client.post(f"/api/v1/grassroots/lists/{lid}/actions/submit", headers=op).json()["status"] == "review"
    assert client.put(f"/api/v1/grassroots/lists/{lid}/items", json={
        "key": "A", "name_zh": "a", "sector": "party", "level": "grid", "role": "grid_head"}, headers=op).status_code == 409
    lon, lat, grid = grid_point(seeded)
    member = login(client, "grid.member")
    before_case = client.post("/api/v1/cases", json={"category": "E0806", "description": "价格投诉", "lon": lon, "lat": lat,
                                                     "source": "grid"}, headers=member).json()
    assert before_case["routing"]["unit"] == f"S-{township}-economy" and "T-ECO-02" in before_case["routing"]["rule"]
    assert client.post(f"/api/v1/grassroots/lists/{lid}/actions/publish", headers=op).json()["status"] == "published"
    after = client.post("/api/v1/cases", json={"category": "E0806", "description": "食堂价格", "lon": lon, "lat": lat,
                                               "source": "grid"}, headers=member).json()
    assert after["routing"]["unit"] == f"G-{grid}" and "X-SVC-09" in after["routing"]["rule"]
    states = {v["version"]: v["status"] for v in
              client.get("/api/v1/grassroots/lists", params={"owner": township}, headers=op).json()["versions"]}
    assert states == {versions[0]["version"]: "archived", draft["version"]: "published"}
    detail = client.get(f"/api/v1/grassroots/lists/{lid}", headers=op).json()
    dev = detail["deviations"]
    assert {x["key"] for x in dev["added"]} == {"X-ECO-01", "X-SAF-01", "X-SVC-09"}
    assert [x["key"] for x in dev["removed"]] == ["T-PTY-05"] and [x["key"] for x in dev["changed"]] == ["G-SVC-01"]


def test_cases_route_by_the_lowest_published_list(seeded: Platform, client: Any) -> None:
    lon, lat, grid = grid_point(seeded)
    member = login(client, "grid.member")

    def report(category: str) -> dict[str, Any]:
        r = client.post("/api/v1/cases", json={"category": category, "description": "巡查发现", "lon": lon, "lat": lat,
                                               "source": "grid"}, headers=member)
        assert r.status_code == 201, r.text
        return dict(client.get(f"/api/v1/cases/{r.json()['id']}", headers=member).json())

    grid_case = report("E0701")  # covered at grid (G-SAF-01) and village (V-SAF-01): the grid wins
    assert grid_case["handler_unit"] == f"G-{grid}" and grid_case["owner_level"] == "grid"
    assert "G-SAF-01" in grid_case["routing"]["rule"] and "Full-time grid member" in grid_case["routing"]["rule"]
    village_case = report("E0505")  # covered at village level only
    assert village_case["handler_unit"] == f"V-{grid[:12]}" and "V-SAF-03" in village_case["routing"]["rule"]
    township_case = report("E0202")
    assert township_case["handler_unit"] == f"S-{grid[:9]}-economy" and "T-ECO-01" in township_case["routing"]["rule"]
    unlisted = report("P0101")  # no list covers it: the category mapping decides
    assert unlisted["handler_unit"] == f"D-{grid[:6]}-water" and "responsibility list" not in unlisted["routing"]["rule"]


def test_patrols_generate_check_in_report_and_miss(seeded: Platform, client: Any, clock: FixedClock) -> None:
    seeded.clock = clock
    day = h.local_day(clock.now())
    with seeded.db.begin() as conn:
        conn.execute(store.tasks.delete())
    first_run = h.generate_patrols(seeded, day)
    assert first_run > 0 and h.generate_patrols(seeded, day) == 0  # idempotent
    with seeded.db.read() as conn:
        n = conn.execute(select(func.count()).select_from(store.tasks).where(store.tasks.c.day == day)).scalar_one()
    assert n == first_run
    # The recurring job is registered and does the same.
    assert "grassroots.patrols" in seeded.bus.recurring
    lon, lat, grid = grid_point(seeded)
    member = login(client, "grid.member")
    mine = client.get("/api/v1/grassroots/tasks/mine", headers=member).json()["tasks"]
    assert mine and all(t["node"] == grid for t in mine)
    daily = [t for t in mine if t["item_key"] in ("G-SVC-01", "G-SAF-02", "G-PTY-03")]
    assert len(daily) == 3 and all(t["staff_id"] for t in daily)
    near = client.post(f"/api/v1/grassroots/tasks/{daily[0]['id']}/checkin", json={"lon": lon, "lat": lat, "note": "正常"},
                       headers=member).json()
    assert near == {"id": daily[0]["id"], "status": "done", "far": False, "distance_m": 0.0}
    again = client.post(f"/api/v1/grassroots/tasks/{daily[0]['id']}/checkin", json={"lon": lon, "lat": lat}, headers=member)
    assert again.status_code == 409
    far = client.post(f"/api/v1/grassroots/tasks/{daily[1]['id']}/checkin", json={"lon": lon + 1.0, "lat": lat},
                      headers=member).json()
    assert far["status"] == "done" and far["far"] is True and far["distance_m"] > m.FAR_METRES
    bad = client.post(f"/api/v1/grassroots/tasks/{daily[1]['id']}/checkin", json={"lon": 500, "lat": lat}, headers=member)
    assert bad.status_code == 400
    r = client.post("/api/v1/grassroots/report", json={"category": "E0101", "description": "路边暴露垃圾", "lon": lon,
                                                       "lat": lat, "task_id": daily[2]["id"]}, headers=member)
    assert r.status_code == 201, r.text
    case = client.get(f"/api/v1/cases/{r.json()['id']}", headers=member).json()
    assert case["source"] == "grid" and case["state"] == "dispatched" and case["handler_unit"] == f"G-{grid}"
    with seeded.db.read() as conn:
        assert store.get_task(conn, daily[2]["id"])["case_number"] == case["number"]  # type: ignore[index]
    # Next day: the open ones are missed; a late check-in is accepted as late.
    clock.advance(days=1)
    h.patrol_job(seeded)
    with seeded.db.read() as conn:
        assert store.get_task(conn, daily[2]["id"])["status"] == "missed"  # type: ignore[index]
    member = login(client, "grid.member")  # tokens are short-lived: sign in again the next day
    late = client.post(f"/api/v1/grassroots/tasks/{daily[2]['id']}/checkin", json={"lon": lon, "lat": lat}, headers=member)
    assert late.json()["status"] == "late"
    op = login(client, "township.operator")
    since = day.isoformat()
    for node in (grid, grid[:12], grid[:9]):
        stats = client.get("/api/v1/grassroots/patrol-stats", params={"node": node, "since": since, "until": since},
                           headers=op).json()
        row = max((b for b in stats["by"] if grid.startswith(b["node"])), key=lambda b: len(b["node"]))
        assert row["done"] == 2 and row["late"] == 1
        assert row["missed"] >= 1 and stats["total"]["missed"] >= row["missed"]
    tomorrow = client.get("/api/v1/grassroots/tasks", params={"node": grid, "day": (day + timedelta(days=1)).isoformat()},
                          headers=op).json()["tasks"]
    assert tomorrow and all(t["status"] == "open" for t in tomorrow)


def test_ledger_scope_masking_history_and_audit(seeded: Platform, client: Any) -> None:
    grid = first(seeded, "grid")
    member = login(client, "grid.member")
    r = client.post(f"/api/v1/grassroots/ledger/{grid}", json={
        "kind": "key_person", "label": "张桂英", "data": {"name": "张桂英", "phone": "13912345678",
                                                          "id_number": "500103194501011234", "group": "elderly_alone",
                                                          "address": "3栋2单元"}}, headers=member)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    bad = client.post(f"/api/v1/grassroots/ledger/{grid}", json={"kind": "key_person", "label": "x",
                                                                 "data": {"group": "nobody"}}, headers=member)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "data.group"
    masked = client.get(f"/api/v1/grassroots/ledger/{grid}", headers=member).json()
    e = masked["entries"][0]
    assert e["masked"] and e["data"]["phone"] == "139****5678" and e["data"]["name"] == "张**"
    assert e["data"]["id_number"] == "500103********1234" and e["label"] == "张**"
    plain = client.get(f"/api/v1/grassroots/ledger/{grid}", headers={**member, "X-Purpose": "elderly-care visit"}).json()
    assert plain["entries"][0]["data"]["phone"] == "13912345678"
    with seeded.db.read() as conn:
        acts = conn.execute(select(id_store.audit_log.c.action, id_store.audit_log.c.purpose)
                            .where(id_store.audit_log.c.object_type == "grid_ledger")).all()
    assert ("personal.read", "elderly-care visit") in [tuple(a) for a in acts] and ("gridledger.write", None) in [tuple(a) for a in acts]
    upd = client.put(f"/api/v1/grassroots/ledger/{grid}/{eid}", json={
        "kind": "key_person", "label": "张桂英", "version": 1,
        "data": {"name": "张桂英", "phone": "13912345678", "group": "elderly_alone", "care_note": "每周探访"}},
        headers=member)
    assert upd.json() == {"id": eid, "version": 2}
    stale = client.put(f"/api/v1/grassroots/ledger/{grid}/{eid}", json={"kind": "key_person", "label": "x", "version": 1,
                                                                        "data": {"group": "veteran"}}, headers=member)
    assert stale.status_code == 409
    hist = client.get(f"/api/v1/grassroots/ledger/{grid}/{eid}/history", headers=member).json()["history"]
    assert [x["action"] for x in hist] == ["create", "update"]
    assert hist[1]["after"]["care_note"] == "每周探访" and hist[1]["before"]["phone"] == "139****5678"
    # Outside the grid's scope: nothing.
    other = client.get("/api/v1/grassroots/ledger/" + first(seeded, "grid")[:12] + "999", headers=member)
    assert other.status_code in (403, 400)
    assert client.get(f"/api/v1/grassroots/ledger/{grid}", headers=login(client, "dispatcher")).status_code == 403
    assert client.delete(f"/api/v1/grassroots/ledger/{grid}/{eid}", headers=member).status_code == 204
    assert client.get(f"/api/v1/grassroots/ledger/{grid}", headers=member).json()["total"] == 0


def test_routing_is_cached_and_sees_a_new_publication(seeded: Platform) -> None:
    from cityos.governance.handlers import catalog

    _lon, _lat, grid = grid_point(seeded)
    chain: dict[str, str | None] = {"city": "500000", "district": grid[:6], "township": grid[:9], "village": grid[:12],
                                    "grid": grid}
    cat = catalog(seeded).category("P0403")
    with seeded.db.read() as conn:
        d = h.route_by_lists(conn, cat, chain)
    assert d is not None and d.unit == f"S-{grid[:9]}-services"
    with seeded.db.read() as conn:
        assert h.route_by_lists(conn, catalog(seeded).category("P0101"), chain) is None


def test_pages_board_list_editor_with_diff_and_mobile(seeded: Platform, client: Any) -> None:
    from cityos.identity.seed import DEMO_PASSWORD

    township = first(seeded, "township")
    r = client.post("/login", data={"username": "township.operator", "password": DEMO_PASSWORD, "next": "/grassroots"},
                    follow_redirects=True)
    assert r.status_code == 200 and f"/grassroots/board/{township}" in str(r.url)
    assert 'data-sector="safety"' in r.text and "平安法治" in r.text and 'id="grids"' in r.text
    lid = next(v["id"] for v in h.versions(seeded, SYSTEM, township) if v["status"] == "published")
    page = client.get(f"/grassroots/lists/{lid}")
    assert page.status_code == 200 and "X-ECO-01" in page.text and 'id="deviations"' in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/grassroots/lists/new", data={"owner": township, "csrf_token": csrf}, follow_redirects=True)
    new_id = int(str(r.url).rstrip("/").split("/")[-1])
    r = client.post(f"/grassroots/lists/{new_id}/item", data={
        "key": "X-PTY-02", "name_zh": "红色物业联建", "name_en": "Party-led property services", "sector": "party",
        "level": "village", "categories": "E0802", "role": "village_secretary", "frequency": "monthly",
        "legal_basis": "物业管理条例", "done_standard": "每季度联席会议一次", "csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and 'id="diff"' in r.text and "+ X-PTY-02" in r.text
    bad = client.post(f"/grassroots/lists/{new_id}/item", data={
        "key": "X-PTY-03", "name_zh": "x", "sector": "party", "level": "grid", "role": "nobody", "csrf_token": csrf})
    assert 'id="list-error"' in bad.text and "nobody" in bad.text
    client.post("/logout", data={"csrf_token": csrf})
    client.post("/login", data={"username": "grid.member", "password": DEMO_PASSWORD, "next": "/m/tasks"})
    for path, marker in (("/m/tasks", 'id="tasks"'), ("/m/report", 'id="report-form"'), ("/m/ledger", 'id="ledger-form"')):
        r = client.get(path)
        assert r.status_code == 200 and marker in r.text, path
