"""The rooms of the house. Each context's modules are found by name, so adding a
context (or a store, handlers, api, pages or seed step to one) needs no edit to a
shared list: `store` (tables), `handlers` (wiring onto the bus), `api` (router),
`pages` (router), `seed` (demo seed steps), `labels` (bilingual UI labels)."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

CONTEXTS: tuple[str, ...] = (
    "core",
    "geo",
    "identity",
    "governance",
    "governance.open311",
    "governance.command",
    "grassroots",
    "perception",
    "data",
    "data.rail",
    "ledger",
    "scenarios",
    "assistant",
    "dashboard",
)


def modules(kind: str) -> list[ModuleType]:
    """Import `cityos.<context>.<kind>` for every context that has one, in context order."""
    found = []
    for ctx in CONTEXTS:
        name = f"cityos.{ctx}.{kind}"
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(importlib.import_module(name))
    return found
