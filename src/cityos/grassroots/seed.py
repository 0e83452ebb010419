"""Seed step: sector leads, village heads and 1+3+N staff for every grid (bulk inserts),
the city template list published city-wide, extensions in a few townships, and
today's patrols (S and M scales)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import delete, select

from cityos.core.store import bump_revision
from cityos.demo.scales import Scale
from cityos.demo.seed import Progress, SeedContext, seed_step
from cityos.geo import store as geo_store
from cityos.grassroots import handlers as h
from cityos.grassroots import model as m
from cityos.grassroots import store
from cityos.identity import store as id_store

FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文斌辉宇浩鑫婷雪梅琳晨阳"

# Township extensions: (key, name_zh, name_en, sector, level, categories, role, frequency, basis, standard)
EXTENSIONS = [
    ("X-ECO-01", "夜市摊区规范管理", "Night-market stall order", "economy", "township", "", "sector_lead", "daily",
     "城市市容和环境卫生管理条例", "摊区按时收摊、摊位无超范围经营"),
    ("X-SAF-01", "滨江步道安全巡查", "Riverside walkway safety patrol", "safety", "grid", "", "grid_other", "weekly",
     "中华人民共和国安全生产法", "护栏完好、警示标识齐全"),
]


def _total(scale: Scale) -> int:
    return scale.grids + scale.townships


@seed_step("grassroots", order=50, total=_total)
def seed_grassroots(ctx: SeedContext, tick: Progress) -> dict[str, int | str]:
    p = ctx.platform
    rng = np.random.default_rng(ctx.seed + 50)
    now = p.clock.now()
    d = geo_store.divisions
    with p.db.begin() as conn:
        for t in (store.tasks, store.items, store.lists, store.ledger_history, store.ledger):
            conn.execute(delete(t))
        store.clear_staff(conn)
        codes = conn.execute(select(d.c.code, d.c.level).where(d.c.level.in_(("township", "village", "grid")))
                             .order_by(d.c.code)).all()
        users = {u: i for u, i in conn.execute(select(id_store.users.c.username, id_store.users.c.id))}

    def person() -> tuple[str, str]:
        name = FAMILY[int(rng.integers(len(FAMILY)))] + "".join(GIVEN[int(i)] for i in rng.integers(len(GIVEN), size=2))
        return name, "13" + "".join(str(int(x)) for x in rng.integers(10, size=9))

    rows: list[dict[str, Any]] = []
    first_grid = next((c for c, lv in codes if lv == "grid"), None)
    first_village = next((c for c, lv in codes if lv == "village"), None)
    linked = {(first_grid, "grid_member"): "grid.member", (first_grid, "grid_member_part"): "grid.part",
              (first_grid, "grid_instructor"): "grid.instructor", (first_village, "grid_head"): "grid.head"}
    n_grids = 0

    def add(node: str, post: str, sector: str | None = None) -> None:
        name, phone = person()
        rows.append({"node": node, "post": post, "sector": sector, "name": name, "phone": phone,
                     "user_id": users.get(linked.get((node, post), "")), "on_duty": bool(rng.random() > 0.1),
                     "created_at": now})

    def flush() -> None:
        if rows:
            with p.db.begin() as conn:
                store.add_staff(conn, rows)
            rows.clear()

    for code, lv in codes:
        if lv == "township":
            for sector in m.SECTORS:
                add(code, "sector_lead", sector)
            tick(1)
        elif lv == "village":
            add(code, "village_secretary")
            add(code, "village_director")
            add(code, "grid_head")
        else:
            n_grids += 1
            add(code, "grid_head")
            # About one grid in twelve lacks its full-time member (a staffing gap), never the demo grid.
            if code == first_grid or rng.random() > 1 / 12:
                add(code, "grid_member")
            add(code, "grid_member_part")
            add(code, "grid_instructor")
            for _ in range(int(rng.integers(1, 4))):
                add(code, "grid_other")
            tick(1)
        if len(rows) >= 5000:
            flush()
    flush()
    # The template, published city-wide, and extensions in the first two townships.
    items = h.template_items(p)
    city = codes[0][0][:2] + "0000" if codes else "500000"
    townships = [c for c, lv in codes if lv == "township"]
    with p.db.begin() as conn:
        tpl, _ = store.new_list(conn, city, None, "市级模板 City template", "demo-seed", now)
        store.replace_items(conn, tpl, items)
        store.set_status(conn, tpl, "published", now)
        for t in townships[:2]:
            lid, _ = store.new_list(conn, t, tpl, "镇街扩展 Township extension", "demo-seed", now)
            ext = [m.item_from(dict(zip(m.ITEM_COLUMNS, e, strict=True))) for e in EXTENSIONS]
            store.replace_items(conn, lid, [*items, *ext])
            store.set_status(conn, lid, "published", now)
        bump_revision(conn, h.LISTS_REVISION, now)
        bump_revision(conn, h.STAFF_REVISION, now)
    h.LISTS.invalidate()
    patrols = h.generate_patrols(p, h.local_day(now)) if ctx.scale.grids <= 10_000 else 0
    return {"grids staffed": n_grids, "template items": len(items), "township extensions": min(2, len(townships)),
            "patrols today": patrols}
