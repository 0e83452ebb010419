"""OpenAPI 3.1 for the published interfaces, generated from their definitions (no IO)."""

from __future__ import annotations

from typing import Any

from cityos import __version__
from cityos.data.services.model import Definition

_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"}, "number": {"type": "number"},
          "date": {"type": "string", "format": "date"}}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _param(p: Any) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_TYPES[p.type])
    if p.pattern:
        schema["pattern"] = p.pattern
    if p.enum:
        schema["enum"] = list(p.enum)
    if p.type == "string":
        schema["maxLength"] = p.max_length
    out: dict[str, Any] = {"name": p.name, "in": "query", "required": p.required, "schema": schema,
                           "description": p.description}
    if p.example is not None:
        out["example"] = p.example
    return out


def _result_schema(d: Definition) -> dict[str, Any]:
    head = {"interface": {"type": "string", "const": d.code}, "version": {"type": "integer"}}
    if d.result in ("exists", "count"):
        return {"type": "object", "properties": {**head, d.result_key: {"type": "boolean" if d.result == "exists"
                                                                          else "integer"}}}
    row = {"type": "object", "properties": {o.field: {"description": (o.label + " " if o.label else "")
                                                      + f"({o.sensitivity}"
                                                      + (f", masked as {o.mask} unless the grant allows it plain"
                                                         if o.sensitivity == "personal" else "") + ")"}
                                            for o in d.output}}
    if d.result in ("one", "locate"):
        return {"type": "object", "properties": {**head, "data": {"anyOf": [row, {"type": "null"}]}}}
    page = {"type": "object", "properties": {"number": {"type": "integer"}, "size": {"type": "integer"},
                                             "rows": {"type": "integer"}, "has_more": {"type": "boolean"}}}
    return {"type": "object", "properties": {**head, "data": {"type": "array", "items": row,
                                                              "maxItems": d.limit}, "page": page}}


def document(defs: list[Definition], base: str) -> dict[str, Any]:
    """One path per interface (its latest published version documented; older live versions listed)."""
    by_code: dict[str, list[Definition]] = {}
    for d in defs:
        by_code.setdefault(d.code, []).append(d)
    paths: dict[str, Any] = {}
    for code, versions in sorted(by_code.items()):
        versions.sort(key=lambda d: d.version)
        d = versions[-1]
        params = [_param(p) for p in d.params]
        params.append({"name": "version", "in": "query", "required": False,
                       "schema": {"type": "integer", "enum": [v.version for v in versions]},
                       "description": "a published version (default: the latest)"})
        if d.result == "rows":
            params += [{"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                       {"name": "page_size", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": d.limit}}]
        errors = {str(s): {"description": why, "content": {"application/json": {"schema": _ERROR}}} for s, why in (
            (400, "a parameter is missing or malformed (the field is named)"),
            (401, "no, unknown, expired or revoked credential"),
            (403, "the consumer holds no active grant for this interface"),
            (404, "unknown interface or version"), (410, "the version is retired"),
            (429, "over the daily quota or the rate limit (see Retry-After)"))}
        paths[f"/ds/v1/{code}"] = {"get": {
            "operationId": code.replace(".", "_"), "summary": f"{d.name} — {d.name_en}",
            "description": f"{d.description}\n\nOwner: {d.owner}. Sharing: {d.sharing}. Datasets: "
                           f"{', '.join(d.datasets)}. Row cap: {d.limit}. Versions: "
                           f"{', '.join(str(v.version) for v in versions)}.",
            "tags": [d.owner], "parameters": params,
            "x-sharing": d.sharing, "x-owner": d.owner,
            "responses": {"200": {"description": "the answer",
                                  "content": {"application/json": {"schema": _result_schema(d)}}}, **errors}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityOS data service interfaces (数据服务接口)", "version": __version__,
                 "description": "Approved, metered and audited access to the base databases. Get credentials by "
                                "applying for interfaces; send the API key as X-API-Key or a bearer token."},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": f"{base}/ds/v1/token",
                                                                             "scopes": {"ds.call": "call interfaces"}}}},
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                "details": {}}}}}},
        },
        "security": [{"apiKey": []}, {"oauth2": ["ds.call"]}],
    }
