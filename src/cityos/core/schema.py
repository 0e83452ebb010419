"""Imports every context's tables (its `store` module) so that `metadata` is complete."""

from __future__ import annotations

from sqlalchemy import MetaData

from cityos.contexts import modules
from cityos.core.db import metadata


def load_all() -> MetaData:
    modules("store")
    return metadata
