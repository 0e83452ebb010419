"""Use cases of the data context: catalog writes, subject refreshes, imports.
Permission first, then load, domain rules, commit (with an audit record)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cityos.bootstrap import Platform, wiring
from cityos.core.errors import Conflict, Forbidden, NotFound, ValidationError
from cityos.data import catalog
from cityos.data import store as s
from cityos.data.model import DatasetMeta
from cityos.identity import audit
from cityos.identity.model import GRID_STAFF, OPERATORS, Actor, allow

allow(("data_officer",), "catalog.write", "data.read", "data.sql", "data.import", "data.refresh")
allow((*OPERATORS, *GRID_STAFF), "data.read")
allow(("system_admin",), "data.refresh")

REFRESH_EVERY_S = 6 * 3600
META_KEYS = ("title", "notes", "owner_org", "kind", "sharing_type", "open_type", "update_frequency",
             "security_level", "fields", "sources")


@dataclass(frozen=True)
class SavePackage:
    actor: Actor
    data: dict[str, Any]
    create: bool


@dataclass(frozen=True)
class RefreshSubject:
    actor: Actor
    name: str | None = None  # None: every subject database


@dataclass(frozen=True)
class ImportFile:
    actor: Actor
    dataset: str
    path: str
    reject_limit: int = 1000
    resume: bool = True
    progress: Any = field(default=None, compare=False)


def _require_token(actor: Actor) -> None:
    if actor.via not in ("api_key", "token", "system"):
        raise Forbidden("catalog writes need an API key or bearer token", field="Authorization")


def _names(v: Any, field_name: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValidationError("must be a list", field=field_name)
    out = []
    for i, x in enumerate(v):
        name = x.get("name") if isinstance(x, dict) else x
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("each entry needs a name", field=f"{field_name}[{i}]")
        out.append(name.strip())
    return out


def save_package(p: Platform, cmd: SavePackage) -> dict[str, Any]:
    cmd.actor.require("catalog.write")
    _require_token(cmd.actor)
    d = cmd.data
    extras = {e.get("key"): e.get("value") for e in d.get("extras") or [] if isinstance(e, dict)}
    now = p.clock.now()
    with p.db.begin() as conn:
        key = d.get("name") if cmd.create else (d.get("id") or d.get("name"))
        if not key or not isinstance(key, str):
            raise ValidationError("Missing value", field="name" if cmd.create else "id")
        current = catalog.get(conn, key)
        if cmd.create and current is not None:
            raise Conflict("That URL is already in use.", field="name")
        if not cmd.create and current is None:
            raise NotFound(f"Dataset \"{key}\" was not found.", field="id")
        if current is not None:
            base = catalog.meta_of(current, catalog.tags_of(conn, [current["name"]])[current["name"]],
                                   catalog.groups_of(conn, [current["name"]])[current["name"]])
        else:
            base = DatasetMeta(key, "", "")
        for k in META_KEYS:
            if k in d:
                setattr(base, k, d[k])
            elif k in extras:
                setattr(base, k, extras[k])
        if "tags" in d:
            base.tags = _names(d["tags"], "tags")
        if "groups" in d:
            base.groups = _names(d["groups"], "groups")
        problems = base.problems()
        if base.owner_org and base.owner_org not in catalog.orgs(conn):
            problems.append(("owner_org", f"organization {base.owner_org!r} does not exist"))
        unknown = [g for g in base.groups if g not in catalog.groups(conn)]
        if unknown:
            problems.append(("groups", f"group {unknown[0]!r} does not exist"))
        if problems:
            f0, why = problems[0]
            raise ValidationError(why, field=f0, details=[{"field": f, "reason": r} for f, r in problems])
        catalog.save(conn, base, now, create=cmd.create)
        resources = d.get("resources")
        if resources is not None:
            if not isinstance(resources, list):
                raise ValidationError("must be a list", field="resources")
            existing = {r["id"] for r in catalog.resources_of(conn, [base.name])[base.name]}
            for i, r in enumerate(resources):
                if not isinstance(r, dict) or not r.get("url"):
                    raise ValidationError("each resource needs a url", field=f"resources[{i}].url")
                if r.get("id") in existing:
                    continue
                catalog.add_resource(conn, base.name, str(r.get("id") or uuid.uuid4()), str(r.get("name") or r["url"]),
                                     str(r.get("format") or ""), str(r["url"]), None, 100 + i, now,
                                     str(r.get("description") or ""))
        audit.record(conn, cmd.actor, "catalog.create" if cmd.create else "catalog.patch", "dataset", base.name, now,
                     details={"keys": sorted(k for k in d if k != "id")})
        row = catalog.get(conn, base.name)
        assert row is not None
        return catalog.package_dicts(conn, [row], "")[0]


def refresh_subjects(p: Platform, cmd: RefreshSubject) -> dict[str, int]:
    from cityos.data.subjects import SUBJECTS, refresh

    cmd.actor.require("data.refresh")
    names = [cmd.name] if cmd.name else list(SUBJECTS)
    for n in names:
        if n not in SUBJECTS:
            raise NotFound(f"no subject database {n!r}; subjects: {', '.join(SUBJECTS)}", field="name")
    now = p.clock.now()
    out = {}
    for n in names:
        with p.db.begin() as conn:
            if catalog.get(conn, n) is None:  # the catalog is installed by the demo seed or `cityos data catalog`
                catalog.install_defaults(conn, now, now.date())
            out[n] = refresh(conn, SUBJECTS[n], now.date(), now)
            audit.record(conn, cmd.actor, "data.refresh", "dataset", n, now, details={"rows": out[n]})
    return out


def import_file(p: Platform, cmd: ImportFile) -> dict[str, Any]:
    from cityos.data.importer import run_import

    cmd.actor.require("data.import")
    return run_import(p, cmd.actor, cmd.dataset, cmd.path, reject_limit=cmd.reject_limit, resume=cmd.resume,
                      progress=cmd.progress)


def ckan_actor(p: Platform, request: Any) -> Actor:
    """CKAN clients send the key as `Authorization: <key>` or `X-CKAN-API-Key`; others as identity expects."""
    from dataclasses import replace

    from cityos.identity.handlers import credential_actor
    from cityos.identity.web import client_ip, resolve_actor

    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    secret = request.headers.get("x-ckan-api-key") or (auth.strip() if auth and " " not in auth.strip() else None)
    if not secret:
        return resolve_actor(request)
    actor = credential_actor(p, secret, client_ip(request))
    purpose = (request.headers.get("x-purpose") or "").strip()[:200] or None
    if purpose:
        actor = replace(actor, purpose=purpose)
    request.state.actor = actor
    return actor


@wiring
def _wire(p: Platform) -> None:
    p.bus.register(SavePackage, lambda c: save_package(p, c))
    p.bus.register(RefreshSubject, lambda c: refresh_subjects(p, c))
    p.bus.register(ImportFile, lambda c: import_file(p, c))

    def _refresh_job(payload: dict[str, Any]) -> None:
        from cityos.identity.model import SYSTEM

        with p.db.read() as conn:
            from sqlalchemy import select

            if conn.execute(select(s.catalog_datasets.c.name).limit(1)).first() is None:
                return  # no catalog yet: nothing to refresh
        refresh_subjects(p, RefreshSubject(SYSTEM, payload.get("name")))

    p.bus.register_recurring("data.refresh_subjects", _refresh_job, REFRESH_EVERY_S)
    p.bus.register_job("data.refresh_subject", _refresh_job)
