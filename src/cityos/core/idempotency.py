"""Idempotency keys for creates: the same key and body gives the same answer once
more; the same key with another body is a conflict (409)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

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
