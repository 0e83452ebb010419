"""The resource ledger ("one book", IRS): types, attribute schemas, the lifecycle,
dependency rules, bundled applications and availability. No IO."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator

from cityos.core.errors import Conflict, IllegalTransition, ValidationError
from cityos.geo.model import level_of
from cityos.identity.model import allow

# --- permissions -----------------------------------------------------------------
READERS = ("resource_admin", "system_admin", "city_operator", "district_operator", "township_operator",
           "data_officer", "auditor")
allow(READERS, "ledger.read")
allow(("resource_admin", "system_admin", "data_officer", "city_operator", "district_operator",
       "township_operator"), "ledger.register", "ledger.apply")
allow(("resource_admin",), "ledger.approve", "ledger.operate")

# --- types and their attributes ------------------------------------------------------
TYPES: dict[str, tuple[str, str]] = {
    "application": ("应用系统", "Application"),
    "cloud": ("云资源", "Cloud resource"),
    "network": ("网络资源", "Network resource"),
    "perception": ("感知资源", "Perception resource"),
    "data": ("数据资源", "Data resource"),
    "component": ("能力组件", "Capability component"),
}
LEVELS = ("city", "district", "township")

_url = {"type": "string", "pattern": r"^(https?://|/)\S+$", "maxLength": 300}
_s = {"type": "string", "minLength": 1, "maxLength": 200}
SCHEMAS: dict[str, dict[str, Any]] = {
    "application": {
        "type": "object", "additionalProperties": False, "required": ["url"],
        "properties": {"url": _url, "business_domain": _s, "system_no": _s,
                       "users": {"type": "integer", "minimum": 0}, "deployed_on": _s},
    },
    "cloud": {
        "type": "object", "additionalProperties": False, "required": ["kind", "provider", "instance_id"],
        "properties": {"kind": {"enum": ["compute", "storage", "database"]}, "provider": _s, "instance_id": _s,
                       "region": _s, "vcpu": {"type": "integer", "minimum": 1, "maximum": 4096},
                       "memory_gb": {"type": "number", "exclusiveMinimum": 0},
                       "storage_gb": {"type": "number", "exclusiveMinimum": 0},
                       "engine": {"enum": ["postgresql", "mysql", "dameng", "kingbase", "oracle", "other"]}},
        "allOf": [{"if": {"properties": {"kind": {"const": "database"}}}, "then": {"required": ["engine"]}},
                  {"if": {"properties": {"kind": {"const": "compute"}}}, "then": {"required": ["vcpu", "memory_gb"]}}],
    },
    "network": {
        "type": "object", "additionalProperties": False, "required": ["kind", "circuit_id"],
        "properties": {"kind": {"enum": ["link", "video_network"]}, "circuit_id": _s, "carrier": _s,
                       "bandwidth_mbps": {"type": "number", "exclusiveMinimum": 0},
                       "endpoints": {"type": "array", "items": _s, "maxItems": 10}},
    },
    "perception": {
        "type": "object", "additionalProperties": False, "required": ["kind", "device_code"],
        "properties": {"kind": {"enum": ["device", "video_channel"]}, "device_code": _s,
                       "channel_no": {"type": "integer", "minimum": 1}, "vendor": _s, "model": _s,
                       "lon": {"type": "number", "minimum": -180, "maximum": 180},
                       "lat": {"type": "number", "minimum": -90, "maximum": 90}},
        "allOf": [{"if": {"properties": {"kind": {"const": "video_channel"}}}, "then": {"required": ["channel_no"]}}],
    },
    "data": {
        "type": "object", "additionalProperties": False, "required": ["kind", "catalog_id", "sharing"],
        "properties": {"kind": {"enum": ["dataset", "service_interface"]}, "catalog_id": _s,
                       "sharing": {"enum": ["unconditional", "conditional", "not_shared"]},
                       "base_database": {"enum": ["population", "legal_entity", "spatial", "e_licence", "credit"]},
                       "path": _url, "records": {"type": "integer", "minimum": 0}},
        "allOf": [{"if": {"properties": {"kind": {"const": "service_interface"}}}, "then": {"required": ["path"]}}],
    },
    "component": {
        "type": "object", "additionalProperties": False, "required": ["key"],
        "properties": {"key": {"type": "string", "pattern": r"^[a-z][a-z0-9_.-]{1,60}$"}, "version": _s,
                       "endpoint": _url, "health_url": _url, "docs": _url},
    },
}
# The attributes that make a resource the same resource (duplicate registration is refused).
IDENTITY: dict[str, tuple[str, ...]] = {
    "application": ("url",), "cloud": ("provider", "instance_id"), "network": ("circuit_id",),
    "perception": ("kind", "device_code", "channel_no"), "data": ("kind", "catalog_id"), "component": ("key",),
}
_VALIDATORS = {t: Draft202012Validator(s) for t, s in SCHEMAS.items()}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
TAG_RE = re.compile(r"^[\w.-]{1,40}$")


def validate_attributes(rtype: str, code: str, attributes: Any) -> dict[str, Any]:
    """Check attributes against the type's JSON Schema; the error names the resource and the attribute."""
    check_type(rtype)
    if not isinstance(attributes, dict):
        raise ValidationError(f"resource {code}: attributes must be an object", field="attributes")
    errors = sorted(_VALIDATORS[rtype].iter_errors(attributes), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = ".".join(str(p) for p in e.absolute_path)
        if e.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", e.message)
            path = ".".join(filter(None, [path, missing[0] if missing else ""]))
        elif e.validator == "additionalProperties":
            extra = re.findall(r"'([^']+)'", e.message)
            path = ".".join(filter(None, [path, extra[0] if extra else ""]))
        fieldname = "attributes" + (f".{path}" if path else "")
        raise ValidationError(f"resource {code}: {rtype} attribute {path or '(all)'}: {e.message}", field=fieldname)
    return attributes


def check_type(rtype: str) -> None:
    if rtype not in TYPES:
        raise ValidationError(f"unknown resource type {rtype!r}; types: {', '.join(TYPES)}", field="type")


def identity_key(rtype: str, attributes: dict[str, Any]) -> str:
    return json.dumps([attributes.get(k) for k in IDENTITY[rtype]], ensure_ascii=False, separators=(",", ":"))[:300]


def subkind(attributes: dict[str, Any]) -> str | None:
    k = attributes.get("kind")
    return str(k) if k else None


@dataclass(frozen=True)
class NewResource:
    code: str
    rtype: str
    name_zh: str
    name_en: str
    owner_unit: str
    level: str
    division_code: str
    attributes: dict[str, Any]
    description: str = ""
    tags: tuple[str, ...] = ()
    contacts: tuple[dict[str, str], ...] = ()


def validate_new(r: NewResource) -> None:
    if not CODE_RE.match(r.code or ""):
        raise ValidationError("use 3-64 letters, digits, '.', '_' or '-'", field="code")
    check_type(r.rtype)
    if not r.name_zh.strip() or len(r.name_zh) > 200:
        raise ValidationError(f"resource {r.code}: a Chinese name of 1-200 characters is needed", field="name_zh")
    if len(r.name_en) > 200:
        raise ValidationError(f"resource {r.code}: at most 200 characters", field="name_en")
    if r.level not in LEVELS:
        raise ValidationError(f"resource {r.code}: level must be one of {', '.join(LEVELS)}", field="level")
    try:
        div_level = level_of(r.division_code)
    except ValidationError as exc:
        raise ValidationError(f"resource {r.code}: {exc.message}", field="division_code") from None
    if div_level != r.level:
        raise ValidationError(f"resource {r.code}: level {r.level} does not match division {r.division_code} "
                              f"(a {div_level})", field="level")
    if not r.owner_unit.strip():
        raise ValidationError(f"resource {r.code}: the owner unit is needed", field="owner_unit")
    for t in r.tags:
        if not TAG_RE.match(t):
            raise ValidationError(f"resource {r.code}: tag {t!r} must be 1-40 letters, digits, '.', '_' or '-'",
                                  field="tags")
    if len(r.tags) > 20:
        raise ValidationError(f"resource {r.code}: at most 20 tags", field="tags")
    for c in r.contacts:
        if not isinstance(c, dict) or not c.get("name"):
            raise ValidationError(f"resource {r.code}: each contact needs a name", field="contacts")
    if len(r.description) > 4000:
        raise ValidationError(f"resource {r.code}: at most 4000 characters", field="description")
    validate_attributes(r.rtype, r.code, r.attributes)


# --- lifecycle -------------------------------------------------------------------------
STATES = ("draft", "submitted", "approved", "online", "offline", "retired")
# action -> (from states, to state)
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "submitted"),
    "approve": (("submitted",), "approved"),
    "reject": (("submitted",), "draft"),
    "publish": (("approved", "offline"), "online"),
    "take_offline": (("online",), "offline"),
    "retire": (("draft", "approved", "offline"), "retired"),
}
NEEDS_REASON = frozenset({"reject", "take_offline", "retire"})
# Who may do what: approving and operating belong to the resource administrators of the owner's level.
ACTION_PERMISSION = {"submit": "ledger.register", "approve": "ledger.approve", "reject": "ledger.approve",
                     "publish": "ledger.operate", "take_offline": "ledger.operate", "retire": "ledger.operate"}


