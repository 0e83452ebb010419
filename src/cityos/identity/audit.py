"""The audit log: every write and every read of personal data leaves a record.

Records are appended in the transaction of the change they describe (so they commit
together) without taking a global lock; a sealer then links them into a hash chain in
seal order (`seal_seq`): each record's content hash, chained to the previous record's
chain hash. Changing or deleting a sealed record breaks the chain at that point, which
`cityos audit verify` finds and names. Sealing runs as a recurring worker job, and
before every verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, select, text, type_coerce
from sqlalchemy.engine import Connection

from cityos.core.db import Database
from cityos.identity import store
from cityos.identity.model import GENESIS, Actor, AuditEntry, chain_hash, content_hash, content_hash_of

SEAL_HORIZON = timedelta(seconds=2)  # leave in-flight transactions time to commit
SEAL_LOCK = 7_311_001  # PostgreSQL advisory lock id: one sealer at a time


def entry(actor: Actor, action: str, object_type: str, object_id: Any, now: datetime, *,
          node: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
    """One audit record (not written yet: `record_many`)."""
    grant = actor.primary()
    return AuditEntry(
        at=now, actor=actor.username, role=grant.role if grant else (actor.via if not actor.authenticated else None),
        node=node or (grant.node if grant else None), action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id), ip=actor.ip, purpose=actor.purpose,
        details=details or {},
    )


def record(conn: Connection, actor: Actor, action: str, object_type: str, object_id: Any, now: datetime, *,
           node: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one audit record inside the caller's transaction."""
    store.append_audit(conn, [entry(actor, action, object_type, object_id, now, node=node, details=details)])


def record_many(conn: Connection, entries: list[AuditEntry]) -> None:
    """Append several records inside the caller's transaction (one statement)."""
    store.append_audit(conn, entries)


def seal(db: Database, now: datetime, *, horizon: timedelta = SEAL_HORIZON, batch: int = 20_000,
         progress: Callable[[int], None] | None = None) -> int:
    """Chain every record older than the horizon that is not sealed yet. Returns how many."""
    total = 0
    while True:
        with db.begin() as conn:
            if db.is_postgres and not conn.execute(text(f"SELECT pg_try_advisory_xact_lock({SEAL_LOCK})")).scalar():
                return total
            seq, prev = store.seal_head(conn)
            prev = prev or GENESIS
            rows = store.unsealed(conn, now - horizon, batch)
            seals = []
            for r in rows:
                seq += 1
                ch = content_hash(store.row_to_entry(r))
                prev = chain_hash(prev, ch)
                seals.append({"b_id": r["id"], "b_seq": seq, "b_content": ch, "b_chain": prev})
            store.set_seals(conn, seals)
        total += len(seals)
        if progress:
            progress(len(seals))
        if len(rows) < batch:
            return total


@dataclass
class VerifyResult:
    checked: int
    unsealed: int
    broken_at: int | None = None  # seal_seq of the first bad record
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(db: Database, progress: Callable[[int], None] | None = None, chunk: int = 50_000) -> VerifyResult:
    """Walk the chain in seal order; name the first record whose hash or link is wrong.

    Reads only the hashed columns as plain tuples, with `details` as stored (decoded
    here, not by the column type), and hashes with `content_hash_of`: the same hash the
    sealer computed, without a record object per row."""
    t = store.audit_log
    prev = GENESIS
    expected_seq = 1
    checked = 0
    sha256 = hashlib.sha256
    loads = json.loads
    with db.read() as conn:
        unsealed = store.count_unsealed(conn)
        result = conn.execution_options(yield_per=chunk).execute(
            select(t.c.seal_seq, t.c.id, t.c.at, t.c.actor, t.c.role, t.c.node, t.c.action, t.c.object_type,
                   t.c.object_id, t.c.ip, t.c.purpose, type_coerce(t.c.details, Text), t.c.content_hash,
                   t.c.chain_hash)
            .where(t.c.seal_seq.is_not(None)).order_by(t.c.seal_seq)
        )
        pending = 0
        for seq, rid, at, actor, role, node, action, otype, oid, ip, purpose, raw, stored_content, stored_chain in result:
            if seq != expected_seq:
                reason = f"record(s) with seal_seq {expected_seq}..{seq - 1} are missing (deleted)"
                return VerifyResult(checked, unsealed, expected_seq, rid, reason)
            # SQLite hands back the stored JSON text; psycopg decodes JSONB itself.
            details = raw if not isinstance(raw, str) else ({} if raw == "{}" else loads(raw))
            ch = content_hash_of(rid, at, actor, role, node, action, otype, oid, ip, purpose, details or {})
            if ch != stored_content:
                return VerifyResult(checked, unsealed, seq, rid, "its content was changed after sealing")
            prev = sha256((prev + ch).encode()).hexdigest()  # chain_hash(prev, ch), inlined
            if prev != stored_chain:
                return VerifyResult(checked, unsealed, seq, rid, "its chain hash does not follow the previous record")
            checked += 1
            expected_seq += 1
            pending += 1
            if progress and pending >= chunk:
                progress(pending)
                pending = 0
        if progress and pending:
            progress(pending)
    return VerifyResult(checked, unsealed)
