"""Plausible bilingual place names for the demo city (Chongqing's real districts first)."""

from __future__ import annotations

import numpy as np

CITY = ("500000", "重庆市", "Chongqing")

# GB/T 2260 codes of Chongqing's 38 districts and counties, then three development
# zones that the city runs as district-level units (codes in the unused 5001 9x range).
DISTRICTS: list[tuple[str, str, str]] = [
    ("500103", "渝中区", "Yuzhong"), ("500105", "江北区", "Jiangbei"), ("500106", "沙坪坝区", "Shapingba"),
    ("500107", "九龙坡区", "Jiulongpo"), ("500108", "南岸区", "Nan'an"), ("500112", "渝北区", "Yubei"),
    ("500113", "巴南区", "Banan"), ("500109", "北碚区", "Beibei"), ("500104", "大渡口区", "Dadukou"),
    ("500101", "万州区", "Wanzhou"), ("500102", "涪陵区", "Fuling"), ("500110", "綦江区", "Qijiang"),
    ("500111", "大足区", "Dazu"), ("500114", "黔江区", "Qianjiang"), ("500115", "长寿区", "Changshou"),
    ("500116", "江津区", "Jiangjin"), ("500117", "合川区", "Hechuan"), ("500118", "永川区", "Yongchuan"),
    ("500119", "南川区", "Nanchuan"), ("500120", "璧山区", "Bishan"), ("500151", "铜梁区", "Tongliang"),
    ("500152", "潼南区", "Tongnan"), ("500153", "荣昌区", "Rongchang"), ("500154", "开州区", "Kaizhou"),
    ("500155", "梁平区", "Liangping"), ("500156", "武隆区", "Wulong"), ("500229", "城口县", "Chengkou"),
    ("500230", "丰都县", "Fengdu"), ("500231", "垫江县", "Dianjiang"), ("500233", "忠县", "Zhongxian"),
    ("500235", "云阳县", "Yunyang"), ("500236", "奉节县", "Fengjie"), ("500237", "巫山县", "Wushan"),
    ("500238", "巫溪县", "Wuxi"), ("500240", "石柱土家族自治县", "Shizhu"),
    ("500241", "秀山土家族苗族自治县", "Xiushan"), ("500242", "酉阳土家族苗族自治县", "Youyang"),
    ("500243", "彭水苗族土家族自治县", "Pengshui"), ("500191", "两江新区", "Liangjiang New Area"),
    ("500192", "重庆高新区", "Chongqing Hi-tech Zone"), ("500193", "万盛经开区", "Wansheng Economic Zone"),
]

SYLLABLES: list[tuple[str, str]] = [
    ("龙", "Long"), ("华", "Hua"), ("石", "Shi"), ("桥", "Qiao"), ("新", "Xin"), ("安", "An"), ("河", "He"),
    ("山", "Shan"), ("林", "Lin"), ("平", "Ping"), ("和", "He"), ("兴", "Xing"), ("东", "Dong"), ("西", "Xi"),
    ("南", "Nan"), ("北", "Bei"), ("溪", "Xi"), ("坝", "Ba"), ("湾", "Wan"), ("岭", "Ling"), ("云", "Yun"),
    ("金", "Jin"), ("凤", "Feng"), ("鹤", "He"), ("清", "Qing"), ("观", "Guan"), ("白", "Bai"), ("沙", "Sha"),
    ("双", "Shuang"), ("青", "Qing"), ("花", "Hua"), ("明", "Ming"), ("光", "Guang"), ("宝", "Bao"),
    ("天", "Tian"), ("马", "Ma"), ("黄", "Huang"), ("长", "Chang"), ("桂", "Gui"), ("松", "Song"),
    ("杨", "Yang"), ("柳", "Liu"), ("鱼", "Yu"), ("洞", "Dong"), ("庙", "Miao"), ("寺", "Si"), ("城", "Cheng"),
    ("井", "Jing"), ("塘", "Tang"), ("峰", "Feng"), ("丰", "Feng"), ("德", "De"), ("福", "Fu"), ("盛", "Sheng"),
    ("江", "Jiang"), ("嘉", "Jia"), ("渝", "Yu"), ("巴", "Ba"), ("临", "Lin"), ("复", "Fu"),
]

TOWNSHIP_KINDS = [("街道", "Subdistrict"), ("镇", "Town"), ("乡", "Township")]
VILLAGE_KINDS = [("社区", "Community"), ("村", "Village")]


def two_syllables(rng: np.random.Generator) -> tuple[str, str]:
    a, b = rng.integers(0, len(SYLLABLES), size=2)
    za, ea = SYLLABLES[int(a)]
    zb, eb = SYLLABLES[int(b)]
    return za + zb, ea + eb.lower()
