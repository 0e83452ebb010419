"""The gateway: one call of `/ds/v1/{code}`.

Per call: one SELECT resolves the credential, its consumer, the grant, the version and today's
counter (identity's credential table, read like `credential_actor` does); the rate limit is the
platform's limiter; the interface's statement is built once per process and version; one SELECT
runs it. The call record, its counter and (for personal data or a refusal) its audit record are
written by group commit: concurrent calls of a process share one transaction, and each call is
answered only after its records committed (nothing answered is unlogged).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from cityos.core.errors import CityOSError, Forbidden, NotFound, RateLimited, Unauthenticated, ValidationError
from cityos.core.groupcommit import GroupCommit
from cityos.data.services import model, store
from cityos.identity import store as id_store
from cityos.identity.model import AuditEntry

if TYPE_CHECKING:
    from cityos.bootstrap import Platform


class Gone(CityOSError):
    status = 410
    code = "retired"


@dataclass(frozen=True)
class Compiled:
    defn: model.Definition
    statements: dict[frozenset[str], Any]


class Registry:
    """This process's parsed definitions and statements, by (code, version). A published version
    never changes, so nothing here goes stale; which versions are live is read at every call."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int], Compiled] = {}
        self._lock = threading.Lock()

    def get(self, conn_fn: Any, code: str, version: int) -> Compiled:
        found = self._items.get((code, version))
        if found is not None:
            return found
        doc = conn_fn(lambda conn: store.version_definition(conn, code, version))
        if doc is None:
            raise NotFound(f"no version {version} of {code}", field="version")
        defn = model.parse_definition(doc, store.READABLE_COLUMNS)
        with self._lock:
            return self._items.setdefault((code, version), Compiled(defn, {}))

    @staticmethod
    def statement(c: Compiled, present: frozenset[str]) -> Any:
        stmt = c.statements.get(present)
        if stmt is None:
            stmt = store.build_query(_without_absent(c.defn, present))
            c.statements[present] = stmt
        return stmt


def _without_absent(defn: model.Definition, present: frozenset[str]) -> model.Definition:
    """The definition without the filters of optional parameters the call did not give."""
    from dataclasses import replace

    keep = tuple(f for f in defn.filters if f.param is None or f.param in present)
    return replace(defn, filters=keep) if len(keep) != len(defn.filters) else defn


def registry(p: Platform) -> Registry:
    reg = p.extras.get("ds_registry")
    if reg is None:
        reg = p.extras.setdefault("ds_registry", Registry())
    assert isinstance(reg, Registry)
    return reg


# --- the call log, by group commit ---------------------------------------------------------------

def _write(conn: Connection, items: Sequence[dict[str, Any]]) -> list[Any]:
    store.write_calls(conn, items)
    id_store.append_audit(conn, [i["audit"] for i in items if i.get("audit") is not None])
    return [None] * len(items)


def call_log(p: Platform) -> GroupCommit[dict[str, Any], Any]:
    gc = p.extras.get("ds_call_log")
    if gc is None:
        gc = p.extras.setdefault("ds_call_log", GroupCommit(p.db, _write, max_batch=500))
    assert isinstance(gc, GroupCommit)
    return gc


# --- one call ------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


def _json_default(v: Any) -> Any:
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()


class _Refused(Exception):
    def __init__(self, error: CityOSError, outcome: str) -> None:
        self.error = error
        self.outcome = outcome


def call(p: Platform, secret: str | None, code: str, raw: Mapping[str, str], ip: str | None,
         purpose_header: str | None = None) -> Answer:
    """Serve one gateway call; every outcome is logged and counted, refusals also audited."""
    t0 = time.perf_counter()
    now = p.clock.now()
    rec: dict[str, Any] = {"at": now, "consumer_id": None, "interface_code": code[:64], "version": None,
                           "purpose": None, "param_hash": None, "rows": 0, "outcome": "ok", "status": 200,
                           "counted": False, "audit": None}
    who = "anonymous"
    try:
        body, who = _serve(p, secret, code, raw, now, rec)
    except _Refused as r:
        return _refuse(p, r.error, r.outcome, rec, who if who != "anonymous" else rec.get("_who", who), ip, t0)
    except CityOSError as exc:
        return _refuse(p, exc, exc.code, rec, rec.get("_who", who), ip, t0)
    rec["latency_ms"] = int((time.perf_counter() - t0) * 1000)
    rec["counted"] = True
    if rec.pop("_personal", False) and rec["rows"]:
        rec["audit"] = AuditEntry(at=now, actor=who, role="ds_consumer", node=None, action="ds.call",
                                  object_type="ds_interface", object_id=f"{code}@{rec['version']}", ip=ip,
                                  purpose=rec["purpose"], details={"params": rec["param_hash"], "rows": rec["rows"]})
    rec.pop("_who", None)
    call_log(p).submit(rec)
    return Answer(200, body, {})


def _refuse(p: Platform, exc: CityOSError, outcome: str, rec: dict[str, Any], who: str, ip: str | None,
            t0: float) -> Answer:
    rec.pop("_personal", None)
    rec.pop("_who", None)
    rec.update(outcome=outcome[:24], status=exc.status, latency_ms=int((time.perf_counter() - t0) * 1000))
    # The refusal's audit record names the field and the reason, never the values sent.
    rec["audit"] = AuditEntry(at=rec["at"], actor=who[:80], role="ds_consumer", node=None, action="ds.refused",
                              object_type="ds_interface", object_id=rec["interface_code"], ip=ip,
                              purpose=rec["purpose"], details={"status": exc.status, "code": exc.code,
                                                               "field": exc.field, "reason": exc.message[:300]})
    try:
        call_log(p).submit(rec)
    except Exception:  # the refusal is still answered if its record cannot be written
        from cityos.core.logging import get_logger

        get_logger("cityos.ds").error("ds.log_failed", interface=rec["interface_code"])
    headers = {}
    if isinstance(exc.details, dict) and "retry_after" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after"])
    return Answer(exc.status, dumps({"error": exc.as_dict()}), headers)


