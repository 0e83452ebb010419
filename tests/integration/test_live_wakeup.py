"""Live streams are read on commit, not on the clock: with the fallback poll set to ten
minutes, emergency rings still reach the four levels' streams (real server, real SSE
clients). A write from another process reaches them through PostgreSQL LISTEN/NOTIFY, on
SQLite through the fallback poll. Nothing is lost or sent twice, and nobody sees a ring
outside their units."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cityos.bootstrap import Platform, bootstrap
from cityos.core.db import signal
from cityos.governance.command import handlers as h
from cityos.governance.settings import case_settings
from cityos.identity.handlers import SignIn
from cityos.identity.seed import DEMO_PASSWORD
from tests.conftest import ENGINE, LiveServer, make_settings
from tests.integration.test_case_loop import grid_point

LEVELS = {"grid": "grid.member", "township": "township.operator", "district": "district.operator",
          "city": "city.operator"}


def _poll(monkeypatch: pytest.MonkeyPatch, seconds: float) -> Iterator[None]:
    monkeypatch.setenv("CITYOS_SSE_POLL_S", str(seconds))
    monkeypatch.setenv("CITYOS_SSE_HEARTBEAT_S", "0.5")
    case_settings.cache_clear()
    yield
    case_settings.cache_clear()


@pytest.fixture
def no_poll(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fallback poll so slow that only a wake-up can deliver within the test."""
    yield from _poll(monkeypatch, 600)


class Stream:
    """One user's `/api/v1/notifications/stream`, read in a thread until `want` rings came and
    then until the next heartbeat, so anything queued behind them (a duplicate) shows up too.
    A stream that wants none reads until the first heartbeat after `finish`."""

    def __init__(self, base: str, user: str, want: int) -> None:
        r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD})
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.base, self.user, self.want = base, user, want
        self.rings: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            with httpx.stream("GET", f"{self.base}/api/v1/notifications/stream", headers=self.headers,
                              timeout=httpx.Timeout(60.0)) as resp:
                assert resp.status_code == 200
                for line in resp.iter_lines():
                    if line.startswith("retry:"):
                        self.ready.set()  # subscribed: every ring committed from now on comes
                    elif line.startswith("data:"):
                        row = json.loads(line[5:])
                        if row["kind"] == "emergency.ring":
                            self.rings.append(row)
                    elif line == ": heartbeat" and (len(self.rings) >= self.want if self.want else self.done.is_set()):
                        return  # a stream idle after all it waits for (or, wanting none, after `finish`)
        except BaseException as exc:  # shown by the test
            self.error = exc

    def finish(self) -> None:
        self.done.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), f"{self.user}: the stream did not end"
        assert self.error is None, f"{self.user}: {self.error!r}"


def _open(base: str, want: int) -> tuple[dict[str, Stream], Stream]:
    streams = {level: Stream(base, user, want) for level, user in LEVELS.items()}
    outsider = Stream(base, "grid.head", 0)  # a village unit: none of the four rung units
    for s in [*streams.values(), outsider]:
        assert s.ready.wait(30), f"{s.user}: not subscribed ({s.error!r})"
    return streams, outsider


def _check(streams: dict[str, Stream], outsider: Stream, numbers: set[str], grid: str) -> None:
    units = {"grid": f"G-{grid}", "township": f"C-{grid[:9]}", "district": f"C-{grid[:6]}", "city": f"C-{grid[:2]}0000"}
    for level, s in streams.items():
        s.finish()
        got = [r["title"].rsplit(" ", 1)[-1] for r in s.rings]
        assert sorted(got) == sorted(numbers), f"{level}: every ring once, none lost"
        assert {r["recipient_unit"] for r in s.rings} == {units[level]}
    outsider.finish()
    assert outsider.rings == [], "a user of none of the rung units sees no ring"


def test_concurrent_emergencies_reach_all_four_streams_on_commit(seeded: Platform, no_poll: None) -> None:
    lon, lat, grid = grid_point(seeded)
    n = 12
    with LiveServer(seeded) as server:
        streams, outsider = _open(server.url, n)
        member = streams["grid"].headers
        numbers: set[str] = set()
        lock = threading.Lock()

        def report(i: int) -> None:
            r = httpx.post(f"{server.url}/api/v1/emergencies", headers=member, timeout=60,
                           json={"category": "E0401", "description": f"路面塌陷 #{i}", "lon": lon, "lat": lat})
            assert r.status_code == 201, r.text
            with lock:
                numbers.add(r.json()["number"])

        threads = [threading.Thread(target=report, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(numbers) == n
        _check(streams, outsider, numbers, grid)


@pytest.fixture
def slow_poll_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # PostgreSQL: only NOTIFY can deliver in time. SQLite has no cross-process signal: the poll must.
    yield from _poll(monkeypatch, 600 if ENGINE == "postgresql" else 0.2)


def test_a_write_from_another_process_reaches_the_streams(seeded: Platform, slow_poll_on_sqlite: None,
                                                          database_url: str, tmp_path: Path) -> None:
    lon, lat, grid = grid_point(seeded)
    other = bootstrap(make_settings(database_url, tmp_path / "other"))  # its own engine: no in-process wake-up
    try:
        member = other.bus.handle(SignIn("grid.member", DEMO_PASSWORD))
        with LiveServer(seeded) as server:
            streams, outsider = _open(server.url, 2)
            numbers = {h.report_emergency(other, h.ReportEmergency(member, "E0401", f"塌陷 {i}", lon=lon, lat=lat))["number"]
                       for i in range(2)}
            _check(streams, outsider, numbers, grid)
    finally:
        other.close()


def test_commit_callbacks_follow_commits_only(platform: Platform) -> None:
    """`signal` wakes the `on_commit` callbacks of its channel after a commit, never after a rollback."""
    calls: list[str] = []
    stop = platform.db.on_commit("notifications", lambda: calls.append("notifications"))
    platform.db.on_commit("other", lambda: calls.append("other"))
    with platform.db.begin() as conn:
        signal(conn, "notifications")
        signal(conn, "notifications")  # once per transaction
        assert calls == [], "not before the commit"
    assert calls == ["notifications"]
    with pytest.raises(RuntimeError), platform.db.begin() as conn:
        signal(conn, "notifications")
        raise RuntimeError("rolled back")
    with platform.db.begin() as conn:
        conn.execute(text("SELECT 1"))  # the mark of the rolled-back transaction is not carried over
    assert calls == ["notifications"]
    stop()
    with platform.db.begin() as conn:
        signal(conn, "notifications")
    assert calls == ["notifications"]
