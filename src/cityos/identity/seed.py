"""Seed step: organisational units of every level and one demo user per role.

Demo accounts share one documented password, printed by `cityos demo seed`:
never use the demo seed on a production database.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store as geo_store
from cityos.identity import store
from cityos.identity.handlers import hash_password

DEMO_PASSWORD = "cityos-demo-2026"

# Departments at city and district level (dept_type, 中文, English).
DEPARTMENTS = [
    ("urban_management", "城市管理局", "Urban Management Bureau"),
    ("housing", "住房和城乡建设委员会", "Housing and Urban-Rural Development"),
    ("water", "水利局", "Water Resources Bureau"),
    ("emergency", "应急管理局", "Emergency Management Bureau"),
    ("public_security", "公安局", "Public Security Bureau"),
    ("planning", "规划和自然资源局", "Planning and Natural Resources Bureau"),
    ("civil_affairs", "民政局", "Civil Affairs Bureau"),
    ("health", "卫生健康委员会", "Health Commission"),
    ("market_regulation", "市场监督管理局", "Market Regulation Administration"),
    ("transport", "交通运输局", "Transport Bureau"),
    ("ecology", "生态环境局", "Ecology and Environment Bureau"),
    ("landscaping", "园林绿化局", "Landscaping Bureau"),
    # the departments of the "one thing" scenarios (scenarios context)
    ("healthcare_security", "医疗保障局", "Healthcare Security Administration"),
    ("human_resources", "人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("taxation", "税务局", "Taxation Bureau"),
    ("housing_fund", "住房公积金管理中心", "Housing Provident Fund Centre"),
    ("pboc", "人民银行分行", "People's Bank of China branch"),
]
SECTORS = [("party", "党建统领", "Party building"), ("economy", "经济发展", "Economic development"),
           ("services", "民生服务", "People's services"), ("safety", "平安法治", "Safety and rule of law")]


def _total(scale: Scale) -> int:
    return 1 + scale.districts + scale.townships + scale.villages + scale.grids


def unit_rows(division: dict[str, object], now: object) -> list[dict[str, object]]:
    code, level = str(division["code"]), str(division["level"])
    zh, en = str(division["name_zh"]), str(division["name_en"])
    rows: list[dict[str, object]] = []
    if level in ("city", "district", "township"):
        centre = {"city": ("城市运行和治理中心", "Operation and Governance Centre"),
                  "district": ("区县运行和治理中心", "District Operation and Governance Centre"),
                  "township": ("镇街运行和治理中心", "Township Command Centre")}[level]
        rows.append({"code": f"C-{code}", "name_zh": zh + centre[0], "name_en": f"{en} {centre[1]}", "kind": "centre",
                     "level": level, "division_code": code, "dept_type": None, "parent_code": None, "created_at": now})
    if level in ("city", "district"):
        for dt, dzh, den in DEPARTMENTS:
            rows.append({"code": f"D-{code}-{dt}", "name_zh": zh + dzh, "name_en": f"{en} {den}", "kind": "department",
                         "level": level, "division_code": code, "dept_type": dt, "parent_code": None,
                         "created_at": now})
    if level == "township":
        for sc, szh, sen in SECTORS:
            rows.append({"code": f"S-{code}-{sc}", "name_zh": zh + szh + "板块", "name_en": f"{en} {sen} sector",
                         "kind": "sector", "level": level, "division_code": code, "dept_type": sc,
                         "parent_code": f"C-{code}", "created_at": now})
    if level == "village":
        rows.append({"code": f"V-{code}", "name_zh": zh + ("居委会" if "社区" in zh else "村委会"),
                     "name_en": f"{en} Committee", "kind": "committee", "level": level, "division_code": code,
                     "dept_type": None, "parent_code": f"C-{code[:9]}", "created_at": now})
    if level == "grid":
        rows.append({"code": f"G-{code}", "name_zh": zh + "工作站", "name_en": f"{en} Workstation",
                     "kind": "grid_station", "level": level, "division_code": code, "dept_type": None,
                     "parent_code": f"V-{code[:12]}", "created_at": now})
    return rows


@seed_step("units and users", order=20, total=_total)
def seed_identity(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    d = geo_store.divisions
    n_units = 0
    with p.db.begin() as conn:
        for t in (store.web_sessions, store.credentials, store.role_grants, store.users, store.org_units):
            conn.execute(delete(t))
        batch: list[dict[str, object]] = []
        for row in conn.execute(select(d.c.code, d.c.level, d.c.name_zh, d.c.name_en).order_by(d.c.code)).mappings():
            batch.extend(unit_rows(dict(row), now))
            tick(1)
            if len(batch) >= 5000:
                conn.execute(insert(store.org_units), batch)
                n_units += len(batch)
                batch = []
        if batch:
            conn.execute(insert(store.org_units), batch)
            n_units += len(batch)
        accounts = demo_accounts(conn)
        pw = hash_password(DEMO_PASSWORD)
        for username, display, role, node in accounts:
            uid = store.insert_user(conn, {"username": username, "display_name": display, "password_hash": pw,
                                           "phone": "13800000000", "id_number": None, "active": True,
                                           "failed_logins": 0, "created_at": now, "home_node": node})
            if role:
                store.add_grant(conn, uid, role, node, None, "demo-seed", now)
    return {"units": n_units, "users": len(accounts),
            "sign in": f"any of {', '.join(a[0] for a in accounts[:4])}, ... with password {DEMO_PASSWORD}"}


def demo_accounts(conn: object) -> list[tuple[str, str, str | None, str]]:
    """(username, display name, role, node): one per role at sample nodes of the demo city."""
    from sqlalchemy.engine import Connection

    assert isinstance(conn, Connection)
    d = geo_store.divisions

    def first(level: str) -> str:
        return str(conn.execute(select(d.c.code).where(d.c.level == level).order_by(d.c.code).limit(1)).scalar_one())

    city, district, township, village, grid = (first(lv) for lv in ("city", "district", "township", "village", "grid"))
    return [
        ("admin", "系统管理员 Admin", "system_admin", city),
        ("city.operator", "市级值班员 City operator", "city_operator", city),
        ("district.operator", "区县值班员 District operator", "district_operator", district),
        ("township.operator", "镇街值班员 Township operator", "township_operator", township),
        ("dispatcher", "派遣员 Dispatcher", "dispatcher", district),
        ("handler", "处置员 Handler", "department_handler", district),
        ("verifier", "核查员 Verifier", "verifier", township),
        ("grid.head", "网格长 Grid head", "grid_head", village),
        ("grid.member", "专职网格员 Grid member", "grid_member", grid),
        ("grid.part", "兼职网格员 Part-time member", "grid_member_part", grid),
        ("grid.instructor", "网格指导员 Grid instructor", "grid_instructor", grid),
        ("data.officer", "数据专员 Data officer", "data_officer", city),
        ("resource.admin", "资源管理员 Resource admin", "resource_admin", city),
        ("auditor", "审计员 Auditor", "auditor", city),
        ("district.admin", "区县管理员 District admin", "system_admin", district),
        ("citizen", "市民 Citizen", "citizen", city),
    ]
