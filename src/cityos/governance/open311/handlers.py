"""Wiring of the Open311 door: the job that files batch requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cityos.bootstrap import wiring

if TYPE_CHECKING:
    from cityos.bootstrap import Platform


def _wire(p: Platform) -> None:
    from cityos.governance.open311.api import file_batch

    p.bus.register_job("open311.file_batch", lambda payload: file_batch(p, payload))


wiring(_wire)
