"""Pages: catalog search with facets, a dataset's page, imports with progress and rejects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityos.core.errors import CityOSError, NotFound
from cityos.data import catalog, datastore
from cityos.data.importer import recent, rejects_of
from cityos.data.model import parse_fq
from cityos.data.subjects import lineage
from cityos.identity.web import resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(400, "/data", "nav.data")
FACETS = ["organization", "groups", "tags", "sharing_type", "open_type"]


@router.get("/data")
def catalog_page(request: Request, q: str = "", fq: str = "", page: int = 1) -> Response:
    p = get_platform(request)
    try:
        terms = parse_fq(fq)
    except ValueError:
        terms = []
    terms = [t for t in terms if t[0] in catalog.FACETABLE]
    rows = 20
    with p.db.read() as conn:
        total, found, facets = catalog.search(conn, q, terms, rows, max(0, page - 1) * rows, [], FACETS, 12)
        pkgs = catalog.package_dicts(conn, found, str(request.base_url).rstrip("/"))
        titles = {**{k: v["title"] for k, v in catalog.orgs(conn).items()},
                  **{k: v["title"] for k, v in catalog.groups(conn).items()}}
    active = {f"{f}:{v}" for f, v, _n in terms}

    def toggle(field: str, value: str) -> str:
        term = f'{field}:"{value}"' if " " in value else f"{field}:{value}"
        kept = [f'{f}:"{v}"' if " " in v else f"{f}:{v}" for f, v, _n in terms if (f, v) != (field, value)]
        if f"{field}:{value}" not in active:
            kept.append(term)
        return " ".join(kept)

    return render(request, "data/catalog.html", q=q, fq=fq, total=total, pkgs=pkgs, facets=facets, titles=titles,
                  active=active, toggle=toggle, page=page, pages=(total + rows - 1) // rows)


@router.get("/data/dataset/{name}")
def dataset_page(request: Request, name: str) -> Response:
    p = get_platform(request)
    base = str(request.base_url).rstrip("/")
    with p.db.read() as conn:
        row = catalog.get(conn, name)
        if row is None:
            raise NotFound(f"no dataset {name!r}", field="name")
        pkg = catalog.package_dicts(conn, [row], base)[0]
        lin = lineage(conn, name)
    samples: dict[str, Any] = {}
    denied = False
    actor = resolve_actor(request)
    for r in pkg["resources"]:
        if not r["datastore_active"]:
            continue
        try:
            samples[r["id"]] = datastore.search(p, actor, {"resource_id": r["id"], "limit": 5}, base)
        except CityOSError:
            denied = True
    return render(request, "data/dataset.html", pkg=pkg, lineage=lin, samples=samples, denied=denied, base=base,
                  query=row["query"])


@router.get("/data/imports")
def imports_page(request: Request) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse("/login?next=/data/imports", status_code=303)
    actor.require("data.import")
    p = get_platform(request)
    items = recent(p, 50)
    partial = request.headers.get("hx-request") == "true"
    return render(request, "data/imports_table.html" if partial else "data/imports.html", items=items)


@router.get("/data/imports/{import_id}")
def import_page(request: Request, import_id: int) -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        return RedirectResponse(f"/login?next=/data/imports/{import_id}", status_code=303)
    actor.require("data.import")
    p = get_platform(request)
    item = next((i for i in recent(p, 1000) if i["id"] == import_id), None)
    if item is None:
        raise NotFound(f"no import #{import_id}", field="import_id")
    return render(request, "data/import.html", item=item, rejects=rejects_of(item["reject_file"] or "", 500))
