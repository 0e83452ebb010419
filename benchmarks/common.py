"""Helpers the benchmarks (and the scale-out test) share: free ports, the `cityos` command, the
load average, a private Mosquitto, PostgreSQL databases made from a seeded template.

Import it as `benchmarks.common` (scripts put the repository root on sys.path first).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# The system broker on 1883 keeps Mosquitto's defaults; a private one raises the queue limits
# (max_queued_messages 1000 per client drops QoS 1 messages once a consumer that acknowledges
# after commit falls that far behind) and may keep its queues on disk.
BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence {persistence}
{persistence_location}
autosave_interval 1
max_queued_messages {max_queued}
max_queued_bytes 0
max_inflight_messages 0
log_type error
log_dest stderr
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cityos_bin() -> str:
    here = Path(sys.executable).parent / "cityos"
    return str(here) if here.exists() else "cityos"


def load() -> str:
    """The load average, written next to every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


class Broker:
    """A Mosquitto of our own on 127.0.0.1:port (the system one on 1883 is left alone). With
    `persistent` its sessions and queued messages are saved to disk (a restart keeps them)."""

    def __init__(self, port: int | None = None, *, persistent: bool = False, max_queued: int = 5_000_000) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="cityos-mqtt-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(BROKER_CONF.format(
                port=self.port, persistence="true" if persistent else "false", max_queued=max_queued,
                persistence_location=f"persistence_location {self.dir}/" if persistent else ""))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", self.conf], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file first
            self.proc.wait(20)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_broker(port: int | None = None, **kw: object) -> Iterator[Broker]:
    b = Broker(port, **kw)  # type: ignore[arg-type]
    b.start()
    try:
        yield b
    finally:
        b.close()


def pg_admin(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(sql)


def pg_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0] + "/" + name
    return base if "+psycopg" in base else base.replace("postgresql://", "postgresql+psycopg://")


def pg_database_from(admin_url: str, template: str, name: str) -> str:
    """A fresh database `name` copied from `template` (CREATE DATABASE ... TEMPLATE); its URL."""
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return pg_url(admin_url, name)


def pg_seeded_template(admin_url: str, name: str, scale: str = "S") -> str:
    """A migrated database with the demo city at `scale`, made once and kept (by name)."""
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return name
    work = name + "_building"
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    pg_admin(admin_url, f'CREATE DATABASE "{work}"')
    env = dict(os.environ, CITYOS_DATABASE_URL=pg_url(admin_url, work), CITYOS_DATA_DIR=tempfile.mkdtemp(),
               CITYOS_LOG_LEVEL="WARNING")
    subprocess.run([cityos_bin(), "demo", "seed", "--scale", scale], env=env, check=True, capture_output=True)
    pg_admin(admin_url, f'ALTER DATABASE "{work}" RENAME TO "{name}"')
    return name
