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
import multiprocessing
import os
import queue
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


def record(conn: Connection, actor: Actor, action: str, object_type: str, object_id: Any, now: datetime, *,
           node: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one audit record inside the caller's transaction."""
    grant = actor.primary()
    store.append_audit(conn, [AuditEntry(
        at=now, actor=actor.username, role=grant.role if grant else (actor.via if not actor.authenticated else None),
        node=node or (grant.node if grant else None), action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id), ip=actor.ip, purpose=actor.purpose,
        details=details or {},
    )])


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


VERIFY_WORKERS = 2  # processes that check seal_seq ranges side by side
PARALLEL_FROM = 200_000  # fewer sealed records: one process (starting workers costs ~1 s)


def verify(db: Database, progress: Callable[[int], None] | None = None, chunk: int = 50_000,
           workers: int | None = None) -> VerifyResult:
    """Check the chain in seal order; name the first record whose hash or link is wrong.

    Each record's link needs only its own row and the previous row's *stored* chain hash:
    as long as everything before a record is intact, that stored hash is the one a walk
    from the start would have computed. So seal_seq ranges are checked in separate
    processes (`workers`, default 2 from PARALLEL_FROM records on), and the first broken
    record is the first one found in the lowest range that has one: the same answer as
    one walk from the start."""
    with db.read() as conn:
        unsealed = store.count_unsealed(conn)
        last = store.seal_head(conn)[0]
    if workers is None:
        workers = min(VERIFY_WORKERS, os.cpu_count() or 1) if last >= PARALLEL_FROM else 1
    workers = max(1, min(workers, last))
    if workers == 1:
        seg = _verify_range(db, 1, last, progress, chunk)
        return VerifyResult(seg.checked, unsealed, seg.broken_at, seg.broken_id, seg.reason)
    step = -(-last // workers)
    ranges = [(lo, min(lo + step - 1, last)) for lo in range(1, last + 1, step)]
    segments = _verify_in_processes(db.url, ranges, progress, chunk)
    checked = 0
    for seg in segments:  # in range order: the first broken range holds the first broken record
        checked += seg.checked
        if not seg.ok:
            return VerifyResult(checked, unsealed, seg.broken_at, seg.broken_id, seg.reason)
    return VerifyResult(checked, unsealed)


def _verify_in_processes(url: str, ranges: list[tuple[int, int]], progress: Callable[[int], None] | None,
                         chunk: int) -> list[VerifyResult]:
    # spawn, not fork: the caller may run threads (a progress bar) that fork would copy mid-lock.
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Value("q", 0)
    results = ctx.Queue()
    procs = [ctx.Process(target=_verify_worker, args=(url, i, lo, hi, chunk, done, results), daemon=True)
             for i, (lo, hi) in enumerate(ranges)]
    for proc in procs:
        proc.start()
    found: dict[int, VerifyResult] = {}
    reported = 0
    try:
        while len(found) < len(procs):
            try:
                i, outcome = results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for j, p in enumerate(procs) if j not in found and p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"an audit verify worker died (exit code {dead[0].exitcode})") from None
            else:
                if isinstance(outcome, BaseException):
                    raise outcome
                found[i] = outcome
            if progress:
                now = done.value
                if now > reported:
                    progress(now - reported)
                    reported = now
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
    return [found[i] for i in range(len(procs))]


def _verify_worker(url: str, index: int, lo: int, hi: int, chunk: int, done: Any, results: Any) -> None:
    """One process's share: check seal_seq lo..hi and send back (index, VerifyResult | error)."""
    db = Database(url, pool_size=1)

    def tick(n: int) -> None:
        with done.get_lock():
            done.value += n

    try:
        outcome: VerifyResult | BaseException = _verify_range(db, lo, hi, tick, chunk)
    except Exception as exc:  # sent to the parent, which raises it
        outcome = RuntimeError(f"audit verify of seal_seq {lo}..{hi} failed: {exc!r}"[:2000])
    finally:
        db.dispose()
    results.put((index, outcome))


def _verify_range(db: Database, lo: int, hi: int, progress: Callable[[int], None] | None,
                  chunk: int) -> VerifyResult:
    """Check the records with seal_seq lo..hi, the first one linked to the stored chain hash
    of record lo-1 (the genesis for lo = 1). `unsealed` is left 0 (the caller counts it).

    Reads only the hashed columns as plain tuples, with `details` as stored (decoded
    here, not by the column type), and hashes with `content_hash_of`: the same hash the
    sealer computed, without a record object per row."""
    t = store.audit_log
    anchor = lo - 1  # the row whose stored chain hash the range starts from
    prev = GENESIS
    expected_seq = lo if anchor == 0 else anchor
    checked = 0
    sha256 = hashlib.sha256
    loads = json.loads
    with db.read() as conn:
        result = conn.execution_options(yield_per=chunk).execute(
            select(t.c.seal_seq, t.c.id, t.c.at, t.c.actor, t.c.role, t.c.node, t.c.action, t.c.object_type,
                   t.c.object_id, t.c.ip, t.c.purpose, type_coerce(t.c.details, Text), t.c.content_hash,
                   t.c.chain_hash)
            .where(t.c.seal_seq >= expected_seq, t.c.seal_seq <= hi).order_by(t.c.seal_seq)
        )
        pending = 0
        for seq, rid, at, actor, role, node, action, otype, oid, ip, purpose, raw, stored_content, stored_chain in result:
            if seq != expected_seq:
                reason = f"record(s) with seal_seq {expected_seq}..{seq - 1} are missing (deleted)"
                return VerifyResult(checked, 0, expected_seq, rid, reason)
            expected_seq += 1
            if seq == anchor:  # checked by the range before; only its chain hash is needed
                prev = stored_chain
                continue
            # SQLite hands back the stored JSON text; psycopg decodes JSONB itself.
            details = raw if not isinstance(raw, str) else ({} if raw == "{}" else loads(raw))
            ch = content_hash_of(rid, at, actor, role, node, action, otype, oid, ip, purpose, details or {})
            if ch != stored_content:
                return VerifyResult(checked, 0, seq, rid, "its content was changed after sealing")
            chained = sha256((prev + ch).encode()).hexdigest()  # chain_hash(prev, ch), inlined
            if chained != stored_chain:
                return VerifyResult(checked, 0, seq, rid, "its chain hash does not follow the previous record")
            prev = stored_chain
            checked += 1
            pending += 1
            if progress and pending >= chunk:
                progress(pending)
                pending = 0
        if progress and pending:
            progress(pending)
        if expected_seq <= hi:  # the range's last records are gone: name the next record still there
            after = conn.execute(select(t.c.seal_seq, t.c.id).where(t.c.seal_seq > hi).order_by(t.c.seal_seq)
                                 .limit(1)).first()
            if after is not None:
                reason = f"record(s) with seal_seq {expected_seq}..{after[0] - 1} are missing (deleted)"
                return VerifyResult(checked, 0, expected_seq, after[1], reason)
    return VerifyResult(checked, 0)
