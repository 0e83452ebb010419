"""Seed step: a plausible ledger for the demo city — CityOS's own components, the city's
government cloud, networks, base databases and interfaces, applications of every level,
cameras and sensors — with dependencies, states and a registration history."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store as geo_store
from cityos.geo.model import level_of
from cityos.identity.seed import DEPARTMENTS, SECTORS
from cityos.ledger import model, store

APPS = [("网格化管理系统", "Grid management", "governance"), ("12345 热线工单系统", "12345 hotline", "governance"),
        ("智慧城管平台", "Smart urban management", "urban"), ("应急指挥调度系统", "Emergency command", "emergency"),
        ("危岩地灾监测预警系统", "Geohazard warning", "emergency"), ("智慧水务平台", "Smart water", "water"),
        ("一件事一次办平台", "One-thing service", "services"), ("社区养老服务平台", "Elderly care", "services"),
        ("企业开办一网通办", "Business start-up", "economy"), ("智慧交通信号系统", "Traffic signals", "transport"),
        ("生态环境监测平台", "Environment monitoring", "ecology"), ("市场监管综合平台", "Market regulation", "market"),
        ("基层党建平台", "Party building", "party"), ("公共法律服务平台", "Legal services", "law")]
COMPONENTS = [("video-ai", "视频智能分析平台", "Video AI platform"), ("ocr", "文字识别", "OCR"),
              ("face-verify", "人脸核验", "Face verification"), ("sms", "短信平台", "SMS gateway"),
              ("workflow", "流程引擎", "Workflow engine"), ("gis-3d", "三维 GIS", "3-D GIS"),
              ("speech", "语音识别", "Speech recognition"), ("blockchain", "政务区块链", "Government blockchain")]
BASES = [("population", "人口基础库", "Population"), ("legal_entity", "法人基础库", "Legal entities"),
         ("spatial", "自然资源和空间地理基础库", "Spatial geography"), ("e_licence", "电子证照基础库", "E-licences"),
         ("credit", "社会信用基础库", "Social credit")]
KIND_ZH = {"compute": "计算", "storage": "存储", "database": "数据库"}
STATES = ["online"] * 14 + ["offline", "draft", "submitted", "approved", "retired"]


def _total(scale: Scale) -> int:
    return 85 + scale.districts * 59 + scale.townships * 11


class _Builder:
    def __init__(self, rng: random.Random, now: Any) -> None:
        self.rng, self.now = rng, now
        self.rows: list[dict[str, Any]] = []
        self.tags: list[tuple[str, str]] = []
        self.uses: list[tuple[str, str]] = []

    def add(self, code: str, rtype: str, zh: str, en: str, owner: str, division: str, attrs: dict[str, Any],
            tags: tuple[str, ...] = (), state: str | None = None, age_days: int | None = None) -> str:
        model.validate_attributes(rtype, code, attrs)
        created = self.now - timedelta(days=age_days if age_days is not None else self.rng.randint(1, 720))
        self.rows.append({
            "code": code, "rtype": rtype, "kind": model.subkind(attrs), "name_zh": zh, "name_en": en,
            "owner_unit": owner, "level": level_of(division),
            "division_code": division, "description": "", "contacts": [{"name": "运维值班", "phone": "023-12345"}],
            "attributes": attrs, "identity_key": model.identity_key(rtype, attrs),
            "state": state or self.rng.choice(STATES), "endpoint": attrs.get("endpoint") if rtype == "component" else None,
            "health_url": attrs.get("health_url") if rtype == "component" else None, "created_by": "demo-seed",
            "created_at": created, "updated_at": created})
        self.tags.extend((code, t) for t in tags)
        return code


@seed_step("resource ledger", order=60, total=_total)
def seed_ledger(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    now = p.clock.now()
    rng = random.Random(ctx.seed * 7919 + 11)
    d = geo_store.divisions
    with p.db.read() as conn:
        city = conn.execute(select(d.c.code).where(d.c.level == "city")).scalar()
        districts = list(conn.execute(select(d.c.code).where(d.c.level == "district").order_by(d.c.code)).scalars())
        townships = list(conn.execute(select(d.c.code).where(d.c.level == "township").order_by(d.c.code)).scalars())
    if city is None:
        return {"resources": 0}
    b = _Builder(rng, now)
    centre = f"C-{city}"
    # CityOS's own capability components, exactly as the worker registers them.
    for c in model.OWN_COMPONENTS:
        attrs: dict[str, Any] = {"key": c.key, "version": "0.1"}
        if c.endpoint:
            attrs["endpoint"] = c.endpoint
        if c.health:
            attrs["health_url"] = c.health
        b.add(f"CITYOS-{c.key}", "component", c.name_zh, c.name_en, centre, city, attrs, ("cityos", "builtin"),
              "online", 730)
    for key, zh, en in COMPONENTS:
        b.add(f"CMP-{key}", "component", zh, en, f"D-{city}-urban_management", city,
              {"key": key, "version": "2.1"}, ("ai",) if key in ("video-ai", "ocr", "speech") else (), "online")
    comps = [r["code"] for r in b.rows]
    # The city's government cloud and networks.
    net_city = b.add("NET-egov", "network", "电子政务外网", "E-government extranet", centre, city,
                     {"kind": "link", "circuit_id": "EGOV-500", "carrier": "电信", "bandwidth_mbps": 10_000}, (), "online")
    video_net = b.add("NET-video", "network", "视频专网", "Video private network", f"D-{city}-public_security", city,
                      {"kind": "video_network", "circuit_id": "VID-500", "bandwidth_mbps": 40_000}, ("video",), "online")
    city_cloud = []
    for i in range(24):
        kind = ("compute", "storage", "database")[i % 3]
        attrs = {"kind": kind, "provider": "市政务云", "instance_id": f"{kind[:3]}-{city}-{i:03d}", "region": "两江"}
        if kind == "compute":
            attrs.update(vcpu=rng.choice([8, 16, 32, 64]), memory_gb=rng.choice([32, 64, 128]))
        if kind == "database":
            attrs["engine"] = rng.choice(["postgresql", "dameng", "kingbase"])
        code = b.add(f"CLD-{city}-{i:03d}", "cloud", f"政务云{KIND_ZH[kind]}实例{i}",
                     f"Gov cloud {kind} {i}", centre, city, attrs, ("egov-cloud",))
        b.uses.append((code, net_city))
        city_cloud.append(code)
    data_city = []
    for key, zh, en in BASES:
        ds = b.add(f"DATA-{key}", "data", zh, f"{en} base database", f"D-{city}-planning" if key == "spatial" else centre,
                   city, {"kind": "dataset", "catalog_id": f"base-{key}", "sharing": "conditional", "base_database": key},
                   ("base-db",), "online")
        b.uses.append((ds, rng.choice(city_cloud)))
        data_city.append(ds)
        for j in range(4):
            si = b.add(f"DSI-{key}-{j}", "data", f"{zh}查询接口{j + 1}", f"{en} query {j + 1}", centre, city,
                       {"kind": "service_interface", "catalog_id": f"base-{key}-q{j}",
                        "sharing": rng.choice(["unconditional", "conditional"]), "base_database": key,
                        "path": f"/ds/v1/{key}/q{j}"}, ("interface",), "online")
            b.uses.append((si, ds))
            data_city.append(si)
    tick(len(b.rows))

    def app_uses(code: str, clouds: list[str], datas: list[str]) -> None:
        for c in rng.sample(comps, rng.randint(2, 4)):
            b.uses.append((code, c))
        for x in rng.sample(datas, min(len(datas), rng.randint(1, 3))):
            b.uses.append((code, x))
        for x in rng.sample(clouds, min(len(clouds), rng.randint(1, 2))):
            b.uses.append((code, x))

    for i, (zh, en, tag) in enumerate(APPS):
        code = b.add(f"APP-{city}-{i:02d}", "application", f"市{zh}", f"City {en}", f"D-{city}-{DEPARTMENTS[i % 12][0]}",
                     city, {"url": f"https://app{i}.cq.gov.example", "business_domain": tag, "users": rng.randint(50, 20000)},
                     (tag,))
        app_uses(code, city_cloud, data_city)
    for dcode in districts:
        clouds = []
        for i in range(10):
            kind = ("compute", "storage", "database")[i % 3]
            attrs = {"kind": kind, "provider": "区政务云", "instance_id": f"{kind[:3]}-{dcode}-{i:03d}"}
            if kind == "compute":
                attrs.update(vcpu=rng.choice([4, 8, 16]), memory_gb=rng.choice([16, 32, 64]))
            if kind == "database":
                attrs["engine"] = "postgresql"
            clouds.append(b.add(f"CLD-{dcode}-{i:03d}", "cloud", f"区政务云实例{i}", f"District cloud {i}", f"C-{dcode}",
                                dcode, attrs, ("egov-cloud",)))
        link = b.add(f"NET-{dcode}", "network", "区县政务外网链路", "District e-gov link", f"C-{dcode}", dcode,
                     {"kind": "link", "circuit_id": f"EGOV-{dcode}", "bandwidth_mbps": 1000}, (), "online")
        b.uses.extend((c, link) for c in clouds)
        datas = list(data_city)
        for i in range(8):
            ds = b.add(f"DATA-{dcode}-{i}", "data", f"区县专题库{i}", f"District subject database {i}", f"C-{dcode}",
                       dcode, {"kind": "dataset", "catalog_id": f"{dcode}-sub-{i}", "sharing": "conditional"},
                       ("subject-db",))
            b.uses.append((ds, rng.choice(data_city[:5])))
            b.uses.append((ds, rng.choice(clouds)))
            datas.append(ds)
        for i, (zh, en, tag) in enumerate(rng.sample(APPS, 10)):
            code = b.add(f"APP-{dcode}-{i:02d}", "application", f"区{zh}", f"District {en}",
                         f"D-{dcode}-{DEPARTMENTS[i % 12][0]}", dcode,
                         {"url": f"https://{dcode}-app{i}.cq.gov.example", "business_domain": tag}, (tag,))
            app_uses(code, clouds, datas)
        for i in range(30):
            cam = i % 3 != 2
            attrs = ({"kind": "video_channel", "device_code": f"CAM-{dcode}-{i // 2:03d}", "channel_no": i % 2 + 1,
                      "vendor": "海康威视"} if cam else
                     {"kind": "device", "device_code": f"SEN-{dcode}-{i:03d}", "vendor": "GNSS"})
            code = b.add(f"PER-{dcode}-{i:03d}", "perception", "视频通道" if cam else "地灾监测传感器",
                         "Video channel" if cam else "Geohazard sensor", f"D-{dcode}-public_security" if cam
                         else f"D-{dcode}-emergency", dcode, attrs, ("video",) if cam else ("geohazard",))
            b.uses.append((code, video_net if cam else link))
        tick(59)
    for tcode in townships:
        for i in range(3):
            zh, en, tag = APPS[(i + int(tcode[-3:])) % len(APPS)]
            code = b.add(f"APP-{tcode}-{i}", "application", f"镇街{zh}", f"Township {en}",
                         f"S-{tcode}-{SECTORS[i % 4][0]}", tcode, {"url": f"https://{tcode}-{i}.cq.gov.example"},
                         (tag, "grassroots"))
            app_uses(code, city_cloud[:3], data_city)
        for i in range(8):
            code = b.add(f"PER-{tcode}-{i:02d}", "perception", "社区监控通道", "Community camera", f"C-{tcode}", tcode,
                         {"kind": "video_channel", "device_code": f"CAM-{tcode}-{i:02d}", "channel_no": 1}, ("video",))
            b.uses.append((code, video_net))
        tick(11)
    with p.db.begin() as conn:
        for t in (store.probes, store.grants, store.application_items, store.applications, store.events,
                  store.dependencies, store.tags, store.tag_counts, store.counts, store.resources):
            conn.execute(delete(t))
        for i in range(0, len(b.rows), 2000):
            store.bulk_insert(conn, b.rows[i:i + 2000])
        ids = store.ids_by_code(conn, [r["code"] for r in b.rows])
        if b.tags:
            rtype = {r["code"]: r["rtype"] for r in b.rows}
            conn.execute(insert(store.tags), [{"tag": t, "resource_id": ids[c], "rtype": rtype[c]}
                                              for c, t in sorted(set(b.tags))])
        deps = {(ids[a], ids[z]) for a, z in b.uses if a != z}
        conn.execute(insert(store.dependencies), [{"from_id": a, "to_id": z, "note": "", "created_by": "demo-seed",
                                                   "created_at": now} for a, z in sorted(deps)])
        conn.execute(insert(store.events), [{"resource_id": ids[r["code"]], "at": r["created_at"], "actor": "demo-seed",
                                             "action": "register", "from_state": None, "to_state": r["state"],
                                             "reason": None, "details": {}} for r in b.rows])
        store.rebuild_counts(conn)
        # One bundled application waiting for its owners' decisions.
        online = [r for r in b.rows if r["state"] == "online" and r["rtype"] in ("data", "component", "cloud")][:3]
        if districts and online:
            store.insert_application(conn, {
                "applicant": "district.operator", "applicant_unit": f"C-{districts[0]}", "division_code": districts[0],
                "purpose": "网格事件智能分派应用建设", "status": "pending", "created_at": now, "updated_at": now},
                [{"resource_id": ids[r["code"]], "request": {}, "status": "pending"} for r in online])
    return {"resources": len(b.rows), "dependencies": len(deps)}
