"""Webhook pushes: the worker's recurring `rail.push` job sends each active subscription with a
webhook the changes after its acknowledged position.

A batch is first recorded as a delivery (`rail_deliveries`: id, from_seq, to_seq) and
committed, then POSTed; a retry sends the same delivery (same id, same range) again, so
the receiver deduplicates on `X-CityOS-Delivery` (at-least-once). Only a 2xx answer moves
the subscription's acknowledged position; a failure schedules the next try after an
exponential back-off (1, 2, 4, ... s, at most an hour) kept in the database.

    X-CityOS-Delivery: <uuid>                  (the same on every retry of this batch)
    X-CityOS-Timestamp: <unix seconds>         (also inside the signed body)
    X-CityOS-Signature: sha256=<hex HMAC-SHA256 of the raw body with the subscription's secret>
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
from sqlalchemy import and_, or_, select

from cityos.bootstrap import Platform
from cityos.data.rail import model
from cityos.data.rail import store as rs
from cityos.data.rail.handlers import pseudonym_secret
from cityos.identity import audit
from cityos.identity.model import SYSTEM

TIMEOUT_S = float(os.environ.get("CITYOS_RAIL_WEBHOOK_TIMEOUT_S") or 10)
MAX_BATCHES_PER_RUN = 20


def _due(p: Platform) -> list[dict[str, Any]]:
    t = rs.rail_subscriptions.c
    now = p.clock.now()
    with p.db.read() as conn:
        rows = conn.execute(select(rs.rail_subscriptions).where(
            t.status == "active", t.webhook_url.is_not(None),
            or_(t.push_next_at.is_(None), t.push_next_at <= now)).order_by(t.id)).mappings().all()
    return [dict(r) for r in rows]


def push_due(p: Platform) -> int:
    """Deliver what is due to every webhook; returns the number of successful deliveries."""
    delivered = 0
    for sub in _due(p):
        for _ in range(MAX_BATCHES_PER_RUN):
            outcome = push_one(p, int(sub["id"]))
            if outcome != "delivered":
                break
            delivered += 1
    return delivered


def _pending_or_new(p: Platform, sub_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    d = rs.rail_deliveries.c
    now = p.clock.now()
    with p.db.begin() as conn:
        sub = rs.subscription(conn, sub_id)
        if sub is None or sub["status"] != "active" or not sub["webhook_url"]:
            return None
        row = conn.execute(select(rs.rail_deliveries).where(and_(d.subscription_id == sub_id, d.status == "pending"))
                           .order_by(d.created_at).limit(1)).mappings().first()
        if row is not None:
            return sub, dict(row)
        head = rs.head(conn, sub["dataset"])
        after = int(sub["acked_seq"])
        if head <= after:
            return None
        last = rs.changes(conn, sub["dataset"], after, model.PUSH_BATCH, upto=head)
        if not last:
            return None
        delivery = {"id": str(uuid.uuid4()), "subscription_id": sub_id, "from_seq": after + 1,
                    "to_seq": int(last[-1].seq), "status": "pending", "attempts": 0, "created_at": now}
        conn.execute(rs.rail_deliveries.insert().values(**delivery))
    return sub, delivery


def push_one(p: Platform, sub_id: int) -> str:
    """One delivery attempt: 'idle' (nothing due), 'delivered' or 'failed'."""
    found = _pending_or_new(p, sub_id)
    if found is None:
        return "idle"
    sub, delivery = found
    feed = model.FEEDS[sub["dataset"]]
    now = p.clock.now()
    with p.db.begin() as conn:
        rows = rs.changes(conn, feed.name, int(delivery["from_seq"]) - 1,
                          int(delivery["to_seq"]) - int(delivery["from_seq"]) + 1, upto=int(delivery["to_seq"]))
        if sub["level"] == "full" and rows:
            audit.record(conn, SYSTEM, "data.personal_read", "rail_feed", feed.name, now,
                         details={"subscription": sub_id, "principal": sub["principal"], "delivery": delivery["id"],
                                  "from": delivery["from_seq"], "to": delivery["to_seq"]})
    ts = int(now.timestamp())
    body = json.dumps({"delivery": delivery["id"], "dataset": feed.name, "subscription": sub_id,
                       "from_seq": delivery["from_seq"], "to_seq": delivery["to_seq"], "timestamp": ts,
                       "changes": [model.shape_change(feed, int(r.seq), r.op, r.key, r.data, r.changed_at,
                                                      sub["level"], pseudonym_secret(p, sub_id)) for r in rows]},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "CityOS-Rail/1",
               model.DELIVERY_HEADER: delivery["id"], model.TIMESTAMP_HEADER: str(ts),
               model.SIGNATURE_HEADER: model.sign(sub["webhook_secret"], body)}
    status: int | None = None
    error: str | None = None
    try:
        r = httpx.post(sub["webhook_url"], content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
        status = r.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {r.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    d = rs.rail_deliveries.c
    now = p.clock.now()
    with p.db.begin() as conn:
        attempts = int(delivery["attempts"]) + 1
        if error is None:
            conn.execute(rs.rail_deliveries.update().where(d.id == delivery["id"]).values(
                status="delivered", attempts=attempts, last_status=status, last_error=None, delivered_at=now))
            rs.acknowledge(conn, sub_id, int(delivery["to_seq"]), int(delivery["to_seq"]), now)
            rs.update_subscription(conn, sub_id, push_attempts=0, push_next_at=None, push_last_error=None)
            return "delivered"
        conn.execute(rs.rail_deliveries.update().where(d.id == delivery["id"]).values(
            attempts=attempts, last_status=status, last_error=error))
        tries = int(sub["push_attempts"]) + 1
        rs.update_subscription(conn, sub_id, push_attempts=tries, push_next_at=now + model.backoff(tries),
                               push_last_error=error)
    return "failed"