def _serve(p: Platform, secret: str | None, code: str, raw: Mapping[str, str], now: datetime,
           rec: dict[str, Any]) -> tuple[bytes, str]:
    from cityos.identity.handlers import secret_hash

    if not secret:
        raise _Refused(Unauthenticated("send the consumer's API key (X-API-Key) or an OAuth2 bearer token "
                                       "(Authorization: Bearer ...)", field="Authorization"), "unauthenticated")
    version: int | None = None
    v = raw.get("version")
    if v is not None and v != "":
        if not v.isdigit() or not 1 <= int(v) <= 9999:
            raise _Refused(ValidationError("must be a whole number from 1 to 9999", field="version"), "invalid")
        version = int(v)
    hashed = secret_hash(secret)
    ctx = p.db.read_once(lambda conn: store.call_context(conn, hashed, code, version, now.date()))
    if ctx is None:
        raise _Refused(Unauthenticated("this API key or token is unknown", field="Authorization"), "unauthenticated")
    rec["_who"] = ctx.username
    reason = ("revoked" if ctx.revoked_at is not None else "expired" if ctx.expires_at is not None
              and ctx.expires_at <= now else "of an inactive account" if not ctx.active else None)
    if reason:
        raise _Refused(Unauthenticated(f"this API key or token is {reason}", field="Authorization"), "unauthenticated")
    if ctx.consumer_id is None:
        raise _Refused(Forbidden("this credential is not a data service consumer's; register a consumer and apply "
                                 "for the interface", field="Authorization"), "forbidden")
    rec["consumer_id"] = ctx.consumer_id
    rec["purpose"] = ctx.purpose
    if ctx.known is None:
        raise _Refused(NotFound(f"no interface {code!r}; see /ds/v1/openapi.json", field="code"), "not_found")
    if ctx.version is None:
        if version is None:
            raise _Refused(Gone(f"every version of {code} is retired", field="code"), "retired")
        raise _Refused(NotFound(f"no version {version} of {code}", field="version"), "not_found")
    rec["version"] = ctx.version
    if ctx.version_status != "published":
        raise _Refused(Gone(f"version {ctx.version} of {code} is retired; use version {ctx.latest_version}"
                            if ctx.latest_version else f"version {ctx.version} of {code} is retired",
                            field="version"), "retired")
    if ctx.grant_id is None or ctx.grant_status != "active":
        state = {None: "has no grant for this interface; apply for it first",
                 "pending": "has applied, and the owner has not approved yet",
                 "suspended": "has a suspended grant for this interface", "revoked": "had its grant revoked",
                 "rejected": "was refused this interface"}.get(ctx.grant_status, "has no active grant")
        raise _Refused(Forbidden(f"the consumer {state}", field="grant"), "no_grant")
    if ctx.calls is not None and ctx.calls >= ctx.daily_quota:
        wait = model.seconds_to_midnight(now)
        raise _Refused(RateLimited(f"the daily quota of {ctx.daily_quota} calls is used up; it renews at 00:00 UTC",
                                   field="daily_quota", details={"retry_after": wait}), "over_quota")
    limiter = p.extras.get("ratelimiter")
    if limiter is not None:
        wait_s = limiter.hit(f"ds:{ctx.grant_id}", ctx.rate_per_minute)  # type: ignore[attr-defined]
        if wait_s is not None:
            raise _Refused(RateLimited(f"over the rate limit of {ctx.rate_per_minute} calls a minute",
                                       field="rate_per_minute", details={"retry_after": wait_s}), "rate_limited")
    reg = registry(p)
    compiled = reg.get(p.db.read_once, code, ctx.version)
    defn = compiled.defn
    try:
        values = model.validate_params(defn, raw)
        page, size = model.paging(raw, defn.limit)
    except ValidationError as exc:
        raise _Refused(exc, "invalid") from None
    rec["param_hash"] = model.fingerprint(p.settings.secret_key.encode(), code, values)
    if defn.result == "locate":
        loc = p.geo.locate(values["lon"], values["lat"])
        data: Any = {"grid_code": loc.code_at("grid"), "village_code": loc.code_at("village"),
                     "township_code": loc.code_at("township"), "district_code": loc.code_at("district"),
                     "inside": loc.inside}
        rec["rows"] = 1 if loc.inside else 0
        return dumps({"interface": code, "version": ctx.version, "data": data}), ctx.username
    stmt = reg.statement(compiled, frozenset(values))
    binds = store.bind_values(defn, values, now.date(), size + 1, (page - 1) * size)
    if defn.result in ("exists", "count"):
        n = int(p.db.read_once(lambda conn: conn.execute(stmt, binds).scalar() or 0))
        rec["rows"] = 0
        value: Any = bool(n) if defn.result == "exists" else n
        return dumps({"interface": code, "version": ctx.version, defn.result_key: value}), ctx.username
    rows = p.db.read_once(lambda conn: [dict(r) for r in conn.execute(stmt, binds).mappings()])
    more = len(rows) > size
    rows = model.mask_rows(defn, rows[:size], bool(ctx.plain_personal))
    rec["rows"] = len(rows)
    rec["_personal"] = bool(defn.personal)
    if defn.result == "one":
        return dumps({"interface": code, "version": ctx.version, "data": rows[0] if rows else None}), ctx.username
    return dumps({"interface": code, "version": ctx.version, "data": rows,
                  "page": {"number": page, "size": size, "rows": len(rows), "has_more": more}}), ctx.username
