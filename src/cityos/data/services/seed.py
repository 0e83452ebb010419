"""Seed step: the shipped data service interfaces, and a demo consumer with its grants."""

from __future__ import annotations

from cityos.data.services import handlers as h
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.identity.model import SYSTEM


@seed_step("data service interfaces", order=35, total=lambda scale: 1)
def seed_services(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    published = h.publish_shipped(p, SYSTEM)
    h.register_consumer(p, h.RegisterConsumer(SYSTEM, "grid-app", "网格通 Grid app", "civil_affairs"))
    granted = h.apply(p, h.Apply(SYSTEM, "grid-app", ("person.verify", "grid.enterprises", "geo.locate_point",
                                                      "credit.status"),
                                 "网格员入户走访核验 (grid members verify households on visits)",
                                 "《重庆市公共数据管理办法》", 2000))
    pending = h.apply(p, h.Apply(SYSTEM, "grid-app", ("building.residents", "household.members"),
                                 "网格人口台账更新 (keeping the grid ledger of residents up to date)",
                                 "《重庆市公共数据管理办法》", 500))
    tick(1)
    return {"interfaces": len(published), "granted": len(granted["grants"]), "pending": len(pending["grants"]),
            "consumer": "grid-app (credentials: POST /api/v1/ds/consumers/grid-app/credentials)"}
