"""Who owns a case: hooks first (the grassroots responsibility lists register one),
then the category's responsibility mapping, then the territory (属地兜底)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from cityos.governance.model import Category, RoutingDecision, route_by_category, territorial

# (conn, category, chain {level: code}) -> a decision or None. Grassroots registers one.
RoutingHook = Callable[[Connection, Category, dict[str, str | None]], RoutingDecision | None]
HOOKS: list[RoutingHook] = []


def register_hook(hook: RoutingHook) -> None:
    if hook not in HOOKS:
        HOOKS.append(hook)


def route(conn: Connection, cat: Category, chain: dict[str, str | None]) -> RoutingDecision:
    for hook in HOOKS:
        decision = hook(conn, cat, chain)
        if decision is not None:
            return decision
    decision = route_by_category(cat, chain) or territorial(chain)
    if decision is None:
        from cityos.core.errors import ValidationError

        raise ValidationError("the case lies in no division of the city", field="location")
    return decision
