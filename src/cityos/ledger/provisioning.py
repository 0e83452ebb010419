"""Integrated provisioning (一体化配置): approving an application item provisions access
through the module that owns the resource type.

A module registers a provisioner for its type: `PROVISIONERS["data"] = fn` (the data
service gateway does, creating its grant). A provisioner runs inside the approval's
transaction (so a failure undoes the approval) and returns details recorded on the
ledger's grant row. Types without their own provisioner get `record_grant`, which only
records the grant (and logs it) for the owner to act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from cityos.core.logging import get_logger

log = get_logger("cityos.ledger.provisioning")


@dataclass(frozen=True)
class ProvisionRequest:
    application_id: int
    item_id: int
    resource: dict[str, Any]  # the ledger row
    grantee: str  # the applicant's user name
    grantee_unit: str
    request: dict[str, Any]  # what was asked for (quota, fields, purpose ...)
    approved_by: str
    now: datetime


Provisioner = Callable[[Connection, ProvisionRequest], dict[str, Any]]


def record_grant(conn: Connection, req: ProvisionRequest) -> dict[str, Any]:
    """The default: the grant row is the record; the owner configures access from it."""
    log.info("ledger.grant.recorded", resource=req.resource["code"], grantee=req.grantee, unit=req.grantee_unit,
             application=req.application_id)
    return {"provisioned": "recorded", "request": req.request}


PROVISIONERS: dict[str, Provisioner] = {}


def provisioner_for(rtype: str) -> tuple[str, Provisioner]:
    fn = PROVISIONERS.get(rtype)
    if fn is None:
        return "record", record_grant
    return getattr(fn, "__name__", rtype), fn
