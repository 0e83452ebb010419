"""Imports every context's tables (its `store` module) so that `metadata` is complete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from cityos.contexts import modules
from cityos.core.db import metadata


def load_all() -> MetaData:
    modules("store")
    return metadata


# Engine-specific search objects made by hand in migrations (FTS5 tables and their shadow
# tables on SQLite, trigram GIN indexes on PostgreSQL): the table definitions cannot say them.
_HAND_MADE = ("_fts", "_fts_data", "_fts_idx", "_fts_docsize", "_fts_config", "_text_trgm")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's comparison: leave out the hand-made search objects."""
    return not (name and type_ in ("table", "index") and name.endswith(_HAND_MADE))
