"""Demo seed: publish the shipped "one thing" scenarios, grant them their pre-fill fields, and link
the demo citizen to a resident of the population database so pre-fill has a record to read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.identity.model import SYSTEM
from cityos.scenarios import handlers as h
from cityos.scenarios import store

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

DEFINITIONS = Path(__file__).parent / "definitions"


def shipped() -> list[Path]:
    return sorted(DEFINITIONS.glob("*.yaml"))


def install_shipped(p: Platform) -> list[str]:
    """Publish each shipped definition not yet published, with its pre-fill grants (idempotent)."""
    done = []
    for path in shipped():
        source = path.read_text(encoding="utf-8")
        sc = h.validate_definition(source)
        refs = sorted({f.prefill.ref for f in sc.fields if f.prefill})
        if refs:
            h.grant_data(p, SYSTEM, sc.code, refs)
        with p.db.read() as conn:
            exists = store.definition(conn, sc.code, sc.version) is not None
        if not exists:
            h.publish_scenario(p, h.PublishScenario(SYSTEM, source))
        done.append(sc.code)
    return done


@seed_step("one-thing scenarios", order=65, total=lambda scale: len(shipped()) + 1)
def seed_scenarios(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    codes = install_shipped(p)
    tick(len(codes))
    with p.db.begin() as conn:
        linked = store.link_demo_citizen(conn, "citizen")
    tick(1)
    return {"scenarios": ", ".join(codes), "citizen is resident": linked or "none found"}
