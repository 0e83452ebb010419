"""Several server processes on one port, each with a listening socket of its own (SO_REUSEPORT).

uvicorn's `--workers` shares one socket: each process's event loop accepts as many pending
connections as it can when it wakes, so a burst of keep-alive clients (a load balancer's
pool, a benchmark) lands on one process while the others idle. With a socket per process the
kernel spreads new connections evenly over them. Linux only; elsewhere `cityos serve` uses
uvicorn's own workers.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from typing import Any


def _socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Passed on to every accepted connection (see cityos.cli.listening_socket: without it each
    # answer on a keep-alive connection waits for the client's delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int) -> None:
    import uvicorn

    config = uvicorn.Config("cityos.web.app:create_app", factory=True, host=host, port=port, log_level="warning",
                            proxy_headers=True)
    uvicorn.Server(config).run(sockets=[_socket(host, port)])


def serve_reuseport(host: str, port: int, workers: int) -> None:
    """Run `workers` server processes until SIGINT/SIGTERM; a process that dies is started again."""
    ctx = multiprocessing.get_context("spawn")
    # Bound here first, so that a port in use fails at once, in this process (kept open: the
    # port stays ours while a worker restarts).
    guard = _socket(host, port)
    procs: list[Any] = []
    stopping = False

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        procs = [ctx.Process(target=_worker, args=(host, port), daemon=False) for _ in range(workers)]
        for proc in procs:
            proc.start()
        while not stopping:
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    procs[i] = ctx.Process(target=_worker, args=(host, port), daemon=False)
                    procs[i].start()
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # uvicorn finishes the requests under way on SIGTERM
        for proc in procs:
            proc.join(30)
        guard.close()
