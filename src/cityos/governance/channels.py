"""Channels beyond the inbox (SMS, and others later) behind one adapter interface.

Overdue and supervision notices (kinds in `CHANNEL_KINDS`) are also handed to the
SMS channel. They leave through the outbox: `route_to_channels` writes one
`notification.channel` event per batch of notices in the transaction that wrote them,
and the worker's subscriber sends it through the channel chosen by
`CITYOS_SMS_CHANNEL`, recording each send once in `channel_sends` (the relay is at
least once; the record, keyed by event and position, makes a repeated relay a no-op).
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
PER_EVENT = 500


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
    """Called where notices are written: queue the ones that also go out by SMS (same transaction),
    up to `PER_EVENT` messages per outbox event (a sweep that flags thousands writes a few events)."""
    msgs = []
    for r in rows:
        if r.get("kind") in CHANNEL_KINDS:
            recipient = f"user:{r['recipient_user']}" if r.get("recipient_user") else f"unit:{r.get('recipient_unit')}"
            msgs.append({"recipient": recipient, "kind": r["kind"], "title": r["title"], "body": r.get("body") or "",
                         "case_id": r.get("case_id")})
    if msgs:
        emit_many(conn, [(TOPIC, {"channel": "sms", "messages": msgs[i:i + PER_EVENT]})
                         for i in range(0, len(msgs), PER_EVENT)], rows[0]["created_at"])


def deliver(p: Platform, channel: Channel, event: dict[str, Any]) -> int:
    """Send the messages of one queued event, each once (by event and position); returns how many went out.

    One transaction per event: if the channel fails, the records roll back and the relay
    retries the event (messages before the failure may go out twice: at least once)."""
    from cityos.governance import notify_store as ns

    if event.get("channel") != channel.name:
        return 0
    sent = 0
    now = p.clock.now()
    with p.db.begin() as conn:
        for seq, m in enumerate(event.get("messages") or []):
            if ns.claim_send(conn, {"event_id": int(event["id"]), "seq": seq, "channel": channel.name,
                                    "recipient": str(m["recipient"])[:80], "kind": str(m["kind"])[:30],
                                    "case_id": m.get("case_id"), "at": now}):
                channel.send(str(m["recipient"]), str(m["title"]), str(m["body"]))
                sent += 1
    return sent