def allowed_actions(state: str) -> list[str]:
    return [a for a, (froms, _to) in ACTIONS.items() if state in froms]


def transition(code: str, state: str, action: str, reason: str | None) -> str:
    """The next state, or a clear refusal naming the current state and the allowed actions."""
    if action not in ACTIONS:
        raise ValidationError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}", field="action")
    froms, to = ACTIONS[action]
    if state not in froms:
        allowed = allowed_actions(state)
        options = ", ".join(f"{a} (→ {ACTIONS[a][1]})" for a in allowed) or "none (final state)"
        raise IllegalTransition(f"resource {code} is {state}: cannot {action}; allowed from {state}: {options}",
                                field="action", details={"state": state, "allowed": allowed})
    if action in NEEDS_REASON and not (reason or "").strip():
        raise ValidationError(f"resource {code}: {action} needs a reason", field="reason")
    return to


def check_retire(code: str, dependents: list[tuple[str, str]]) -> None:
    """Refuse to retire a resource that live resources still depend on (dependents: (code, state))."""
    live = [c for c, s in dependents if s != "retired"]
    if live:
        shown = ", ".join(live[:20]) + (f" and {len(live) - 20} more" if len(live) > 20 else "")
        raise Conflict(f"resource {code} is in use and cannot be retired; dependents: {shown}", field="state",
                       details={"dependents": live})


