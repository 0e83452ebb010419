"""Request-scoped access to the platform assembled at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from cityos.bootstrap import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform
