"""Assistant use cases: classify and route, record corrections, duplicates, search, answers.

The classifier is built per process from the category catalogue (descriptions), the labelled
evaluation train split shipped with the package, and the operators' corrections in the database;
it is rebuilt when the catalogue or the corrections change (revision counters), so a correction
improves later suggestions without a code change."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select

from cityos.assistant import evalset, generate, store
from cityos.assistant.classifier import KnnClassifier
from cityos.assistant.descriptions import DESCRIPTIONS
from cityos.assistant.model import (
    DUP_HOURS,
    MAX_CHARS,
    Example,
    SpaceTimeIndex,
    TfidfEncoder,
    duplicate_score,
    make_encoder,
    metres_between,
)
from cityos.assistant.tune import Tuning, load_settings
from cityos.core.errors import NotFound, ValidationError
from cityos.core.store import bump_revision, read_revision
from cityos.geo import store as geo_store
from cityos.geo.model import LEVELS, level_of
from cityos.governance import handlers as gh
from cityos.governance import store as gstore
from cityos.governance.model import Category
from cityos.governance.routing import route
from cityos.identity import audit
from cityos.identity.model import OPERATORS, Actor, allow
from cityos.identity.store import in_scope

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

log = logging.getLogger("cityos.assistant")

allow((*OPERATORS, "dispatcher"), "assistant.correct")
allow(("system_admin",), "assistant.correct")


def current_tuning() -> Tuning:
    """The settings chosen on the dev split (`data/settings.json`); the category weight can be
    overridden per deployment with CITYOS_ASSISTANT_CATEGORY_WEIGHT."""
    t = load_settings()
    raw = os.environ.get("CITYOS_ASSISTANT_CATEGORY_WEIGHT", "").strip()
    return replace(t, category_weight=float(raw)) if raw else t


def category_text(c: Category) -> str:
    return f"{c.name_zh} {c.name_en} {c.filing_condition} {DESCRIPTIONS.get(c.code, '')}"


def model_name() -> str:
    return os.environ.get("CITYOS_ASSISTANT_MODEL", "tfidf").strip().lower() or "tfidf"


def build_classifier(categories: dict[str, Category], corrections: list[dict[str, Any]],
                     model: str | None = None, train: list[dict[str, Any]] | None = None,
                     tuning: Tuning | None = None) -> KnnClassifier:
    """Examples: the subclass descriptions, the shipped labelled texts (train and dev; never test)
    unless `train` is given, and the operators' corrections. Deterministic: no random state."""
    t = tuning or current_tuning()
    examples = [Example(category_text(c), code, t.category_weight, "category") for code, c in sorted(categories.items())]
    rows = evalset.load(("train", "dev")) if train is None else train
    examples += [Example(r["text"], r["category"]) for r in rows if r["category"] in categories]
    # a correction weighs a little more than a subclass description (the heaviest shipped example):
    # the operator has the last word on texts like the one corrected
    examples += [Example(r["text"], r["category"], 1.2 * max(1.0, t.category_weight), "correction") for r in corrections
                 if r["category"] in categories]
    enc = make_encoder(model or model_name())
    if isinstance(enc, TfidfEncoder):
        enc.max_n, enc.class_spread = t.max_n, t.class_spread
    return KnnClassifier(enc, temperature=t.temperature, blend=t.blend, ridge=t.ridge, lam=t.lam,
                         hierarchy=t.hierarchy).fit(examples)


