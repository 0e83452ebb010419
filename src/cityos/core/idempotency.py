"""Idempotency keys for creates: the same key and body gives the same answer once
more; the same key with another body is a conflict (409)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from cityos.core.db import insert_rows
from cityos.core.errors import Conflict, ValidationError
from cityos.core.store import idempotency_keys


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > 200 or not key.isprintable():
        raise ValidationError("must be at most 200 printable characters", field="Idempotency-Key")
    return key


def lookup(conn: Connection, scope: str, key: str, body_hash: str) -> tuple[int, Any] | None:
    row = conn.execute(
        select(idempotency_keys).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
    ).mappings().first()
    if row is None:
        return None
    if row["request_hash"] != body_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body", field="Idempotency-Key")
    return int(row["status_code"]), row["response"]


def remember(conn: Connection, scope: str, key: str, body_hash: str, status_code: int, response: Any,
             now: datetime) -> None:
    conn.execute(insert(idempotency_keys).values(scope=scope, key=key, request_hash=body_hash,
                                                 status_code=status_code, response=response, created_at=now))


def lookup_many(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int, Any]]:
    """(scope, key) -> (request hash, status code, response) of the keys already used, in one query."""
    if not keys:
        return {}
    t = idempotency_keys.c
    wanted = set(keys)
    rows = conn.execute(select(t.scope, t.key, t.request_hash, t.status_code, t.response)
                        .where(t.key.in_(sorted({k for _s, k in keys})), t.scope.in_(sorted({s for s, _k in keys}))))
    return {(r[0], r[1]): (str(r[2]), int(r[3]), r[4]) for r in rows if (r[0], r[1]) in wanted}


def remember_many(conn: Connection, rows: list[tuple[str, str, str | None, int, Any]], now: datetime) -> None:
    """Store several answers at once: (scope, key, request hash, status code, response) each."""
    if rows:
        insert_rows(conn, idempotency_keys, [
            {"scope": s, "key": k, "request_hash": h, "status_code": c, "response": r, "created_at": now}
            for s, k, h, c, r in rows])
