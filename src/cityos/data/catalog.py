"""The catalog: datasets, their resources, organisations (owner departments) and
groups; its queries and the CKAN shapes of its records."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, not_, or_, select, union_all, update
from sqlalchemy.engine import Connection

from cityos.data import store as s
from cityos.data.model import BASE_DATASETS, DatasetMeta, DatasetSpec

ORGS = [
    ("public_security", "公安局", "Public Security Bureau"),
    ("market_regulation", "市场监督管理局", "Market Regulation Administration"),
    ("planning", "规划和自然资源局", "Planning and Natural Resources Bureau"),
    ("big_data", "大数据发展局", "Big Data Development Bureau"),
    ("civil_affairs", "民政局", "Civil Affairs Bureau"),
    ("emergency", "应急管理局", "Emergency Management Bureau"),
    ("development_reform", "发展和改革委员会", "Development and Reform Commission"),
]
GROUPS = [("base", "五大基础库", "Base databases"), ("subject", "主题库", "Subject databases"),
          ("department", "部门库", "Departments' own datasets")]

# (name, title zh, title en, owner, resources as (resource id = table, spec), tags, sharing, open, frequency, level)
BASE = [
    ("population", "人口基础库", "Population base database", "public_security", [("residents", "population")],
     ["人口", "population", "户籍"], "conditional", "not_open", "daily", "L3"),
    ("legal-entities", "法人基础库", "Legal entities base database", "market_regulation",
     [("legal_entities", "legal_entities")], ["法人", "enterprise", "统一社会信用代码"], "unconditional", "conditional_open",
     "daily", "L2"),
    ("spatial-geography", "自然资源和空间地理基础库", "Natural resources and spatial geography base database",
     "planning", [("buildings", "buildings"), ("pois", "pois")], ["空间地理", "geography", "建筑"], "unconditional", "open",
     "monthly", "L1"),
    ("e-licences", "电子证照基础库", "E-licences base database", "big_data", [("licences", "licences")],
     ["电子证照", "licence"], "conditional", "not_open", "realtime", "L3"),
    ("social-credit", "社会信用基础库", "Social credit base database", "development_reform",
     [("credit_records", "credit")], ["信用", "credit"], "conditional", "conditional_open", "daily", "L2"),
]
SUBJECT_OWNERS = {"elderly-living-alone": "civil_affairs", "enterprises-by-industry-grid": "market_regulation",
                  "licences-expiring-30d": "big_data", "residents-in-risk-areas": "emergency"}


def spec_fields(spec: DatasetSpec) -> list[dict[str, Any]]:
    out = []
    for f in spec.fields:
        d = f.as_ckan()
        if f.mask:
            d["info"]["mask"] = f.mask
        out.append(d)
    return out


def table_fields(table: Any, personal: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for c in table.columns:
        tname = type(c.type).__name__.lower()
        ftype = "int" if "int" in tname else ("numeric" if "float" in tname else ("date" if tname == "date" else "text"))
        info: dict[str, Any] = {"label": c.name, "label_en": c.name, "notes": "",
                                "sensitivity": "personal" if c.name in personal else "internal"}
        if c.name in personal:
            info["mask"] = personal[c.name]
        out.append({"id": c.name, "type": ftype, "info": info})
    return out


def _search_text(meta: DatasetMeta, org_title: str) -> str:
    return " ".join([meta.name, meta.title, meta.notes, org_title, *meta.tags, *meta.groups]).lower()


def save(conn: Connection, meta: DatasetMeta, now: datetime, *, create: bool) -> None:
    c = s.catalog_datasets
    org_title = conn.execute(select(s.catalog_orgs.c.title).where(s.catalog_orgs.c.name == meta.owner_org)).scalar()
    values = {"title": meta.title, "notes": meta.notes, "owner_org": meta.owner_org, "kind": meta.kind,
              "sharing_type": meta.sharing_type, "open_type": meta.open_type,
              "update_frequency": meta.update_frequency, "security_level": meta.security_level,
              "fields": meta.fields, "sources": meta.sources, "search_text": _search_text(meta, org_title or ""),
              "modified_at": now}
    if create:
        conn.execute(insert(c).values(name=meta.name, id=str(uuid.uuid5(uuid.NAMESPACE_URL, "cityos:" + meta.name)),
                                      created_at=now, **values))
    else:
        conn.execute(update(c).where(c.c.name == meta.name).values(**values))
    conn.execute(delete(s.catalog_tags).where(s.catalog_tags.c.dataset == meta.name))
    conn.execute(delete(s.catalog_memberships).where(s.catalog_memberships.c.dataset == meta.name))
    if meta.tags:
        conn.execute(insert(s.catalog_tags), [{"dataset": meta.name, "tag": t} for t in dict.fromkeys(meta.tags)])
    if meta.groups:
        conn.execute(insert(s.catalog_memberships),
                     [{"dataset": meta.name, "group_name": g} for g in dict.fromkeys(meta.groups)])


def add_resource(conn: Connection, dataset: str, rid: str, name: str, fmt: str, url: str, table: str | None,
                 position: int, now: datetime, description: str = "") -> None:
    conn.execute(insert(s.catalog_resources).values(id=rid, dataset=dataset, name=name, description=description,
                                                    format=fmt, url=url, datastore_table=table, position=position,
                                                    created_at=now))


def install_defaults(conn: Connection, now: datetime, today: date) -> None:
    """The catalog of the base and subject databases (replaces their entries)."""
    from cityos.data.subjects import SUBJECTS, query_text

    for t in (s.catalog_resources, s.catalog_tags, s.catalog_memberships, s.catalog_datasets, s.catalog_groups,
              s.catalog_orgs):
        conn.execute(delete(t))
    conn.execute(insert(s.catalog_orgs), [{"name": n, "title": zh, "title_en": en, "description": en, "created_at": now}
                                          for n, zh, en in ORGS])
    conn.execute(insert(s.catalog_groups), [{"name": n, "title": zh, "title_en": en, "description": en,
                                             "created_at": now} for n, zh, en in GROUPS])
    for name, zh, en, owner, resources, tags, sharing, open_type, freq, level in BASE:
        fields: list[dict[str, Any]] = []
        for _rid, spec_name in resources:
            fields.extend(spec_fields(BASE_DATASETS[spec_name]))
        save(conn, DatasetMeta(name, zh, owner, f"{zh}。{en}.", "base", sharing, open_type, freq, level,
                               [*tags, "基础库"], ["base"], fields), now, create=True)
        for i, (rid, spec_name) in enumerate(resources):
            add_resource(conn, name, rid, f"{rid}", "datastore", f"/api/3/action/datastore_search?resource_id={rid}",
                         BASE_DATASETS[spec_name].table, i, now, BASE_DATASETS[spec_name].name)
    add_resource(conn, "spatial-geography", "divisions", "divisions", "GeoJSON", "/ogc/collections/divisions/items",
                 None, 9, now, "行政区划与网格 (OGC API - Features)")
    for sub in SUBJECTS.values():
        save(conn, DatasetMeta(sub.name, sub.title, SUBJECT_OWNERS[sub.name], sub.notes, "subject", "conditional",
                               "not_open" if sub.personal else "open", "daily", "L3" if sub.personal else "L1",
                               ["主题库", sub.title_en.lower()], ["subject"], table_fields(sub.table, sub.personal),
                               list(sub.sources)), now, create=True)
        conn.execute(update(s.catalog_datasets).where(s.catalog_datasets.c.name == sub.name)
                     .values(query=query_text(sub, today)))
        add_resource(conn, sub.name, sub.table.name, sub.table.name, "datastore",
                     f"/api/3/action/datastore_search?resource_id={sub.table.name}", sub.table.name, 0, now)


# --- reads -----------------------------------------------------------------------------

def get(conn: Connection, name_or_id: str) -> dict[str, Any] | None:
    c = s.catalog_datasets
    row = conn.execute(select(c).where(or_(c.c.name == name_or_id, c.c.id == name_or_id))).mappings().first()
    return dict(row) if row else None


def meta_of(row: dict[str, Any], tags: list[str], groups: list[str]) -> DatasetMeta:
    return DatasetMeta(row["name"], row["title"], row["owner_org"], row["notes"], row["kind"], row["sharing_type"],
                       row["open_type"], row["update_frequency"], row["security_level"], tags, groups,
                       list(row["fields"] or []), list(row["sources"] or []))


def tags_of(conn: Connection, names: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n: [] for n in names}
    for d, t in conn.execute(select(s.catalog_tags.c.dataset, s.catalog_tags.c.tag)
                             .where(s.catalog_tags.c.dataset.in_(names)).order_by(s.catalog_tags.c.tag)):
        out[d].append(t)
    return out


def groups_of(conn: Connection, names: list[str]) -> dict[str, list[str]]:
    m = s.catalog_memberships
    out: dict[str, list[str]] = {n: [] for n in names}
    for d, g in conn.execute(select(m.c.dataset, m.c.group_name).where(m.c.dataset.in_(names))):
        out[d].append(g)
    return out


def resources_of(conn: Connection, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    r = s.catalog_resources
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for row in conn.execute(select(r).where(r.c.dataset.in_(names)).order_by(r.c.dataset, r.c.position)).mappings():
        out[row["dataset"]].append(dict(row))
    return out


def resource(conn: Connection, rid: str) -> dict[str, Any] | None:
    row = conn.execute(select(s.catalog_resources).where(s.catalog_resources.c.id == rid)).mappings().first()
    return dict(row) if row else None


def orgs(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r["name"]: dict(r) for r in conn.execute(select(s.catalog_orgs).order_by(s.catalog_orgs.c.name)).mappings()}


def groups(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r["name"]: dict(r) for r in conn.execute(select(s.catalog_groups).order_by(s.catalog_groups.c.name))
            .mappings()}


def _iso(v: datetime | None) -> str | None:
    return v.replace(tzinfo=None).isoformat() if v else None


def resource_dict(r: dict[str, Any], pkg_id: str, base_url: str) -> dict[str, Any]:
    url = r["url"] if r["url"].startswith("http") else base_url.rstrip("/") + r["url"]
    return {"id": r["id"], "package_id": pkg_id, "name": r["name"], "description": r["description"],
            "format": r["format"], "url": url, "datastore_active": r["datastore_table"] is not None,
            "position": r["position"], "created": _iso(r["created_at"]), "state": "active", "url_type": None}


def labels_of(conn: Connection, names: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(tags, groups) of the datasets, in one query."""
    t, m = s.catalog_tags, s.catalog_memberships
    tags: dict[str, list[str]] = {n: [] for n in names}
    grps: dict[str, list[str]] = {n: [] for n in names}
    if not names:
        return tags, grps
    q = union_all(select(literal("t").label("kind"), t.c.dataset, t.c.tag.label("label")).where(t.c.dataset.in_(names)),
                  select(literal("g").label("kind"), m.c.dataset, m.c.group_name.label("label"))
                  .where(m.c.dataset.in_(names)))
    for kind, d, label in conn.execute(q):
        (tags if kind == "t" else grps)[d].append(label)
    for v in tags.values():
        v.sort()
    return tags, grps


