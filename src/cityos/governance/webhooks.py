"""Outgoing webhooks: operators register a URL for case events; each event is
delivered once per webhook by a durable job, signed with the webhook's secret.

Delivery: the worker relays `case.created`, `case.transitioned` and `case.escalated`
from the outbox to `fan_out`, which enqueues one `governance.webhook_deliver` job per
active webhook and event (dedupe key `webhook:<event>:<webhook>`, so a repeated relay
adds nothing). The job POSTs the JSON body with

    X-CityOS-Event: case.created
    X-CityOS-Delivery: <event id>-<webhook id>      (the same on every retry)
    X-CityOS-Timestamp: <unix seconds>              (also inside the signed body)
    X-CityOS-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>

Any answer but 2xx, or no answer within the time limit, is recorded in
`webhook_deliveries` and the job is retried with exponential back-off (2 s, 4 s, ...
up to `MAX_ATTEMPTS`). A delivery that succeeded is never sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from cityos.core import jobs
from cityos.core.errors import CityOSError, NotFound, ValidationError
from cityos.governance import notify_store as ns
from cityos.governance.settings import case_settings
from cityos.identity import audit
from cityos.identity.model import OPERATORS, Actor, allow

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

TOPICS = ("case.created", "case.transitioned", "case.escalated")
JOB_KIND = "governance.webhook_deliver"
MAX_ATTEMPTS = 10
MAX_HOOKS = 100

allow((*OPERATORS, "system_admin"), "webhook.manage")


class DeliveryFailed(CityOSError):
    code = "webhook_failed"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


# --- management -------------------------------------------------------------------------------------

def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("must not be empty", field="url")
    url = url.strip()
    if len(url) > 500:
        raise ValidationError("must be at most 500 characters", field="url")
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValidationError("must be an http:// or https:// URL with a host", field="url")
    if u.username or u.password:
        raise ValidationError("must not carry credentials; the signature authenticates the sender", field="url")
    return url


def _check_topics(topics: Any) -> list[str]:
    if not isinstance(topics, list) or not topics:
        raise ValidationError(f"must be a non-empty list of: {', '.join(TOPICS)}", field="topics")
    bad = [t for t in topics if t not in TOPICS]
    if bad:
        raise ValidationError(f"unknown topic {bad[0]!r}; topics: {', '.join(TOPICS)}", field="topics")
    return sorted(set(topics))


def _check_secret(secret: Any) -> str:
    if secret is None:
        return secrets.token_urlsafe(32)
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise ValidationError("must be 16 to 200 characters (leave it out to get a generated one)", field="secret")
    return secret


def webhook_out(row: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "url", "topics", "active", "owner", "description", "created_at", "updated_at")}
    if with_secret:
        out["secret"] = row["secret"]
    return out


def _is_admin(actor: Actor) -> bool:
    return actor.via == "system" or "system_admin" in actor.roles


def _load(conn: Any, actor: Actor, hook_id: int) -> dict[str, Any]:
    hook = ns.get_webhook(conn, hook_id)
    if hook is None or not (_is_admin(actor) or hook["owner"] == actor.username):
        raise NotFound(f"no webhook {hook_id} of yours", field="webhook_id")
    return hook


def create_webhook(p: Platform, actor: Actor, url: Any, topics: Any, secret: Any = None,
                   description: str | None = None, active: bool = True) -> dict[str, Any]:
    """Register a webhook; the answer carries the secret (the only time it is shown)."""
    actor.require("webhook.manage")
    values = {"url": _check_url(url), "topics": _check_topics(topics), "secret": _check_secret(secret),
              "active": bool(active), "owner": actor.username,
              "description": (description or "").strip()[:200] or None}
    now = p.clock.now()
    with p.db.begin() as conn:
        if len(ns.list_webhooks(conn, actor.username)) >= MAX_HOOKS:
            raise ValidationError(f"at most {MAX_HOOKS} webhooks per owner", field="url")
        hid = ns.insert_webhook(conn, {**values, "created_at": now, "updated_at": now})
        audit.record(conn, actor, "webhook.create", "webhook", str(hid), now, details={"url": values["url"]})
        row = ns.get_webhook(conn, hid)
    assert row is not None
    return webhook_out(row, with_secret=True)


def list_webhooks(p: Platform, actor: Actor) -> list[dict[str, Any]]:
    actor.require("webhook.manage")
    with p.db.read() as conn:
        rows = ns.list_webhooks(conn, None if _is_admin(actor) else actor.username)
    return [webhook_out(r) for r in rows]


def update_webhook(p: Platform, actor: Actor, hook_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    actor.require("webhook.manage")
    values: dict[str, Any] = {}
    if changes.get("url") is not None:
        values["url"] = _check_url(changes["url"])
    if changes.get("topics") is not None:
        values["topics"] = _check_topics(changes["topics"])
    if changes.get("active") is not None:
        values["active"] = bool(changes["active"])
    if changes.get("description") is not None:
        values["description"] = str(changes["description"]).strip()[:200] or None
    rotate = bool(changes.get("rotate_secret"))
    if rotate:
        values["secret"] = _check_secret(None)
    now = p.clock.now()
    with p.db.begin() as conn:
        _load(conn, actor, hook_id)
        ns.update_webhook(conn, hook_id, {**values, "updated_at": now})
        audit.record(conn, actor, "webhook.update", "webhook", str(hook_id), now,
                     details={k: v for k, v in values.items() if k != "secret"} | {"rotated": rotate})
        row = ns.get_webhook(conn, hook_id)
    assert row is not None
    return webhook_out(row, with_secret=rotate)


def delete_webhook(p: Platform, actor: Actor, hook_id: int) -> None:
    actor.require("webhook.manage")
    now = p.clock.now()
    with p.db.begin() as conn:
        _load(conn, actor, hook_id)
        ns.delete_webhook(conn, hook_id)
        audit.record(conn, actor, "webhook.delete", "webhook", str(hook_id), now)


def webhook_deliveries(p: Platform, actor: Actor, hook_id: int, limit: int = 50) -> list[dict[str, Any]]:
    actor.require("webhook.manage")
    with p.db.read() as conn:
        _load(conn, actor, hook_id)
        return ns.deliveries(conn, hook_id, min(max(limit, 1), 500))


# --- delivery -----------------------------------------------------------------------------------------

def fan_out(p: Platform, event: dict[str, Any]) -> int:
    """Outbox subscriber: one durable delivery job per active webhook that wants this topic."""
    topic = str(event["topic"])
    event_id = int(event["id"])
    data = {k: v for k, v in event.items() if k not in ("id", "topic")}
    now = p.clock.now()
    n = 0
    with p.db.begin() as conn:
        for hook in ns.active_webhooks(conn):
            if topic in (hook["topics"] or []):
                jobs.enqueue(conn, JOB_KIND, {"webhook_id": hook["id"], "event_id": event_id, "topic": topic,
                                              "data": data},
                             run_at=now, now=now, dedupe_key=f"webhook:{event_id}:{hook['id']}",
                             max_attempts=MAX_ATTEMPTS)
                n += 1
    return n


def deliver(p: Platform, payload: dict[str, Any]) -> None:
    """Job handler: POST one event to one webhook, record the attempt, raise to retry."""
    hook_id, event_id = int(payload["webhook_id"]), int(payload["event_id"])
    with p.db.read() as conn:
        hook = ns.get_webhook(conn, hook_id)
        if hook is None or not hook["active"] or ns.delivered(conn, hook_id, event_id):
            return
        attempt = 1 + len([d for d in ns.deliveries(conn, hook_id, 1000) if d["event_id"] == event_id])
    now = p.clock.now()
    ts = int(now.timestamp())
    body = json.dumps({"id": event_id, "topic": payload["topic"], "timestamp": ts, "data": payload.get("data", {})},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "CityOS-Webhooks/1",
               "X-CityOS-Event": str(payload["topic"]), "X-CityOS-Delivery": f"{event_id}-{hook_id}",
               "X-CityOS-Timestamp": str(ts), "X-CityOS-Signature": sign(hook["secret"], body)}
    t0 = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        r = httpx.post(hook["url"], content=body, headers=headers, timeout=case_settings().webhook_timeout_s,
                       follow_redirects=False)
        status = r.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {r.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    with p.db.begin() as conn:
        ns.record_delivery(conn, {"webhook_id": hook_id, "event_id": event_id, "topic": str(payload["topic"]),
                                  "attempt": attempt, "ok": error is None, "status_code": status, "error": error,
                                  "duration_ms": int((time.perf_counter() - t0) * 1000), "at": p.clock.now()})
    if error is not None:
        raise DeliveryFailed(f"webhook {hook_id} attempt {attempt}: {error}")