class AssistantService:
    def __init__(self, p: Platform, ttl: float = 5.0) -> None:
        self.p = p
        self.ttl = ttl
        self._clf: KnnClassifier | None = None
        self._key: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._dup = SpaceTimeIndex()
        self._dup_lock = threading.Lock()
        self._recent: set[int] = set()

    def classifier(self) -> KnnClassifier:
        if self._clf is not None and time.monotonic() - self._checked < self.ttl:
            return self._clf
        with self._lock:
            cat = gh.catalog(self.p).get()
            with self.p.db.read() as conn:
                key = (cat.revision, read_revision(conn, store.EXAMPLES_REVISION))
                corrections = store.load_examples(conn) if key != self._key else []
            if self._clf is None or key != self._key:
                self._clf = build_classifier(cat.categories, corrections)
                self._key = key
                log.info("assistant: classifier built with %d examples (%s)", len(self._clf.examples),
                         self._clf.encoder.name)
            self._checked = time.monotonic()
            return self._clf

    def invalidate(self) -> None:
        self._checked = 0.0

    def dup_index(self) -> SpaceTimeIndex:
        """The space-time index of located cases, caught up with the cases table by id on every call
        (one indexed read); the first call loads every located case."""
        with self._dup_lock:
            ix = self._dup
            c = gstore.cases
            # ids are taken from a sequence but committed in any order: look back a little and skip
            # the ids already indexed, so a case committed late is not missed
            since = max(0, ix.last_id - RECHECK_IDS)
            with self.p.db.read() as conn:
                while True:
                    rows = conn.execute(select(c.c.id, c.c.lat, c.c.lon, c.c.created_at)
                                        .where(c.c.id > since, c.c.lat.is_not(None), c.c.lon.is_not(None))
                                        .order_by(c.c.id).limit(CATCH_UP_BATCH)).all()
                    if not rows:
                        break
                    fresh = [r for r in rows if r[0] not in self._recent]
                    if len(fresh) > 1000:  # a bulk load: straight into the sorted arrays
                        arr = np.array([(r[0], r[1], r[2], r[3].timestamp()) for r in fresh], dtype=np.float64)
                        ix.add_arrays(arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3])
                        self._recent.update(int(r[0]) for r in fresh[-RECHECK_IDS:])
                    else:
                        ix.add((int(r[0]), float(r[1]), float(r[2]), r[3].timestamp()) for r in fresh)
                        self._recent.update(int(r[0]) for r in fresh)
                    since = int(rows[-1][0])
                    if len(rows) < CATCH_UP_BATCH:
                        break
            if len(self._recent) > 4 * RECHECK_IDS:
                self._recent = {i for i in self._recent if i > ix.last_id - RECHECK_IDS}
            return ix


RECHECK_IDS = 1000
CATCH_UP_BATCH = 200_000


def service(p: Platform) -> AssistantService:
    svc = p.extras.get("assistant.service")
    if svc is None:
        svc = AssistantService(p)
        p.extras["assistant.service"] = svc
    return svc  # type: ignore[return-value]


