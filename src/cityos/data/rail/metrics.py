"""The rail's figures in `/metrics`: each feed's head and each subscriber's lag, read from the
database at scrape time (any process answers the same)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

HEAD = Gauge("cityos_rail_head_seq", "Last sequence number of a change feed", ["dataset"])
ACKED = Gauge("cityos_rail_subscriber_acked_seq", "Last sequence number a subscriber acknowledged",
              ["subscription", "principal", "dataset"])
LAG_CHANGES = Gauge("cityos_rail_subscriber_lag_changes", "Changes a subscriber has not acknowledged yet",
                    ["subscription", "principal", "dataset"])
LAG_SECONDS = Gauge("cityos_rail_subscriber_lag_seconds", "Age of the oldest change a subscriber has not acknowledged",
                    ["subscription", "principal", "dataset"])


def refresh(platform: Any) -> None:
    from cityos.data.rail import store as rs
    from cityos.data.rail.handlers import with_lag

    with platform.db.read() as conn:
        heads = rs.heads(conn)
        subs = with_lag(conn, [s for s in rs.subscriptions(conn) if s["status"] in ("active", "suspended")])
    for g in (HEAD, ACKED, LAG_CHANGES, LAG_SECONDS):
        g.clear()  # a revoked subscription leaves the figures
    for dataset, head in heads.items():
        HEAD.labels(dataset).set(head)
    for s in subs:
        labels = (str(s["id"]), s["principal"], s["dataset"])
        ACKED.labels(*labels).set(s["acked_seq"])
        LAG_CHANGES.labels(*labels).set(s["lag_changes"])
        LAG_SECONDS.labels(*labels).set(s["lag_seconds"])
