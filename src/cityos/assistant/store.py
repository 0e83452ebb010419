"""Labelled examples that operators add (corrections); the classifier reads them at (re)build."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, insert, select
from sqlalchemy.engine import Connection

from cityos.core.db import UTCDateTime, metadata
from cityos.core.store import BigId

EXAMPLES_REVISION = "assistant.examples"

assistant_examples = Table(
    "assistant_examples",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("category", String(5), nullable=False),
    Column("suggested", String(5)),  # what the assistant had suggested first, when known
    Column("case_id", BigInteger),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_assistant_examples_category", "category"),
)


def add_example(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(assistant_examples).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def load_examples(conn: Connection, limit: int = 100_000) -> list[dict[str, Any]]:
    rows = conn.execute(select(assistant_examples).order_by(assistant_examples.c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def count_since(conn: Connection, since: datetime) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.count()).select_from(assistant_examples)
                            .where(assistant_examples.c.created_at >= since)).scalar_one())
