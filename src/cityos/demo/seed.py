"""Runs the demo seed steps in order. Contexts add their own steps with `seed_step`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cityos.core.errors import ValidationError
from cityos.demo.scales import SCALES, Scale

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

# A progress reporter: (total or None, advance) -> None
Progress = Callable[[int], None]


@dataclass(frozen=True)
class SeedContext:
    platform: Platform
    scale: Scale
    seed: int


@dataclass(frozen=True)
class SeedStep:
    name: str
    order: int
    total: Callable[[Scale], int]
    run: Callable[[SeedContext, Progress], dict[str, int | str]]


STEPS: list[SeedStep] = []


def seed_step(name: str, order: int, total: Callable[[Scale], int]) -> Callable[
        [Callable[[SeedContext, Progress], dict[str, int | str]]], Callable[[SeedContext, Progress], dict[str, int | str]]]:
    def deco(fn: Callable[[SeedContext, Progress], dict[str, int | str]]) -> Callable[[SeedContext, Progress], dict[str, int | str]]:
        STEPS.append(SeedStep(name, order, total, fn))
        return fn

    return deco


def load_steps() -> list[SeedStep]:
    from cityos.contexts import modules

    modules("seed")
    return sorted({s.name: s for s in STEPS}.values(), key=lambda s: s.order)


def resolve_scale(name: str) -> Scale:
    try:
        return SCALES[name.upper()]
    except KeyError:
        raise ValidationError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}", field="scale") from None


def run_seed(platform: Platform, scale: Scale, seed: int,
             progress_factory: Callable[[str, int], Progress] | None = None,
             skip: Collection[str] = ()) -> dict[str, dict[str, int | str]]:
    """Run every seed step in order, except those named in `skip` (tests skip the bulky ones they do not need)."""
    ctx = SeedContext(platform, scale, seed)
    results: dict[str, dict[str, int | str]] = {}
    for step in load_steps():
        if step.name in skip:
            continue
        tick = progress_factory(step.name, step.total(scale)) if progress_factory else (lambda n: None)
        results[step.name] = step.run(ctx, tick)
    return results
