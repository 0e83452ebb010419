"""Test fixtures: real databases (SQLite always; PostgreSQL when
CITYOS_TEST_DATABASE_URL is set), the real app, a live server for real clients."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cityos.bootstrap import Platform, bootstrap
from cityos.core.clock import FixedClock
from cityos.core.config import Settings
from cityos.core.db import Database
from cityos.core.migrate import upgrade
from cityos.core.schema import load_all

PG_URL = os.environ.get("CITYOS_TEST_DATABASE_URL")
ENGINE = "postgresql" if PG_URL else "sqlite"


def pytest_report_header() -> str:
    return f"cityos test database: {ENGINE}" + (f" ({PG_URL})" if PG_URL else "")


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: a SQLite file copied per test, or the PostgreSQL database itself."""
    if PG_URL:
        db = Database(PG_URL if "+psycopg" in PG_URL else PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(db)
        db.dispose()
        return db.url
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return str(path)


def _truncate_all(db: Database) -> None:
    names = [t.name for t in reversed(load_all().sorted_tables)]
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> str:
    if PG_URL:
        db = Database(_template)
        _truncate_all(db)
        db.dispose()
        return _template
    target = tmp_path / "cityos.db"
    shutil.copy(_template, target)
    return f"sqlite:///{target}"


def make_settings(url: str, data_dir: Path) -> Settings:
    return Settings(database_url=url, data_dir=data_dir, env="test", geo_index_ttl_s=0.0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    p = bootstrap(make_settings(database_url, tmp_path / "data"))
    yield p
    p.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from cityos.web.app import create_app

    with TestClient(create_app(platform)) as c:
        yield c


# Seed steps most tests do not need (they would only slow every test down); a test that
# wants them seeds with `seed(p, skip=())`.
SKIPPED_STEPS = ("demo cases",)


def seed(p: Platform, scale: str = "S", seed_no: int = 1, skip: tuple[str, ...] = SKIPPED_STEPS) -> None:
    from cityos.demo.seed import resolve_scale, run_seed

    run_seed(p, resolve_scale(scale), seed_no, skip=skip)


@pytest.fixture
def seeded(platform: Platform) -> Platform:
    seed(platform)
    return platform


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, platform: Platform) -> None:
        import uvicorn

        from cityos.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(platform), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(seeded: Platform) -> Iterator[LiveServer]:
    with LiveServer(seeded) as server:
        yield server
