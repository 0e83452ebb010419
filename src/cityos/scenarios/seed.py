"""Demo seed: publish the shipped "one thing" scenarios, grant them their pre-fill fields, and link
the demo citizen to a resident of the population database so pre-fill has a record to read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.identity.model import SYSTEM
from cityos.scenarios import handlers as h
from cityos.scenarios import store

if TYPE_CHECKING:
    from cityos.bootstrap import Platform

DEFINITIONS = Path(__file__).parent / "definitions"


def shipped() -> list[Path]:
    return sorted(DEFINITIONS.glob("*.yaml"))


def install_shipped(p: Platform) -> list[str]:
    """Publish each shipped definition not yet published, with its pre-fill grants (idempotent)."""
    done = []
    for path in shipped():
        source = path.read_text(encoding="utf-8")
        sc = h.validate_definition(source)
        refs = sorted({f.prefill.ref for f in sc.fields if f.prefill})
        if refs:
            h.grant_data(p, SYSTEM, sc.code, refs)
        with p.db.read() as conn:
            exists = store.definition(conn, sc.code, sc.version) is not None
        if not exists:
            h.publish_scenario(p, h.PublishScenario(SYSTEM, source))
        done.append(sc.code)
    return done


@seed_step("one-thing scenarios", order=65, total=lambda scale: len(shipped()) + 1)
def seed_scenarios(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    codes = install_shipped(p)
    tick(len(codes))
    with p.db.begin() as conn:
        linked = store.link_demo_citizen(conn, "citizen")
    tick(1)
    return {"scenarios": ", ".join(codes), "citizen is resident": linked or "none found"}


# The demo plan: runways of the six systems on the ledger's demo applications (APP-{city}-NN),
# departments' core businesses, and the three lists linked demand → scenario → reform.
RUNWAYS: list[tuple[str, str, str, str, str, list[int]]] = [
    ("party-grassroots", "party", "基层党建", "Grassroots Party building", "C", [12]),
    ("gov-one-thing", "government", "一件事一次办", "One thing, done once", "D:market_regulation", [6, 8]),
    ("gov-hotline", "government", "12345 热线", "12345 hotline", "C", [1]),
    ("econ-business-env", "economy", "营商环境", "Business environment", "D:market_regulation", [8, 11]),
    ("soc-elderly", "society", "养老服务", "Elderly care", "D:civil_affairs", [7]),
    ("soc-urban-safety", "society", "城市安全", "Urban safety", "D:emergency", [3, 4]),
    ("cult-public-culture", "culture", "公共文化服务", "Public culture services", "C", []),
    ("law-services", "rule_of_law", "公共法律服务", "Public legal services", "C", [13]),
]
BUSINESSES: list[tuple[str, str, str, str, str, str, list[tuple[str, str, str, list[str], list[int]]]]] = [
    ("CB-HEALTH-01", "health", "出生医学证明管理", "Birth medical certificates", "government", "gov-one-thing",
     [("CB-HEALTH-01-1", "出生医学证明签发", "Issue a birth medical certificate", ["population", "e-licences"], [6])]),
    ("CB-PS-01", "public_security", "户籍管理", "Household registration", "government", "gov-one-thing",
     [("CB-PS-01-1", "出生登记", "Register a birth", ["population", "e-licences"], [6]),
      ("CB-PS-01-2", "迁移登记", "Register a move", ["population"], [])]),
    ("CB-MR-01", "market_regulation", "市场主体登记", "Business registration", "economy", "econ-business-env",
     [("CB-MR-01-1", "企业设立登记", "Register a company", ["legal-entities", "population"], [8]),
      ("CB-MR-01-2", "企业变更登记", "Change a company's registration", ["legal-entities"], [11])]),
    ("CB-HR-01", "human_resources", "社会保障卡服务", "Social security cards", "society", "soc-elderly",
     [("CB-HR-01-1", "社保卡申领", "Apply for a card", ["population"], [])]),
    ("CB-CA-01", "civil_affairs", "养老服务", "Elderly care services", "society", "soc-elderly",
     [("CB-CA-01-1", "高龄津贴发放", "Old-age allowance", ["population"], [7])]),
    ("CB-EM-01", "emergency", "地灾监测预警", "Geohazard warning", "society", "soc-urban-safety",
     [("CB-EM-01-1", "危岩监测", "Dangerous rock monitoring", ["spatial-geography"], [4])]),
]
LISTS = [
    {"kind": "demand", "code": "DEM-001", "title_zh": "新生儿出生相关事项跑多个部门", "title_en": "Parents of a newborn visit many offices",
     "unit": "D:health", "system": "government", "runway": "gov-one-thing", "status": "closed", "priority": "high",
     "links": ["SCN-001"]},
    {"kind": "demand", "code": "DEM-002", "title_zh": "企业开办耗时长", "title_en": "Starting a business takes too long",
     "unit": "D:market_regulation", "system": "economy", "runway": "econ-business-env", "status": "closed",
     "priority": "high", "links": ["SCN-002"]},
    {"kind": "demand", "code": "DEM-003", "title_zh": "退休手续繁琐", "title_en": "Retirement paperwork is heavy",
     "unit": "D:human_resources", "system": "society", "runway": "soc-elderly", "status": "planned", "priority": "medium",
     "links": ["SCN-003"]},
    {"kind": "scenario", "code": "SCN-001", "title_zh": "新生儿出生一件事", "title_en": "Newborn — one thing", "unit": "D:health",
     "system": "government", "runway": "gov-one-thing", "status": "launched", "priority": "high", "scenario_code": "newborn",
     "links": ["REF-001", "REF-002"]},
    {"kind": "scenario", "code": "SCN-002", "title_zh": "企业开办一件事", "title_en": "Business start-up — one thing",
     "unit": "D:market_regulation", "system": "economy", "runway": "econ-business-env", "status": "launched",
     "priority": "high", "scenario_code": "business-startup", "links": ["REF-003"]},
    {"kind": "scenario", "code": "SCN-003", "title_zh": "退休一件事", "title_en": "Retirement — one thing",
     "unit": "D:human_resources", "system": "society", "runway": "soc-elderly", "status": "in_progress",
     "priority": "medium", "scenario_code": "retirement", "links": []},
    {"kind": "scenario", "code": "SCN-004", "title_zh": "二手房转移登记一件事", "title_en": "Second-hand home transfer — one thing",
     "unit": "D:planning", "system": "economy", "runway": "econ-business-env", "status": "planned", "priority": "low",
     "links": []},
    {"kind": "reform", "code": "REF-001", "title_zh": "出生医学证明电子证照化", "title_en": "Birth certificates as e-licences",
     "unit": "D:health", "system": "government", "runway": "gov-one-thing", "status": "closed", "priority": "high", "links": []},
    {"kind": "reform", "code": "REF-002", "title_zh": "户籍登记免提交出生证明原件", "title_en": "No paper birth certificate for registration",
     "unit": "D:public_security", "system": "government", "runway": "gov-one-thing", "status": "closed", "priority": "medium",
     "links": []},
    {"kind": "reform", "code": "REF-003", "title_zh": "企业开办材料精简", "title_en": "Fewer documents to start a company",
     "unit": "D:market_regulation", "system": "economy", "runway": "econ-business-env", "status": "in_progress",
     "priority": "high", "links": []},
]


def _unit(city: str, ref: str) -> str:
    return f"C-{city}" if ref == "C" else f"D-{city}-{ref.split(':', 1)[1]}"


def install_plan(p: Platform, city: str) -> dict[str, int]:
    from cityos.scenarios import programme_handlers as ph

    with p.db.read() as conn:
        have = store.runway_codes(conn)
    for code, system, zh, en, unit, apps in RUNWAYS:
        if code not in have:
            ph.add_runway(p, SYSTEM, {"code": code, "system": system, "name_zh": zh, "name_en": en,
                                      "owner_unit": _unit(city, unit), "apps": [f"APP-{city}-{i:02d}" for i in apps]})
    for code, dept, zh, en, system, runway, items in BUSINESSES:
        with p.db.read() as conn:
            exists = store.business_exists(conn, code)
        if not exists:
            ph.add_core_business(p, SYSTEM, {
                "code": code, "unit": f"D-{city}-{dept}", "name_zh": zh, "name_en": en, "system": system,
                "runway": runway, "items": [{"code": c, "name_zh": izh, "name_en": ien, "datasets": ds,
                                             "apps": [f"APP-{city}-{i:02d}" for i in apps]}
                                            for c, izh, ien, ds, apps in items]})
    first = [{**it, "links": []} for it in LISTS]
    for it in [*first, *LISTS]:  # items first, then their links (they point forward)
        body = {k: v for k, v in it.items() if k != "unit"}
        ph.save_list_item(p, SYSTEM, {**body, "owner_unit": _unit(city, str(it["unit"]))})
    return {"runways": len(RUNWAYS), "core businesses": len(BUSINESSES), "list items": len(LISTS)}


@seed_step("systems, runways and lists", order=66, total=lambda scale: 1)
def seed_plan(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    from sqlalchemy import select

    from cityos.geo.store import divisions

    with ctx.platform.db.read() as conn:
        city = conn.execute(select(divisions.c.code).where(divisions.c.level == "city")).scalar_one()
    out = install_plan(ctx.platform, str(city))
    tick(1)
    return dict(out)
