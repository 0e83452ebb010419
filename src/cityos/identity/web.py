"""How the web doors find out who is asking: API key / bearer token / session cookie."""

from __future__ import annotations

import hmac
from dataclasses import replace

from fastapi import Request

from cityos.core.errors import Forbidden, RateLimited
from cityos.identity.handlers import credential_actor, session_actor
from cityos.identity.model import ANONYMOUS, Actor
from cityos.web.deps import get_platform

SESSION_COOKIE = "cityos_session"
# Defaults of the settings CITYOS_RATE_LIMIT_KEY_PER_MINUTE / CITYOS_RATE_LIMIT_IP_PER_MINUTE.
PER_KEY_PER_MINUTE = 6000
PER_IP_PER_MINUTE = 3000


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def rate_limit(request: Request, key: str, limit: int) -> None:
    limiter = get_platform(request).extras.get("ratelimiter")
    if limiter is None:
        return
    wait = limiter.hit(key, limit)  # type: ignore[attr-defined]
    if wait is not None:
        raise RateLimited(f"too many requests; retry after {wait} s", field=key.split(":", 1)[0],
                          details={"retry_after": wait})


def presented_secret(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or None


def resolve_actor(request: Request) -> Actor:
    """The actor of this request (cached on request.state). Invalid credentials raise 401."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    p = get_platform(request)
    ip = client_ip(request)
    purpose = (request.headers.get("x-purpose") or "").strip()[:200] or None
    rate_limit(request, f"ip:{ip}", p.settings.rate_limit_ip_per_minute)
    secret = presented_secret(request)
    actor: Actor
    if secret:
        actor = credential_actor(p, secret, ip)
        rate_limit(request, f"key:{secret[:12]}", p.settings.rate_limit_key_per_minute)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        found = session_actor(p, token, ip) if token else None
        if found:
            actor, csrf = found
            request.state.csrf = csrf
        else:
            actor = replace(ANONYMOUS, ip=ip)
            if token:
                _audit_bad_session(request, actor)
    if purpose:
        actor = replace(actor, purpose=purpose)
    request.state.actor = actor
    return actor


def _audit_bad_session(request: Request, actor: Actor) -> None:
    from cityos.identity import audit

    p = get_platform(request)
    with p.db.begin() as conn:
        audit.record(conn, actor, "auth.failed", "session", None, p.clock.now(),
                     details={"reason": "unknown, ended or expired session cookie", "path": request.url.path})


def current_actor(request: Request) -> Actor:
    """FastAPI dependency: the actor, anonymous when no credential was presented."""
    return resolve_actor(request)


def check_csrf(request: Request, token: str | None) -> None:
    expected = getattr(request.state, "csrf", None)
    if not expected or not token or not hmac.compare_digest(expected, token):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again", field="csrf_token")