# --- dependencies ------------------------------------------------------------------------
# What a resource of each type may declare that it uses.
MAY_USE: dict[str, frozenset[str]] = {
    "application": frozenset({"application", "component", "data", "cloud", "network", "perception"}),
    "component": frozenset({"component", "data", "cloud", "network"}),
    "data": frozenset({"data", "cloud"}),
    "perception": frozenset({"network", "cloud"}),
    "cloud": frozenset({"network"}),
    "network": frozenset(),
}
# Applications may call each other both ways; a cycle through any other type is refused.
CYCLES_ALLOWED = frozenset({"application"})


def check_dependency(src_code: str, src_type: str, dst_code: str, dst_type: str) -> None:
    if src_code == dst_code:
        raise ValidationError(f"resource {src_code} cannot depend on itself", field="uses")
    if dst_type not in MAY_USE[src_type]:
        allowed = ", ".join(sorted(MAY_USE[src_type])) or "nothing"
        raise ValidationError(f"resource {src_code}: a {src_type} may use {allowed}, not a {dst_type} ({dst_code})",
                              field="uses")


def check_cycle(src_code: str, src_type: str, dst_code: str, path_back: list[str] | None) -> None:
    """path_back: a dependency path from dst back to src (None when there is none)."""
    if path_back is not None and src_type not in CYCLES_ALLOWED:
        cycle = " → ".join([src_code, *path_back])
        raise Conflict(f"resource {src_code}: using {dst_code} would make a cycle ({cycle}); "
                       f"a {src_type} may not depend on itself through others", field="uses",
                       details={"cycle": [src_code, *path_back]})