def check_text(text: Any, field: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("must not be empty", field=field)
    if len(text) > MAX_CHARS:
        raise ValidationError(f"must be at most {MAX_CHARS} characters (has {len(text)})", field=field)
    if "\x00" in text:
        raise ValidationError("must not contain NUL characters", field=field)
    return text.strip()


# --- classification and routing -------------------------------------------------------------

def classify(p: Platform, actor: Actor, text: Any, lon: Any = None, lat: Any = None,
             node: str | None = None, k: int = 3) -> dict[str, Any]:
    body = check_text(text)
    if not 1 <= k <= 10:
        raise ValidationError("must be between 1 and 10", field="k")
    clf = service(p).classifier()
    suggestions = clf.predict([body], k=k)[0]
    cat = gh.catalog(p).get().categories
    chain: dict[str, Any] | None = None
    if lon is not None or lat is not None or node:
        chain = gh._chain_for(p, gh.ReportCase(actor=actor, category="", description=body, lon=lon, lat=lat, node=node))
    out = []
    best = suggestions[0].score if suggestions else 0.0
    with p.db.read() as conn:
        for s in suggestions:
            c = cat[s.category]
            item: dict[str, Any] = {**s.as_dict(), "name_zh": c.name_zh, "name_en": c.name_en, "emergency": c.emergency}
            if chain is not None:
                item["routing"] = route(conn, c, chain).as_dict()
            out.append(item)
    # a text in no language the model knows (or gibberish) shares almost no word with any example
    coverage = getattr(clf.encoder, "coverage", None)
    low = best < 0.08 or (coverage is not None and coverage(body) < 0.3)
    return {"suggestions": out, "model": clf.encoder.name, "low_confidence": low,
            "note": "the text resembles no known case; choose the category by hand" if low else None}


def record_correction(p: Platform, actor: Actor, text: Any, category: Any, suggested: str | None = None,
                      case_id: int | None = None) -> dict[str, Any]:
    actor.require("assistant.correct")
    body = check_text(text)
    if not isinstance(category, str):
        raise ValidationError("must be a subclass code", field="category")
    cat = gh.catalog(p).category(category)
    if suggested is not None and suggested not in gh.catalog(p).get().categories:
        raise ValidationError(f"unknown category {suggested!r}", field="suggested")
    now = p.clock.now()
    with p.db.begin() as conn:
        if case_id is not None:
            case = gstore.get_case(conn, case_id)
            if case is None or not actor.can("case.read", case["node"]):
                raise NotFound(f"no case {case_id} in your scope", field="case_id")
        eid = store.add_example(conn, {"text": body, "category": cat.code, "suggested": suggested, "case_id": case_id,
                                       "created_by": actor.username, "created_at": now})
        bump_revision(conn, store.EXAMPLES_REVISION, now)
        audit.record(conn, actor, "assistant.correct", "assistant_example", str(eid), now,
                     details={"category": cat.code, "suggested": suggested})
    service(p).invalidate()
    return {"id": eid, "category": cat.code, "suggested": suggested}


# --- duplicates -------------------------------------------------------------------------------

def duplicates(p: Platform, actor: Actor, case_id: int, limit: int = 10) -> dict[str, Any]:
    """Cases in the asker's scope near in space (150 m) and time (72 h) with a similar text.

    Located cases: candidates from the in-memory space-time index (exact within 150 m / 72 h), then
    one read by id for their state, scope and text. Unlocated cases: the same division in the window."""
    c = gstore.cases
    scope = actor.scope("case.read")
    threshold = current_tuning().dup_threshold
    with p.db.read() as conn:
        case = gstore.get_case(conn, case_id)
    if case is None or not actor.can("case.read", case["node"]):
        raise NotFound(f"no case {case_id} in your scope", field="case_id")
    cols = (c.c.id, c.c.number, c.c.lat, c.c.lon, c.c.created_at, c.c.state, c.c.category_code, c.c.description)
    conds = [c.c.id != case_id, c.c.state.not_in(("cancelled", "merged")), in_scope(c.c.node, scope)]
    if case["lat"] is not None and case["lon"] is not None:
        ids = [i for i in service(p).dup_index().query(case["lat"], case["lon"], case["created_at"].timestamp())
               if i != case_id]
        rows: list[Any] = []
        with p.db.read() as conn:
            for start in range(0, len(ids), 500):
                rows += conn.execute(select(*cols).where(c.c.id.in_(ids[start:start + 500]), *conds)).mappings().all()
    else:
        window = timedelta(hours=DUP_HOURS)
        conds += [c.c.node == case["node"],
                  c.c.created_at.between(case["created_at"] - window, case["created_at"] + window)]
        with p.db.read() as conn:
            rows = list(conn.execute(select(*cols).where(*conds).order_by(c.c.created_at.desc()).limit(500))
                        .mappings().all())
    if not rows:
        return {"case_id": case_id, "duplicates": [], "threshold": threshold, "candidates": 0}
    enc = service(p).classifier().encoder
    vecs = enc.encode([case["description"], *[r["description"] for r in rows]])
    sims = vecs[1:] @ vecs[0]
    out = []
    for r, sim in zip(rows, sims, strict=True):
        metres = (metres_between(r["lon"], r["lat"], case["lon"], case["lat"])
                  if case["lat"] is not None and r["lat"] is not None else None)
        hours = abs((r["created_at"] - case["created_at"]).total_seconds()) / 3600
        score = duplicate_score(float(sim), r["category_code"] == case["category_code"], metres, hours)
        if score >= threshold:
            out.append({"id": r["id"], "number": r["number"], "state": r["state"], "category": r["category_code"],
                        "metres": None if metres is None else round(metres, 1), "hours": round(hours, 1),
                        "similarity": round(float(sim), 3), "score": score})
    out.sort(key=lambda d: -d["score"])
    return {"case_id": case_id, "duplicates": out[:limit], "threshold": threshold, "candidates": len(rows)}


# --- search and answers ------------------------------------------------------------------------

def search(p: Platform, actor: Actor, q: Any, limit: int = 10) -> dict[str, Any]:
    """Hybrid search: categories by meaning; cases in the asker's scope by keyword, ranked by meaning."""
    text = check_text(q, "q")
    cats = classify(p, actor, text, k=5)["suggestions"]
    cases: list[dict[str, Any]] = []
    if actor.authenticated and actor.can("case.read"):
        scope = actor.scope("case.read")
        c = gstore.cases
        terms = [t for t in re.split(r"[\s,，。;；、]+", text) if len(t) >= 2][:5]
        like = [c.c.description.like(f"%{t}%") | c.c.title.like(f"%{t}%") for t in terms]
        top_cat = [s["category"] for s in cats[:2]]
        from sqlalchemy import or_

        with p.db.read() as conn:
            rows = conn.execute(select(c.c.id, c.c.number, c.c.title, c.c.description, c.c.state, c.c.category_code,
                                       c.c.node, c.c.created_at)
                                .where(in_scope(c.c.node, scope), or_(c.c.category_code.in_(top_cat), *like))
                                .order_by(c.c.created_at.desc()).limit(300)).mappings().all()
        if rows:
            enc = service(p).classifier().encoder
            vecs = enc.encode([text, *[f"{r['title']} {r['description']}" for r in rows]])
            sims = vecs[1:] @ vecs[0]
            ranked = sorted(zip(rows, sims, strict=True), key=lambda x: -x[1])[:limit]
            cases = [{"id": r["id"], "number": r["number"], "title": r["title"], "state": r["state"],
                      "category": r["category_code"], "node": r["node"], "score": round(float(s), 3)}
                     for r, s in ranked]
    return {"q": text, "categories": cats, "cases": cases}


OVERDUE = re.compile(r"超期|逾期|超时|overdue|late", re.I)
WHO = re.compile(r"谁(负责|管|处理)|哪个(部门|单位)|who (handles|is responsible|deals)|which (unit|department)", re.I)
COUNT = re.compile(r"多少|几[件个起]|how many|count|number of", re.I)
WEEK = re.compile(r"本周|这周|这个星期|this week", re.I)
TODAY = re.compile(r"今天|今日|today", re.I)
MONTH = re.compile(r"本月|这个月|this month", re.I)


@dataclass
class Place:
    code: str
    level: str
    name: str


def _find_place(p: Platform, text: str) -> Place | None:
    """The longest division name (zh or en) that the question mentions."""
    with p.db.read() as conn:
        rows = conn.execute(select(geo_store.divisions.c.code, geo_store.divisions.c.level,
                                   geo_store.divisions.c.name_zh, geo_store.divisions.c.name_en)
                            .where(geo_store.divisions.c.level.in_(("city", "district", "township", "village")))
                            ).all()
    low = text.lower()
    best: Place | None = None
    for code, level, zh, en in rows:
        for name in (zh, en):
            if name and len(name) >= 2 and name.lower() in low and (best is None or len(name) > len(best.name)):
                best = Place(code, level, name)
        m = re.search(r"\b\d{6,15}\b", text)
        if m and m.group(0) == code:
            return Place(code, level, code)
    return best


def ask(p: Platform, actor: Actor, question: Any) -> dict[str, Any]:
    """Structured questions answered by templates from the platform's data, within scope, citing records;
    anything else gets the search hits."""
    text = check_text(question, "question")
    if len(text) > 500:
        raise ValidationError("a question must be at most 500 characters", field="question")
    place = _find_place(p, text)
    if OVERDUE.search(text) and COUNT.search(text):
        return _count_overdue(p, actor, text, place)
    if WHO.search(text):
        return _who_handles(p, actor, text, place)
    hits = search(p, actor, text, limit=5)
    citations = [{"type": "case", "id": c["id"], "number": c["number"]} for c in hits["cases"]]
    generated = generate.answer(p.settings, text, hits)  # only from records in the asker's scope
    if generated is not None:
        cited = [c for c in citations if c["number"] in generated["text"]]
        return {"question": text, "kind": "generated", "answer": generated["text"], "answer_zh": generated["text"],
                "answer_en": generated["text"], "model": generated["model"], "citations": cited or citations,
                "hits": hits}
    return {"question": text, "kind": "search", "answer": None,
            "answer_zh": "没有现成的答案模板；以下是相关的类别和案件。",
            "answer_en": "No answer template fits; here are the related categories and cases.",
            "citations": citations, "hits": hits}


def _period(p: Platform, text: str) -> tuple[Any, str]:
    now = p.clock.now()
    if TODAY.search(text):
        return now.replace(hour=0, minute=0, second=0, microsecond=0), "today"
    if WEEK.search(text):
        start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, "this week"
    if MONTH.search(text):
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), "this month"
    return None, "all time"


