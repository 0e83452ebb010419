"""Channels beyond the inbox (SMS, and others later) behind one adapter interface.

Overdue and supervision notices (kinds in `CHANNEL_KINDS`) are also handed to the
SMS channel. They leave through the outbox: `route_to_channels` writes one
`notification.channel` event per notice in the transaction that wrote the notice,
and the worker's subscriber sends it through the channel chosen by
`CITYOS_SMS_CHANNEL`, recording each send once in `channel_sends` (the relay is at
least once; the record makes a repeated relay a no-op).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from cityos.core.logging import get_logger
from cityos.core.outbox import emit_many

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

CHANNEL_KINDS = frozenset({"case.overdue", "case.supervise"})
TOPIC = "notification.channel"


class Channel(Protocol):
    """Carries one message to one recipient; raises when it could not."""

    name: str

    def send(self, recipient: str, title: str, body: str) -> None: ...


class LogChannel:
    """Writes each message as one structured log line (the SMS gateway of a demo or test)."""

    def __init__(self, name: str = "sms") -> None:
        self.name = name

    def send(self, recipient: str, title: str, body: str) -> None:
        get_logger(f"cityos.channel.{self.name}").info("channel.send", channel=self.name, recipient=recipient, title=title, body=body)


class NullChannel:
    """A channel that is switched off."""

    def __init__(self, name: str = "sms") -> None:
        self.name = name

    def send(self, recipient: str, title: str, body: str) -> None:
        return None


def sms_channel(setting: str) -> Channel:
    """The SMS adapter named by the setting (`log` or `none`)."""
    if setting == "log":
        return LogChannel("sms")
    if setting == "none":
        return NullChannel("sms")
    raise ValueError(f"unknown SMS channel {setting!r}")


def route_to_channels(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Called where notices are written: queue the ones that also go out by SMS (same transaction)."""
    out = []
    for r in rows:
        if r.get("kind") in CHANNEL_KINDS:
            recipient = f"user:{r['recipient_user']}" if r.get("recipient_user") else f"unit:{r.get('recipient_unit')}"
            out.append((TOPIC, {"channel": "sms", "recipient": recipient, "kind": r["kind"], "title": r["title"],
                                "body": r.get("body") or "", "case_id": r.get("case_id")}))
    if out:
        emit_many(conn, out, rows[0]["created_at"])


def deliver(p: Platform, channel: Channel, event: dict[str, Any]) -> bool:
    """Send one queued message, once per event and recipient; False when it was sent before."""
    from cityos.governance import notify_store as ns

    if event.get("channel") != channel.name:
        return False
    with p.db.begin() as conn:
        fresh = ns.claim_send(conn, {"event_id": int(event["id"]), "channel": channel.name,
                                     "recipient": str(event["recipient"])[:80], "kind": str(event["kind"])[:30],
                                     "case_id": event.get("case_id"), "at": p.clock.now()})
        if fresh:
            # Inside the transaction: if sending fails the record is rolled back and the relay retries.
            channel.send(str(event["recipient"]), str(event["title"]), str(event["body"]))
    return fresh