# --- bundled applications -------------------------------------------------------------------
ITEM_STATES = ("pending", "approved", "rejected")


def application_status(item_states: Iterable[str]) -> str:
    s = list(item_states)
    if not s or all(x == "pending" for x in s):
        return "pending"
    if any(x == "pending" for x in s):
        return "partly_decided"
    if all(x == "approved" for x in s):
        return "approved"
    if all(x == "rejected" for x in s):
        return "rejected"
    return "partly_approved"


def check_item_decision(app_id: int, resource_code: str, item_state: str) -> None:
    if item_state != "pending":
        raise IllegalTransition(f"application {app_id}: the item for {resource_code} is already {item_state}",
                                field="decision")


def check_appliable(resource_code: str, state: str) -> None:
    if state != "online":
        raise ValidationError(f"resource {resource_code} is {state}: only online resources can be applied for",
                              field="items")


# --- availability ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    at: datetime
    ok: bool
    latency_ms: float | None


def monthly_availability(probes: Iterable[Probe]) -> list[dict[str, Any]]:
    """Per calendar month (UTC): probes, successful share (%) and mean latency of the successful ones."""
    months: dict[str, list[Probe]] = {}
    for p in probes:
        months.setdefault(p.at.strftime("%Y-%m"), []).append(p)
    out = []
    for month in sorted(months):
        ps = months[month]
        good = [p for p in ps if p.ok]
        lat = [p.latency_ms for p in good if p.latency_ms is not None]
        out.append({"month": month, "probes": len(ps), "availability": round(100.0 * len(good) / len(ps), 2),
                    "mean_latency_ms": round(sum(lat) / len(lat), 1) if lat else None})
    return out


# --- CityOS's own capability components (the "12 key capability components") -------------------
@dataclass(frozen=True)
class OwnComponent:
    key: str
    name_zh: str
    name_en: str
    endpoint: str | None
    health: str | None


OWN_COMPONENTS: tuple[OwnComponent, ...] = (
    OwnComponent("geo.locate", "地图定位", "Map and locate", "/api/v1/geo/locate", "/api/v1/geo/locate?lon=0&lat=0"),
    OwnComponent("case.loop", "案件闭环", "Case loop", "/api/v1/cases", "/readyz"),
    OwnComponent("notification", "消息通知", "Notification", "/api/v1/notifications", "/readyz"),
    OwnComponent("identity", "统一身份认证", "Identity", "/api/v1/auth/check", "/api/v1/ping"),
    OwnComponent("data.gateway", "数据服务网关", "Data service gateway", "/ds/v1/", "/readyz"),
    OwnComponent("ogc.features", "OGC API 要素服务", "OGC API - Features", "/ogc/", "/ogc/"),
    OwnComponent("audit", "安全审计", "Audit", "/api/v1/audit", "/api/v1/ping"),
    OwnComponent("assistant.models", "城市治理大模型", "The assistant's models", "/api/v1/assistant", "/readyz"),
    OwnComponent("video.analysis", "视频智能分析", "Video analysis", None, None),
    OwnComponent("e-signature", "电子签章", "E-signature", None, None),
    OwnComponent("payment", "统一支付", "Payment", None, None),
    OwnComponent("message.bus", "消息总线", "Message bus", "/metrics", "/healthz"),
)
