"""Turns every error into a clear answer in the format of the door it came through.

Native API: `{"error": {"code", "message", "field"}}`. Standard doors (OGC, Open311,
CKAN) register their own renderers by path prefix. Unexpected exceptions are logged
and answered 500 without internals; a database that is away answers 503.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityos.core.db import unavailable
from cityos.core.errors import CityOSError, Unavailable, ValidationError
from cityos.core.logging import get_logger

log = get_logger("cityos.web")

Renderer = Callable[[Request, CityOSError], Response]
RENDERERS: list[tuple[str, Renderer]] = []


def register_renderer(prefix: str, renderer: Renderer) -> None:
    RENDERERS.append((prefix, renderer))
    RENDERERS.sort(key=lambda pr: -len(pr[0]))


def native(request: Request, exc: CityOSError) -> Response:
    headers = {"Retry-After": str(exc.details.get("retry_after", 1))} if exc.status in (429, 503) and isinstance(
        exc.details, dict) else ({"Retry-After": "5"} if exc.status == 503 else None)
    return JSONResponse({"error": exc.as_dict()}, status_code=exc.status, headers=headers)


def ogc(request: Request, exc: CityOSError) -> Response:
    code = {400: "InvalidParameterValue", 404: "NotFound"}.get(exc.status, exc.code)
    return JSONResponse({"code": code, "description": str(exc)}, status_code=exc.status)


register_renderer("/ogc", ogc)


def html_page(request: Request, exc: CityOSError) -> Response:
    from cityos.web.pages import render as render_page

    return render_page(request, "error.html", status_code=exc.status, error=exc)


def render(request: Request, exc: CityOSError) -> Response:
    path = request.url.path
    for prefix, renderer in RENDERERS:
        if path.startswith(prefix):
            return renderer(request, exc)
    if "text/html" in request.headers.get("accept", "") and not path.startswith(("/api/", "/static/")):
        return html_page(request, exc)
    return native(request, exc)


def _audit_denial(request: Request, exc: CityOSError) -> None:
    """Every refusal for lack of role or scope leaves an audit record (who tried what, where)."""
    from cityos.identity import audit
    from cityos.identity.model import ANONYMOUS

    try:
        p = request.app.state.platform
        actor = getattr(request.state, "actor", None) or ANONYMOUS
        with p.db.begin() as conn:
            audit.record(conn, actor, "access.denied", "request", f"{request.method} {request.url.path}"[:120],
                         p.clock.now(), details={"reason": str(exc)[:500]})
    except Exception as err:  # the refusal must still be answered if the audit cannot be written
        log.error("audit.denial_failed", error=repr(err)[:300])


def install(app: FastAPI) -> None:
    @app.exception_handler(CityOSError)
    async def _domain(request: Request, exc: CityOSError) -> Response:
        if exc.status == 403:
            _audit_denial(request, exc)
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": ["body"], "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg")} for e in exc.errors()]
        return render(request, ValidationError(str(first.get("msg")), field=field or None, details=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        err = CityOSError(str(exc.detail))
        err.status = exc.status_code
        err.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return render(request, err)

    @app.exception_handler(OperationalError)
    async def _db_away(request: Request, exc: OperationalError) -> Response:
        log.warning("database.unavailable", path=request.url.path, error=str(exc.orig)[:200])
        answer = unavailable(exc) or Unavailable("the database is not reachable right now; try again shortly")
        return render(request, answer)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("request.failed", path=request.url.path, error=repr(exc)[:500], exc_info=exc)
        err = CityOSError("internal error; it has been logged")
        err.status = 500
        err.code = "internal"
        return render(request, err)
