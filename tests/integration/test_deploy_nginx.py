"""The shipped nginx configuration (deploy/nginx/cityos.conf) is valid, and proxies to the API
processes it lists: checked with the real nginx (Debian's, unpacked by `scripts/setup --test`
into .venv/nginx when it is not installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "cityos.conf"


def nginx_bin() -> str | None:
    local = Path(sys.prefix) / "nginx" / "usr" / "sbin" / "nginx"
    return shutil.which("nginx") or (str(local) if local.exists() else None)


pytestmark = pytest.mark.skipif(nginx_bin() is None, reason="nginx is not installed (scripts/setup --test unpacks it)")


def wrapper(tmp: Path, site: str) -> Path:
    """A whole nginx.conf around the site file, with every path under tmp (runs as any user)."""
    (tmp / "site.conf").write_text(site)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
    return conf


def test_the_shipped_configuration_passes_nginx_t(tmp_path: Path) -> None:
    conf = wrapper(tmp_path, CONF.read_text())
    r = subprocess.run([str(nginx_bin()), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr


def test_nginx_with_it_spreads_requests_and_skips_a_dead_process(live_server: LiveServer, tmp_path: Path) -> None:
    port = free_port()
    dead = free_port()  # nothing listens there: a killed API process
    site = (CONF.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};").replace("listen [::]:80;", "")
            .replace("server 127.0.0.1:8001", f"server 127.0.0.1:{live_server.port}")
            .replace("server 127.0.0.1:8002", f"server 127.0.0.1:{dead}"))
    proc = subprocess.Popen([str(nginx_bin()), "-p", str(tmp_path), "-c", str(wrapper(tmp_path, site)), "-e", "stderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(100):
                try:
                    http.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            answers = [http.get("/readyz").status_code for _ in range(10)]
            assert answers == [200] * 10  # the refused connections went to the live process
            r = http.post("/api/v1/auth/token", data={"username": "admin", "password": "cityos-demo-2026"})
            assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(10)
