"""The web application, assembled in one place: routers of every context, error
rendering, security headers, size limits, metrics, health."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cityos import __version__
from cityos.core.errors import TooLarge
from cityos.web import errors
from cityos.web.metrics import HTTP_LATENCY, HTTP_REQUESTS

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Everything the pages load is served by CityOS itself; tiles are the one
    # configurable exception and are added to img-src when a tile URL is set.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: {tiles}; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}


def create_app(platform: Platform | None = None) -> FastAPI:
    from cityos.bootstrap import bootstrap
    from cityos.core.logging import configure

    served = platform is None
    if platform is None:
        platform = bootstrap()
        configure(platform.settings.log_level)
    app = FastAPI(
        title="CityOS API",
        version=__version__,
        description="Native API of CityOS (/api/v1/) and its standard doors: OGC API - Features (/ogc/).",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    errors.install(app)
    _middleware(app, platform)
    _health(app, platform)
    _routers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="CityOS API",
                                   swagger_js_url="/static/vendor/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    if served:
        # The served process keeps its startup objects (modules, metadata, compiled statements):
        # out of the collector's sight, a full collection after a 1,000-row answer no longer walks
        # them all (those pauses were the 100-180 ms outliers of Open311 GET on 2 cores).
        gc.freeze()
    return app


def _routers(app: FastAPI) -> None:
    from cityos.contexts import modules
    from cityos.web.pages import router as pages_router

    for kind in ("api", "pages"):
        for module in modules(kind):
            app.include_router(module.router)
    app.include_router(pages_router)


def _middleware(app: FastAPI, platform: Platform) -> None:
    limit = platform.settings.max_request_bytes
    tiles = platform.settings.tile_url
    tile_origin = ""
    if tiles:
        from urllib.parse import urlparse

        u = urlparse(tiles.replace("{s}", "a"))
        tile_origin = f"{u.scheme}://{u.netloc}"
    headers = {k: v.replace("{tiles}", tile_origin) for k, v in SECURITY_HEADERS.items()}

    app.add_middleware(_Guard, limit=limit, headers=headers)


class _Guard:
    """Size limit, metrics and security headers, as a plain ASGI middleware: Starlette's
    `@app.middleware("http")` (BaseHTTPMiddleware) runs each request through a task group and
    memory streams, a cost every API call paid."""

    def __init__(self, app: Any, limit: int, headers: dict[str, str]) -> None:
        self.app = app
        self.limit = limit
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope["headers"]:
            if k == b"content-length":
                if not v.isdigit() or int(v) > self.limit:
                    request = Request(scope, receive)
                    response = errors.render(request, TooLarge(f"request body over {self.limit} bytes",
                                                               field="Content-Length"))
                    await response(scope, receive, send)
                    return
                break
        docs = scope["path"].startswith("/docs")
        status = [500]

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                raw = list(message.get("headers", []))
                have = {k.lower() for k, _v in raw}
                for k, v in self.headers:
                    # Swagger UI's page needs inline scripts; its assets are served by FastAPI's defaults.
                    if k not in have and not (docs and k == b"content-security-policy"):
                        raw.append((k, v))
                message = {**message, "headers": raw}
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], name, str(status[0])).inc()
            HTTP_LATENCY.labels(scope["method"], name).observe(time.perf_counter() - t0)


def _health(app: FastAPI, platform: Platform) -> None:
    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"], summary="Ready to serve: the database answers and its schema is current")
    def readyz() -> JSONResponse:
        from cityos.core.migrate import is_current

        try:
            platform.db.ping()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
                                status_code=503)
        if not is_current(platform.db):
            return JSONResponse({"status": "unavailable", "database": "schema not current; run `cityos db upgrade`"},
                                status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        from cityos.contexts import modules

        # Contexts whose figures live in the database set their gauges now (`refresh(platform)` in their
        # `metrics` module), so every process answers with the same values.
        for module in modules("metrics"):
            refresh = getattr(module, "refresh", None)
            if refresh is not None:
                try:
                    refresh(platform)
                except Exception:  # a failing figure must not take the others down
                    from cityos.core.logging import get_logger

                    get_logger("cityos.metrics").warning("metrics.refresh_failed", module=module.__name__,
                                                         exc_info=True)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
