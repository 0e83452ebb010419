"""Use cases of the rail: apply for a subscription, approve / suspend / resume / revoke it
(the owning department's data officer), read changes with a cursor, register a webhook.
Permission first, then load, rules, commit with an audit record."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from cityos.bootstrap import Platform, wiring
from cityos.core.errors import CityOSError, Forbidden, NotFound
from cityos.data.rail import model
from cityos.data.rail import store as rs
from cityos.data.services.handlers import city_node
from cityos.identity import audit
from cityos.identity.model import Actor


def feed_of(dataset: str) -> model.Feed:
    feed = model.FEEDS.get(dataset)
    if feed is None:
        raise NotFound(f"no change feed {dataset!r}; feeds: {', '.join(model.feed_names())}", field="dataset")
    return feed


def pseudonym_secret(p: Platform, sub_id: int) -> str:
    """Per subscription: two subscribers cannot join their masked keys."""
    return f"{p.settings.secret_key}:rail:{sub_id}"


def _public(sub: dict[str, Any]) -> dict[str, Any]:
    """A subscription as its subscriber and the approver see it (never the webhook secret)."""
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in sub.items() if k != "webhook_secret"}
    out["webhook"] = bool(sub.get("webhook_url"))
    return out


def apply(p: Platform, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Any signed-in principal applies for a feed, stating the purpose and the level wanted."""
    actor.require_signed_in()
    feed = feed_of(str(body.get("dataset") or ""))
    purpose = model.check_purpose(body.get("purpose"))
    level = model.check_level(body.get("level"))
    now = p.clock.now()
    with p.db.begin() as conn:
        existing = rs.live_subscription(conn, actor.username, feed.name)
        if existing is not None:
            return _public(existing)  # one live subscription per principal and feed: applying again is a no-op
        sub_id = rs.create_subscription(conn, {
            "dataset": feed.name, "principal": actor.username, "purpose": purpose, "level": level,
            "status": "pending", "requested_at": now, "acked_seq": 0, "read_seq": 0, "push_attempts": 0})
        audit.record(conn, actor, "rail.apply", "rail_subscription", sub_id, now,
                     details={"dataset": feed.name, "level": level, "purpose": purpose})
        sub = rs.subscription(conn, sub_id)
    assert sub is not None
    return _public(sub)


