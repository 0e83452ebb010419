"""Errors every door (HTTP, CLI, MQTT, jobs) turns into a clear answer.

A domain error names the field (or item) at fault and the reason, so that the
person who sent it can fix it; the HTTP layer maps the class to a status code.
"""

from __future__ import annotations

from typing import Any


class CityOSError(Exception):
    """Base of every expected error: carries a machine code and a human message."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationError(CityOSError):
    status = 400
    code = "invalid"


class ConfigError(CityOSError):
    code = "config"


class NotFound(CityOSError):
    status = 404
    code = "not_found"


class Unauthenticated(CityOSError):
    status = 401
    code = "unauthenticated"


class Forbidden(CityOSError):
    status = 403
    code = "forbidden"


class Conflict(CityOSError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class TooLarge(CityOSError):
    status = 413
    code = "too_large"


class RateLimited(CityOSError):
    status = 429
    code = "rate_limited"


class Unavailable(CityOSError):
    status = 503
    code = "unavailable"