def orgs_and_groups(conn: Connection) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every organisation and group, in one query."""
    o, g = s.catalog_orgs, s.catalog_groups
    q = union_all(select(literal("o").label("kind"), *o.c), select(literal("g").label("kind"), *g.c))
    out: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] = ({}, {})
    for r in conn.execute(q).mappings():
        out[0 if r["kind"] == "o" else 1][r["name"]] = {k: v for k, v in r.items() if k != "kind"}
    return out


def package_dicts(conn: Connection, rows: list[dict[str, Any]], base_url: str,
                  known: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None = None
                  ) -> list[dict[str, Any]]:
    """CKAN package dicts (3 queries, 2 when `known` = orgs_and_groups() is given)."""
    names = [r["name"] for r in rows]
    (tags, grps), res = labels_of(conn, names), resources_of(conn, names)
    all_orgs, all_groups = known or orgs_and_groups(conn)
    out = []
    for r in rows:
        org = all_orgs.get(r["owner_org"], {"name": r["owner_org"], "title": r["owner_org"], "description": ""})
        resources = [resource_dict(x, r["id"], base_url) for x in res[r["name"]]]
        extras = {k: r[k] for k in ("kind", "sharing_type", "open_type", "update_frequency", "security_level")}
        out.append({
            "id": r["id"], "name": r["name"], "title": r["title"], "notes": r["notes"], "type": "dataset",
            "state": "active", "private": False, "owner_org": org["name"],
            "organization": {"id": org["name"], "name": org["name"], "title": org["title"],
                             "description": org.get("description", ""), "type": "organization",
                             "is_organization": True, "state": "active"},
            "tags": [{"name": t, "display_name": t, "state": "active"} for t in tags[r["name"]]],
            "num_tags": len(tags[r["name"]]),
            "groups": [{"id": g, "name": g, "title": all_groups.get(g, {}).get("title", g),
                        "display_name": all_groups.get(g, {}).get("title", g)} for g in grps[r["name"]]],
            "resources": resources, "num_resources": len(resources),
            "metadata_created": _iso(r["created_at"]), "metadata_modified": _iso(r["modified_at"]),
            **extras, "fields": r["fields"], "sources": r["sources"],
            "row_count": r["row_count"], "refreshed_at": _iso(r["refreshed_at"]),
            "extras": [{"key": k, "value": str(v)} for k, v in extras.items()],
        })
    return out


FACETABLE = {"organization": "owner_org", "owner_org": "owner_org", "kind": "kind", "sharing_type": "sharing_type",
             "open_type": "open_type", "update_frequency": "update_frequency", "security_level": "security_level",
             "tags": "tags", "groups": "groups", "res_format": "res_format", "name": "name"}
SORTABLE = {"name": "name", "title": "title", "metadata_modified": "modified_at", "metadata_created": "created_at",
            "score": None}


def _term(field: str, value: str) -> Any:
    c = s.catalog_datasets
    if field == "tags":
        return exists().where(s.catalog_tags.c.dataset == c.c.name, s.catalog_tags.c.tag == value)
    if field == "groups":
        m = s.catalog_memberships
        return exists().where(m.c.dataset == c.c.name, m.c.group_name == value)
    if field == "res_format":
        r = s.catalog_resources
        return exists().where(r.c.dataset == c.c.name, r.c.format == value)
    column = FACETABLE.get(field)
    if column is None:
        raise KeyError(field)
    return c.c[column] == value


def search(conn: Connection, q: str, fq: list[tuple[str, str, bool]], rows: int, start: int,
           sort: list[tuple[str, bool]], facet_fields: list[str], facet_limit: int
           ) -> tuple[int, list[dict[str, Any]], dict[str, dict[str, int]]]:
    c = s.catalog_datasets
    conds: list[Any] = []
    for word in q.lower().split():
        if ":" in word and word.split(":", 1)[0] in FACETABLE:
            f, v = word.split(":", 1)
            conds.append(_term(f, v.strip('"')))
        elif word not in ("*:*", "*"):
            conds.append(c.c.search_text.contains(word, autoescape=True))
    for f, v, neg in fq:
        t = _term(f, v)
        conds.append(not_(t) if neg else t)
    where = and_(*conds) if conds else None
    count_q = select(func.count()).select_from(c)
    page_q = select(c)
    if where is not None:
        count_q, page_q = count_q.where(where), page_q.where(where)
    # A facet on a column counts every match once: its sum is the total (one query fewer).
    column_facet = next((f for f in facet_fields if f not in ("tags", "groups", "res_format")), None)
    total = -1 if column_facet else int(conn.execute(count_q).scalar_one())
    order = []
    for key, desc in sort or [("metadata_modified", True)]:
        col = SORTABLE.get(key)
        if col:
            order.append(c.c[col].desc() if desc else c.c[col].asc())
    order.append(c.c.name.asc())
    found = [dict(r) for r in conn.execute(page_q.order_by(*order).limit(rows).offset(start)).mappings()]
    facets: dict[str, dict[str, int]] = {}
    ids = select(c.c.name)
    if where is not None:
        ids = ids.where(where)
    for f in facet_fields:
        if f == "tags":
            t = s.catalog_tags
            fq_ = select(t.c.tag, func.count()).where(t.c.dataset.in_(ids)).group_by(t.c.tag)
        elif f == "groups":
            m = s.catalog_memberships
            fq_ = select(m.c.group_name, func.count()).where(m.c.dataset.in_(ids)).group_by(m.c.group_name)
        elif f == "res_format":
            r = s.catalog_resources
            fq_ = select(r.c.format, func.count(func.distinct(r.c.dataset))).where(r.c.dataset.in_(ids)).group_by(r.c.format)
        else:
            fcol = c.c[FACETABLE[f]]
            fq_ = select(fcol, func.count()).group_by(fcol)
            if where is not None:
                fq_ = fq_.where(where)
        counts = sorted(((str(k), int(n)) for k, n in conn.execute(fq_)), key=lambda kv: (-kv[1], kv[0]))
        if f == column_facet:
            total = sum(n for _k, n in counts)
        facets[f] = dict(counts[:facet_limit])
    return total, found, facets


def dataset_names(conn: Connection, limit: int, offset: int) -> list[str]:
    c = s.catalog_datasets
    return list(conn.execute(select(c.c.name).order_by(c.c.name).limit(limit).offset(offset)).scalars())


def count_by_org(conn: Connection) -> dict[str, int]:
    c = s.catalog_datasets
    return {k: int(n) for k, n in conn.execute(select(c.c.owner_org, func.count()).group_by(c.c.owner_org))}


def count_by_group(conn: Connection) -> dict[str, int]:
    m = s.catalog_memberships
    return {k: int(n) for k, n in conn.execute(select(m.c.group_name, func.count()).group_by(m.c.group_name))}


def datasets_in(conn: Connection, *, org: str | None = None, group: str | None = None, limit: int = 1000
                ) -> list[dict[str, Any]]:
    c = s.catalog_datasets
    q = select(c).order_by(c.c.name).limit(limit)
    if org:
        q = q.where(c.c.owner_org == org)
    if group:
        q = q.where(c.c.name.in_(select(s.catalog_memberships.c.dataset)
                                 .where(s.catalog_memberships.c.group_name == group)))
    return [dict(r) for r in conn.execute(q).mappings()]


def all_rows(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(s.catalog_datasets).order_by(s.catalog_datasets.c.name)).mappings()]


def meta_dict(meta: DatasetMeta) -> dict[str, Any]:
    return asdict(meta)
