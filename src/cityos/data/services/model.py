"""Data service interfaces (数据服务接口): the rules, no IO.

An interface is a declarative, versioned definition (YAML or JSON): typed parameters, a query
over one whitelisted table (fields, filters bound to parameters, order, row cap), output fields
with their masking, the sharing type and a description. Nothing in a definition is SQL: the
store builds the statement from the parsed definition with bound parameters only, over columns
checked against the table's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cityos.core.errors import Conflict, ValidationError
from cityos.identity.model import MASKERS

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,3}$")
PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SHARING = ("unconditional", "conditional", "not_shared")  # 无条件 / 有条件 / 不予共享
SENSITIVITY = ("public", "internal", "personal")
MASKS = ("id_number", "phone", "name", "full")
PARAM_TYPES = ("string", "integer", "number", "date")
OPS = ("eq", "prefix", "gte", "lte", "gt", "lt", "in", "gte_or_null")
RESULTS = ("rows", "one", "exists", "count", "locate")
RESERVED_PARAMS = ("version", "page", "page_size")
MAX_ROW_CAP = 1000
MAX_PARAM_CHARS = 200
OWNERS = ("public_security", "market_regulation", "planning", "big_data", "civil_affairs", "emergency",
          "development_reform")


class DefinitionError(ValidationError):
    """A definition that cannot be published: names the path of the bad entry."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"
    required: bool = True
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    max_length: int = 100
    description: str = ""
    example: str | None = None


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    param: str | None = None  # bound to a parameter ...
    value: Any = None  # ... or a constant of the definition ("$today": the call's date)


@dataclass(frozen=True)
class Output:
    field: str
    sensitivity: str = "internal"
    mask: str | None = None  # how a personal field is masked unless the grant allows it plain
    label: str = ""


