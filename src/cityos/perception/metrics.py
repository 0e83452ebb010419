"""Prometheus metrics of telemetry ingest (served at /metrics by the web app; the
MQTT consumer serves its own with --metrics-port)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

READINGS = Counter("cityos_ingest_readings_total", "Telemetry readings stored")
MESSAGES = Counter("cityos_ingest_messages_total", "Telemetry messages received", ["source"])
DEAD_LETTERS = Counter("cityos_ingest_dead_letters_total", "Telemetry messages rejected to the dead-letter table",
                       ["reason"])
INGEST_BATCH_SECONDS = Histogram("cityos_ingest_batch_seconds", "Time to validate and commit one ingest batch",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ALARMS_RAISED = Counter("cityos_alarms_raised_total", "Alarms raised", ["severity"])
INGEST_ERRORS = Counter("cityos_ingest_batch_errors_total", "Ingest batches that failed to commit (redelivered)")
