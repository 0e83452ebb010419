"""Assembles the platform once per process: settings, database, clock, bus, services.

Every door (web app, CLI, worker, MQTT ingest, tests) gets its dependencies from one
`Platform`, built here, instead of reaching for globals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cityos.core.bus import MessageBus
from cityos.core.clock import Clock, SystemClock
from cityos.core.config import Settings, load_settings
from cityos.core.db import Database
from cityos.core.schema import load_all
from cityos.geo.index import GeoService

# Each context adds a function here that registers its command handlers, event
# subscribers and job kinds on the platform (the one place wiring happens).
Wiring = Callable[["Platform"], None]
WIRINGS: list[Wiring] = []


def wiring(fn: Wiring) -> Wiring:
    WIRINGS.append(fn)
    return fn


@dataclass
class Platform:
    settings: Settings
    db: Database
    clock: Clock
    bus: MessageBus
    geo: GeoService
    extras: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        self.db.dispose()


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None, pool_size: int = 10) -> Platform:
    settings = settings or load_settings()
    load_all()
    db = Database(settings.resolved_database_url, pool_size=pool_size, busy_timeout_s=settings.db_busy_timeout_s)
    platform = Platform(
        settings=settings,
        db=db,
        clock=clock or SystemClock(),
        bus=MessageBus(),
        geo=GeoService(db, ttl=settings.geo_index_ttl_s),
    )
    _import_wirings()
    for wire in WIRINGS:
        wire(platform)
    return platform


def _import_wirings() -> None:
    # Importing a context's handlers module registers its wiring function.
    import cityos.core.worker  # noqa: F401
    from cityos.contexts import modules

    modules("handlers")
