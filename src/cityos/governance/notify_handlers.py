"""Wiring of the notification doors: webhook fan-out and delivery, channel sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityos.governance import channels, webhooks
from cityos.governance.settings import case_settings

if TYPE_CHECKING:
    from cityos.bootstrap import Platform


def _wire(p: Platform) -> None:
    for topic in webhooks.TOPICS:
        p.bus.subscribe(topic, lambda ev: _discard(webhooks.fan_out(p, ev)))
    p.bus.register_job(webhooks.JOB_KIND, lambda payload: webhooks.deliver(p, payload))
    sms = channels.sms_channel(case_settings().sms_channel)
    p.extras["governance.sms_channel"] = sms
    p.bus.subscribe(channels.TOPIC, lambda ev: _discard(channels.deliver(p, _channel(p), ev)))


def _channel(p: Platform) -> channels.Channel:
    return p.extras["governance.sms_channel"]  # type: ignore[return-value]


def _discard(_: Any) -> None:
    return None


from cityos.bootstrap import wiring  # noqa: E402

wiring(_wire)
