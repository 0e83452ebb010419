"""`cityos serve --workers N`: several processes share one listening socket, and that socket has
TCP_NODELAY so keep-alive answers are not held back by Nagle's algorithm."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn

from cityos.bootstrap import Platform
from cityos.cli import listening_socket
from tests.conftest import free_port


def test_the_shared_listening_socket_has_tcp_nodelay() -> None:
    config = uvicorn.Config("cityos.web.app:create_app", factory=True, host="127.0.0.1", port=0, workers=2)
    sock = listening_socket(config)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_two_server_processes_answer_on_one_keep_alive_connection(platform: Platform, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, CITYOS_DATABASE_URL=platform.settings.resolved_database_url,
               CITYOS_DATA_DIR=str(tmp_path), CITYOS_ENV="test")
    cityos = str(Path(sys.executable).parent / "cityos")
    server = subprocess.Popen([cityos, "serve", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            # Until a process listens: on a loaded 2-core machine starting two processes takes
            # well over 15 s, so wait by a generous deadline and stop early if the server died.
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, "cityos serve exited while starting"
                assert time.monotonic() < deadline, "cityos serve did not answer /healthz in 120 s"
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            answers = [http.get("/readyz") for _ in range(20)]
        assert [r.status_code for r in answers] == [200] * 20
        assert answers[-1].json()["status"] == "ready"
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()[-2000:]
