"""The catalog's doors: the CKAN Action API (`/api/3/action/`, `/api/action/`), the
DCAT-AP export, and native endpoints for refreshes and imports."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from cityos import __version__
from cityos.core.errors import CityOSError, NotFound, ValidationError
from cityos.data import catalog, datastore
from cityos.data.handlers import RefreshSubject, SavePackage, ckan_actor
from cityos.data.model import parse_fq
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform
from cityos.web.errors import register_renderer

router = APIRouter()
MAX_ROWS = 1000

CKAN_ERRORS = {404: ("Not Found Error", 404), 403: ("Authorization Error", 403), 401: ("Authorization Error", 403),
               409: ("Validation Error", 409), 400: ("Validation Error", 409), 413: ("Validation Error", 409),
               429: ("Authorization Error", 429)}


def _help(request: Request) -> str:
    action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{request.base_url}api/3/action/help_show?name={action}"


def ckan_error(request: Request, exc: CityOSError) -> Response:
    etype, status = CKAN_ERRORS.get(exc.status, ("Internal Server Error", exc.status))
    if exc.status == 400 and exc.code == "bad_request":
        etype, status = "Bad Request", 400
    error: dict[str, Any] = {"__type": etype, "message": f"{etype}: {exc.message}"}
    if etype == "Validation Error":
        error[exc.field or "message"] = [exc.message]
        if isinstance(exc.details, list):
            for d in exc.details:
                if isinstance(d, dict) and "field" in d:
                    error.setdefault(str(d["field"]), [str(d.get("reason"))])
    return JSONResponse({"help": _help(request), "success": False, "error": error}, status_code=status)


register_renderer("/api/3/action", ckan_error)
register_renderer("/api/action", ckan_error)


class BadRequest(CityOSError):
    status = 400
    code = "bad_request"


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for k in request.query_params:
        vals = request.query_params.getlist(k)
        params[k] = vals if len(vals) > 1 else vals[0]
    if request.method == "POST":
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        if body and "form" in ctype:
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        elif body:
            try:
                data = json.loads(body)
            except ValueError:
                raise BadRequest("Bad request - JSON Error: could not read the request body") from None
            if not isinstance(data, dict):
                raise BadRequest("Bad request - JSON Error: the body must be a JSON object")
            params.update(data)
    for k in ("filters", "fields", "facet.field", "q", "resources", "tags", "groups", "extras"):
        v = params.get(k)
        if isinstance(v, str) and v[:1] in ("{", "["):
            try:
                params[k] = json.loads(v)
            except ValueError:
                raise ValidationError("is not valid JSON", field=k) from None
    return params


def _int(params: dict[str, Any], key: str, default: int, lo: int = 0, hi: int | None = None) -> int:
    v = params.get(key, default)
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise ValidationError(f"Invalid integer: {v!r}", field=key) from None
    if n < lo:
        raise ValidationError(f"Must be a natural number (at least {lo})", field=key)
    return min(n, hi) if hi is not None else n


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# --- actions ------------------------------------------------------------------------

def status_show(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    return {"ckan_version": "2.10.4", "site_title": "CityOS 数据目录", "site_url": _base(request),
            "site_description": "CityOS public data catalog (CKAN Action API)", "locale_default": "zh_Hans_CN",
            "extensions": ["datastore", "dcat"], "cityos_version": __version__}


def package_list(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    p = get_platform(request)
    with p.db.read() as conn:
        return catalog.dataset_names(conn, _int(params, "limit", 100_000, 0), _int(params, "offset", 0))


def package_show(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    key = params.get("id") or params.get("name")
    if not key:
        raise ValidationError("Missing value", field="id")
    p = get_platform(request)
    with p.db.read() as conn:
        row = catalog.get(conn, str(key))
        if row is None:
            raise NotFound("Dataset not found", field="id")
        from cityos.data.subjects import lineage

        return {**catalog.package_dicts(conn, [row], _base(request))[0], "lineage": lineage(conn, row["name"]),
                "query": row["query"]}


def _sort_spec(v: Any) -> list[tuple[str, bool]]:
    out = []
    for part in str(v or "").split(","):
        bits = part.strip().split()
        if not bits:
            continue
        if bits[0] not in catalog.SORTABLE or (len(bits) > 1 and bits[1] not in ("asc", "desc")):
            raise ValidationError(f"cannot sort by {part.strip()!r}; sort by {', '.join(catalog.SORTABLE)} "
                                  "with asc or desc", field="sort")
        out.append((bits[0], len(bits) > 1 and bits[1] == "desc"))
    return out


def package_search(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    p = get_platform(request)
    rows = _int(params, "rows", 10, 0, MAX_ROWS)
    start = _int(params, "start", 0)
    try:
        fq = parse_fq(str(params.get("fq") or ""))
    except ValueError as exc:
        raise ValidationError(str(exc), field="fq") from None
    for f, _v, _n in fq:
        if f not in catalog.FACETABLE:
            raise ValidationError(f"cannot filter on {f!r}; fields: {', '.join(catalog.FACETABLE)}", field="fq")
    facet_fields = params.get("facet.field") or []
    if isinstance(facet_fields, str):
        facet_fields = [facet_fields]
    for f in facet_fields:
        if f not in catalog.FACETABLE:
            raise ValidationError(f"cannot facet on {f!r}; fields: {', '.join(catalog.FACETABLE)}", field="facet.field")
    if str(params.get("facet", "true")).lower() == "false":
        facet_fields = []
    facet_limit = _int(params, "facet.limit", 50, -1)
    sort = _sort_spec(params.get("sort"))
    with p.db.read() as conn:
        total, found, facets = catalog.search(conn, str(params.get("q") or ""), fq, rows, start, sort, facet_fields,
                                              facet_limit if facet_limit >= 0 else 10**9)
        known = catalog.orgs_and_groups(conn)
        results = catalog.package_dicts(conn, found, _base(request), known)
        titles = {**{k: v["title"] for k, v in known[0].items()}, **{k: v["title"] for k, v in known[1].items()}}
    search_facets = {f: {"title": f, "items": [{"name": k, "display_name": titles.get(k, k), "count": n}
                                               for k, n in counts.items()]} for f, counts in facets.items()}
    return {"count": total, "results": results, "sort": params.get("sort") or "metadata_modified desc",
            "facets": facets, "search_facets": search_facets}


def _org_dict(o: dict[str, Any], count: int, is_org: bool) -> dict[str, Any]:
    return {"id": o["name"], "name": o["name"], "title": o["title"], "display_name": o["title"],
            "title_en": o["title_en"], "description": o["description"], "package_count": count,
            "type": "organization" if is_org else "group", "is_organization": is_org, "state": "active",
            "created": o["created_at"].replace(tzinfo=None).isoformat() if o["created_at"] else None}


def _listing(request: Request, params: dict[str, Any], is_org: bool) -> Any:
    p = get_platform(request)
    with p.db.read() as conn:
        items = catalog.orgs(conn) if is_org else catalog.groups(conn)
        counts = catalog.count_by_org(conn) if is_org else catalog.count_by_group(conn)
    names = sorted(items)
    if str(params.get("all_fields", "false")).lower() == "true":
        return [_org_dict(items[n], counts.get(n, 0), is_org) for n in names]
    return names


def _show(request: Request, params: dict[str, Any], is_org: bool) -> Any:
    key = params.get("id") or params.get("name")
    if not key:
        raise ValidationError("Missing value", field="id")
    p = get_platform(request)
    with p.db.read() as conn:
        items = catalog.orgs(conn) if is_org else catalog.groups(conn)
        if key not in items:
            raise NotFound(f"{'Organization' if is_org else 'Group'} not found", field="id")
        counts = catalog.count_by_org(conn) if is_org else catalog.count_by_group(conn)
        out = _org_dict(items[str(key)], counts.get(str(key), 0), is_org)
        if str(params.get("include_datasets", "false")).lower() == "true":
            rows = catalog.datasets_in(conn, org=str(key)) if is_org else catalog.datasets_in(conn, group=str(key))
            out["packages"] = catalog.package_dicts(conn, rows, _base(request))
    return out


def resource_show(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    rid = params.get("id")
    if not rid:
        raise ValidationError("Missing value", field="id")
    p = get_platform(request)
    with p.db.read() as conn:
        r = catalog.resource(conn, str(rid))
        if r is None:
            raise NotFound("Resource was not found.", field="id")
        ds = catalog.get(conn, r["dataset"])
    assert ds is not None
    return catalog.resource_dict(r, ds["id"], _base(request))


def datastore_search(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    return datastore.search(get_platform(request), actor, params, _base(request))


def datastore_search_sql(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    return datastore.search_sql(get_platform(request), actor, str(params.get("sql") or ""))


def package_create(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    out = get_platform(request).bus.handle(SavePackage(actor, params, create=True))
    return out


def package_patch(request: Request, params: dict[str, Any], actor: Actor) -> Any:
    return get_platform(request).bus.handle(SavePackage(actor, params, create=False))


ACTIONS = {
    "status_show": status_show, "package_list": package_list, "package_show": package_show,
    "package_search": package_search,
    "organization_list": lambda r, p, a: _listing(r, p, True), "organization_show": lambda r, p, a: _show(r, p, True),
    "group_list": lambda r, p, a: _listing(r, p, False), "group_show": lambda r, p, a: _show(r, p, False),
    "resource_show": resource_show, "datastore_search": datastore_search,
    "datastore_search_sql": datastore_search_sql, "package_create": package_create, "package_patch": package_patch,
}
WRITES = {"package_create", "package_patch"}


CKAN_SUMMARY = "CKAN Action API: status_show, package_*, organization_*, group_*, resource_show, datastore_*"


@router.get("/api/3/action/{action}", tags=["CKAN Action API"], summary=CKAN_SUMMARY, operation_id="ckan_action_get")
@router.post("/api/3/action/{action}", tags=["CKAN Action API"], summary=CKAN_SUMMARY, operation_id="ckan_action_post")
@router.api_route("/api/action/{action}", methods=["GET", "POST"], include_in_schema=False)
async def ckan_action(action: str, request: Request) -> Response:
    fn = ACTIONS.get(action)
    if fn is None:
        raise NotFound(f"Action name not known: {action}", field="action")
    if action in WRITES and request.method != "POST":
        raise BadRequest(f"Bad request - {action} must be called with POST")
    params = await _params(request)
    p = get_platform(request)
    from starlette.concurrency import run_in_threadpool

    def call() -> Any:
        actor = ckan_actor(p, request)
        return fn(request, params, actor)

    result = await run_in_threadpool(call)
    return JSONResponse({"help": _help(request), "success": True, "result": result})


# --- DCAT-AP -----------------------------------------------------------------------------

@router.get("/catalog.jsonld", tags=["data"], summary="The whole catalog as DCAT-AP (JSON-LD)")
def dcat_jsonld(request: Request) -> Response:
    from cityos.data.dcat import export

    return Response(export(get_platform(request), _base(request), "json-ld"), media_type="application/ld+json")


@router.get("/catalog.ttl", tags=["data"], summary="The whole catalog as DCAT-AP (Turtle)")
def dcat_turtle(request: Request) -> Response:
    from cityos.data.dcat import export

    return Response(export(get_platform(request), _base(request), "turtle"), media_type="text/turtle")


# --- native -------------------------------------------------------------------------------

@router.post("/api/v1/data/subjects/refresh", tags=["data"], summary="Refresh subject databases now")
def refresh_now(request: Request, name: str | None = None, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return {"refreshed": get_platform(request).bus.handle(RefreshSubject(actor, name))}


@router.get("/api/v1/data/imports", tags=["data"], summary="Recent imports with their progress and rejects")
def imports(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    from cityos.data.importer import recent

    actor.require("data.import")
    return {"imports": recent(get_platform(request), 50)}
