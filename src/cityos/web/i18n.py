"""Bilingual labels (zh-CN default, English available): `t(key, lang)` in templates."""

from __future__ import annotations

from fastapi import Request

LANGS = ("zh-CN", "en")
_loaded: list[bool] = []

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"zh-CN": "CityOS 城市运行和治理平台", "en": "CityOS city operation and governance platform"},
    "nav.home": {"zh-CN": "首页", "en": "Home"},
    "nav.map": {"zh-CN": "区划地图", "en": "Division map"},
    "nav.api": {"zh-CN": "接口文档", "en": "API docs"},
    "map.title": {"zh-CN": "行政区划与网格", "en": "Divisions and grids"},
    "map.hint": {"zh-CN": "点击区域查看下级区划", "en": "Click an area to see its subdivisions"},
    "map.up": {"zh-CN": "返回上级", "en": "Up one level"},
    "map.loading": {"zh-CN": "加载中…", "en": "Loading…"},
    "level.city": {"zh-CN": "市", "en": "City"},
    "level.district": {"zh-CN": "区县", "en": "District/county"},
    "level.township": {"zh-CN": "镇街", "en": "Township/street"},
    "level.village": {"zh-CN": "村社区", "en": "Village/community"},
    "level.grid": {"zh-CN": "网格", "en": "Grid"},
    "home.intro": {
        "zh-CN": "一体化智能化公共数据平台、三级数字化城市运行和治理中心、基层智治体系。",
        "en": "Integrated public data platform, three-level operation and governance centres, grassroots governance.",
    },
    "home.counts": {"zh-CN": "区划统计", "en": "Divisions"},
    "lang.switch": {"zh-CN": "English", "en": "中文"},
}


def _load_context_labels() -> None:
    # Each context may keep its labels in `cityos.<context>.labels.MESSAGES`.
    from cityos.contexts import modules

    for module in modules("labels"):
        for key, entry in module.MESSAGES.items():
            if key in MESSAGES and MESSAGES[key] != entry:
                raise RuntimeError(f"label {key!r} defined twice")
            MESSAGES[key] = entry


def pick_lang(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get("lang")
    return c if c in LANGS else "zh-CN"


def t(key: str, lang: str) -> str:
    if not _loaded:
        _load_context_labels()
        _loaded.append(True)
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["zh-CN"]
