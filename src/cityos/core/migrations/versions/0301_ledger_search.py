"""ledger: indexed free-text search over code and names (FTS5 trigram on SQLite, pg_trgm on PostgreSQL)

Revision ID: 0301_ledger_search
Revises: 0300_ledger
Create Date: 2026-11-25 06:30:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = '0301_ledger_search'
down_revision = '0300_ledger'
branch_labels = None
depends_on = None

# Engine-specific objects the table definitions cannot describe; cityos.core.schema.include_name
# keeps them out of the models-vs-migrations comparison.
_SQLITE = [
    # External-content FTS5 table: the text lives once, in ledger_resources; the trigram
    # tokenizer matches any substring of 3+ characters, Chinese included.
    "CREATE VIRTUAL TABLE ledger_resources_fts USING fts5(code, name_zh, name_en, content='ledger_resources', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER ledger_resources_fts_ai AFTER INSERT ON ledger_resources BEGIN "
    "INSERT INTO ledger_resources_fts(rowid, code, name_zh, name_en) VALUES (new.id, new.code, new.name_zh, new.name_en); END",
    "CREATE TRIGGER ledger_resources_fts_ad AFTER DELETE ON ledger_resources BEGIN "
    "INSERT INTO ledger_resources_fts(ledger_resources_fts, rowid, code, name_zh, name_en) "
    "VALUES ('delete', old.id, old.code, old.name_zh, old.name_en); END",
    "CREATE TRIGGER ledger_resources_fts_au AFTER UPDATE OF code, name_zh, name_en ON ledger_resources BEGIN "
    "INSERT INTO ledger_resources_fts(ledger_resources_fts, rowid, code, name_zh, name_en) "
    "VALUES ('delete', old.id, old.code, old.name_zh, old.name_en); "
    "INSERT INTO ledger_resources_fts(rowid, code, name_zh, name_en) VALUES (new.id, new.code, new.name_zh, new.name_en); END",
    "INSERT INTO ledger_resources_fts(ledger_resources_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for sql in _SQLITE:
            op.execute(sql)
        return
    # pg_trgm ships with PostgreSQL (contrib) and is a trusted extension (a database owner may
    # create it). Where it cannot be created, search still works, by a scan.
    available = bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
    if not available:
        return
    try:
        with bind.begin_nested():
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError:  # no privilege: documented fallback (LIKE scan)
        return
    bind.execute(text("CREATE INDEX ix_ledger_resources_text_trgm ON ledger_resources USING gin "
                      "(code gin_trgm_ops, name_zh gin_trgm_ops, name_en gin_trgm_ops)"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS ledger_resources_fts_{name}")
        op.execute("DROP TABLE IF EXISTS ledger_resources_fts")
        return
    op.execute("DROP INDEX IF EXISTS ix_ledger_resources_text_trgm")