def _count_overdue(p: Platform, actor: Actor, text: str, place: Place | None) -> dict[str, Any]:
    actor.require_signed_in()
    scope = actor.scope("case.read")
    c = gstore.cases
    conds = [in_scope(c.c.node, scope), c.c.overdue.is_(True)]
    if place is not None:
        if not actor.can("case.read", place.code) and not any(r.startswith(place.code) for r in scope.roots):
            # outside the asker's scope: answer only with what the asker may see
            return {"question": text, "kind": "overdue_count", "count": 0, "place": place.code,
                    "answer_zh": f"{place.name}不在您的权限范围内，无法回答。",
                    "answer_en": f"{place.name} is outside your scope; nothing to report.",
                    "citations": [], "out_of_scope": True}
        conds.append(c.c.node.startswith(place.code))
    since, label = _period(p, text)
    if since is not None:
        conds.append(c.c.overdue_at >= since)
    with p.db.read() as conn:
        n = int(conn.execute(select(func.count()).select_from(c).where(*conds)).scalar_one())
        rows = conn.execute(select(c.c.id, c.c.number, c.c.title, c.c.node).where(*conds)
                            .order_by(c.c.overdue_at.desc()).limit(20)).mappings().all()
    where = place.name if place else "您的辖区"
    where_en = place.name if place else "your scope"
    return {"question": text, "kind": "overdue_count", "count": n, "place": place.code if place else None,
            "period": label, "since": since.isoformat() if since else None,
            "answer_zh": f"{where}{'' if since is None else '自' + since.date().isoformat() + '起'}超期案件 {n} 件。",
            "answer_en": f"{n} overdue case(s) in {where_en} ({label}).",
            "citations": [{"type": "case", "id": r["id"], "number": r["number"], "title": r["title"]} for r in rows]}