@dataclass(frozen=True)
class Definition:
    code: str
    version: int
    name: str
    name_en: str
    owner: str
    datasets: tuple[str, ...]
    sharing: str
    description: str
    params: tuple[Param, ...]
    table: str | None
    filters: tuple[Filter, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int
    result: str
    result_key: str
    output: tuple[Output, ...]
    tags: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def personal(self) -> dict[str, str]:
        return {o.field: o.mask or "full" for o in self.output if o.sensitivity == "personal"}

    @property
    def fields(self) -> list[str]:
        return [o.field for o in self.output]

    @property
    def needs_approval(self) -> bool:
        return self.sharing == "conditional"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


# --- parsing --------------------------------------------------------------------------

def _err(path: str, reason: str) -> DefinitionError:
    return DefinitionError(reason, field=path)


def _str(doc: Mapping[str, Any], key: str, path: str, *, required: bool = True, max_len: int = 2000) -> str:
    v = doc.get(key)
    if v is None or v == "":
        if required:
            raise _err(f"{path}{key}", "is required")
        return ""
    if not isinstance(v, str) or len(v) > max_len:
        raise _err(f"{path}{key}", f"must be text of at most {max_len} characters")
    return v.strip()


def _list(doc: Mapping[str, Any], key: str, path: str) -> list[Any]:
    v = doc.get(key) or []
    if not isinstance(v, list):
        raise _err(f"{path}{key}", "must be a list")
    return v


def parse_definition(doc: Any, tables: Mapping[str, Collection[str]]) -> Definition:
    """Check a definition document against the rules and the whitelisted tables ({table: columns})."""
    if not isinstance(doc, Mapping):
        raise _err("definition", "must be an object (a mapping of keys to values)")
    unknown = set(doc) - {"code", "version", "name", "name_en", "owner", "datasets", "sharing", "description",
                          "params", "query", "output", "tags"}
    if unknown:
        raise _err(sorted(unknown)[0], "is not a key of an interface definition")
    code = _str(doc, "code", "", max_len=64)
    if not CODE_RE.match(code):
        raise _err("code", "use lower-case words joined by dots, like 'resident.basic'")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 9999:
        raise _err("version", "must be a whole number from 1 to 9999")
    name = _str(doc, "name", "", max_len=200)
    name_en = _str(doc, "name_en", "", required=False, max_len=200) or name
    owner = _str(doc, "owner", "", max_len=100)
    if owner not in OWNERS:
        raise _err("owner", f"must be one of the departments {', '.join(OWNERS)}")
    sharing = _str(doc, "sharing", "", max_len=20)
    if sharing not in SHARING:
        raise _err("sharing", f"must be one of {', '.join(SHARING)}")
    datasets = tuple(str(d) for d in _list(doc, "datasets", ""))
    if not datasets:
        raise _err("datasets", "name at least one dataset of the catalog")
    description = _str(doc, "description", "", max_len=4000)
    params = _params(_list(doc, "params", ""))
    q = doc.get("query")
    if not isinstance(q, Mapping):
        raise _err("query", "is required: an object with table, filters, order, limit")
    result = str(q.get("result", "rows"))
    if result not in RESULTS:
        raise _err("query.result", f"must be one of {', '.join(RESULTS)}")
    result_key = str(q.get("key", {"exists": "match", "count": "count"}.get(result, "data")))
    if not PARAM_NAME_RE.match(result_key):
        raise _err("query.key", "must be a lower-case name")
    names = {p.name for p in params}
    if result == "locate":
        if not {"lon", "lat"} <= names:
            raise _err("params", "a locate interface takes the parameters lon and lat")
        table, columns = None, {"grid_code", "village_code", "township_code", "district_code", "inside"}
        filters: tuple[Filter, ...] = ()
        order: tuple[tuple[str, bool], ...] = ()
        limit = 1
    else:
        table = _str(q, "table", "query.", max_len=60)
        if table not in tables:
            raise _err("query.table", f"is not a table interfaces may read ({', '.join(sorted(tables))})")
        columns = set(tables[table])
        filters = _filters(_list(q, "filters", "query."), columns, names)
        if not any(f.op in ("eq", "prefix", "in") and f.param for f in filters):
            raise _err("query.filters", "need at least one eq, prefix or in filter bound to a parameter "
                                        "(an interface answers about given keys, never a whole table)")
        order = _order(_list(q, "order", "query."), columns)
        limit = q.get("limit", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ROW_CAP:
            raise _err("query.limit", f"must be a row cap from 1 to {MAX_ROW_CAP}")
        if result in ("one", "exists"):
            limit = 1
    bound = {f.param for f in filters if f.param}
    for p in params:
        if p.name not in bound and result != "locate":
            raise _err(f"params.{p.name}", "is not bound to any filter of the query")
    output = _outputs(_list(doc, "output", ""), columns, result)
    tags = tuple(str(t)[:40] for t in _list(doc, "tags", ""))
    return Definition(code, version, name, name_en, owner, datasets, sharing, description, params, table, filters,
                      order, limit, result, result_key, output, tags, raw=dict(doc))


def _params(items: list[Any]) -> tuple[Param, ...]:
    out: list[Param] = []
    for i, p in enumerate(items):
        path = f"params[{i}]."
        if not isinstance(p, Mapping):
            raise _err(f"params[{i}]", "must be an object")
        extra = set(p) - {"name", "type", "required", "pattern", "enum", "max_length", "description", "example"}
        if extra:
            raise _err(f"{path}{sorted(map(str, extra))[0]}", "is not a key of a parameter")
        name = _str(p, "name", path, max_len=40)
        if not PARAM_NAME_RE.match(name) or name in RESERVED_PARAMS:
            raise _err(f"{path}name", f"must be a lower-case name other than {', '.join(RESERVED_PARAMS)}")
        if any(o.name == name for o in out):
            raise _err(f"{path}name", f"{name!r} is declared twice")
        ptype = str(p.get("type", "string"))
        if ptype not in PARAM_TYPES:
            raise _err(f"{path}type", f"must be one of {', '.join(PARAM_TYPES)}")
        pattern = p.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise _err(f"{path}pattern", f"is not a regular expression: {exc}") from None
        enum = tuple(str(e) for e in (p.get("enum") or ()))
        max_length = p.get("max_length", 100)
        if not isinstance(max_length, int) or not 1 <= max_length <= MAX_PARAM_CHARS:
            raise _err(f"{path}max_length", f"must be from 1 to {MAX_PARAM_CHARS}")
        out.append(Param(name, ptype, bool(p.get("required", True)), str(pattern) if pattern else None, enum,
                         max_length, str(p.get("description", "")), None if p.get("example") is None
                         else str(p.get("example"))))
    return tuple(out)


def _filters(items: list[Any], columns: set[str], names: set[str]) -> tuple[Filter, ...]:
    out = []
    for i, f in enumerate(items):
        path = f"query.filters[{i}]."
        if not isinstance(f, Mapping):
            raise _err(f"query.filters[{i}]", "must be an object")
        extra = set(f) - {"field", "op", "param", "value"}
        if extra:
            raise _err(f"{path}{sorted(map(str, extra))[0]}", "is not a key of a filter")
        col = _str(f, "field", path, max_len=60)
        if col not in columns:
            raise _err(f"{path}field", f"{col!r} is not a column of the table")
        op = str(f.get("op", "eq"))
        if op not in OPS:
            raise _err(f"{path}op", f"must be one of {', '.join(OPS)}")
        param, value = f.get("param"), f.get("value")
        if (param is None) == (value is None):
            raise _err(path.rstrip("."), "bind either a param or a constant value")
        if param is not None and param not in names:
            raise _err(f"{path}param", f"{param!r} is not a declared parameter")
        if op == "in" and param is None and not (isinstance(value, list) and value):
            raise _err(f"{path}value", "an 'in' constant is a non-empty list")
        if op == "in" and param is not None:
            raise _err(f"{path}op", "'in' takes a constant list, not a parameter")
        out.append(Filter(col, op, param, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def _order(items: list[Any], columns: set[str]) -> tuple[tuple[str, bool], ...]:
    out = []
    for i, o in enumerate(items):
        desc = isinstance(o, str) and o.startswith("-")
        col = o[1:] if desc else o
        if not isinstance(col, str) or col not in columns:
            raise _err(f"query.order[{i}]", f"{o!r} is not a column of the table ('-name' sorts descending)")
        out.append((col, desc))
    return tuple(out)


def _outputs(items: list[Any], columns: set[str], result: str) -> tuple[Output, ...]:
    if result in ("exists", "count"):
        if items:
            raise _err("output", f"a {result} interface returns no fields")
        return ()
    if not items:
        raise _err("output", "list the fields the interface returns")
    out = []
    for i, o in enumerate(items):
        path = f"output[{i}]."
        spec = {"field": o} if isinstance(o, str) else o
        if not isinstance(spec, Mapping):
            raise _err(f"output[{i}]", "must be a field name or an object")
        col = _str(spec, "field", path, max_len=60)
        if col not in columns:
            raise _err(f"{path}field", f"{col!r} is not a column of the table")
        sens = str(spec.get("sensitivity", "internal"))
        if sens not in SENSITIVITY:
            raise _err(f"{path}sensitivity", f"must be one of {', '.join(SENSITIVITY)}")
        mask = spec.get("mask")
        if mask is not None and mask not in MASKS:
            raise _err(f"{path}mask", f"must be one of {', '.join(MASKS)}")
        if sens == "personal" and mask is None:
            raise _err(f"{path}mask", "a personal field needs a mask (id_number, phone, name or full)")
        out.append(Output(col, sens, mask, str(spec.get("label", ""))))
    return tuple(out)


def definition_hash(doc: Mapping[str, Any]) -> str:
    try:
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    except TypeError:  # keys that are not text (YAML reads `9:` as a number)
        raise _err("definition", "every key must be text") from None
    return hashlib.sha256(text.encode()).hexdigest()


def check_publishable(defn: Definition, latest: int | None, existing_hash: str | None, new_hash: str) -> bool:
    """True when the version is new; False when the same version was published with the same
    content (publishing again is a no-op). A changed published version is refused."""
    if existing_hash is not None:
        if existing_hash != new_hash:
            raise Conflict(f"{defn.code} version {defn.version} is already published and published versions are "
                           f"immutable; publish version {(latest or defn.version) + 1}", field="version")
        return False
    if latest is not None and defn.version <= latest:
        raise Conflict(f"{defn.code} is at version {latest}; a new version must be higher", field="version")
    return True


# --- calls ------------------------------------------------------------------------------

ID_NUMBER_PATTERN = r"^\d{17}[\dX]$"


def validate_params(defn: Definition, raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed parameter values, or a ValidationError naming the first bad field (all in details).
    Values never appear in the message: an error must not echo personal data back."""
    problems: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name in raw:
        if name not in RESERVED_PARAMS and defn.param(name) is None:
            problems.append({"field": name, "reason": "is not a parameter of this interface"})
    for p in defn.params:
        v = raw.get(p.name)
        if v is None or v == "":
            if p.required:
                problems.append({"field": p.name, "reason": "is required"})
            continue
        reason = _param_problem(p, v)
        if reason:
            problems.append({"field": p.name, "reason": reason})
            continue
        values[p.name] = _convert(p, v)
    if problems:
        raise ValidationError(problems[0]["reason"], field=problems[0]["field"], details=problems)
    return values


def _param_problem(p: Param, v: str) -> str | None:
    if len(v) > p.max_length:
        return f"must be at most {p.max_length} characters"
    if p.enum and v not in p.enum:
        return f"must be one of {', '.join(p.enum)}"
    if p.pattern and not re.fullmatch(p.pattern, v):
        return f"does not match the pattern {p.pattern}"
    if p.type == "integer" and not re.fullmatch(r"-?\d{1,15}", v):
        return "must be a whole number"
    if p.type == "number":
        try:
            float(v)
        except ValueError:
            return "must be a number"
    if p.type == "date":
        try:
            date.fromisoformat(v)
        except ValueError:
            return "must be a date like 2026-11-25"
    return None


def _convert(p: Param, v: str) -> Any:
    if p.type == "integer":
        return int(v)
    if p.type == "number":
        return float(v)
    if p.type == "date":
        return date.fromisoformat(v)
    return v


def paging(raw: Mapping[str, str], cap: int) -> tuple[int, int]:
    """(page number from 1, page size within the row cap)."""
    def num(name: str, default: int, top: int) -> int:
        v = raw.get(name)
        if v is None or v == "":
            return default
        if not v.isdigit() or not 1 <= int(v) <= top:
            raise ValidationError(f"must be a whole number from 1 to {top}", field=name)
        return int(v)

    size = num("page_size", min(cap, 100), cap)
    return num("page", 1, 1_000_000), size


def mask_rows(defn: Definition, rows: list[dict[str, Any]], plain: bool) -> list[dict[str, Any]]:
    """Personal fields masked unless the grant allows them plain."""
    if plain:
        return rows
    personal = defn.personal
    if not personal:
        return rows
    out = []
    for r in rows:
        r = dict(r)
        for name, kind in personal.items():
            v = r.get(name)
            if isinstance(v, str):
                r[name] = "*" * len(v) if kind == "full" else MASKERS[kind](v)
            elif v is not None:
                r[name] = "***"
        out.append(r)
    return out


def fingerprint(key: bytes, code: str, values: Mapping[str, Any]) -> str:
    """A keyed hash of the call's parameters: repeated calls can be matched, values not recovered."""
    msg = code + "\x1f" + "\x1f".join(f"{k}={values[k]}" for k in sorted(values))
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()[:32]


def seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


# --- grants -------------------------------------------------------------------------------

GRANT_STATES = ("pending", "active", "rejected", "suspended", "revoked")
_MOVES = {
    "approve": ({"pending"}, "active"),
    "reject": ({"pending"}, "rejected"),
    "suspend": ({"active"}, "suspended"),
    "resume": ({"suspended"}, "active"),
    "revoke": ({"pending", "active", "suspended"}, "revoked"),
}
ACTIONS = tuple(_MOVES)


def grant_move(state: str, action: str) -> str:
    """The state after `action`, or a Conflict naming what is allowed."""
    if action not in _MOVES:
        raise ValidationError(f"must be one of {', '.join(_MOVES)}", field="action")
    before, after = _MOVES[action]
    if state not in before:
        raise Conflict(f"a {state} grant cannot be {action}d (only a {' or '.join(sorted(before))} one)",
                       field="action")
    return after


def initial_grant_state(sharing: str) -> str:
    if sharing == "not_shared":
        raise ValidationError("this interface is not shared (不予共享): it cannot be applied for", field="interfaces")
    return "active" if sharing == "unconditional" else "pending"


@dataclass(frozen=True)
class Quota:
    daily: int
    per_minute: int


def quota_for(expected_daily: int) -> Quota:
    """Default quota from the expected volume: twice the estimate (at least 1,000 a day), and a
    per-minute rate that lets a day's quota through in about an hour of peak."""
    daily = max(1000, 2 * expected_daily)
    return Quota(daily, max(60, daily // 60))


def check_quota(q: Quota) -> None:
    if not 1 <= q.daily <= 100_000_000:
        raise ValidationError("must be from 1 to 100,000,000 calls a day", field="daily_quota")
    if not 1 <= q.per_minute <= 10_000_000:
        raise ValidationError("must be from 1 to 10,000,000 calls a minute", field="rate_per_minute")
