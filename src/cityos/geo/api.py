"""HTTP: OGC API - Features at /ogc/ and the native locate endpoint."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cityos.core.errors import NotFound, ValidationError
from cityos.geo.ogc import COLLECTIONS, CONFORMANCE, CRS84, Box, Collection
from cityos.web.deps import get_platform

router = APIRouter()
GEOJSON = "application/geo+json"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
ITEM_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "datetime", "f"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: Any, media_type: str = "application/json") -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


def parse_bbox(raw: str | None) -> Box | None:
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise ValidationError(f"must have 4 or 6 numbers (minx,miny,maxx,maxy), got {len(parts)}", field="bbox")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise ValidationError("must be comma-separated numbers", field="bbox") from None
    if any(math.isnan(n) or math.isinf(n) for n in nums):
        raise ValidationError("must be finite numbers", field="bbox")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise ValidationError("coordinates must be in CRS84 range (lon -180..180, lat -90..90)", field="bbox")
    if miny > maxy:
        raise ValidationError("the lower latitude must not exceed the upper one", field="bbox")
    if minx > maxx:
        raise ValidationError("boxes crossing the antimeridian are not supported here", field="bbox")
    return minx, miny, maxx, maxy


def _int_param(raw: str | None, name: str, default: int, minimum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ValidationError(f"must be an integer, got {raw!r}", field=name) from None
    if v < minimum:
        raise ValidationError(f"must be at least {minimum}", field=name)
    return v


def _collection(cid: str) -> Collection:
    c = COLLECTIONS.get(cid)
    if c is None:
        raise NotFound(f"no collection {cid!r}; see /ogc/collections", field="collectionId")
    return c


def _collection_doc(request: Request, c: Collection, conn: Any) -> dict[str, Any]:
    base = _base(request)
    ext = c.extent(conn)
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(ext)] if ext else [[-180, -90, 180, 90]], "crs": CRS84}},
        "links": [
            {"href": f"{base}/collections/{c.id}", "rel": "self", "type": "application/json", "title": c.title},
            {"href": f"{base}/collections/{c.id}/items", "rel": "items", "type": GEOJSON, "title": "Items"},
        ],
    }


@router.get("/ogc", include_in_schema=False)
@router.get("/ogc/", summary="OGC API - Features landing page", tags=["ogc"])
def landing(request: Request) -> JSONResponse:
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return _json({
        "title": "CityOS divisions and grids",
        "description": "Administrative divisions, grids and other spatial features of the city (OGC API - Features).",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "This document"},
            {"href": f"{root}/openapi.json", "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
             "title": "The API definition"},
            {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html", "title": "The API documentation"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "Conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "Collections"},
        ],
    })


@router.get("/ogc/conformance", summary="Conformance classes", tags=["ogc"])
def conformance() -> JSONResponse:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/ogc/collections", summary="Feature collections", tags=["ogc"])
def collections(request: Request) -> JSONResponse:
    p = get_platform(request)
    with p.db.read() as conn:
        docs = [_collection_doc(request, c, conn) for c in COLLECTIONS.values()]
    base = _base(request)
    return _json({
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json", "title": "Collections"}],
        "collections": docs,
    })


@router.get("/ogc/collections/{collection_id}", summary="One feature collection", tags=["ogc"])
def collection(request: Request, collection_id: str) -> JSONResponse:
    c = _collection(collection_id)
    with get_platform(request).db.read() as conn:
        return _json(_collection_doc(request, c, conn))


@router.get("/ogc/collections/{collection_id}/items", summary="Features of a collection", tags=["ogc"],
            response_class=JSONResponse)
def items(request: Request, collection_id: str, limit: str | None = None, offset: str | None = None,
          bbox: str | None = None) -> JSONResponse:
    c = _collection(collection_id)
    q = request.query_params
    unknown = [k for k in q if k not in ITEM_PARAMS and k not in c.queryables]
    if unknown:
        raise ValidationError(f"unknown query parameter(s): {', '.join(sorted(unknown))}; allowed: "
                              f"{', '.join(sorted(ITEM_PARAMS | set(c.queryables)))}", field=unknown[0])
    if q.get("bbox-crs") not in (None, "", CRS84):
        raise ValidationError(f"only {CRS84} is supported", field="bbox-crs")
    n = min(_int_param(limit, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    start = _int_param(offset, "offset", 0, 0)
    box = parse_bbox(bbox)
    filters = {k: q[k] for k in c.queryables if q.get(k)}
    p = get_platform(request)
    index = p.geo.index()
    with p.db.read() as conn:
        feats, matched = c.items(conn, index, box, filters, n, start)
    base = f"{_base(request)}/collections/{c.id}/items"
    keep = {k: v for k, v in q.items() if k not in ("offset", "limit")}

    def link(rel: str, off: int) -> dict[str, str]:
        from urllib.parse import urlencode

        return {"href": f"{base}?{urlencode({**keep, 'limit': n, 'offset': off})}", "rel": rel, "type": GEOJSON,
                "title": rel}

    links = [link("self", start)]
    if start + len(feats) < matched:
        links.append(link("next", start + n))
    if start > 0:
        links.append(link("prev", max(0, start - n)))
    return _json({
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }, GEOJSON)


@router.get("/ogc/collections/{collection_id}/queryables", summary="Properties usable as filters", tags=["ogc"])
def queryables(request: Request, collection_id: str) -> JSONResponse:
    c = _collection(collection_id)
    return _json({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{_base(request)}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": {q: {"type": "string", "title": q} for q in c.queryables},
    }, "application/schema+json")


@router.get("/ogc/collections/{collection_id}/items/{feature_id}", summary="One feature", tags=["ogc"])
def item(request: Request, collection_id: str, feature_id: str) -> JSONResponse:
    c = _collection(collection_id)
    with get_platform(request).db.read() as conn:
        feat = c.item(conn, feature_id)
    if feat is None:
        raise NotFound(f"no feature {feature_id!r} in {collection_id}", field="featureId")
    base = f"{_base(request)}/collections/{c.id}"
    feat["links"] = [
        {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON, "title": "This feature"},
        {"href": base, "rel": "collection", "type": "application/json", "title": c.title},
    ]
    return _json(feat, GEOJSON)


@router.get("/api/v1/geo/locate", summary="Which divisions a point lies in", tags=["geo"])
def locate(request: Request, lon: str, lat: str) -> dict[str, Any]:
    loc = get_platform(request).geo.locate(lon, lat)
    return loc.as_dict()
