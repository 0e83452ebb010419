"""The assistant's pages: suggestions for a case text (accept or correct them: each becomes a
labelled example), duplicate suggestions (also loaded into the case page), questions with cited
answers, and the evaluation figures of the shipped model.

A refused or bad input is shown on the page with the reason, never as a server error."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityos.assistant import handlers as h
from cityos.assistant.evaluate import REPORT_FILE
from cityos.core.errors import CityOSError, ValidationError
from cityos.governance import handlers as gh
from cityos.identity.model import Actor
from cityos.identity.web import check_csrf, resolve_actor
from cityos.web.deps import get_platform
from cityos.web.pages import add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(150, "/assistant", "nav.assistant")


def _report() -> dict[str, Any] | None:
    try:
        return dict(json.loads(REPORT_FILE.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _int(raw: str, field: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError("must be a case id (digits)", field=field)
    return int(raw)


def _page(request: Request, actor: Actor, text: str = "", node: str = "", case_id: str = "", case: str = "",
          q: str = "", saved: str = "", error: str | None = None, status: int = 200) -> Response:
    p = get_platform(request)
    ctx: dict[str, Any] = {"text": text, "node": node, "case_id": case_id, "q": q, "saved": saved, "result": None,
                           "dup_case": case, "dups": [], "dup_error": None, "answer": None, "error": error}
    try:
        if text.strip():
            ctx["result"] = h.classify(p, actor, text, node=node.strip() or None)
        if q.strip():
            ctx["answer"] = h.ask(p, actor, q)
    except CityOSError as exc:
        ctx["error"], status = str(exc), 400 if status == 200 else status
    if case.strip():
        try:
            cid = _int(case, "case")
            ctx["dups"] = h.duplicates(p, actor, cid)["duplicates"] if cid is not None else []
        except CityOSError as exc:
            ctx["dup_error"] = str(exc)
    cats = sorted(gh.catalog(p).get().categories.items())
    return render(request, "assistant/index.html", status_code=status, categories=cats, report=_report(),
                  can_correct=actor.can("assistant.correct"), csrf=getattr(request.state, "csrf", ""), **ctx)


@router.get("/assistant")
def assistant_page(request: Request, text: str = "", node: str = "", case_id: str = "", case: str = "",
                   q: str = "", saved: str = "") -> Response:
    actor = resolve_actor(request)
    if not actor.authenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
    return _page(request, actor, text, node, case_id, case, q, saved)


@router.post("/assistant/feedback")
def feedback(request: Request, csrf_token: str = Form(""), text: str = Form(""), category: str = Form(""),
             suggested: str = Form(""), case_id: str = Form(""), node: str = Form("")) -> Response:
    """Accepting a suggestion or correcting it records the text with its right subclass."""
    actor = resolve_actor(request)
    p = get_platform(request)
    try:
        check_csrf(request, csrf_token)
        h.record_correction(p, actor, text, category, suggested or None, _int(case_id, "case_id"))
    except CityOSError as exc:
        status = 403 if exc.__class__.__name__ in ("Forbidden", "Unauthenticated") else 400
        return _page(request, actor, text, node, case_id, error=str(exc), status=status)
    query = urlencode({"text": text, "node": node, "case_id": case_id, "saved": category})
    return RedirectResponse(f"/assistant?{query}", status_code=303)


@router.get("/assistant/cases/{case_id:int}/duplicates")
def duplicates_fragment(request: Request, case_id: int) -> Response:
    """The duplicate suggestions as an HTML fragment (the case page loads it with htmx)."""
    actor = resolve_actor(request)
    dups: list[dict[str, Any]] = []
    error = None
    try:
        dups = h.duplicates(get_platform(request), actor, case_id)["duplicates"]
    except CityOSError as exc:
        error = str(exc)
    return render(request, "assistant/_duplicates.html", dups=dups, error=error)
