""""One thing" (一件事一次办) scenarios: the definition, its checks, and the engine's rules. No IO.

A scenario declares one shared form, the matters (事项) of several departments it fans out
to, what each matter needs (materials, the e-licences other matters issue) and what it issues.
A submission is validated once and whole; it becomes one child application per matter;
a matter is queued at its department when everything it needs is there, so independent
matters run in parallel and dependent ones in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cityos.core.errors import Conflict, ValidationError
from cityos.data.model import id_number_problem, uscc_problem

# Departments a matter may name (dept_type of the org units seeded per city and district).
DEPARTMENT_TYPES = {
    "urban_management", "housing", "water", "emergency", "public_security", "planning", "civil_affairs", "health",
    "market_regulation", "transport", "ecology", "landscaping", "healthcare_security", "human_resources",
    "taxation", "housing_fund", "pboc",
}
FIELD_TYPES = ("text", "date", "id_number", "uscc", "phone", "enum", "bool", "number")
CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
SCENARIO_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")

# Child application states; a matter is "open" until completed.
MATTER_STATES = ("waiting", "queued", "accepted", "rejected", "completed")
SUBMISSION_STATES = ("in_progress", "needs_correction", "completed")


@dataclass(frozen=True)
class Prefill:
    dataset: str  # a base dataset (data.model.BASE_DATASETS)
    field: str

    @property
    def ref(self) -> str:
        return f"{self.dataset}.{self.field}"


@dataclass(frozen=True)
class FormField:
    name: str
    label_zh: str
    label_en: str
    type: str = "text"
    required: bool = True
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    prefill: Prefill | None = None


@dataclass(frozen=True)
class Material:
    code: str
    name_zh: str
    name_en: str
    required: bool = True


@dataclass(frozen=True)
class Matter:
    code: str
    name_zh: str
    name_en: str
    department: str  # dept_type
    level: str = "district"  # the applicant's district department, or the city's
    time_limit_days: int = 5
    fields: tuple[str, ...] = ()  # form fields this department receives
    materials: tuple[Material, ...] = ()
    requires: tuple[str, ...] = ()  # matter codes whose outputs this matter needs
    issues: tuple[str, ...] = ()  # e-licence types this matter issues


@dataclass(frozen=True)
class Scenario:
    code: str
    version: int
    name_zh: str
    name_en: str
    applicant: str  # person | entity
    description: str
    fields: tuple[FormField, ...]
    matters: tuple[Matter, ...]

    def matter(self, code: str) -> Matter:
        for m in self.matters:
            if m.code == code:
                return m
        raise KeyError(code)

    def field(self, name: str) -> FormField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def prefills(self) -> list[Prefill]:
        return [f.prefill for f in self.fields if f.prefill]

    def order(self) -> list[list[str]]:
        """The matters in dependency layers: each layer can run in parallel once the ones before completed."""
        return layers(self.matters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "version": self.version, "name_zh": self.name_zh, "name_en": self.name_en,
            "applicant": self.applicant, "description": self.description,
            "fields": [{"name": f.name, "label_zh": f.label_zh, "label_en": f.label_en, "type": f.type,
                        "required": f.required, "pattern": f.pattern, "choices": list(f.choices),
                        "prefill": f.prefill.ref if f.prefill else None} for f in self.fields],
            "matters": [{"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en, "department": m.department,
                         "level": m.level, "time_limit_days": m.time_limit_days, "fields": list(m.fields),
                         "materials": [{"code": x.code, "name_zh": x.name_zh, "name_en": x.name_en,
                                        "required": x.required} for x in m.materials],
                         "requires": list(m.requires), "issues": list(m.issues)} for m in self.matters],
        }


# --- parsing a definition: every error names the item -------------------------------------------

def _text(d: Mapping[str, Any], key: str, where: str, *, required: bool = True, limit: int = 200) -> str:
    v = d.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError("is required", field=f"{where}.{key}")
        return ""
    if not isinstance(v, str):
        raise ValidationError("must be text", field=f"{where}.{key}")
    if len(v) > limit:
        raise ValidationError(f"is longer than {limit} characters", field=f"{where}.{key}")
    return v.strip()


def _list(d: Mapping[str, Any], key: str, where: str) -> list[Any]:
    v = d.get(key, [])
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValidationError("must be a list", field=f"{where}.{key}")
    return v


def _mapping(v: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ValidationError("must be a mapping (key: value)", field=where)
    return v


def _code(v: Any, where: str, pattern: re.Pattern[str] = CODE) -> str:
    if not isinstance(v, str) or not pattern.match(v):
        raise ValidationError(f"{v!r} is not a valid code (lower-case letters, digits, {'-' if pattern is SCENARIO_CODE else '_'})",
                              field=where)
    return v


def parse_scenario(raw: Any, datasets: Mapping[str, Iterable[str]]) -> Scenario:
    """Check a definition whole; `datasets` maps each base dataset to its fields (for pre-fills)."""
    d = _mapping(raw, "definition")
    code = _code(d.get("code"), "code", SCENARIO_CODE)
    version = d.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError("must be a whole number from 1", field="version")
    applicant = d.get("applicant", "person")
    if applicant not in ("person", "entity"):
        raise ValidationError("must be person or entity", field="applicant")
    fields: list[FormField] = []
    for i, fr in enumerate(_list(d, "fields", "definition")):
        fields.append(_parse_field(_mapping(fr, f"fields[{i}]"), f"fields[{i}]", datasets))
    names = [f.name for f in fields]
    if not fields:
        raise ValidationError("a scenario needs at least one form field", field="fields")
    if dup := _first_duplicate(names):
        raise ValidationError(f"field {dup} is declared twice", field="fields")
    matters: list[Matter] = []
    for i, mr in enumerate(_list(d, "matters", "definition")):
        matters.append(_parse_matter(_mapping(mr, f"matters[{i}]"), f"matters[{i}]", set(names)))
    if len(matters) < 2:
        raise ValidationError("a one-thing scenario joins at least two matters", field="matters")
    codes = [m.code for m in matters]
    if dup := _first_duplicate(codes):
        raise ValidationError(f"matter {dup} is declared twice", field="matters")
    for m in matters:
        for r in m.requires:
            if r not in codes:
                raise ValidationError(f"matter {m.code} requires unknown matter {r}", field=f"matters.{m.code}.requires")
            if r == m.code:
                raise ValidationError(f"matter {m.code} requires itself", field=f"matters.{m.code}.requires")
    cycle = find_cycle(matters)
    if cycle:
        raise ValidationError("dependency cycle: " + " → ".join(cycle), field="matters",
                              details={"cycle": cycle})
    return Scenario(code=code, version=version, name_zh=_text(d, "name_zh", "definition"),
                    name_en=_text(d, "name_en", "definition"), applicant=applicant,
                    description=_text(d, "description", "definition", required=False, limit=2000),
                    fields=tuple(fields), matters=tuple(matters))


def _first_duplicate(items: list[str]) -> str | None:
    seen: set[str] = set()
    for x in items:
        if x in seen:
            return x
        seen.add(x)
    return None


def _parse_field(d: Mapping[str, Any], where: str, datasets: Mapping[str, Iterable[str]]) -> FormField:
    name = _code(d.get("name"), f"{where}.name")
    where = f"fields.{name}"
    ftype = d.get("type", "text")
    if ftype not in FIELD_TYPES:
        raise ValidationError(f"unknown type {ftype!r}; one of {', '.join(FIELD_TYPES)}", field=f"{where}.type")
    choices = tuple(str(c) for c in _list(d, "choices", where))
    if ftype == "enum" and not choices:
        raise ValidationError("an enum field lists its choices", field=f"{where}.choices")
    pattern = d.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ValidationError(f"is not a valid regular expression: {exc}", field=f"{where}.pattern") from None
    prefill = None
    if (pf := d.get("prefill")) is not None:
        if not isinstance(pf, str) or pf.count(".") != 1:
            raise ValidationError("must be DATASET.FIELD, e.g. population.name", field=f"{where}.prefill")
        ds, fname = pf.split(".")
        if ds not in datasets:
            raise ValidationError(f"unknown dataset {ds!r}; base datasets: {', '.join(sorted(datasets))}",
                                  field=f"{where}.prefill")
        if fname not in set(datasets[ds]):
            raise ValidationError(f"dataset {ds} has no field {fname!r}", field=f"{where}.prefill")
        prefill = Prefill(ds, fname)
    required = d.get("required", True)
    if not isinstance(required, bool):
        raise ValidationError("must be true or false", field=f"{where}.required")
    return FormField(name=name, label_zh=_text(d, "label_zh", where), label_en=_text(d, "label_en", where),
                     type=ftype, required=required, pattern=str(pattern) if pattern is not None else None,
                     choices=choices, prefill=prefill)


def _parse_matter(d: Mapping[str, Any], where: str, field_names: set[str]) -> Matter:
    code = _code(d.get("code"), f"{where}.code")
    where = f"matters.{code}"
    dept = d.get("department")
    if dept not in DEPARTMENT_TYPES:
        raise ValidationError(f"unknown department {dept!r}; one of {', '.join(sorted(DEPARTMENT_TYPES))}",
                              field=f"{where}.department")
    level = d.get("level", "district")
    if level not in ("city", "district"):
        raise ValidationError("must be city or district", field=f"{where}.level")
    limit = d.get("time_limit_days", 5)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 60:
        raise ValidationError("must be a whole number of days from 1 to 60", field=f"{where}.time_limit_days")
    fields = tuple(str(f) for f in _list(d, "fields", where))
    for f in fields:
        if f not in field_names:
            raise ValidationError(f"matter {code} receives unknown form field {f}", field=f"{where}.fields")
    materials = []
    for i, mr in enumerate(_list(d, "materials", where)):
        m = _mapping(mr, f"{where}.materials[{i}]")
        mc = _code(m.get("code"), f"{where}.materials[{i}].code")
        materials.append(Material(mc, _text(m, "name_zh", f"{where}.materials.{mc}"),
                                  _text(m, "name_en", f"{where}.materials.{mc}"), bool(m.get("required", True))))
    if dup := _first_duplicate([m.code for m in materials]):
        raise ValidationError(f"material {dup} is listed twice", field=f"{where}.materials")
    return Matter(code=code, name_zh=_text(d, "name_zh", where), name_en=_text(d, "name_en", where),
                  department=dept, level=level, time_limit_days=limit, fields=fields, materials=tuple(materials),
                  requires=tuple(str(r) for r in _list(d, "requires", where)),
                  issues=tuple(str(x) for x in _list(d, "issues", where)))


def find_cycle(matters: Iterable[Matter]) -> list[str]:
    """A dependency cycle as a path (first node repeated at the end), or [] when there is none."""
    deps = {m.code: list(m.requires) for m in matters}
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return []

    for code in deps:
        if code not in colour and (found := visit(code)):
            return found
    return []


def layers(matters: Iterable[Matter]) -> list[list[str]]:
    deps = {m.code: set(m.requires) for m in matters}
    done: set[str] = set()
    out: list[list[str]] = []
    while len(done) < len(deps):
        layer = sorted(c for c, req in deps.items() if c not in done and req <= done)
        if not layer:  # parse_scenario refuses cycles; this guards direct callers
            raise ValidationError("dependency cycle", field="matters")
        out.append(layer)
        done.update(layer)
    return out


def check_grants(scenario: Scenario, granted: set[str]) -> None:
    """Every pre-filled field needs a grant of its dataset field to this scenario (data owner's approval)."""
    for f in scenario.fields:
        if f.prefill and f.prefill.ref not in granted and f"{f.prefill.dataset}.*" not in granted:
            raise ValidationError(f"field {f.name} is pre-filled from {f.prefill.ref}, which is not granted to "
                                  f"scenario {scenario.code}", field=f"fields.{f.name}.prefill")


# --- a submission: validated once, whole -------------------------------------------------------

def check_form(scenario: Scenario, form: Mapping[str, Any], only: Iterable[str] | None = None) -> dict[str, Any]:
    """The clean form values; the first wrong field raises (naming it). `only` checks a subset (a correction)."""
    names = set(only) if only is not None else None
    unknown = sorted(set(form) - {f.name for f in scenario.fields})
    if unknown:
        raise ValidationError(f"unknown form field {unknown[0]}", field=f"form.{unknown[0]}")
    out: dict[str, Any] = {}
    for f in scenario.fields:
        if names is not None and f.name not in names:
            continue
        v = form.get(f.name)
        if v is None or (isinstance(v, str) and not v.strip()):
            if f.required:
                raise ValidationError(f"{f.label_en} is required", field=f"form.{f.name}")
            continue
        out[f.name] = _check_value(f, v)
    return out


def _check_value(f: FormField, v: Any) -> Any:
    where = f"form.{f.name}"
    if f.type == "bool":
        if not isinstance(v, bool):
            raise ValidationError("must be true or false", field=where)
        return v
    if f.type == "number":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValidationError("must be a number", field=where)
        return v
    if not isinstance(v, str):
        raise ValidationError("must be text", field=where)
    v = v.strip()
    if len(v) > 500:
        raise ValidationError("is longer than 500 characters", field=where)
    if f.type == "date":
        try:
            date.fromisoformat(v)
        except ValueError:
            raise ValidationError(f"{v!r} is not a date (YYYY-MM-DD)", field=where) from None
    elif f.type == "id_number":
        if problem := id_number_problem(v):
            raise ValidationError(problem, field=where)
    elif f.type == "uscc":
        if problem := uscc_problem(v):
            raise ValidationError(problem, field=where)
    elif f.type == "phone" and not PHONE.match(v):
        raise ValidationError("is not a mobile number (11 digits starting with 1)", field=where)
    elif f.type == "enum" and v not in f.choices:
        raise ValidationError(f"{v!r} is not one of {', '.join(f.choices)}", field=where)
    if f.pattern and not re.fullmatch(f.pattern, v):
        raise ValidationError(f"does not match the pattern {f.pattern}", field=where)
    return v


def check_materials(scenario: Scenario, materials: Mapping[str, Any], only: Iterable[str] | None = None
                    ) -> dict[str, dict[str, str]]:
    """Materials per matter: {matter: {material: reference}}; every required one must be there."""
    wanted = set(only) if only is not None else None
    unknown = sorted(set(materials) - {m.code for m in scenario.matters})
    if unknown:
        raise ValidationError(f"unknown matter {unknown[0]}", field=f"materials.{unknown[0]}")
    out: dict[str, dict[str, str]] = {}
    for m in scenario.matters:
        if wanted is not None and m.code not in wanted:
            continue
        given = materials.get(m.code) or {}
        if not isinstance(given, Mapping):
            raise ValidationError("must map material codes to file references", field=f"materials.{m.code}")
        known = {x.code for x in m.materials}
        for k in given:
            if k not in known:
                raise ValidationError(f"matter {m.code} takes no material {k}", field=f"materials.{m.code}.{k}")
        clean: dict[str, str] = {}
        for x in m.materials:
            ref = given.get(x.code)
            if ref is None or (isinstance(ref, str) and not ref.strip()):
                if x.required:
                    raise ValidationError(f"{x.name_en} ({x.name_zh}) is missing for {m.name_en}",
                                          field=f"materials.{m.code}.{x.code}")
                continue
            if not isinstance(ref, str) or len(ref) > 300:
                raise ValidationError("must be a file reference (text, at most 300 characters)",
                                      field=f"materials.{m.code}.{x.code}")
            clean[x.code] = ref.strip()
        out[m.code] = clean
    return out


@dataclass
class Child:
    """One matter of a submission, as the engine sees it."""

    matter: str
    state: str
    outputs: dict[str, str] = field(default_factory=dict)  # licence type -> licence number


def ready_to_queue(scenario: Scenario, children: Mapping[str, Child]) -> list[str]:
    """Waiting matters whose required matters have all completed, in definition order."""
    out = []
    for m in scenario.matters:
        c = children[m.code]
        if c.state == "waiting" and all(children[r].state == "completed" for r in m.requires):
            out.append(m.code)
    return out


def inputs_for(scenario: Scenario, matter: str, children: Mapping[str, Child]) -> dict[str, str]:
    """The e-licences a matter receives from the matters it requires."""
    out: dict[str, str] = {}
    for r in scenario.matter(matter).requires:
        out.update(children[r].outputs)
    return out


def submission_state(children: Iterable[Child]) -> str:
    states = [c.state for c in children]
    if all(s == "completed" for s in states):
        return "completed"
    if any(s == "rejected" for s in states):
        return "needs_correction"
    return "in_progress"


MATTER_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("queued",), "accepted"),
    "complete": (("queued", "accepted"), "completed"),
    "reject": (("queued", "accepted"), "rejected"),
}


def next_matter_state(action: str, state: str) -> str:
    if action not in MATTER_ACTIONS:
        raise ValidationError(f"unknown action {action!r}; one of {', '.join(MATTER_ACTIONS)}", field="action")
    allowed, to = MATTER_ACTIONS[action]
    if state not in allowed:
        raise Conflict(f"a matter that is {state} cannot be {action}ed", field="action")
    return to
