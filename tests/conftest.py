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

from cityos.bootstrap import Platform, bootstrap
from cityos.core.clock import FixedClock
from cityos.core.config import Settings
from cityos.core.db import Database
from cityos.core.migrate import upgrade

PG_URL = os.environ.get("CITYOS_TEST_DATABASE_URL")
ENGINE = "postgresql" if PG_URL else "sqlite"


def pytest_report_header() -> str:
    return f"cityos test database: {ENGINE}" + (f" ({PG_URL})" if PG_URL else "")


def _pg(url: str) -> str:
    return url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://")


def _pg_admin(sql: str) -> None:
    import psycopg

    assert PG_URL
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)


def _pg_db_url(name: str) -> str:
    assert PG_URL
    return _pg(PG_URL.rsplit("/", 1)[0] + "/" + name)


_PG_BASE = (PG_URL or "x/cityos").rsplit("/", 1)[1]
_counter = iter(range(1, 1_000_000))


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file copied per test, or a PostgreSQL template
    database that each test's database is created from (CREATE DATABASE ... TEMPLATE)."""
    if PG_URL:
        name = f"{_PG_BASE}_tpl"
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}"')
        db = Database(_pg_db_url(name))
        upgrade(db)
        db.dispose()
        yield name
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    yield str(path)


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        name = f"{_PG_BASE}_t{next(_counter)}"
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"')
        yield _pg_db_url(name)
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    target = tmp_path / "cityos.db"
    shutil.copy(_template, target)
    yield f"sqlite:///{target}"


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


@pytest.fixture(scope="session")
def _seeded_template(_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The S demo city, seeded once per session and copied per test (a file or a template database)."""
    if PG_URL:
        name = f"{_PG_BASE}_seeded"
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"')
        p = bootstrap(make_settings(_pg_db_url(name), tmp_path_factory.mktemp("seeded")))
        seed(p)
        p.close()
        yield name
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    shutil.copy(_template, path)
    p = bootstrap(make_settings(f"sqlite:///{path}", path.parent / "data"))
    seed(p)
    p.close()
    yield str(path)


@pytest.fixture
def seeded(request: pytest.FixtureRequest, database_url: str, _seeded_template: str) -> Iterator[Platform]:
    """The platform on a copy of the seeded S city (ask for it before `platform`/`client`)."""
    if PG_URL:
        name = database_url.rsplit("/", 1)[1]
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_seeded_template}"')
    else:
        target = database_url.split("///", 1)[1]
        shutil.copy(_seeded_template, target)
        for suffix in ("-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
    platform: Platform = request.getfixturevalue("platform")
    yield platform


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
