"""The synthetic city's people, buildings, companies, licences and credit records.

Consistent with the division tree: each grid's residents live in buildings in that
grid, in households; companies have legal representatives who are adult residents of
the grid; licences belong to residents and companies; credit records name them. All
identifiers pass their national checksums. Deterministic for a seed: the grids are
visited in code order, each with its own generator seeded from (seed, grid code).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from cityos.data.model import make_id_number, make_uscc

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华玉兰志强红梅海燕小红丹丹俊杰子涵浩然欣怡梓萱宇轩雨桐思远嘉怡一诺晨曦文博雅婷"
ETHNICITIES = ["汉族"] * 90 + ["土家族"] * 6 + ["苗族"] * 3 + ["回族"]
INDUSTRIES = ["A01", "C13", "C18", "C36", "E47", "F51", "F52", "G54", "H61", "H62", "I65", "K70", "L72", "M75",
              "O80", "P83", "Q84", "R88"]
ENTITY_KINDS = ["有限公司", "商贸有限公司", "科技有限公司", "建筑工程有限公司", "餐饮店", "便利店", "物流有限公司"]
POI_KINDS = [("school", "小学"), ("clinic", "社区卫生服务站"), ("market", "农贸市场"), ("park", "公园"),
             ("police", "警务室"), ("shop", "超市")]
PERSON_LICENCES = [("驾驶证", "公安局交通管理局", 6 * 365), ("不动产权证书", "规划和自然资源局", None),
                   ("结婚证", "民政局", None)]
ENTITY_LICENCES = [("营业执照", "市场监督管理局", None), ("食品经营许可证", "市场监督管理局", 5 * 365),
                   ("排污许可证", "生态环境局", 5 * 365)]


@dataclass
class Grid:
    code: str
    population: int
    bbox: tuple[float, float, float, float]
    center: tuple[float, float]
    address: str  # district + township + village names


@dataclass
class Batch:
    buildings: list[tuple[Any, ...]] = field(default_factory=list)
    pois: list[tuple[Any, ...]] = field(default_factory=list)
    residents: list[tuple[Any, ...]] = field(default_factory=list)
    entities: list[tuple[Any, ...]] = field(default_factory=list)
    licences: list[tuple[Any, ...]] = field(default_factory=list)
    credit: list[tuple[Any, ...]] = field(default_factory=list)
    risk_areas: list[tuple[Any, ...]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.residents) + len(self.entities) + len(self.licences)


BUILDING_COLS = ("building_id", "name", "address", "use", "floors", "lon", "lat", "grid_code")
POI_COLS = ("poi_id", "name", "category", "lon", "lat", "grid_code")
RESIDENT_COLS = ("id_number", "name", "gender", "birth_date", "ethnicity", "household_id", "household_role",
                 "registered_address", "actual_address", "building_id", "grid_code", "phone", "status")
ENTITY_COLS = ("uscc", "name", "entity_type", "legal_rep_id", "legal_rep_name", "industry_code",
               "registered_capital", "address", "grid_code", "status", "established_on", "updated_on")
LICENCE_COLS = ("licence_no", "licence_type", "holder_type", "holder_id", "holder_name", "issuer_dept", "issued_on",
                "valid_until", "status", "content", "content_hash", "grid_code")
CREDIT_COLS = ("record_no", "subject_type", "subject_id", "subject_name", "record_type", "source_dept", "decided_on",
               "valid_until", "status", "summary", "grid_code")
RISK_COLS = ("code", "name", "risk_level", "geometry", "min_lon", "min_lat", "max_lon", "max_lat", "grid_code")


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CityGenerator:
    def __init__(self, seed: int, today: date) -> None:
        self.seed = seed
        self.today = today
        self.seq: dict[tuple[str, date], int] = {}
        self.entity_serial = 0
        self.licence_serial = 0
        self.credit_serial = 0

    def _name(self, rng: np.random.Generator, surname: str | None = None) -> str:
        s = surname or SURNAMES[int(rng.integers(len(SURNAMES)))]
        n = 1 + int(rng.random() < 0.7)
        return s + "".join(GIVEN[int(i)] for i in rng.integers(len(GIVEN), size=n))

    def _id(self, area: str, born: date, male: bool) -> str:
        k = (area, born)
        s = self.seq.get(k, 0)
        self.seq[k] = s + 1
        if s >= 500:  # the sequence space of one area and day is full: take the next day
            return self._id(area, born + timedelta(days=1), male)
        return make_id_number(area, born, s, male)

    def grid(self, g: Grid, out: Batch, risk: bool) -> int:
        """Generate one grid's records into `out`; returns the residents made."""
        rng = np.random.default_rng([self.seed, zlib.crc32(g.code.encode())])
        area = g.code[:6]
        minx, miny, maxx, maxy = g.bbox
        cx, cy = g.center
        spread_x, spread_y = (maxx - minx) / 6, (maxy - miny) / 6
        n_people = g.population
        n_buildings = max(1, n_people // 60 + (1 if n_people % 60 else 0))
        b_ids: list[tuple[str, str]] = []
        for b in range(n_buildings):
            bid = f"B{g.code}{b + 1:04d}"
            addr = f"{g.address}{b + 1}号"
            lon = float(np.clip(cx + rng.normal(0, spread_x), minx, maxx))
            lat = float(np.clip(cy + rng.normal(0, spread_y), miny, maxy))
            out.buildings.append((bid, f"{b + 1}号楼", addr, "residential", int(rng.integers(2, 33)),
                                  round(lon, 6), round(lat, 6), g.code))
            b_ids.append((bid, addr))
        for i, (kind, zh) in enumerate(POI_KINDS[: 1 + int(rng.integers(len(POI_KINDS)))]):
            out.pois.append((f"P{g.code}{i + 1:02d}", g.address[-6:] + zh, kind,
                             round(float(np.clip(cx + rng.normal(0, spread_x), minx, maxx)), 6),
                             round(float(np.clip(cy + rng.normal(0, spread_y), miny, maxy)), 6), g.code))
        adults: list[tuple[str, str]] = []
        made = 0
        hh = 0
        while made < n_people:
            hh += 1
            bid, baddr = b_ids[(hh - 1) % n_buildings]
            hid = f"H{g.code}{hh:05d}"
            room = f"{1 + int(rng.integers(6))}单元{1 + int(rng.integers(30))}-{1 + int(rng.integers(8))}"
            address = f"{baddr}{room}"
            roll = rng.random()
            size = 1 if roll < 0.18 else (2 if roll < 0.45 else (3 if roll < 0.8 else 4))
            size = min(size, n_people - made)
            alone_elderly = size == 1 and rng.random() < 0.35
            surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
            male = True
            for m in range(size):
                if m == 0:
                    age = int(rng.integers(66, 95)) if alone_elderly else int(rng.integers(25, 80))
                    role = "head"
                elif m == 1:
                    age = int(rng.integers(25, 80))
                    role = "spouse"
                else:
                    age = int(rng.integers(0, 24))
                    role = "child"
                born = self.today - timedelta(days=age * 365 + int(rng.integers(0, 365)))
                male = bool(rng.random() < 0.5) if m != 1 else not male  # a spouse of the other sex
                idn = self._id(area, born, male)
                name = self._name(rng, surname if m != 1 else None)
                registered = address if rng.random() < 0.8 else f"{g.address[:6]}户籍地址{int(rng.integers(1, 999))}号"
                phone = f"1{int(rng.choice([3, 5, 7, 8, 9]))}{int(rng.integers(0, 10**9)):09d}" if age >= 12 else None
                status = "active" if rng.random() > 0.01 else "moved_out"
                out.residents.append((idn, name, "M" if male else "F", born, ETHNICITIES[int(rng.integers(100))],
                                      hid, role, registered, address, bid, g.code, phone, status))
                if 22 <= age <= 65:
                    adults.append((idn, name))
                    if rng.random() < 0.12:
                        self._licence(rng, out, "person", idn, name, g.code, PERSON_LICENCES)
                if rng.random() < 0.01:
                    self._credit(rng, out, "person", idn, name, g.code)
                made += 1
        if adults:
            for _ in range(max(1, n_people // 25)):
                self._entity(rng, out, area, g, adults)
        if risk and b_ids:
            self._risk(rng, out, g)
        return made

    def _entity(self, rng: np.random.Generator, out: Batch, area: str, g: Grid, adults: list[tuple[str, str]]) -> None:
        self.entity_serial += 1
        uscc = make_uscc(area, self.entity_serial * 7919 + 10_000_000)
        rep_id, rep_name = adults[int(rng.integers(len(adults)))]
        kind = ENTITY_KINDS[int(rng.integers(len(ENTITY_KINDS)))]
        etype = "individual_business" if kind.endswith("店") else "enterprise"
        name = f"重庆{g.address[-4:-2] if len(g.address) > 4 else ''}{self._name(rng)[1:]}{kind}"
        est = self.today - timedelta(days=int(rng.integers(30, 20 * 365)))
        status = "active" if rng.random() > 0.05 else "cancelled"
        out.entities.append((uscc, name, etype, rep_id, rep_name, INDUSTRIES[int(rng.integers(len(INDUSTRIES)))],
                             round(float(rng.choice([3, 10, 50, 100, 500, 1000]) * (1 + rng.random())), 2),
                             f"{g.address}{int(rng.integers(1, 300))}号", g.code, status, est,
                             est + timedelta(days=int(rng.integers(0, max(1, (self.today - est).days))))))
        self._licence(rng, out, "entity", uscc, name, g.code, ENTITY_LICENCES[:1], issued=est)
        if rng.random() < 0.4:
            self._licence(rng, out, "entity", uscc, name, g.code, ENTITY_LICENCES[1:])
        if rng.random() < 0.05:
            self._credit(rng, out, "entity", uscc, name, g.code)

    def _licence(self, rng: np.random.Generator, out: Batch, holder_type: str, holder_id: str, holder_name: str,
                 grid: str, kinds: list[tuple[str, str, int | None]], issued: date | None = None) -> None:
        ltype, dept, validity = kinds[int(rng.integers(len(kinds)))]
        self.licence_serial += 1
        if issued is None:
            if validity and rng.random() < 0.04:  # some expire within the next month
                issued = self.today - timedelta(days=validity - int(rng.integers(0, 30)))
            else:
                issued = self.today - timedelta(days=int(rng.integers(1, (validity or 3650) - 1)))
        valid_until = issued + timedelta(days=validity) if validity else None
        status = "valid" if valid_until is None or valid_until >= self.today else "expired"
        no = f"L{grid[:6]}{issued:%Y}{self.licence_serial:09d}"
        content = {"type": ltype, "holder": holder_name, "holder_id": holder_id, "issuer": dept,
                   "issued_on": issued.isoformat(), "valid_until": valid_until.isoformat() if valid_until else None}
        out.licences.append((no, ltype, holder_type, holder_id, holder_name, dept, issued, valid_until, status, content,
                             content_hash(content), grid))

    def _credit(self, rng: np.random.Generator, out: Batch, subject_type: str, sid: str, name: str, grid: str) -> None:
        self.credit_serial += 1
        rtype = ["commendation", "penalty", "honour", "dishonesty"][int(rng.choice(4, p=[0.4, 0.4, 0.15, 0.05]))]
        decided = self.today - timedelta(days=int(rng.integers(1, 5 * 365)))
        dept = ["市场监督管理局", "税务局", "生态环境局", "人力资源和社会保障局"][int(rng.integers(4))]
        summary = {"commendation": "年度先进表彰", "penalty": "行政处罚", "honour": "守信激励",
                   "dishonesty": "严重失信主体名单"}[rtype]
        out.credit.append((f"CR{grid[:6]}{self.credit_serial:09d}", subject_type, sid, name, rtype, dept, decided,
                           decided + timedelta(days=3 * 365), "active" if rng.random() > 0.2 else "repaired",
                           summary, grid))

    def _risk(self, rng: np.random.Generator, out: Batch, g: Grid) -> None:
        cx, cy = g.center
        minx, miny, maxx, maxy = g.bbox
        w, h = (maxx - minx) * 0.25, (maxy - miny) * 0.25
        x0, y0, x1, y1 = cx - w, cy - h, cx + w, cy + h
        poly = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
        level = ["blue", "yellow", "orange", "red"][int(rng.integers(4))]
        out.risk_areas.append((f"RA{g.code}", f"{g.address[-6:]}地灾隐患点影响区", level, json.dumps(poly), x0, y0, x1, y1,
                               g.code))


def iter_batches(gen: CityGenerator, grids: list[Grid], *, chunk: int = 20_000, risk_every: int = 50
                 ) -> Iterator[tuple[Batch, int]]:
    """Yield filled batches (about `chunk` records each) with the residents they hold."""
    out = Batch()
    made = 0
    for i, g in enumerate(grids):
        made += gen.grid(g, out, risk=i % risk_every == 0)
        if out.size() >= chunk:
            yield out, made
            out, made = Batch(), 0
    if out.size() or out.buildings:
        yield out, made
