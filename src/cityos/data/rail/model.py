"""Rules of the rail, no IO: which feeds exist, who may approve, how a cursor is checked,
how a change is masked, how a push is signed and when it is retried."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityos.core.errors import IllegalTransition, ValidationError
from cityos.identity.model import Actor, allow, mask_record

allow(("data_officer",), "rail.approve")

OPS = {"I": "insert", "U": "update", "D": "delete"}
LEVELS = ("masked", "full")  # personal fields masked, or shown (approved purpose; reads audited)
STATUSES = ("pending", "active", "suspended", "revoked", "rejected")
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000
SIGNATURE_HEADER = "X-CityOS-Signature"
DELIVERY_HEADER = "X-CityOS-Delivery"
TIMESTAMP_HEADER = "X-CityOS-Timestamp"
MAX_PUSH_BACKOFF_S = 3600
PUSH_BATCH = 500


@dataclass(frozen=True)
class Feed:
    """A table whose changes are logged: its key, the catalog dataset it belongs to, the
    department owning it, and its personal fields ({field: mask kind})."""

    name: str
    key: str
    catalog: str
    owner: str
    personal: dict[str, str]


def _feeds() -> dict[str, Feed]:
    from cityos.data.catalog import BASE
    from cityos.data.model import BASE_DATASETS

    specs = {s.table: s for s in BASE_DATASETS.values()}
    out: dict[str, Feed] = {}
    for name, _zh, _en, owner, resources, *_ in BASE:
        for table, _spec in resources:
            spec = specs[table]
            out[table] = Feed(table, spec.key, name, owner, spec.personal)
    # Risk areas belong with the spatial geography base database (no personal fields).
    out["risk_areas"] = Feed("risk_areas", "code", "spatial-geography", "planning", {})
    return out


FEEDS: dict[str, Feed] = _feeds()


def feed_names() -> list[str]:
    return sorted(FEEDS)


def check_limit(raw: Any) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{raw!r} is not an integer", field="limit") from None
    if not 1 <= n <= MAX_LIMIT:
        raise ValidationError(f"must be between 1 and {MAX_LIMIT}", field="limit")
    return n


def check_after(raw: Any, head: int) -> int:
    """The cursor: the last sequence number the subscriber has (0 = from the start). A cursor
    past the head cannot come from this feed (another city, a reset database): refuse it."""
    if raw is None or raw == "":
        return 0
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{raw!r} is not a sequence number", field="after") from None
    if n < 0:
        raise ValidationError("must be 0 or a sequence number this feed gave", field="after")
    if n > head:
        raise ValidationError(f"cursor {n} is ahead of this feed's head {head}: it was not issued by this feed",
                              field="after", details={"head": head})
    return n


def check_level(raw: Any) -> str:
    level = raw or "masked"
    if level not in LEVELS:
        raise ValidationError(f"must be one of {', '.join(LEVELS)}", field="level")
    return str(level)


def check_purpose(raw: Any) -> str:
    purpose = (raw or "").strip() if isinstance(raw, str) else ""
    if len(purpose) < 4:
        raise ValidationError("state the purpose the changes are needed for (4 characters or more)", field="purpose")
    return purpose[:500]


def check_webhook_url(raw: Any) -> str:
    url = raw.strip() if isinstance(raw, str) else ""
    if not (url.startswith("http://") or url.startswith("https://")) or len(url) > 500 or " " in url:
        raise ValidationError("must be an http:// or https:// URL", field="url")
    return url


def may_approve(actor: Actor, feed: Feed) -> bool:
    """The owning department's data officer approves: a data-officer grant in that unit, or one
    with no unit (a city-wide data officer)."""
    if actor.via == "system":
        return True
    if not actor.can("rail.approve"):
        return False
    return any(g.role == "data_officer" and (g.unit is None or g.unit == feed.owner) for g in actor.grants)


def transition(status: str, action: str) -> str:
    """approve/reject a pending one; suspend an active one; resume a suspended one; revoke any live one."""
    allowed = {("pending", "approve"): "active", ("pending", "reject"): "rejected",
               ("active", "suspend"): "suspended", ("suspended", "resume"): "active",
               ("pending", "revoke"): "revoked", ("active", "revoke"): "revoked", ("suspended", "revoke"): "revoked"}
    new = allowed.get((status, action))
    if new is None:
        raise IllegalTransition(f"a {status} subscription cannot be {action}d", field="action",
                                details={"status": status})
    return new


def pseudonym(secret: str, value: str) -> str:
    """A stable stand-in for a personal key (the same value gives the same stand-in for one
    subscription, so a masked warehouse can still upsert and delete by it), 18 characters as an
    ID number is."""
    return "P" + hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()[:17].upper()


def shape_change(feed: Feed, seq: int, op: str, key: str, data: dict[str, Any] | None, at: datetime,
                 level: str, pseudonym_secret: str = "") -> dict[str, Any]:
    """One change as the subscriber sees it: personal fields masked unless the level is full, and
    a personal key replaced by its pseudonym."""
    masked = level != "full" and bool(feed.personal)
    out_key = key
    if masked and feed.key in feed.personal:
        out_key = pseudonym(pseudonym_secret, key)
    if data is not None and masked:
        data = mask_record(data, feed.personal, False)
        if feed.key in feed.personal:
            data[feed.key] = out_key
    return {"seq": seq, "op": OPS.get(op, op), "key": out_key, "data": data, "at": at.isoformat()}


def lag(head: int, acked: int, oldest_unacked_at: datetime | None, now: datetime) -> dict[str, float | int]:
    """How far a subscriber is behind: changes not yet acknowledged, and the age of the oldest one."""
    behind = max(0, head - acked)
    seconds = max(0.0, (now - oldest_unacked_at).total_seconds()) if behind and oldest_unacked_at else 0.0
    return {"changes": behind, "seconds": round(seconds, 3)}


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of the raw body (which carries its timestamp, so an
    old body replayed is seen as old), the same scheme as the case webhooks."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


def backoff(attempts: int, base_s: float = 1.0) -> timedelta:
    """Wait before the next try of a failed push: 1, 2, 4, ... seconds, at most an hour."""
    return timedelta(seconds=min(MAX_PUSH_BACKOFF_S, base_s * 2 ** max(0, attempts - 1)))
