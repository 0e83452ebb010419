"""Webhook pushes to a real local HTTP receiver that fails, then succeeds: the same delivery id
again, a valid HMAC-SHA256 signature, back-off kept in the database, at-least-once."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select, update

from cityos.bootstrap import Platform
from cityos.core.clock import FixedClock
from cityos.data import store as s
from cityos.data.rail import model
from cityos.data.rail import store as rs
from cityos.data.rail.push import push_due
from tests.integration.test_rail_api import subscribe


class Receiver:
    """Answers 500 to the first `fail` requests, then 200; keeps what it got."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(({k: v for k, v in self.headers.items()}, body))
                status = 500 if len(outer.got) <= outer.fail else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status == 500 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_push_fails_then_succeeds_with_the_same_delivery_and_a_valid_signature(seeded: Platform, client: Any,
                                                                               clock: FixedClock) -> None:
    p = seeded
    p.clock = clock
    me, sub = subscribe(client, p, "district.operator", "buildings")
    with p.db.read() as conn:
        head = rs.head(conn, "buildings")
    receiver = Receiver(fail=2)
    try:
        r = client.put(f"/rail/v1/subscriptions/{sub}/webhook", json={"url": receiver.url, "from_seq": head - 3},
                       headers=me)
        assert r.status_code == 200, r.text
        secret = r.json()["secret"]
        assert client.get("/rail/v1/subscriptions", headers=me).json()["subscriptions"][0]["webhook"] is True

        assert push_due(p) == 0 and len(receiver.got) == 1  # 500: retried later, not now
        assert push_due(p) == 0 and len(receiver.got) == 1, "backing off: not due yet"
        clock.advance(seconds=1)
        assert push_due(p) == 0 and len(receiver.got) == 2  # 500 again; next try after 2 s
        clock.advance(seconds=1)
        assert push_due(p) == 0 and len(receiver.got) == 2
        clock.advance(seconds=1)
        assert push_due(p) == 1 and len(receiver.got) == 3
        ids = {h[model.DELIVERY_HEADER] for h, _b in receiver.got}
        assert len(ids) == 1, "every retry carries the same delivery id"
        headers, body = receiver.got[-1]
        assert model.verify_signature(secret, headers[model.SIGNATURE_HEADER], body)
        assert not model.verify_signature("whsec_wrong", headers[model.SIGNATURE_HEADER], body)
        payload = json.loads(body)
        assert payload["delivery"] in ids and payload["from_seq"] == head - 2 and payload["to_seq"] == head
        assert [c["seq"] for c in payload["changes"]] == [head - 2, head - 1, head]
        assert str(payload["timestamp"]) == headers[model.TIMESTAMP_HEADER]
        mine = client.get("/rail/v1/subscriptions", headers=me).json()["subscriptions"][0]
        assert mine["acked_seq"] == head and mine["lag_changes"] == 0 and mine["push_attempts"] == 0

        # Nothing new: nothing sent. A new change: one new delivery, delivered at once.
        assert push_due(p) == 0 and len(receiver.got) == 3
        with p.db.begin() as conn:
            conn.execute(update(s.buildings).where(s.buildings.c.building_id == payload["changes"][0]["key"])
                         .values(floors=99))
        assert push_due(p) == 1 and len(receiver.got) == 4
        latest = json.loads(receiver.got[-1][1])
        assert latest["delivery"] not in ids and [c["op"] for c in latest["changes"]] == ["update"]
        assert latest["changes"][0]["data"]["floors"] == 99
        with p.db.read() as conn:
            rows = conn.execute(select(rs.rail_deliveries.c.status, rs.rail_deliveries.c.attempts)
                                .order_by(rs.rail_deliveries.c.created_at)).all()
        assert [(r.status, r.attempts) for r in rows] == [("delivered", 3), ("delivered", 1)]

        # A suspended subscription is not pushed to.
        officer = subscribe.__globals__["key_for"](p, "data.officer")
        client.post(f"/rail/v1/subscriptions/{sub}/suspend", json={}, headers=officer)
        with p.db.begin() as conn:
            conn.execute(update(s.buildings).where(s.buildings.c.building_id == payload["changes"][0]["key"])
                         .values(floors=98))
        assert push_due(p) == 0 and len(receiver.got) == 4
    finally:
        receiver.close()


def test_the_worker_runs_pushes_as_a_recurring_job(seeded: Platform) -> None:
    assert "rail.push" in seeded.bus.recurring