def decide(p: Platform, actor: Actor, sub_id: int, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """approve (optionally lowering the level to masked), reject, suspend, resume, revoke."""
    now = p.clock.now()
    city = city_node(p)
    with p.db.begin() as conn:
        sub = rs.subscription(conn, sub_id)
        if sub is None:
            raise NotFound(f"no rail subscription {sub_id}", field="id")
        feed = feed_of(sub["dataset"])
        # The base databases are the city's: a data officer of a district holds no say over them.
        actor.require("rail.approve", city)
        if not model.may_approve(actor, feed):
            raise Forbidden(f"only a data officer of {feed.owner} decides on {feed.name}", field="role")
        status = model.transition(sub["status"], action)
        values: dict[str, Any] = {"status": status, "decided_by": actor.username, "decided_at": now,
                                  "reason": (body.get("reason") or None)}
        if action == "approve":
            level = model.check_level(body.get("level") or sub["level"])
            if level == "full" and sub["level"] != "full":
                level = sub["level"]  # an approval never raises the level asked for
            values["level"] = level
        if action == "resume":
            values["push_attempts"] = 0
            values["push_next_at"] = None
        rs.update_subscription(conn, sub_id, **values)
        audit.record(conn, actor, f"rail.{action}", "rail_subscription", sub_id, now,
                     details={"dataset": feed.name, "principal": sub["principal"], "status": status,
                              "level": values.get("level", sub["level"])})
        sub = rs.subscription(conn, sub_id)
    assert sub is not None
    return _public(sub)


def _active(conn: Any, actor: Actor, feed: model.Feed) -> dict[str, Any]:
    sub = rs.live_subscription(conn, actor.username, feed.name)
    if sub is None:
        raise Forbidden(f"no approved subscription to {feed.name}; apply at POST /rail/v1/subscriptions",
                        field="subscription")
    if sub["status"] != "active":
        raise Forbidden(f"your subscription to {feed.name} is {sub['status']}", field="subscription",
                        details={"status": sub["status"]})
    return sub


def read_changes(p: Platform, actor: Actor, dataset: str, after_raw: Any, limit_raw: Any) -> dict[str, Any]:
    """A page of the feed after the cursor. Asking for after=N acknowledges N (the subscriber has
    applied everything up to it): that position is its lag. A refusal is audited and carries no data."""
    feed = feed_of(dataset)
    limit = model.check_limit(limit_raw)
    actor.require_signed_in()
    now = p.clock.now()
    refused: CityOSError | None = None
    with p.db.begin() as conn:
        try:
            sub = _active(conn, actor, feed)
            head = rs.head(conn, feed.name)
            after = model.check_after(after_raw, head)
        except CityOSError as exc:
            refused = exc
            audit.record(conn, actor, "rail.refused", "rail_feed", feed.name, now,
                         details={"after": str(after_raw)[:40], "reason": exc.message[:200]})
        else:
            rows = rs.changes(conn, feed.name, after, limit, upto=head)
            served = int(rows[-1].seq) if rows else after
            rs.acknowledge(conn, sub["id"], after, served, now)
            if sub["level"] == "full" and rows:
                audit.record(conn, actor, "data.personal_read", "rail_feed", feed.name, now,
                             details={"subscription": sub["id"], "from": after + 1, "to": served, "rows": len(rows)})
    if refused is not None:
        raise refused
    secret = pseudonym_secret(p, int(sub["id"]))
    changes = [model.shape_change(feed, int(r.seq), r.op, r.key, r.data, r.changed_at, sub["level"], secret)
               for r in rows]
    return {"dataset": feed.name, "after": after, "next": served, "head": head, "more": served < head,
            "level": sub["level"], "changes": changes}


def set_webhook(p: Platform, actor: Actor, sub_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """The subscriber registers (or clears, with url null) the URL changes are pushed to; the signing
    secret is returned once."""
    now = p.clock.now()
    url = body.get("url")
    with p.db.begin() as conn:
        sub = rs.subscription(conn, sub_id)
        if sub is None or sub["principal"] != actor.username:
            raise NotFound(f"no rail subscription {sub_id} of yours", field="id")
        if url is None:
            rs.update_subscription(conn, sub_id, webhook_url=None, webhook_secret=None)
            audit.record(conn, actor, "rail.webhook_clear", "rail_subscription", sub_id, now)
            return {"id": sub_id, "webhook": False}
        url = model.check_webhook_url(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        from_seq = body.get("from_seq")
        values: dict[str, Any] = {"webhook_url": url, "webhook_secret": secret, "push_attempts": 0,
                                  "push_next_at": None, "push_last_error": None}
        if from_seq is not None:
            values["acked_seq"] = model.check_after(from_seq, rs.head(conn, sub["dataset"]))
        rs.update_subscription(conn, sub_id, **values)
        audit.record(conn, actor, "rail.webhook_set", "rail_subscription", sub_id, now, details={"url": url})
    return {"id": sub_id, "webhook": True, "url": url, "secret": secret,
            "signature_header": model.SIGNATURE_HEADER, "delivery_header": model.DELIVERY_HEADER}


def my_subscriptions(p: Platform, actor: Actor) -> list[dict[str, Any]]:
    actor.require_signed_in()
    with p.db.read() as conn:
        subs = rs.subscriptions(conn, principal=actor.username)
        return with_lag(conn, subs)


def owned_subscriptions(p: Platform, actor: Actor) -> list[dict[str, Any]]:
    """The subscriptions to the feeds this data officer decides on."""
    if not actor.can("rail.approve"):
        return []
    mine = [f.name for f in model.FEEDS.values() if model.may_approve(actor, f)]
    with p.db.read() as conn:
        return with_lag(conn, rs.subscriptions(conn, datasets=mine))


def with_lag(conn: Any, subs: list[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
    """Each subscription with its feed's head and its lag (changes behind, age of the oldest unacknowledged
    change, by the database's wall clock which wrote the change times)."""
    heads = rs.heads(conn)
    oldest = rs.oldest_after(conn, [(s["dataset"], int(s["acked_seq"])) for s in subs
                                    if heads.get(s["dataset"], 0) > int(s["acked_seq"])])
    now = now or datetime.now(UTC)
    out = []
    for s in subs:
        h = heads.get(s["dataset"], 0)
        lag = model.lag(h, int(s["acked_seq"]), oldest.get((s["dataset"], int(s["acked_seq"]))), now)
        out.append({**_public(s), "head": h, "lag_changes": lag["changes"], "lag_seconds": lag["seconds"]})
    return out


@wiring
def _wire(p: Platform) -> None:
    from cityos.data.rail.push import push_due

    def _push(payload: dict[str, Any]) -> None:
        push_due(p)

    p.bus.register_recurring("rail.push", _push, 1)