LEVEL_ZH = {"city": "市", "district": "区县", "township": "镇街", "village": "村社区", "grid": "网格"}


def _who_handles(p: Platform, actor: Actor, text: str, place: Place | None) -> dict[str, Any]:
    subject = WHO.sub(" ", text)
    if place is not None:
        subject = re.sub(re.escape(place.name), " ", subject, flags=re.I)
    sugg = classify(p, actor, subject or text, k=3)
    top = sugg["suggestions"][0]
    cat = gh.catalog(p).category(top["category"])
    cites: list[dict[str, Any]] = [{"type": "category", "code": cat.code, "name_zh": cat.name_zh, "name_en": cat.name_en}]
    if place is None:
        return {"question": text, "kind": "who_handles", "category": cat.code, "routing": None,
                "answer_zh": f"这属于“{cat.name_zh}”（{cat.code}），由{LEVEL_ZH.get(cat.owner_level, cat.owner_level)}级负责；请说明地点（区或街道名称）以确定责任单位。",
                "answer_en": f"This is '{cat.name_en}' ({cat.code}), owned at {cat.owner_level} level; name a district or "
                             "township to get the responsible unit.",
                "citations": cites, "alternatives": sugg["suggestions"][1:]}
    with p.db.read() as conn:
        idx = p.geo.index()
        chain: dict[str, str | None] = {level_of(x): x for x in idx.chain(place.code)} if place.code in idx.parent else {}
        chain[place.level] = place.code
        for lv in LEVELS:
            chain.setdefault(lv, None)
        decision = route(conn, cat, chain)
        cites.append({"type": "division", "code": place.code, "name": place.name})
    return {"question": text, "kind": "who_handles", "category": cat.code, "routing": decision.as_dict(),
            "answer_zh": f"{place.name}的“{cat.name_zh}”由 {decision.unit} 负责（{LEVEL_ZH.get(decision.level, decision.level)}级）。",
            "answer_en": f"'{cat.name_en}' in {place.name} is handled by {decision.unit} ({decision.level} level): "
                         f"{decision.rule}.",
            "citations": cites, "alternatives": sugg["suggestions"][1:]}
