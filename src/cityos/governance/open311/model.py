"""Open311 GeoReport v2, the rules of the standard. No IO.

Service attributes (the extra questions of a category) in the six datatypes of the
specification, validated on POST; W3C datetimes with the city's zone; the document
shapes of both formats (XML is required by the standard, JSON optional).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cityos.core.errors import ValidationError

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
MAX_DESCRIPTION = 4000
MAX_FIELD = 500


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    description: str
    required: bool = False
    variable: bool = True
    order: int = 1
    datatype_description: str = ""
    values: tuple[tuple[str, str], ...] = ()  # (key, name) for the list types

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"variable": self.variable, "code": self.code, "datatype": self.datatype,
                             "required": self.required, "datatype_description": self.datatype_description or None,
                             "order": self.order, "description": self.description}
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            d["values"] = [{"key": k, "name": n} for k, n in self.values]
        return d


def attribute_from_dict(raw: dict[str, Any]) -> Attribute:
    dt = raw.get("datatype")
    if dt not in DATATYPES:
        raise ValidationError(f"datatype must be one of {', '.join(DATATYPES)}", field=f"attributes.{raw.get('code')}")
    values = tuple((str(v["key"]), str(v["name"])) for v in raw.get("values", []))
    return Attribute(str(raw["code"]), dt, str(raw.get("description", "")), bool(raw.get("required", False)),
                     bool(raw.get("variable", True)), int(raw.get("order", 1)),
                     str(raw.get("datatype_description", "")), values)


def parse_w3c(raw: str, field: str) -> datetime:
    """A W3C datetime (ISO 8601 with a zone), e.g. 2010-01-01T00:00:00Z or ...+08:00."""
    try:
        dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{raw!r} is not a W3C datetime like 2026-11-25T09:00:00+08:00", field=field) from None
    if dt.tzinfo is None:
        raise ValidationError("the datetime needs a time zone (Z or +08:00)", field=field)
    return dt


def w3c(dt: datetime | None, tz: Any) -> str | None:
    return None if dt is None else dt.astimezone(tz).isoformat(timespec="seconds")


def check_attributes(attrs: list[Attribute], given: dict[str, list[str]]) -> dict[str, Any]:
    """Validate attribute[code] values against the service definition; return them typed."""
    by_code = {a.code: a for a in attrs}
    unknown = sorted(set(given) - set(by_code))
    if unknown:
        raise ValidationError(f"unknown attribute(s): {', '.join(unknown)}", field=f"attribute[{unknown[0]}]")
    out: dict[str, Any] = {}
    for a in attrs:
        values = [v for v in given.get(a.code, []) if v != ""]
        name = f"attribute[{a.code}]"
        if not values:
            if a.required and a.variable:
                raise ValidationError(f"is required: {a.description}", field=name)
            continue
        if a.datatype != "multivaluelist" and len(values) > 1:
            raise ValidationError("takes one value", field=name)
        v = values[0]
        if a.datatype in ("string", "text"):
            limit = MAX_FIELD if a.datatype == "string" else MAX_DESCRIPTION
            if len(v) > limit:
                raise ValidationError(f"must be at most {limit} characters", field=name)
            out[a.code] = v
        elif a.datatype == "number":
            try:
                f = float(v)
            except ValueError:
                raise ValidationError(f"must be a number, got {v!r}", field=name) from None
            if math.isnan(f) or math.isinf(f):
                raise ValidationError("must be a finite number", field=name)
            out[a.code] = f
        elif a.datatype == "datetime":
            out[a.code] = parse_w3c(v, name).isoformat()
        else:
            keys = {k for k, _ in a.values}
            bad = [x for x in values if x not in keys]
            if bad:
                raise ValidationError(f"{bad[0]!r} is not one of {', '.join(sorted(keys))}", field=name)
            out[a.code] = values if a.datatype == "multivaluelist" else v
    return out


# --- the two formats --------------------------------------------------------------------------

def to_xml(root: str, item: str | None, data: Any) -> bytes:
    """Render the standard's XML: a root element holding `item` elements (or one object).

    Written as strings, not through ElementTree: building and serialising the tree was most
    of an XML `requests` answer of 1,000 requests. The output is the one ElementTree gives
    (`<k />` for an empty value, text escaped the same way)."""
    out = ["<?xml version='1.0' encoding='utf-8'?>\n"]
    if item is None:
        _element(out, root, data)
    else:
        _element(out, root, [], items=(item, data))
    return "".join(out).encode()


_LIST_ITEM = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format",
              "keywords": "keyword"}


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _element(out: list[str], tag: str, obj: Any, items: tuple[str, list[Any]] | None = None) -> None:
    """<tag>content</tag>, or <tag /> when there is no content."""
    mark = len(out)
    out.append(f"<{tag}>")
    if items is not None:
        for x in items[1]:
            _element(out, items[0], x)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            # Scalars inline (no call per field): the common shape, 18 fields x 1,000 requests.
            if v is None or v == "":
                out.append(f"<{k} />")
            elif isinstance(v, str):
                out.append(f"<{k}>{_escape(v)}</{k}>")
            elif isinstance(v, bool):
                out.append(f"<{k}>{'true' if v else 'false'}</{k}>")
            elif isinstance(v, (int, float)):
                out.append(f"<{k}>{v}</{k}>")
            elif isinstance(v, list):
                _element(out, k, None, items=(_LIST_ITEM.get(k, "item"), v))
            else:
                _element(out, k, v)
    elif obj is not None:
        text = ("true" if obj else "false") if isinstance(obj, bool) else str(obj)
        if text:
            out.append(_escape(text))
    if len(out) == mark + 1:
        out[mark] = f"<{tag} />"
    else:
        out.append(f"</{tag}>")
