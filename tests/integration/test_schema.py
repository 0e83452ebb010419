"""The migrations and the table definitions describe the same schema, on this engine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cityos.core.db import Database
from cityos.core.migrate import heads, is_current
from cityos.core.schema import include_name, load_all


def test_models_and_migrations_agree(database_url: str) -> None:
    db = Database(database_url)
    assert is_current(db), "the test database is not at the migration heads"
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(ctx, load_all())
    db.dispose()
    assert diff == [], f"tables and migrations differ; write a migration: {diff}"


def test_one_head_per_branch() -> None:
    assert heads(), "no migrations found"
