"""`/rail/v1/`: apply, approve, read changes with a cursor (masked per level), refusals that
carry no data, suspension and revocation, and the lag in /metrics and on the page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from cityos.bootstrap import Platform
from cityos.data import store as s
from cityos.data.rail import store as rs
from cityos.identity import handlers as ih
from cityos.identity import store as id_store
from cityos.identity.model import SYSTEM


def key_for(p: Platform, user: str) -> dict[str, str]:
    _cid, secret = p.bus.handle(ih.CreateCredential(SYSTEM, user, "rail test", "api_key", ("*",), None))
    return {"Authorization": f"Bearer {secret}"}


def subscribe(client: Any, p: Platform, user: str, dataset: str, level: str = "masked") -> tuple[dict[str, str], int]:
    me = key_for(p, user)
    r = client.post("/rail/v1/subscriptions", json={"dataset": dataset, "purpose": "district warehouse", "level": level},
                    headers=me)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["status"] == "pending" and "webhook_secret" not in sub
    officer = key_for(p, "data.officer")
    r = client.post(f"/rail/v1/subscriptions/{sub['id']}/approve", json={}, headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    return me, int(sub["id"])


def test_cursor_paging_masking_and_refusals(seeded: Platform, client: Any) -> None:
    p = seeded
    me = key_for(p, "district.operator")
    # No subscription: 403, and nothing of the feed in the answer.
    r = client.get("/rail/v1/residents/changes?after=0&limit=5", headers=me)
    assert r.status_code == 403 and r.json()["error"]["field"] == "subscription"
    assert "changes" not in r.text and "id_number" not in r.text
    assert client.get("/rail/v1/no_such/changes", headers=me).status_code == 404
    assert client.get("/rail/v1/residents/changes").status_code == 401

    # Applying is idempotent: the live subscription comes back.
    first = client.post("/rail/v1/subscriptions", json={"dataset": "residents", "purpose": "district warehouse"},
                        headers=me).json()
    again = client.post("/rail/v1/subscriptions", json={"dataset": "residents", "purpose": "district warehouse"},
                        headers=me).json()
    assert first["id"] == again["id"]
    r = client.get("/rail/v1/residents/changes", headers=me)
    assert r.status_code == 403 and r.json()["error"]["details"] == {"status": "pending"}
    # Only a data officer approves; the subscriber cannot approve themselves.
    assert client.post(f"/rail/v1/subscriptions/{first['id']}/approve", json={}, headers=me).status_code == 403
    officer = key_for(p, "data.officer")
    assert client.post(f"/rail/v1/subscriptions/{first['id']}/approve", json={}, headers=officer).status_code == 200
    assert client.post(f"/rail/v1/subscriptions/{first['id']}/approve", json={},
                       headers=officer).status_code == 409

    with p.db.read() as conn:
        head = rs.head(conn, "residents")
        one = conn.execute(select(s.residents).limit(1)).mappings().first()
    assert head >= 10_000
    page1 = client.get("/rail/v1/residents/changes?after=0&limit=3", headers=me).json()
    assert [c["seq"] for c in page1["changes"]] == [1, 2, 3] and page1["next"] == 3 and page1["more"]
    assert page1["head"] == head and page1["level"] == "masked"
    c0 = page1["changes"][0]
    assert c0["op"] == "insert" and c0["key"].startswith("P") and c0["data"]["id_number"] == c0["key"]
    assert "*" in c0["data"]["name"] or len(c0["data"]["name"]) <= 1
    page2 = client.get(f"/rail/v1/residents/changes?after={page1['next']}&limit=2", headers=me).json()
    assert [c["seq"] for c in page2["changes"]] == [4, 5]
    last = client.get(f"/rail/v1/residents/changes?after={head}", headers=me).json()
    assert last["changes"] == [] and last["next"] == head and not last["more"]

    # A cursor from the future: a clear 400 naming the field, with the head, and no data.
    r = client.get(f"/rail/v1/residents/changes?after={head + 1}", headers=me)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["field"] == "after" and err["details"] == {"head": head} and "changes" not in r.text
    assert client.get("/rail/v1/residents/changes?limit=0", headers=me).status_code == 400
    assert client.get("/rail/v1/residents/changes?after=x", headers=me).status_code == 400

    # A change made now appears after the cursor, with a delete as a key and no data.
    with p.db.begin() as conn:
        conn.execute(update(s.residents).where(s.residents.c.id_number == one["id_number"]).values(phone="13012345678"))
        conn.execute(s.residents.delete().where(s.residents.c.id_number == one["id_number"]))
    tail = client.get(f"/rail/v1/residents/changes?after={head}", headers=me).json()["changes"]
    assert [c["op"] for c in tail] == ["update", "delete"]
    assert tail[0]["key"] == tail[1]["key"] and tail[1]["data"] is None
    assert "13012345678" not in str(tail)

    # Suspended: refused; resumed: served again; revoked: refused for good. Each decision is audited.
    for action, status in (("suspend", 403), ("resume", 200), ("revoke", 403)):
        assert client.post(f"/rail/v1/subscriptions/{first['id']}/{action}", json={}, headers=officer).status_code == 200
        assert client.get(f"/rail/v1/residents/changes?after={head}", headers=me).status_code == status
    with p.db.read() as conn:
        actions = {a for (a,) in conn.execute(select(id_store.audit_log.c.action))}
    assert {"rail.apply", "rail.approve", "rail.suspend", "rail.resume", "rail.revoke", "rail.refused"} <= actions


def test_full_level_shows_personal_fields_and_audits_the_read(seeded: Platform, client: Any) -> None:
    p = seeded
    me, _sub = subscribe(client, p, "city.operator", "residents", level="full")
    page = client.get("/rail/v1/residents/changes?after=0&limit=2", headers=me).json()
    assert page["level"] == "full" and len(page["changes"][0]["key"]) == 18
    with p.db.read() as conn:
        row = conn.execute(select(s.residents).where(s.residents.c.id_number == page["changes"][0]["key"])).first()
        audited = conn.execute(select(id_store.audit_log.c.action).where(
            id_store.audit_log.c.action == "data.personal_read", id_store.audit_log.c.object_id == "residents")).all()
    assert row is not None and audited


def test_officer_sees_subscriptions_to_their_feeds_with_lag_and_metrics(seeded: Platform, client: Any) -> None:
    p = seeded
    me, sub = subscribe(client, p, "district.operator", "buildings")
    client.get("/rail/v1/buildings/changes?after=0&limit=10", headers=me)
    client.get("/rail/v1/buildings/changes?after=10&limit=10", headers=me)
    with p.db.read() as conn:
        head = rs.head(conn, "buildings")
    mine = client.get("/rail/v1/subscriptions", headers=me).json()["subscriptions"]
    assert mine[0]["acked_seq"] == 10 and mine[0]["read_seq"] == 20 and mine[0]["lag_changes"] == head - 10
    assert mine[0]["lag_seconds"] >= 0
    owned = client.get("/rail/v1/subscriptions?owned=true", headers=key_for(p, "data.officer")).json()
    assert [s["id"] for s in owned["subscriptions"]] == [sub]
    assert client.get("/rail/v1/subscriptions?owned=true", headers=me).status_code == 403
    metrics = client.get("/metrics").text
    assert f'cityos_rail_subscriber_lag_changes{{dataset="buildings",principal="district.operator",subscription="{sub}"}} {float(head - 10)}' in metrics
    assert f'cityos_rail_head_seq{{dataset="buildings"}} {float(head)}' in metrics
    feeds = client.get("/rail/v1/feeds", headers=me).json()["feeds"]
    assert {f["dataset"]: f["head"] for f in feeds}["buildings"] == head
