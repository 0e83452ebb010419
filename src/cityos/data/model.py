"""The data context's rules: national identifier checksums, the base databases'
field definitions, row validation, and the read-only SQL check. No IO.

- Resident ID number, GB 11643-1999: 6-digit area code, 8-digit birth date, 3-digit
  sequence (odd for men, even for women), and an ISO 7064 MOD 11-2 check character.
- Unified social credit code, GB 32100-2015: registration department, organisation
  type, 6-digit division code, 9-character organisation code (GB 11714, with its own
  MOD 11 check), and a MOD 31 check character over the 31-character alphabet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# --- GB 11643: resident ID number ------------------------------------------------

ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
ID_CHECK = "10X98765432"  # index: weighted sum mod 11


def id_check_char(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(body17) != 17 or not body17.isdigit() or not body17.isascii():
        raise ValueError("the first 17 characters must be digits")
    return ID_CHECK[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS, strict=True)) % 11]


def id_number_problem(v: str, today: date | None = None) -> str | None:
    """Why a resident ID number is invalid, or None when it is valid."""
    if not isinstance(v, str) or len(v) != 18:
        return "must have 18 characters"
    if not v[:17].isdigit() or not v[:17].isascii():
        return "the first 17 characters must be digits"
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return f"characters 7-14 ({v[6:14]}) are not a valid birth date"
    if today is not None and born > today:
        return f"birth date {born.isoformat()} is in the future"
    want = id_check_char(v[:17])
    if v[17].upper() != want:
        return f"check character is {v[17]!r}, expected {want!r} (GB 11643 MOD 11-2)"
    return None


def is_valid_id_number(v: str) -> bool:
    return id_number_problem(v) is None


def make_id_number(area: str, born: date, seq: int, male: bool) -> str:
    """A valid ID number: seq 0..499 becomes the 3-digit sequence with the gender parity."""
    s = (seq % 500) * 2 + (1 if male else 0)
    body = f"{area[:6]}{born:%Y%m%d}{s:03d}"
    return body + id_check_char(body)


def id_number_birth(v: str) -> date:
    return date(int(v[6:10]), int(v[10:12]), int(v[12:14]))


def id_number_male(v: str) -> bool:
    return int(v[16]) % 2 == 1


# --- GB 32100: unified social credit code ---------------------------------------

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code
ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def uscc_check_char(body17: str) -> str:
    if len(body17) != 17 or any(c not in USCC_CHARS for c in body17):
        raise ValueError("the first 17 characters must be digits or capitals other than I, O, S, V, Z")
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - s % 31) % 31]


def org_code_check_char(body8: str) -> str:
    s = sum(ORG_CHARS.index(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    c = 11 - s % 11
    return "X" if c == 10 else ("0" if c == 11 else str(c))


def uscc_problem(v: str) -> str | None:
    if not isinstance(v, str) or len(v) != 18:
        return "must have 18 characters"
    bad = [c for c in v if c not in USCC_CHARS]
    if bad:
        return f"character {bad[0]!r} is not allowed (digits and capitals except I, O, S, V, Z)"
    if not v[2:8].isdigit():
        return "characters 3-8 must be a division code"
    want = uscc_check_char(v[:17])
    if v[17] != want:
        return f"check character is {v[17]!r}, expected {want!r} (GB 32100 MOD 31)"
    return None


def is_valid_uscc(v: str) -> bool:
    return uscc_problem(v) is None


def make_uscc(area: str, serial: int, dept: str = "9", kind: str = "1") -> str:
    """A valid code: department 9 (market regulation), type 1 (enterprise), area, org code."""
    body8 = f"{serial % 10**8:08d}"
    org = body8 + org_code_check_char(body8)
    body = f"{dept}{kind}{area[:6]}{org}"
    return body + uscc_check_char(body)


# --- field and dataset definitions ----------------------------------------------

TYPES = ("text", "int", "numeric", "date", "timestamp", "json")
SENSITIVITY = ("public", "internal", "personal")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    zh: str
    en: str
    sensitivity: str = "internal"
    mask: str | None = None  # id_number | phone | name: how personal data is masked
    required: bool = True
    choices: tuple[str, ...] = ()
    check: str | None = None  # id_number | uscc | grid | phone | past

    def as_ckan(self) -> dict[str, Any]:
        ckan_type = {"int": "int", "numeric": "numeric", "date": "date", "timestamp": "timestamp",
                     "json": "json"}.get(self.type, "text")
        return {"id": self.name, "type": ckan_type,
                "info": {"label": self.zh, "label_en": self.en, "notes": self.en, "sensitivity": self.sensitivity}}


@dataclass(frozen=True)
class DatasetSpec:
    """A loadable table: its key, its fields, and what the import accepts."""

    name: str
    table: str
    key: str
    fields: tuple[FieldSpec, ...]
    grid_field: str | None = None  # the division code that places a row in the tree (scope)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def personal(self) -> dict[str, str]:
        return {f.name: f.mask for f in self.fields if f.mask}

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


F = FieldSpec
RESIDENT_STATUS = ("active", "moved_out", "deceased")
POPULATION = DatasetSpec("population", "residents", "id_number", (
    F("id_number", "text", "公民身份号码", "Resident ID number (GB 11643)", "personal", "id_number", check="id_number"),
    F("name", "text", "姓名", "Name", "personal", "name"),
    F("gender", "text", "性别", "Gender (M/F)", choices=("M", "F")),
    F("birth_date", "date", "出生日期", "Birth date", "personal", check="past"),
    F("ethnicity", "text", "民族", "Ethnicity"),
    F("household_id", "text", "户号", "Household number"),
    F("household_role", "text", "与户主关系", "Relation to household head", choices=("head", "spouse", "child", "parent", "other")),
    F("registered_address", "text", "户籍地址", "Registered address", "personal"),
    F("actual_address", "text", "实际居住地址", "Actual address", "personal"),
    F("building_id", "text", "居住建筑", "Building lived in", required=False),
    F("grid_code", "text", "所属网格", "Grid (15-digit code)", check="grid"),
    F("phone", "text", "联系电话", "Phone", "personal", "phone", required=False, check="phone"),
    F("status", "text", "人口状态", "Status", choices=RESIDENT_STATUS),
), grid_field="grid_code")

ENTITY_TYPES = ("enterprise", "individual_business", "public_institution", "social_organisation")
ENTITY_STATUS = ("active", "revoked", "cancelled")
LEGAL_ENTITIES = DatasetSpec("legal_entities", "legal_entities", "uscc", (
    F("uscc", "text", "统一社会信用代码", "Unified social credit code (GB 32100)", "public", check="uscc"),
    F("name", "text", "名称", "Name", "public"),
    F("entity_type", "text", "主体类型", "Type", "public", choices=ENTITY_TYPES),
    F("legal_rep_id", "text", "法定代表人身份号码", "Legal representative's ID number", "personal", "id_number",
      check="id_number"),
    F("legal_rep_name", "text", "法定代表人", "Legal representative", "personal", "name"),
    F("industry_code", "text", "行业代码", "Industry (GB/T 4754 section)", "public"),
    F("registered_capital", "numeric", "注册资本(万元)", "Registered capital (10k CNY)", "public"),
    F("address", "text", "住所", "Address", "public"),
    F("grid_code", "text", "所属网格", "Grid", "public", check="grid"),
    F("status", "text", "登记状态", "Status", "public", choices=ENTITY_STATUS),
    F("established_on", "date", "成立日期", "Established on", "public", check="past"),
    F("updated_on", "date", "变更日期", "Last changed on", "public", required=False, check="past"),
), grid_field="grid_code")

BUILDINGS = DatasetSpec("buildings", "buildings", "building_id", (
    F("building_id", "text", "建筑编码", "Building code", "public"),
    F("name", "text", "名称", "Name", "public"),
    F("address", "text", "地址", "Address", "public"),
    F("use", "text", "用途", "Use", "public", choices=("residential", "commercial", "public", "industrial")),
    F("floors", "int", "层数", "Floors", "public"),
    F("lon", "numeric", "经度", "Longitude", "public"),
    F("lat", "numeric", "纬度", "Latitude", "public"),
    F("grid_code", "text", "所属网格", "Grid", "public", check="grid"),
), grid_field="grid_code")

POIS = DatasetSpec("pois", "pois", "poi_id", (
    F("poi_id", "text", "兴趣点编码", "POI code", "public"),
    F("name", "text", "名称", "Name", "public"),
    F("category", "text", "类别", "Category", "public"),
    F("lon", "numeric", "经度", "Longitude", "public"),
    F("lat", "numeric", "纬度", "Latitude", "public"),
    F("grid_code", "text", "所属网格", "Grid", "public", check="grid"),
), grid_field="grid_code")

LICENCE_STATUS = ("valid", "expired", "revoked")
LICENCES = DatasetSpec("licences", "licences", "licence_no", (
    F("licence_no", "text", "证照编号", "Licence number"),
    F("licence_type", "text", "证照类型", "Licence type"),
    F("holder_type", "text", "持证主体类型", "Holder type", choices=("person", "entity")),
    F("holder_id", "text", "持证主体代码", "Holder ID (ID number or USCC)", "personal", "id_number"),
    F("holder_name", "text", "持证主体名称", "Holder name", "personal", "name"),
    F("issuer_dept", "text", "发证部门", "Issuing department"),
    F("issued_on", "date", "发证日期", "Issued on", check="past"),
    F("valid_until", "date", "有效期至", "Valid until", required=False),
    F("status", "text", "状态", "Status", choices=LICENCE_STATUS),
    F("content", "json", "证照内容", "Structured content", required=False),
    F("content_hash", "text", "内容摘要(SHA-256)", "Content hash (SHA-256)", required=False),
    F("grid_code", "text", "所属网格", "Grid", check="grid"),
), grid_field="grid_code")

CREDIT_TYPES = ("commendation", "penalty", "dishonesty", "honour")
CREDIT = DatasetSpec("credit", "credit_records", "record_no", (
    F("record_no", "text", "记录编号", "Record number"),
    F("subject_type", "text", "主体类型", "Subject type", choices=("person", "entity")),
    F("subject_id", "text", "主体代码", "Subject ID (ID number or USCC)", "personal", "id_number"),
    F("subject_name", "text", "主体名称", "Subject name", "personal", "name"),
    F("record_type", "text", "记录类型", "Record type", choices=CREDIT_TYPES),
    F("source_dept", "text", "来源部门", "Source department"),
    F("decided_on", "date", "认定日期", "Decided on", check="past"),
    F("valid_until", "date", "有效期至", "Valid until", required=False),
    F("status", "text", "状态", "Status", choices=("active", "repaired", "expired")),
    F("summary", "text", "事由", "Summary", required=False),
    F("grid_code", "text", "所属网格", "Grid", check="grid"),
), grid_field="grid_code")

BASE_DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (POPULATION, LEGAL_ENTITIES, BUILDINGS, POIS, LICENCES,
                                                               CREDIT)}

# --- row validation (the import and the API share it) -----------------------------

PHONE = re.compile(r"^1[3-9]\d{9}$")


class RowError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _convert(f: FieldSpec, v: Any) -> Any:
    if f.type == "text":
        return v if isinstance(v, str) else str(v)
    if f.type == "int":
        if isinstance(v, bool):
            raise ValueError("not an integer")
        if isinstance(v, int):
            return v
        s = str(v).strip()
        if not re.fullmatch(r"[+-]?\d+", s):
            raise ValueError(f"{v!r} is not an integer")
        return int(s)
    if f.type == "numeric":
        try:
            d = Decimal(str(v).strip())
        except InvalidOperation:
            raise ValueError(f"{v!r} is not a number") from None
        if not d.is_finite():
            raise ValueError(f"{v!r} is not a finite number")
        return float(d)
    if f.type == "date":
        if isinstance(v, datetime):
            return v.date()
        if isinstance(v, date):
            return v
        try:
            return date.fromisoformat(str(v).strip())
        except ValueError:
            raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)") from None
    if f.type == "timestamp":
        if isinstance(v, datetime):
            return v
        try:
            return datetime.fromisoformat(str(v).strip())
        except ValueError:
            raise ValueError(f"{v!r} is not a timestamp (ISO 8601)") from None
    if f.type == "json":
        if isinstance(v, dict | list):
            return v
        import json

        try:
            return json.loads(str(v))
        except ValueError:
            raise ValueError("is not JSON") from None
    raise ValueError(f"unknown type {f.type}")


def validate_row(spec: DatasetSpec, raw: dict[str, Any], today: date, grids: set[str] | None = None) -> dict[str, Any]:
    """A clean row for the table, or RowError naming the first bad field."""
    out: dict[str, Any] = {}
    for f in spec.fields:
        v = raw.get(f.name)
        if v is None or (isinstance(v, str) and v.strip() == ""):
            if f.required:
                raise RowError(f.name, "is required")
            out[f.name] = None
            continue
        try:
            v = _convert(f, v)
        except ValueError as exc:
            raise RowError(f.name, str(exc)) from None
        if isinstance(v, str):
            v = v.strip()
        if f.choices and v not in f.choices:
            raise RowError(f.name, f"{v!r} is not one of {', '.join(f.choices)}")
        problem = _check(f, v, today, grids)
        if problem:
            raise RowError(f.name, problem)
        out[f.name] = v
    if spec is POPULATION:
        born = id_number_birth(out["id_number"])
        if out["birth_date"] != born:
            raise RowError("birth_date", f"{out['birth_date']} differs from the ID number's birth date {born}")
        if (out["gender"] == "M") != id_number_male(out["id_number"]):
            raise RowError("gender", "differs from the ID number's gender digit")
    if spec is LICENCES and out["holder_type"] == "entity" and (p := uscc_problem(out["holder_id"])):
        raise RowError("holder_id", p)
    if spec is LICENCES and out["holder_type"] == "person" and (p := id_number_problem(out["holder_id"], today)):
        raise RowError("holder_id", p)
    return out


def _check(f: FieldSpec, v: Any, today: date, grids: set[str] | None) -> str | None:
    if f.check == "id_number":
        return id_number_problem(v, today)
    if f.check == "uscc":
        return uscc_problem(v)
    if f.check == "phone":
        return None if PHONE.match(v) else f"{v!r} is not an 11-digit mobile number"
    if f.check == "past" and isinstance(v, date) and v > today:
        return f"{v.isoformat()} is in the future"
    if f.check == "grid":
        if not (len(v) == 15 and v.isdigit()):
            return f"{v!r} is not a 15-digit grid code"
        if grids is not None and v not in grids:
            return f"grid {v} does not exist"
    return None


# --- the catalog's vocabularies ------------------------------------------------------

SHARING_TYPES = ("unconditional", "conditional", "not_shared")  # 无条件 / 有条件 / 不予共享
OPEN_TYPES = ("open", "conditional_open", "not_open")
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular")
SECURITY_LEVELS = ("L1", "L2", "L3", "L4")  # 1 public ... 4 core
DATASET_KINDS = ("base", "subject", "department")
NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")


@dataclass
class DatasetMeta:
    """Catalog metadata of one dataset, validated."""

    name: str
    title: str
    owner_org: str
    notes: str = ""
    kind: str = "department"
    sharing_type: str = "conditional"
    open_type: str = "not_open"
    update_frequency: str = "irregular"
    security_level: str = "L2"
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # lineage: datasets this one is derived from

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not NAME_RE.match(self.name or ""):
            out.append(("name", "must be 2-100 characters of lowercase letters, digits, - and _"))
        if not (self.title or "").strip():
            out.append(("title", "is required"))
        if not (self.owner_org or "").strip():
            out.append(("owner_org", "is required"))
        for attr, allowed in (("sharing_type", SHARING_TYPES), ("open_type", OPEN_TYPES),
                              ("update_frequency", FREQUENCIES), ("security_level", SECURITY_LEVELS),
                              ("kind", DATASET_KINDS)):
            if getattr(self, attr) not in allowed:
                out.append((attr, f"{getattr(self, attr)!r} is not one of {', '.join(allowed)}"))
        for i, fd in enumerate(self.fields):
            if not isinstance(fd, dict) or not fd.get("id"):
                out.append((f"fields[{i}].id", "is required"))
            elif fd.get("type", "text") not in (*TYPES, "float", "bool"):
                out.append((f"fields[{i}].type", f"{fd.get('type')!r} is not one of {', '.join(TYPES)}"))
            elif (fd.get("info") or {}).get("sensitivity", "internal") not in SENSITIVITY:
                out.append((f"fields[{i}].info.sensitivity", f"must be one of {', '.join(SENSITIVITY)}"))
        for i, t in enumerate(self.tags):
            if not isinstance(t, str) or not t.strip() or len(t) > 100:
                out.append((f"tags[{i}]", "must be a non-empty name of at most 100 characters"))
        return out


# --- datastore_search_sql: one read-only SELECT ----------------------------------

class SQLRefused(ValueError):
    pass


def check_select(sql: str, allowed_tables: set[str]) -> tuple[set[str], set[str]]:
    """Parse and validate: exactly one SELECT statement over the allowed tables.

    Returns (tables, referenced column names). Raises SQLRefused with the reason.
    """
    import sqlglot
    from sqlglot import exp

    if not sql or not sql.strip():
        raise SQLRefused("sql is required")
    if len(sql) > 10_000:
        raise SQLRefused("sql is longer than 10,000 characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise SQLRefused(f"cannot parse the SQL: {str(exc).splitlines()[0][:200]}") from None
    if len(statements) != 1:
        raise SQLRefused(f"exactly one statement is allowed, got {len(statements)}")
    stmt = statements[0]
    if not isinstance(stmt, exp.Query):
        raise SQLRefused(f"only SELECT is allowed, got {stmt.key.upper()}")
    forbidden = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Into,
                 exp.Merge, exp.TruncateTable, exp.Lock)
    for node in stmt.walk():
        if isinstance(node, forbidden):
            raise SQLRefused(f"{node.key.upper()} is not allowed in a read-only query")
        if isinstance(node, exp.Anonymous | exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name.startswith(("pg_", "lo_", "dblink", "set_config", "current_setting", "load_extension",
                                "readfile", "writefile", "query_to_xml")):
                raise SQLRefused(f"function {name} is not allowed")
    ctes = {c.alias_or_name.lower() for c in stmt.find_all(exp.CTE)}
    tables = {t.name.lower() for t in stmt.find_all(exp.Table) if t.name}
    unknown = sorted(t for t in tables - ctes if t not in allowed_tables)
    if unknown:
        raise SQLRefused(f"table {unknown[0]!r} is not a datastore resource; resources: {', '.join(sorted(allowed_tables))}")
    columns = {c.name.lower() for c in stmt.find_all(exp.Column)}
    for sel in stmt.find_all(exp.Select):
        if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
               for e in sel.expressions):
            columns.add("*")
    return tables - ctes, columns


# --- CKAN query helpers ----------------------------------------------------------------

FQ_TERM = re.compile(r'([+-]?)([A-Za-z_][\w.]*):("(?:[^"\\]|\\.)*"|\S+)')


def parse_fq(fq: str) -> list[tuple[str, str, bool]]:
    """Solr-style `field:value field:"quoted value" -field:value` → [(field, value, negated)]."""
    out: list[tuple[str, str, bool]] = []
    rest = fq.strip()
    pos = 0
    for m in FQ_TERM.finditer(rest):
        between = rest[pos:m.start()].strip()
        if between and between.upper() not in ("AND", "+"):
            raise ValueError(f"cannot read {between!r}; write field:value terms")
        sign, name, value = m.groups()
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        out.append((name, value, sign == "-"))
        pos = m.end()
    if rest[pos:].strip():
        raise ValueError(f"cannot read {rest[pos:].strip()!r}; write field:value terms")
    return out
