"""Assistant API: classify (top 3 + routing), corrections, duplicates, search, ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from cityos.assistant import handlers as h
from cityos.identity.model import Actor
from cityos.identity.web import current_actor
from cityos.web.deps import get_platform

router = APIRouter(prefix="/api/v1/assistant", tags=["assistant"])


class ClassifyIn(BaseModel):
    text: str = Field(description="the case description, Chinese or English (at most 4000 characters)")
    lon: float | None = None
    lat: float | None = None
    node: str | None = Field(None, max_length=15, description="a division code, when there is no point")
    k: int = 3


class CorrectionIn(BaseModel):
    text: str
    category: str = Field(max_length=5, description="the right subclass code")
    suggested: str | None = Field(None, max_length=5, description="what the assistant suggested")
    case_id: int | None = None


class AskIn(BaseModel):
    question: str


@router.post("/classify", summary="Suggest the top subclasses (with confidence) and the responsible unit")
def classify(request: Request, body: ClassifyIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.classify(get_platform(request), actor, body.text, body.lon, body.lat, body.node, body.k)


@router.post("/corrections", status_code=201, summary="Record an operator's correction (a new labelled example)")
def correction(request: Request, body: CorrectionIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.record_correction(get_platform(request), actor, body.text, body.category, body.suggested, body.case_id)


@router.get("/cases/{case_id}/duplicates", summary="Likely duplicates: same meaning, near in space and time")
def duplicates(request: Request, case_id: int, limit: int = Query(10, ge=1, le=50),
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.duplicates(get_platform(request), actor, case_id, limit)


@router.get("/search", summary="Hybrid search over categories and the cases in your scope")
def search(request: Request, q: str = Query(""), limit: int = Query(10, ge=1, le=50),
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.search(get_platform(request), actor, q, limit)


@router.post("/ask", summary="Answer a question from the platform's own data, within your scope, with citations")
def ask(request: Request, body: AskIn, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return h.ask(get_platform(request), actor, body.question)
