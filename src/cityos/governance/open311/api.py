"""Open311 GeoReport v2 at /open311/v2/, in XML (required by the standard) and JSON.

Services are the categories open to the public; a request becomes a collected case
in the loop. POST needs a CityOS API key (`api_key`, in the form body or the query);
errors are the standard's bodies with 400 / 403 / 404.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import and_, func, select, true
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from cityos.core import jobs
from cityos.core.errors import CityOSError, Forbidden, NotFound, ValidationError
from cityos.geo import store as geo_store
from cityos.governance import handlers as h
from cityos.governance import store as gstore
from cityos.governance.model import LOCAL, STATES, Category
from cityos.governance.open311 import store
from cityos.governance.open311.model import (
    MAX_DESCRIPTION,
    MAX_FIELD,
    Attribute,
    attribute_from_dict,
    check_attributes,
    parse_w3c,
    to_xml,
    w3c,
)
from cityos.identity.handlers import credential_actor
from cityos.identity.model import Actor
from cityos.identity.web import client_ip, current_actor, rate_limit
from cityos.web.deps import get_platform
from cityos.web.errors import register_renderer

open311 = APIRouter(prefix="/open311/v2", tags=["open311"])
SPEC = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
CONFIG = json.loads((Path(__file__).parent.parent / "data" / "open311.json").read_text(encoding="utf-8"))
CLOSED = ("closed", "evaluated", "cancelled")
NOT_CLOSED = tuple(s for s in STATES if s not in CLOSED)  # Open311 "open" (merged ones too)
MAX_RANGE = timedelta(days=90)
MAX_RESULTS = 1000


def _fmt(name: str) -> tuple[str, str]:
    base, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        raise NotFound(f"{name!r}: add .xml or .json to the resource", field="format")
    return base, fmt


def _answer(fmt: str, root: str, item: str | None, data: Any, status: int = 200) -> Response:
    if fmt == "json":
        return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=FORMATS["json"])
    return Response(to_xml(root, item, data), status_code=status, media_type=FORMATS["xml"])


def render_error(request: Request, exc: CityOSError) -> Response:
    """The standard's error body: a list of {code, description}, in the request's format."""
    status = {401: 403, 413: 400, 409: 400, 429: 400}.get(exc.status, exc.status)
    if status not in (400, 403, 404):
        status = 500 if status >= 500 else 400
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    body = [{"code": status, "description": str(exc)}]
    return _answer(fmt, "errors", "error", body, status)


register_renderer("/open311", render_error)


def _check_jurisdiction(request: Request, params: dict[str, Any]) -> None:
    j = params.get("jurisdiction_id") or None
    expected = get_platform(request).settings.open311_jurisdiction
    if j is not None and j != expected:
        raise NotFound(f"jurisdiction_id {j!r} is not served here (this is {expected})", field="jurisdiction_id")


def _public(cat: Category) -> bool:
    return cat.public


def _service(cat: Category) -> dict[str, Any]:
    conf = CONFIG.get(cat.code, {})
    return {"service_code": cat.code, "service_name": cat.name_zh,
            "description": f"{cat.name_zh} {cat.name_en}: {cat.filing_condition}",
            "metadata": bool(conf.get("attributes")), "type": conf.get("type", "realtime"),
            "keywords": ",".join([cat.name_en, *conf.get("keywords", [])]), "group": cat.class_zh}


def _attributes(code: str) -> list[Attribute]:
    return [attribute_from_dict(a) for a in CONFIG.get(code, {}).get("attributes", [])]


@open311.get("/discovery.{fmt}", summary="Discovery")
def discovery(request: Request, fmt: str) -> Response:
    _fmt("discovery." + fmt)
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    data = {"changeset": "2026-11-25T00:00:00+08:00", "contact": "12345 政务服务便民热线 / CityOS operators",
            "key_service": str(request.base_url).rstrip("/") + "/me (API keys: cityos apikey create)",
            "endpoints": [{"specification": SPEC, "url": base, "changeset": "2026-11-25T00:00:00+08:00",
                           "type": "production", "formats": list(FORMATS.values())}]}
    if fmt == "json":
        return _answer(fmt, "discovery", None, data)
    return Response(to_xml("discovery", None, data), media_type=FORMATS["xml"])


@open311.get("/services.{fmt}", summary="Service list")
def services(request: Request, fmt: str) -> Response:
    _fmt("services." + fmt)
    _check_jurisdiction(request, dict(request.query_params))
    cats = h.catalog(get_platform(request)).get().categories.values()
    return _answer(fmt, "services", "service", [_service(c) for c in cats if _public(c)])


@open311.get("/services/{name}", summary="Service definition (attributes)")
def service_definition(request: Request, name: str) -> Response:
    code, fmt = _fmt(name)
    _check_jurisdiction(request, dict(request.query_params))
    cat = h.catalog(get_platform(request)).get().categories.get(code)
    if cat is None or not _public(cat):
        raise NotFound(f"no public service {code!r}", field="service_code")
    data = {"service_code": code, "attributes": [a.as_dict() for a in _attributes(code)]}
    return _answer(fmt, "service_definition", None, data)


async def _params(request: Request) -> dict[str, Any]:
    """Form body and query string together; empty values count as absent; lists kept for attributes."""
    out: dict[str, Any] = {}
    form = await request.form() if request.method == "POST" else {}
    for src in (request.query_params, form):
        for k in set(src.keys()):
            values = [v for v in src.getlist(k) if isinstance(v, str)]  # type: ignore[attr-defined]
            if k.startswith("attribute["):
                code = k[len("attribute["):].split("]", 1)[0]
                out.setdefault("_attributes", {}).setdefault(code, []).extend(values)
            elif values and values[0] != "":
                out[k] = values[0]
    return out


def _text(params: dict[str, Any], name: str, limit: int = MAX_FIELD) -> str | None:
    v = params.get(name)
    if v is None:
        return None
    if len(v) > limit:
        raise ValidationError(f"must be at most {limit} characters (has {len(v)})", field=name)
    return str(v)


def _place_address(conn: Connection, text: str) -> str | None:
    """The finest division whose Chinese name appears in the address (offline geocoding)."""
    d = geo_store.divisions
    q = (select(d.c.code).where(func.instr(text, d.c.name_zh) > 0) if conn.dialect.name == "sqlite"
         else select(d.c.code).where(func.strpos(text, d.c.name_zh) > 0))
    rows = conn.execute(q.order_by(func.length(d.c.code).desc(), d.c.code).limit(1)).scalars().all()
    return str(rows[0]) if rows else None


@open311.post("/requests.{fmt}", summary="Create a service request")
async def create_request(request: Request, fmt: str) -> Response:
    _fmt("requests." + fmt)
    params = await _params(request)
    # The rest reads and writes the database: off the event loop, like the native API's sync
    # endpoints, or every request of the process would wait for each one's queries in turn.
    return await run_in_threadpool(_create_request, request, fmt, params)


def _create_request(request: Request, fmt: str, params: dict[str, Any]) -> Response:
    p = get_platform(request)
    _check_jurisdiction(request, params)
    key = params.get("api_key")
    if not key:
        raise Forbidden("api_key is required to create requests", field="api_key")
    ip = client_ip(request)
    rate_limit(request, f"ip:{ip}", p.settings.rate_limit_ip_per_minute)
    try:
        actor = credential_actor(p, key, ip)
    except CityOSError:
        raise Forbidden("api_key is not valid (unknown, expired or revoked)", field="api_key") from None
    rate_limit(request, f"key:{key[:12]}", p.settings.rate_limit_key_per_minute)
    code = params.get("service_code")
    if not code:
        raise ValidationError("service_code is required", field="service_code")
    cat = h.catalog(p).get().categories.get(code)
    if cat is None or not _public(cat):
        raise NotFound(f"no public service {code!r}", field="service_code")
    attrs = check_attributes(_attributes(code), params.get("_attributes", {}))
    description = _text(params, "description", MAX_DESCRIPTION)
    lat, lon = params.get("lat"), params.get("long")
    if (lat is None) != (lon is None):
        raise ValidationError("lat and long go together", field="long" if lon is None else "lat")
    address = _text(params, "address_string")
    address_id = _text(params, "address_id", 60)
    node = None
    if lat is None:
        if address_id:
            node = address_id if address_id in p.geo.index().parent else None
            if node is None:
                raise ValidationError(f"address_id {address_id!r} is not a known division or grid code", field="address_id")
        elif address:
            with p.db.read() as conn:
                node = _place_address(conn, address)
            if node is None:
                raise ValidationError("address_string names no place of the city; send lat and long", field="address_string")
        else:
            raise ValidationError("a location is required: lat and long, address_string or address_id", field="lat")
    details = {"service_code": code, "attributes": attrs, "email": _text(params, "email", 200),
               "first_name": _text(params, "first_name", 80), "last_name": _text(params, "last_name", 80),
               "device_id": _text(params, "device_id", 200), "account_id": _text(params, "account_id", 200),
               "media_url": _text(params, "media_url", 2000), "address_id": address_id,
               "jurisdiction_id": params.get("jurisdiction_id"), "api_user": actor.username}
    case_args = {"category": code, "description": description or cat.name_zh, "lon": lon, "lat": lat,
                 "node": node, "address": address, "phone": _text(params, "phone", 20),
                 "name": " ".join(x for x in (details["first_name"], details["last_name"]) if x) or None}
    now = p.clock.now()
    if CONFIG.get(code, {}).get("type") == "batch":
        _precheck(p, case_args)
        token = secrets.token_hex(12)
        with p.db.begin() as conn:
            rid = store.insert_request(conn, {**details, "token": token, "pending": case_args, "created_at": now})
            jobs.enqueue(conn, "open311.file_batch", {"request_id": rid}, run_at=now, now=now,
                         dedupe_key=f"open311:{rid}")
        return _answer(fmt, "service_requests", "request", [{"token": token}])
    result = _file(p, actor, case_args, details, now)
    notice = f"已受理，处置时限至 {result['deadline'][:16]}" if result.get("deadline") else "已受理，等待立案"
    return _answer(fmt, "service_requests", "request",
                   [{"service_request_id": result["number"], "service_notice": notice,
                     "account_id": details["account_id"]}])


def _precheck(p: Any, args: dict[str, Any]) -> None:
    """Check the location now, so a batch request that could never be filed is refused at once."""
    if args["lat"] is not None:
        loc = p.geo.locate(args["lon"], args["lat"])
        if not loc.inside:
            raise ValidationError("the point lies outside the city", field="lat")


def _file(p: Any, actor: Actor, args: dict[str, Any], details: dict[str, Any], now: Any,
          request_id: int | None = None) -> dict[str, Any]:
    def keep(conn: Connection, case_id: int) -> None:
        if request_id is None:
            store.insert_request(conn, {**details, "case_id": case_id, "created_at": now})
        else:
            store.set_case(conn, request_id, case_id)

    return dict(h.report_case(p, h.ReportCase(
        actor=actor, category=args["category"], description=args["description"], lon=args["lon"], lat=args["lat"],
        node=args["node"], address=args["address"], source="public", reporter_name=args["name"],
        reporter_phone=args["phone"], on_created=keep,
        idempotency_key=f"open311:{request_id}" if request_id is not None else None)))


def file_batch(p: Any, payload: dict[str, Any]) -> None:
    """Job: file a batch request as a case; its token then resolves (idempotent)."""
    from cityos.identity.handlers import load_actor
    from cityos.identity.store import user_by_name

    with p.db.read() as conn:
        row = store.by_id(conn, int(payload["request_id"]))
        user = user_by_name(conn, row["api_user"]) if row else None
        actor = load_actor(conn, user, "api_key", None) if user else None
    if row is None or row["case_id"] is not None or actor is None:
        return
    _file(p, actor, row["pending"], {}, p.clock.now(), request_id=row["id"])


@open311.get("/tokens/{name}", summary="Service request id from a token")
def token(request: Request, name: str) -> Response:
    tok, fmt = _fmt(name)
    _check_jurisdiction(request, dict(request.query_params))
    p = get_platform(request)
    with p.db.read() as conn:
        row = store.by_token(conn, tok)
        number = None
        if row and row["case_id"]:
            c = gstore.get_case(conn, row["case_id"])
            number = c["number"] if c else None
    if row is None:
        raise NotFound(f"no token {tok!r}", field="token")
    return _answer(fmt, "service_requests", "request", [{"service_request_id": number, "token": tok}])


def _request_out(p: Any, conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    cats = h.catalog(p).get().categories
    notes = store.last_notes(conn, [r.id for r in rows])
    masters = store.master_states(conn, [r.master_id for r in rows if r.master_id])
    out = []
    for r in rows:
        state, updated = r.state, r.updated_at
        if r.master_id and r.master_id in masters:  # merged: the master's outcome is this request's
            state, updated = masters[r.master_id]
        cat = cats.get(r.category_code)
        out.append({
            "service_request_id": r.number, "status": "closed" if state in CLOSED else "open",
            "status_notes": notes.get(r.id), "service_name": cat.name_zh if cat else r.category_code,
            "service_code": r.category_code, "description": r.description,
            "agency_responsible": r.unit_name or r.handler_unit, "service_notice": None,
            "requested_datetime": w3c(r.created_at, LOCAL), "updated_datetime": w3c(updated, LOCAL),
            "expected_datetime": w3c(r.deadline, LOCAL), "address": r.address, "address_id": r.address_id,
            "zipcode": None, "lat": r.lat, "long": r.lon, "media_url": r.media_url,
        })
    return out


def _serial_reads(p: Any, conn: Any) -> None:
    """No parallel workers for this read transaction (PostgreSQL): on a few shared cores a
    Gather of an index range of 1,000 rows added latency and spread, not speed."""
    if p.db.is_postgres:
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


@open311.get("/requests.{fmt}", summary="Service requests")
def list_requests(request: Request, fmt: str) -> Response:
    _fmt("requests." + fmt)
    q = {k: v for k, v in request.query_params.items() if v != ""}
    _check_jurisdiction(request, q)
    p = get_platform(request)
    c = gstore.cases
    where: Any = true()
    if "service_request_id" in q:
        ids = [x.strip() for x in q["service_request_id"].split(",") if x.strip()]
        where = c.c.number.in_(ids[:MAX_RESULTS])
    else:
        now = p.clock.now()
        end = parse_w3c(q["end_date"], "end_date") if "end_date" in q else now
        start = parse_w3c(q["start_date"], "start_date") if "start_date" in q else end - MAX_RANGE
        if "start_date" in q and "end_date" not in q:
            end = min(now, start + MAX_RANGE)
        if end < start:
            raise ValidationError("end_date is before start_date", field="end_date")
        if end - start > MAX_RANGE:
            raise ValidationError("the date range may span at most 90 days", field="start_date")
        where = and_(c.c.created_at >= start, c.c.created_at <= end)
        codes = [s.strip() for s in q["service_code"].split(",")] if "service_code" in q else None
        states: tuple[str, ...] | None = None
        if "status" in q:
            wanted = {s.strip() for s in q["status"].split(",")}
            if not wanted <= {"open", "closed"}:
                raise ValidationError("status must be open, closed or both", field="status")
            if wanted == {"closed"}:
                states = CLOSED
            elif wanted == {"open"}:
                states = NOT_CLOSED
        if codes is not None and states is None and p.db.is_postgres:
            states = STATES  # each (code, state) is an exact range of the composite index, see newest_ids
        if codes is not None or states is not None:
            with p.db.read() as conn:
                _serial_reads(p, conn)
                # The newest cases of each (code, state) apart, then the newest of those: an ordered
                # scan of the window walks past every case of other codes or states (open ones are
                # rare months ago, closed ones in the last weeks) to find 1,000 that match.
                newest = store.newest_ids(conn, where, codes, states, MAX_RESULTS)
                rows = store.requests(conn, c.c.id.in_(newest), MAX_RESULTS) if newest else []
                data = _request_out(p, conn, rows)
            return _answer(fmt, "service_requests", "request", data)
    with p.db.read() as conn:
        _serial_reads(p, conn)
        rows = store.requests(conn, where, MAX_RESULTS)
        data = _request_out(p, conn, rows)
    return _answer(fmt, "service_requests", "request", data)


@open311.get("/requests/{name}", summary="One service request")
def one_request(request: Request, name: str) -> Response:
    number, fmt = _fmt(name)
    _check_jurisdiction(request, dict(request.query_params))
    p = get_platform(request)
    with p.db.read() as conn:
        rows = store.requests(conn, gstore.cases.c.number == number, 1)
        data = _request_out(p, conn, rows)
    if not data:
        raise NotFound(f"no service request {number!r}", field="service_request_id")
    return _answer(fmt, "service_requests", "request", data)


# --- duplicates: same category, near in space and time (native API) ---------------------------

DUP_METRES = 100.0
DUP_HOURS = 72


dup_router = APIRouter(prefix="/api/v1", tags=["cases"])


@dup_router.get("/cases/{case_id}/duplicates", summary="Likely duplicates of a case (same category, near, recent)")
def duplicates(request: Request, case_id: int, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    p = get_platform(request)
    c = gstore.cases
    with p.db.read() as conn:
        case = gstore.get_case(conn, case_id)
        if case is None or not actor.can("case.read", case["node"]):
            raise NotFound(f"no case {case_id} in your scope", field="case_id")
        if case["lat"] is None:
            return {"case_id": case_id, "duplicates": []}
        dlat = DUP_METRES / 111_320
        import math

        dlon = dlat / max(0.1, math.cos(math.radians(case["lat"])))
        window = timedelta(hours=DUP_HOURS)
        rows = conn.execute(select(c.c.id, c.c.number, c.c.lat, c.c.lon, c.c.created_at, c.c.state).where(
            c.c.id != case_id, c.c.category_code == case["category_code"], c.c.state.not_in(("cancelled", "merged")),
            c.c.lat.between(case["lat"] - dlat, case["lat"] + dlat), c.c.lon.between(case["lon"] - dlon, case["lon"] + dlon),
            c.c.created_at.between(case["created_at"] - window, case["created_at"] + window))).mappings().all()
    out = []
    for r in rows:
        metres = math.hypot((r["lat"] - case["lat"]) * 111_320,
                            (r["lon"] - case["lon"]) * 111_320 * math.cos(math.radians(case["lat"])))
        hours = abs((r["created_at"] - case["created_at"]).total_seconds()) / 3600
        if metres <= DUP_METRES:
            score = round(1 - 0.5 * metres / DUP_METRES - 0.5 * hours / DUP_HOURS, 3)
            out.append({"id": r["id"], "number": r["number"], "state": r["state"], "metres": round(metres, 1),
                        "hours": round(hours, 1), "score": score})
    out.sort(key=lambda d: -d["score"])
    return {"case_id": case_id, "duplicates": out}

# The one router the app includes: the Open311 door and the native duplicates endpoint.
router = APIRouter()
router.include_router(open311)
router.include_router(dup_router)
