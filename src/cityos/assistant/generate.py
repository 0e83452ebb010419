"""The optional generative backend: any OpenAI-compatible chat-completions endpoint
(CITYOS_ASSISTANT_LLM_URL, e.g. a local llama.cpp server at http://127.0.0.1:8080/v1).

It only phrases an answer from records the asker may see (the search hits, already scoped) and
must cite them; without the setting, or when the endpoint fails, the assistant answers with the
templates and the search hits, as before. Nothing here is needed for the platform to work."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from cityos.core.config import Settings

log = logging.getLogger("cityos.assistant")

SYSTEM_PROMPT = ("You answer questions of a city operation centre's staff. Use only the records given; cite each "
                 "record you use by its number in square brackets, e.g. [2026112500000001]. If the records do "
                 "not answer the question, say so. Answer in the language of the question, briefly.")


def records_text(hits: dict[str, Any]) -> str:
    lines = [f"category {c['category']}: {c.get('name_zh', '')} / {c.get('name_en', '')}" for c in hits["categories"][:3]]
    lines += [f"case [{c['number']}] state={c['state']} category={c['category']} node={c['node']}: {c['title']}"
              for c in hits["cases"]]
    return "\n".join(lines)


def answer(settings: Settings, question: str, hits: dict[str, Any]) -> dict[str, Any] | None:
    """{"text", "model"} from the endpoint, or None (not configured, or it failed: logged)."""
    if not settings.assistant_llm_url:
        return None
    headers = {"Authorization": f"Bearer {settings.assistant_llm_key}"} if settings.assistant_llm_key else {}
    body = {"model": settings.assistant_llm_model, "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": f"Question: {question}\n\nRecords:\n{records_text(hits)}"}]}
    try:
        r = httpx.post(settings.assistant_llm_url.rstrip("/") + "/chat/completions", json=body, headers=headers,
                       timeout=settings.assistant_llm_timeout_s)
        r.raise_for_status()
        data = r.json()
        text = str(data["choices"][0]["message"]["content"]).strip()
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        log.warning("assistant: the generative backend at %s failed (%s); answering with search hits",
                    settings.assistant_llm_url, exc)
        return None
    return {"text": text, "model": str(data.get("model") or settings.assistant_llm_model)}
