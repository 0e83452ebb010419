"""Notifications: the live inbox over server-sent events (real server, real client),
marking read, outgoing webhooks to a real local receiver, the SMS channel adapter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.core.store import jobs
from cityos.core.worker import Worker
from cityos.governance import channels, store, webhooks
from cityos.governance import handlers as h
from cityos.governance import notify_store as ns
from cityos.governance.settings import case_settings
from cityos.identity import store as id_store
from cityos.identity.seed import DEMO_PASSWORD
from tests.conftest import LiveServer
from tests.integration.test_case_loop import grid_point, login


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CITYOS_SSE_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("CITYOS_SSE_POLL_S", "0.2")
    case_settings.cache_clear()
    yield
    case_settings.cache_clear()


def _token(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _events(resp: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into events ({'comment': ...} for comment lines)."""
    event: dict[str, Any] = {}
    for line in resp.iter_lines():
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            key, _, value = line.partition(":")
            event[key] = value.lstrip(" ")


def _next_notification(events: Iterator[dict[str, Any]], limit: int = 40) -> dict[str, Any] | None:
    for _ in range(limit):
        ev = next(events)
        if ev.get("event") == "notification":
            return {"id": int(ev["id"]), **json.loads(ev["data"])}
    return None


def test_a_dispatched_case_reaches_the_live_stream_of_its_unit(seeded: Platform, fast_heartbeat: None) -> None:
    lon, lat, grid = grid_point(seeded)
    unit = f"D-{grid[:6]}-water"
    with seeded.db.begin() as conn:  # the handler works in the water department's unit
        uid = conn.execute(select(id_store.users.c.id).where(id_store.users.c.username == "handler")).scalar_one()
        id_store.add_grant(conn, uid, "department_handler", grid[:6], unit, "test", seeded.clock.now())
    with LiveServer(seeded) as server:
        base = server.url
        handler, member, citizen = _token(base, "handler"), _token(base, "grid.member"), _token(base, "citizen")
        timeout = httpx.Timeout(10.0)
        with httpx.Client(base_url=base, timeout=timeout) as http:
            with http.stream("GET", "/api/v1/notifications/stream", headers=handler) as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                events = _events(resp)
                assert next(events) == {"comment": "connected as handler"}
                assert next(events)["retry"] == "3000"  # subscribed: from here on, new notices arrive
                r = http.post("/api/v1/cases", headers=member,
                              json={"category": "P0101", "description": "井盖缺失", "lon": lon, "lat": lat, "source": "grid"})
                assert r.status_code == 201, r.text
                case = r.json()
                got = _next_notification(events)
                assert got is not None and got["case_id"] == case["id"] and got["recipient_unit"] == unit
                assert got["kind"] == "case.dispatched" and case["number"] in got["title"]
                nid = got["id"]
            # Reconnecting with Last-Event-ID catches up on what came after it.
            with http.stream("GET", "/api/v1/notifications/stream",
                             headers={**handler, "Last-Event-ID": str(nid - 1)}) as resp:
                again = _next_notification(_events(resp))
                assert again is not None and again["id"] == nid
            # Someone outside the unit sees nothing, only the heartbeat comments.
            with http.stream("GET", "/api/v1/notifications/stream", headers={**citizen, "Last-Event-ID": "0"}) as resp:
                evs = _events(resp)
                seen = [next(evs) for _ in range(3)]
                assert all("event" not in e for e in seen)
                assert {"comment": "heartbeat"} in seen
            bad = http.get("/api/v1/notifications/stream", headers={**handler, "Last-Event-ID": "x"})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "Last-Event-ID"
            assert http.get("/api/v1/notifications/stream").status_code == 401
            # Mark read: one, then the rest; someone else's notice is not found.
            assert http.get("/api/v1/notifications/unread", headers=handler).json()["unread"] >= 1
            assert http.post(f"/api/v1/notifications/{nid}/read", headers=citizen).status_code == 404
            r = http.post(f"/api/v1/notifications/{nid}/read", headers=handler)
            assert r.status_code == 200 and r.json()["read_at"]
            assert http.post("/api/v1/notifications/read", headers=handler, json={}).status_code == 400
            http.post("/api/v1/notifications/read", headers=handler, json={"all": True})
            assert http.get("/api/v1/notifications/unread", headers=handler).json()["unread"] == 0


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that fails its first request and accepts the rest."""

    def __init__(self, failures: int = 1) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 503 if len(outer.requests) <= outer.failures else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_are_signed_retried_and_delivered_once(seeded: Platform, client: Any, clock: FixedClock) -> None:
    seeded.clock = clock
    lon, lat, _grid = grid_point(seeded)
    op, member = login(client, "city.operator"), login(client, "grid.member")
    assert client.post("/api/v1/webhooks", headers=member,
                       json={"url": "http://127.0.0.1:9/x", "topics": ["case.created"]}).status_code == 403
    for body, field in [({"url": "ftp://x/y", "topics": ["case.created"]}, "url"),
                        ({"url": "http://127.0.0.1:9/x", "topics": ["case.eaten"]}, "topics"),
                        ({"url": "http://127.0.0.1:9/x", "topics": []}, "topics")]:
        r = client.post("/api/v1/webhooks", headers=op, json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
    with seeded.db.read() as conn:
        assert ns.list_webhooks(conn, None) == []
    with Receiver(failures=1) as rx:
        r = client.post("/api/v1/webhooks", headers=op, json={"url": rx.url, "topics": ["case.created", "case.escalated"]})
        assert r.status_code == 201, r.text
        hook = r.json()
        secret = hook["secret"]
        assert "secret" not in client.get("/api/v1/webhooks", headers=op).json()["webhooks"][0]
        case = client.post("/api/v1/cases", headers=member, json={"category": "P0101", "description": "井盖缺失",
                                                                  "lon": lon, "lat": lat, "source": "grid"}).json()
        w = Worker(seeded, name="t")
        w.relay_outbox()  # case.created -> one delivery job
        w.run_jobs()  # attempt 1: 503, retried later
        assert len(rx.requests) == 1
        clock.advance(seconds=5)
        w.run_jobs()  # attempt 2: accepted
        assert len(rx.requests) == 2
        # The same event relayed again (at-least-once relay) adds no job; nothing more is sent.
        with seeded.db.read() as conn:
            first_job = conn.execute(select(jobs).where(jobs.c.kind == webhooks.JOB_KIND)).mappings().one()
        ev = {"id": first_job["payload"]["event_id"], "topic": "case.created", **first_job["payload"]["data"]}
        assert webhooks.fan_out(seeded, ev) == 1
        clock.advance(seconds=60)
        w.run_once()
        assert len(rx.requests) == 2
    with seeded.db.read() as conn:
        n_jobs = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == webhooks.JOB_KIND)).scalar_one()
    assert n_jobs == 1
    headers, body = rx.requests[1]
    assert headers["x-cityos-delivery"] == rx.requests[0][0]["x-cityos-delivery"]
    assert headers["x-cityos-event"] == "case.created" and headers["x-cityos-timestamp"].isdigit()
    assert webhooks.verify(secret, body, headers["x-cityos-signature"])
    assert not webhooks.verify("another-secret-of-16+", body, headers["x-cityos-signature"])
    sent = json.loads(body)
    assert sent["topic"] == "case.created" and sent["data"]["case_id"] == case["id"]
    assert sent["timestamp"] == int(headers["x-cityos-timestamp"])
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=op).json()["deliveries"]
    assert [(d["attempt"], d["ok"], d["status_code"]) for d in reversed(log)] == [(1, False, 503), (2, True, 204)]
    # Switched off, it gets nothing; another operator cannot see or touch it.
    assert client.patch(f"/api/v1/webhooks/{hook['id']}", headers=login(client, "district.operator"),
                        json={"active": False}).status_code == 404
    r = client.patch(f"/api/v1/webhooks/{hook['id']}", headers=op, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=op).status_code == 204
    assert client.get("/api/v1/webhooks", headers=op).json()["webhooks"] == []


def test_overdue_and_supervision_notices_go_to_the_sms_channel(seeded: Platform, client: Any, clock: FixedClock) -> None:
    seeded.clock = clock
    lon, lat, _grid = grid_point(seeded)
    op = login(client, "city.operator")
    cid = client.post("/api/v1/cases", json={"category": "E0101", "description": "暴露垃圾", "lon": lon, "lat": lat,
                                             "source": "grid"}, headers=op).json()["id"]
    with seeded.db.read() as conn:
        case = store.get_case(conn, cid)
    assert case is not None
    clock.set(case["deadline"] + h.ESCALATION_GRACE / 2)
    assert h.sweep_overdue(seeded)["overdue"] >= 1
    clock.advance(seconds=h.ESCALATION_GRACE.total_seconds() + 60)
    assert h.sweep_overdue(seeded)["escalated"] >= 1
    with capture_logs() as logs:
        while Worker(seeded).relay_outbox():
            pass
    mine = [e for e in logs if e["event"] == "channel.send" and case["number"] in e["title"]]
    assert len(mine) == 2, logs  # the overdue reminder to the handler unit, the supervision order one level up
    assert all(e["channel"] == "sms" and e["log_level"] == "info" for e in mine)
    recipients = {e["recipient"] for e in mine}
    assert recipients == {f"unit:{case['handler_unit']}", f"unit:C-{case['township_code']}"}
    with seeded.db.read() as conn:
        sends = conn.execute(select(ns.channel_sends).where(ns.channel_sends.c.case_id == cid)).mappings().all()
    assert sorted(s["kind"] for s in sends) == ["case.overdue", "case.supervise"]
    # A repeated relay of the same event sends nothing twice (each overdue sweep wrote one event of one message).
    assert [s["seq"] for s in sends] == [0, 0]
    msg = {"recipient": sends[0]["recipient"], "kind": sends[0]["kind"], "title": "t", "body": "b", "case_id": cid}
    with capture_logs() as again:
        assert channels.deliver(seeded, channels.LogChannel("sms"), {"id": sends[0]["event_id"], "channel": "sms",
                                                                     "messages": [msg]}) == 0
    assert again == []
    assert isinstance(channels.sms_channel("none"), channels.NullChannel)
    with pytest.raises(ValueError):
        channels.sms_channel("carrier-pigeon")
