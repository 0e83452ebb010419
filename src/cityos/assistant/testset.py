"""The test split (see `evalset`): 4 whole reports per subclass, written as they are.

Written after the training corpus (`corpus.py`, its own commit) and before any setting was tuned;
`cityos assistant tune` never reads it and `cityos assistant eval` scores it once. No template,
no generator: each text is as a citizen, a grid member or a hotline operator might type it:
short or rambling, with pinyin-input homophone typos (拉圾, 燥音, 井概), English misspellings,
Chinese and English mixed in one text, place details and feelings that say nothing about the
category. Per subclass two texts are mainly Chinese and two mainly English (`lang`); `style` says
zh / en, and "typo", "mixed" (both languages) or "grid" (a grid member's patrol note) where so."""

from __future__ import annotations

# (subclass, language, style, text)
TESTSET: list[tuple[str, str, str, str]] = [
    # P0101 上水井盖
    ("P0101", "zh", "zh", "3号楼旁边那个写着“给水”的圆井盖裂了条大缝，早上买菜的阿姨差点踩进去"),
    ("P0101", "zh", "zh-grid-typo", "网格巡查：文化路东段供水井概缺失，已放置锥桶临时围挡，请水务尽快补盖"),
    ("P0101", "en", "en", "There's a round cover stamped WATER near the kindergarten and half of it has broken off"),
    ("P0101", "en", "en-mixed", "上水 manhole cover outside Block 7 is tilted, my son nearly twisted his ankle"),
    # P0102 污水井盖
    ("P0102", "zh", "zh", "菜场后门那个污水井的盖子陷下去了，一到中午臭得不行，苍蝇乱飞"),
    ("P0102", "zh", "zh-typo", "下水到井盖被大车压碎了，黑水往外冒，路过的人都捂鼻子"),
    ("P0102", "en", "en-typo", "sewer lid on Lane 4 is smashed and theres raw sewage bubbling up, disgustng"),
    ("P0102", "en", "en", "The waste-water manhole by the noodle shop has dropped a few inches below the road"),
    # P0103 雨水箅子
    ("P0103", "zh", "zh", "公交站前面的雨水口铁盖板不见了，留个方坑，电动车轮子都能卡进去"),
    ("P0103", "zh", "zh-grid", "巡查发现滨河路雨水箅子被泥沙和塑料袋堵死，雨天积水外溢"),
    ("P0103", "en", "en", "the metal grid over the roadside drain got nicked, there's just an open slot now"),
    ("P0103", "en", "en-typo", "storm drian at the corner is choked with leaves again, rain can't get away"),
    # P0104 路灯
    ("P0104", "zh", "zh", "我们这条巷子的灯坏了快一个月了，晚上下班回来黑咕隆咚的，女孩子不敢走"),
    ("P0104", "zh", "zh-typo", "路登一会亮一会灭，闪得眼睛疼"),
    ("P0104", "en", "en", "The lights on the path through the estate have been off since Tuesday, it's pitch black"),
    ("P0104", "en", "en-mixed", "the lamp pole outside 幼儿园 is bent after a truck hit it and the bulb is dead"),
    # P0105 消防栓
    ("P0105", "zh", "zh-typo", "消防拴漏水好几天了，地上一直湿的，冬天要结冰"),
    ("P0105", "zh", "zh", "红色的那个消防水龙头被卖水果的用木板围住了，真着火了怎么接水管"),
    ("P0105", "en", "en-typo", "the fire hydrent on Park Road got clipped by a van and is leaning"),
    ("P0105", "en", "en", "Red hydrant by the pharmacy has water dribbling out of its base nonstop"),
    # P0106 电力设施
    ("P0106", "zh", "zh", "小区门口的电箱嗡嗡响，门也关不上，里面电线乱七八糟的，小孩老在旁边玩"),
    ("P0106", "zh", "zh-grid", "巡查发现：光明路电杆倾斜约15度，拉线松脱，存在倒杆隐患"),
    ("P0106", "en", "en", "big grey electrical box on the corner is humming and smells like burning plastic"),
    ("P0106", "en", "en-typo", "a power line is draped accross the hedge after the wind last nite"),
    # P0107 通信交接箱
    ("P0107", "zh", "zh", "路边那个灰色的电信柜子门一直开着，里面好多网线，风一吹就哗哗响"),
    ("P0107", "zh", "zh-mixed", "移动的光纤箱被人撬了，门都掉了，家里wifi也断了"),
    ("P0107", "en", "en", "The telephone exchange cabinet on Elm St has its door hanging off, wires everywhere"),
    ("P0107", "en", "en-typo", "comms box by the bus depot got rammed, the casing is caved in and the fibre is exposd"),
    # P0201 交通信号灯
    ("P0201", "zh", "zh", "学校门口的红绿灯从早上就黑着，放学时家长和车挤成一团，太危险了"),
    ("P0201", "zh", "zh-typo", "路口信号等坏了，一直红灯不变绿，车排了老长"),
    ("P0201", "en", "en", "lights at the Fifth Ave crossing are all dark, drivers are just guessing"),
    ("P0201", "en", "en-mixed", "The 红绿灯 at the hospital junction only shows green in every direction, someone will crash"),
    # P0202 交通标志牌
    ("P0202", "zh", "zh", "进隧道前那块限高的牌子被撞弯了，字都看不见，大货车差点卡住"),
    ("P0202", "zh", "zh-grid", "巡查：学校路段“注意儿童”警示牌缺失，仅剩立柱"),
    ("P0202", "en", "en", "someone has turned the one-way sign around so it points the wrong direction"),
    ("P0202", "en", "en-typo", "the yeild sign at the roundabout is gone, only the pole is left"),
    # P0203 护栏
    ("P0203", "zh", "zh", "河边步道的栏杆锈断了一截，晚上散步的老人靠上去太危险"),
    ("P0203", "zh", "zh-typo", "高架下面的防护拦被车撞开个口子，铁皮翘着"),
    ("P0203", "en", "en", "Metal barrier in the middle of the ring road is bent flat after last night's crash"),
    ("P0203", "en", "en-mixed", "护栏 along the canal path has a gap, a kid could fall straight into the water"),
    # P0204 公交站亭
    ("P0204", "zh", "zh", "8路车站那个等车的棚子顶上漏了个大洞，一下雨大家全淋湿"),
    ("P0204", "zh", "zh-typo", "公交站台的玻璃被砸了，碎渣子满地，还没人收拾"),
    ("P0204", "en", "en", "the waiting hut at the No. 12 stop is covered in spit and chewing gum, really grim"),
    ("P0204", "en", "en-typo", "bus shleter roof panel blew off in the storm and is lying on the seats"),
    # P0205 人行道板
    ("P0205", "zh", "zh", "银行门口人行道的砖头一块块翘起来，我妈昨天被绊了一跤膝盖都破了"),
    ("P0205", "zh", "zh-grid", "巡查：和平路北侧便道板缺失约3平方米，雨后积泥"),
    ("P0205", "en", "en", "the flagstones outside the library rock when you step on them and squirt dirty water"),
    ("P0205", "en", "en-typo", "sidewalk pavers are cracked and sunk outside no 45, wheelchair cant get through"),
    # P0206 隔离墩
    ("P0206", "zh", "zh", "路口防止汽车开上人行道的那几个石球被撞飞了一个，滚在路边"),
    ("P0206", "zh", "zh-typo", "隔离蹲倒了好几个，横在非机动车道上"),
    ("P0206", "en", "en", "one of the stone posts that stop cars driving onto the square has been knocked out"),
    ("P0206", "en", "en-mixed", "the orange plastic 隔离墩 on the bridge are crushed and scattered across the lane"),
    # P0301 公共厕所
    ("P0301", "zh", "zh", "广场那个公厕男厕的便池堵了，地上全是水，进都没法进"),
    ("P0301", "zh", "zh-typo", "公共侧所的洗手台没水，灯也坏了，晚上黑乎乎"),
    ("P0301", "en", "en", "toilets at the riverside park are locked all day and the ladies' side is flooded"),
    ("P0301", "en", "en-typo", "public bathrom at the market stinks so bad you can smell it from the road"),
    # P0302 垃圾箱
    ("P0302", "zh", "zh-typo", "站台边上的拉圾桶满得冒尖，周边全是饮料瓶"),
    ("P0302", "zh", "zh", "小区东门的分类垃圾桶被人推倒摔裂了，盖子也找不到了"),
    ("P0302", "en", "en", "the bin outside the chip shop hasn't been emptied in a week, bags piled round it"),
    ("P0302", "en", "en-mixed", "公园里的 trash bin has melted, looks like someone threw a cigarette in"),
    # P0303 广告牌匾
    ("P0303", "zh", "zh", "奶茶店门头的大字掉了一个，剩下的也晃来晃去，底下天天有学生走"),
    ("P0303", "zh", "zh-grid", "巡查：商业街12号店招铁架锈蚀松脱，有坠落风险，已通知商户"),
    ("P0303", "en", "en", "The big advert frame on top of the pharmacy is swinging in the wind and creaking"),
    ("P0303", "en", "en-typo", "shop singboard above the bakery is coming away from the wall on one side"),
    # P0304 垃圾收集站
    ("P0304", "zh", "zh", "街道垃圾站的卷帘门坏了关不上，晚上野狗进去翻，弄得到处都是"),
    ("P0304", "zh", "zh-typo", "拉圾中转站门口一滩黑水，臭的没法走路"),
    ("P0304", "en", "en", "the compactor at the waste depot behind the school is broken and rubbish is spilling out"),
    ("P0304", "en", "en-typo", "collecton point for the whole estate is overflowing and stinks, flies evrywhere"),
    # P0401 行道树
    ("P0401", "zh", "zh", "门口那棵梧桐树的枝子长到马路中间了，公交车每次都刮到"),
    ("P0401", "zh", "zh-typo", "人行道上的树死了一直没人管，树杆都空了，怕它倒"),
    ("P0401", "en", "en", "the plane tree outside no. 9 has a dead limb hanging over the pavement"),
    ("P0401", "en", "en-mixed", "树根 have pushed the pavement up around the trees on Main Street, people keep tripping"),
    # P0402 绿地护栏
    ("P0402", "zh", "zh", "街心花园外面那一圈矮铁栏被人掰断好几根，狗都钻进去拉屎"),
    ("P0402", "zh", "zh-grid", "巡查：滨江绿地木质护栏断裂三处，需更换"),
    ("P0402", "en", "en", "little railings around the grass in the square have been pulled out and thrown on the lawn"),
    ("P0402", "en", "en-typo", "the wooden fense round the park lawn is rotten and half collapsed"),
    # P0403 花坛花箱
    ("P0403", "zh", "zh", "步行街上那几个种花的大木箱子被人踢破了，土撒了一地"),
    ("P0403", "zh", "zh-typo", "路中间的花谈被车撞了一个角，花都被压死了"),
    ("P0403", "en", "en", "the raised flower beds in the plaza are trampled and all the tulips are gone"),
    ("P0403", "en", "en-mixed", "someone stole the flowers from the 花箱 by the bridge, only dirt left"),
    # P0501 危旧房屋
    ("P0501", "zh", "zh", "老街那排木板房的房梁都歪了，下雨屋里漏，住的都是老人，怕哪天塌了"),
    ("P0501", "zh", "zh-grid", "巡查：红星村7号砖混房屋外墙出现贯穿裂缝，住户未搬离"),
    ("P0501", "en", "en", "the old brick house at the end of our lane has a crack from roof to ground and is leaning"),
    ("P0501", "en", "en-typo", "building across the road looks like its about to fall down, bits of the facade droping off"),
    # P0502 挡土墙
    ("P0502", "zh", "zh", "山脚下那道石头砌的墙往外凸了好多，下面就是幼儿园，很担心"),
    ("P0502", "zh", "zh-typo", "小区后面的档土墙裂了，缝里往外渗水"),
    ("P0502", "en", "en", "The stone wall that holds back the hill behind the flats has a bulge and a long crack"),
    ("P0502", "en", "en-mixed", "part of the 挡墙 next to the road slid down after the rain, rocks on the pavement"),
    # E0101 暴露垃圾
    ("E0101", "zh", "zh", "有人把吃剩的外卖和纸巾扔在公交站的台阶上，一直没人收拾"),
    ("E0101", "zh", "zh-typo", "小公园路边拉圾乱丢，塑料瓶烟头满地"),
    ("E0101", "en", "en", "someone emptied a bag of household waste on the verge near the school"),
    ("E0101", "en", "en-typo", "loads of litter on the riverbank path, cans and crisp packets evrywhere"),
    # E0102 积存垃圾渣土
    ("E0102", "zh", "zh", "拆迁那块空地上堆的土和烂砖头都快一人高了，大半年没人清"),
    ("E0102", "zh", "zh-grid", "巡查：铁路桥下积存生活垃圾及渣土约20平方米，长期未清运"),
    ("E0102", "en", "en", "a huge heap of dirt and old rubbish has been sitting behind the warehouse since spring"),
    ("E0102", "en", "en-mixed", "the 渣土 pile by the canal keeps growing, it's a small hill now"),
    # E0103 道路不洁
    ("E0103", "zh", "zh", "菜市场门口那段马路又脏又滑，烂菜叶子和鱼鳞到处都是"),
    ("E0103", "zh", "zh-typo", "路面上洒了一大片机油，黑乎乎的，骑车的打滑摔了"),
    ("E0103", "en", "en", "the road by the market is covered in squashed vegetables and fish scales"),
    ("E0103", "en", "en-typo", "street hasnt been sweeped for ages, sand and broken glass all over the lane"),
    # E0104 水域不洁
    ("E0104", "zh", "zh", "公园湖里漂着一层泡沫和饮料瓶，还有死鱼，好臭"),
    ("E0104", "zh", "zh-typo", "小河里漂满了垃圾代，水都发绿了"),
    ("E0104", "en", "en", "plastic and foam floating all over the lake in the park, looks awful"),
    ("E0104", "en", "en-mixed", "河道 near the bridge has a rainbow oil film on the water and dead fish"),
    # E0105 乱涂写乱张贴
    ("E0105", "zh", "zh", "新刷的墙又被人用红漆写了一串办证电话"),
    ("E0105", "zh", "zh-typo", "变电箱上贴满了疏通下水道的小广告，撕都撕不掉，还有涂鸭"),
    ("E0105", "en", "en", "someone tagged the underpass walls with black spray paint overnight"),
    ("E0105", "en", "en-typo", "the new bus shelter is plastered with stickers and scribbled on with marker pen"),
    # E0106 乱堆物堆料
    ("E0106", "zh", "zh", "楼下有人把旧沙发旧床垫堆在消防通道口，一个多月了"),
    ("E0106", "zh", "zh-grid", "巡查：幸福小区南侧人行道堆放砂石、钢管等物料，占道约10米"),
    ("E0106", "en", "en", "a neighbour has stacked planks and paint tins along the shared corridor"),
    ("E0106", "en", "en-typo", "pallets and crates piled up across the footway behind the shops, you cant get past"),
    # E0201 无照经营游商
    ("E0201", "zh", "zh", "地铁口天天有人推个小车卖煎饼，城管来了就跑，走了又来"),
    ("E0201", "zh", "zh-typo", "学校门口有流动摊贩买烤肠和辣条，也没执照，卫生堪忧"),
    ("E0201", "en", "en", "guys on tricycles selling fruit by the station exit every evening, no licence"),
    ("E0201", "en", "en-mixed", "roaming 小贩 with a pushcart selling socks outside the hospital gate"),
    # E0202 店外经营
    ("E0202", "zh", "zh", "楼下烟酒店把冰柜都搬到门口了，人行道只剩一条缝"),
    ("E0202", "zh", "zh-grid", "巡查：解放路36号五金店跨门经营，货品摆放至店外约2米"),
    ("E0202", "en", "en", "the phone repair shop does its business on a table out on the pavement"),
    ("E0202", "en", "en-typo", "hairdresser puts chairs and a mirror outside the door and cuts hair on the sidewlak"),
    # E0203 占道经营
    ("E0203", "zh", "zh", "每天傍晚那条街上摆满了卖衣服卖菜的地摊，汽车根本过不去"),
    ("E0203", "zh", "zh-typo", "早市摊位占了整个车到，公交车绕不过去"),
    ("E0203", "en", "en", "market traders set up in the middle of the road every morning and buses are stuck"),
    ("E0203", "en", "en-mixed", "夜市 stalls now take both lanes of Xinhua Road every night"),
    # E0204 非法散发小广告
    ("E0204", "zh", "zh", "有人一大早挨家挨户往门缝里塞健身房和贷款的宣传单"),
    ("E0204", "zh", "zh-typo", "停车场每辆车的雨刮器上都夹了小卡片，满地都是"),
    ("E0204", "en", "en", "a man is going round the car park sticking leaflets on every windscreen"),
    ("E0204", "en", "en-typo", "flyer guys at the metro entrance shoving adverts at evryone for a gym"),
    # E0205 机动车乱停放
    ("E0205", "zh", "zh", "一辆白色SUV停在小区消防通道上两天了，打电话也不挪"),
    ("E0205", "zh", "zh-typo", "有辆车违听在盲道上，盲人没法走"),
    ("E0205", "en", "en", "a lorry is parked across my driveway and I can't get my car out"),
    ("E0205", "en", "en-mixed", "someone keeps parking their BMW on the 人行道 outside the school"),
    # E0206 共享单车乱停放
    ("E0206", "zh", "zh", "地铁站出口被一堆小黄车小蓝车堵死了，出来都得翻过去"),
    ("E0206", "zh", "zh-typo", "美团单车倒了一地，把路都占了，也没人来挪"),
    ("E0206", "en", "en", "dozens of hire bikes dumped in a heap on the pavement outside the mall"),
    ("E0206", "en", "en-typo", "the share bikes are blocking the blind path again, heaps of them tipped ovr"),
    # E0207 露天烧烤
    ("E0207", "zh", "zh", "楼下那家晚上在人行道上支炉子烤羊肉串，烟全飘进我家窗户"),
    ("E0207", "zh", "zh-typo", "广场边有人露天烧考到凌晨，烟熏火燎的"),
    ("E0207", "en", "en", "people cooking skewers on charcoal right on the street under our windows every night"),
    ("E0207", "en", "en-mixed", "烧烤 stand on the corner fills the whole block with smoke after 10pm"),
    # E0301 施工扰民
    ("E0301", "zh", "zh", "旁边工地晚上十二点还在打钢筋叮叮当当，一家人都睡不着觉"),
    ("E0301", "zh", "zh-typo", "凌晨三点工地还在施功，燥音太大了"),
    ("E0301", "en", "en", "the site next door started jackhammering at 5am on a Sunday"),
    ("E0301", "en", "en-typo", "concrete mixers running all night at the constuction site, no sleep for days"),
    # E0302 施工废弃料
    ("E0302", "zh", "zh", "楼上装修完把碎瓷砖、石膏板全扔在楼道门口，十几袋"),
    ("E0302", "zh", "zh-grid", "巡查：建设路管网施工结束后遗留废弃管材和水泥块未清运"),
    ("E0302", "en", "en", "builders left broken bricks and old plasterboard in the alley when they finished"),
    ("E0302", "en", "en-typo", "leftover scaffolding poles and cement bags dumped after the renovaton"),
    # E0303 道路破损
    ("E0303", "zh", "zh", "出小区那段柏油路全是坑，一下雨全是水坑，车轮胎都颠爆了"),
    ("E0303", "zh", "zh-typo", "马路上有个大坑洼，骑电瓶车掉进去摔了"),
    ("E0303", "en", "en", "massive pothole on Station Road just ate my front tyre"),
    ("E0303", "en", "en-typo", "road surface is breaking up into chunks at the roundabout, full of craters"),
    # E0304 违法建设
    ("E0304", "zh", "zh", "顶楼那户在楼顶用彩钢瓦又盖了一层，也没见有手续"),
    ("E0304", "zh", "zh-typo", "一楼住户把院子圈起来搭了个板房当仓库，违见"),
    ("E0304", "en", "en", "the ground floor flat has built a brick room onto the communal garden without permission"),
    ("E0304", "en", "en-mixed", "neighbour is putting up a steel 棚 on the roof, no planning permit that I know of"),
    # E0305 工地扬尘
    ("E0305", "zh", "zh", "对面工地挖土也不洒水不盖网，一刮风满天黄土，窗户都不敢开"),
    ("E0305", "zh", "zh-grid", "巡查：地铁5号线工地裸露土方未苫盖，雾炮未开启，扬尘明显"),
    ("E0305", "en", "en", "clouds of grit blowing off the building site, my washing is brown"),
    ("E0305", "en", "en-typo", "site on Green Lane has piles of earth with no covers, dust everwhere when its windy"),
    # E0306 渣土车遗撒
    ("E0306", "zh", "zh", "晚上那些拉土的大车过去，路上掉一路的泥块，第二天早上全是灰"),
    ("E0306", "zh", "zh-typo", "泥头车没盖篷布，一路洒，路上都是土和石子，车一过扬起来"),
    ("E0306", "en", "en", "tipper trucks leaving the site drop clods of mud all the way down the avenue"),
    ("E0306", "en", "en-mixed", "渣土车 came through at night and left a trail of soil on the whole street"),
    # E0401 路面塌陷
    ("E0401", "zh", "zh", "银行门口马路中间突然塌下去一个洞，有一米多深，下面好像是空的"),
    ("E0401", "zh", "zh-typo", "路面踏陷了，一个大窟窿，已经有车掉进去了"),
    ("E0401", "en", "en", "the tarmac just gave way in the middle of the junction, there's a deep hole"),
    ("E0401", "en", "en-typo", "a big sink hole opened up on the high street this morning, a car wheel is stuck in it"),
    # E0402 自来水管爆裂
    ("E0402", "zh", "zh", "路边地下冒出好大一股水，像喷泉一样，应该是自来水管子破了"),
    ("E0402", "zh", "zh-typo", "水管暴了，水一直往外涌，整条街都淹了"),
    ("E0402", "en", "en", "water is shooting up out of the road like a fountain, looks like a main has gone"),
    ("E0402", "en", "en-typo", "burst main on Queen St, water pouring down the hill into shops"),
    # E0403 燃气泄漏
    ("E0403", "zh", "zh", "单元门口一股很冲的煤气味，好像是楼下的管道漏了，大家都不敢开火"),
    ("E0403", "zh", "zh-typo", "饭店后厨天然汽味很重，怕爆炸"),
    ("E0403", "en", "en", "strong smell of rotten eggs in the stairwell, I think the gas pipe is leaking"),
    ("E0403", "en", "en-mixed", "smells like 煤气 all along the street near the restaurant, hissing from a pipe"),
    # E0404 道路积水
    ("E0404", "zh", "zh", "下了一夜大雨，立交桥底下的水都到膝盖了，车开进去就熄火"),
    ("E0404", "zh", "zh-typo", "路面积水很深，学生上学都淌水过去，鞋全湿"),
    ("E0404", "en", "en", "the underpass on Ring Road is under two feet of water after the downpour"),
    ("E0404", "en", "en-typo", "road completely flooded outside the school, kids wading through knee deep watr"),
    # E0405 火灾
    ("E0405", "zh", "zh", "对面楼6楼窗户往外冒黑烟，好像有火光，快来人"),
    ("E0405", "zh", "zh-typo", "小区车棚的电动车烧起来了，火很大"),
    ("E0405", "en", "en", "flames coming out of the roof of the warehouse on Dock Street"),
    ("E0405", "en", "en-mixed", "there's a blaze in the 垃圾房 behind our building, thick black smoke"),
    # E0406 树木倒伏
    ("E0406", "zh", "zh", "昨晚台风把路口那棵大榕树整棵刮倒了，横在路上车过不去"),
    ("E0406", "zh", "zh-typo", "大树到了，压在路中间，两边都堵车"),
    ("E0406", "en", "en", "a huge oak came down in the storm and is lying across both lanes"),
    ("E0406", "en", "en-typo", "tree has toppled onto parked cars on Mill Lane, road is blocked"),
    # E0407 危险化学品泄漏
    ("E0407", "zh", "zh", "高速出口一辆槽车侧翻了，有黄色的液体往外流，味道刺鼻呛人"),
    ("E0407", "zh", "zh-typo", "化工厂门口有桶倒了，不知道什么药水流了一地，冒白烟"),
    ("E0407", "en", "en", "a tanker has overturned and some corrosive liquid is running into the drain"),
    ("E0407", "en", "en-mixed", "drums of 化学品 fell off a truck and are leaking, eyes are stinging"),
    # E0501 危岩崩塌
    ("E0501", "zh", "zh", "公路边的山崖上有大石头掉下来了，上面还有裂缝，车经过很危险"),
    ("E0501", "zh", "zh-grid", "巡查：K12处岩壁裂隙加宽，坡脚新增落石多块"),
    ("E0501", "en", "en", "chunks of rock keep coming off the cliff above the mountain road"),
    ("E0501", "en", "en-typo", "big bolder fell from the rock face onto the path, more looks loose up there"),
    # E0502 滑坡
    ("E0502", "zh", "zh", "村后面那片山坡往下溜了，有几棵树都歪了，地上裂了好长的口子"),
    ("E0502", "zh", "zh-typo", "下雨后后山滑破了，泥土冲到房子后墙"),
    ("E0502", "en", "en", "the whole bank behind the village has slumped down after the rain"),
    ("E0502", "en", "en-mixed", "the hill by 三组 is moving, cracks across the field and trees tilting"),
    # E0503 地面塌陷
    ("E0503", "zh", "zh", "村口晒谷场那里地面陷下去一大块，有个坑越来越大"),
    ("E0503", "zh", "zh-typo", "院子地面突然下限了半米，墙角都裂了"),
    ("E0503", "en", "en", "a patch of ground in the playground has dropped about a metre overnight"),
    ("E0503", "en", "en-typo", "the earth in the field behind the farm is caving in, a big round hole apeared"),
    # E0504 泥石流隐患
    ("E0504", "zh", "zh", "山沟里堆满了碎石和烂泥，再下大雨怕冲下来把村子埋了"),
    ("E0504", "zh", "zh-grid", "巡查：二道沟沟道内松散堆积物增多，遇强降雨有泥石流风险"),
    ("E0504", "en", "en", "the ravine above the school is packed with loose stones and mud, a big storm could bring it all down"),
    ("E0504", "en", "en-typo", "risk of mudflow in the valley, the creek bed is full of debri from the last rains"),
    # E0505 地灾监测预警
    ("E0505", "zh", "zh", "滑坡点的监测仪一直在响红灯，数据好像超了"),
    ("E0505", "zh", "zh-typo", "裂缝监测设备报井了，位移超过黄色预警值"),
    ("E0505", "en", "en", "the slope monitor at site 3 triggered an orange-level alert this morning"),
    ("E0505", "en", "en-mixed", "GNSS 监测站 shows displacement over the warning threshold, alarm sent"),
    # E0601 噪声污染
    ("E0601", "zh", "zh", "楼下那家酒吧每天放音乐放到凌晨两点，震得窗户都响"),
    ("E0601", "zh", "zh-typo", "广场舞的音想开得太大了，每天晚上吵死了"),
    ("E0601", "en", "en", "the karaoke bar downstairs is blasting music past 2am every night"),
    ("E0601", "en", "en-typo", "shop next door plays promo announcments on a megaphone all day long, unbearable"),
    # E0602 油烟污染
    ("E0602", "zh", "zh", "一楼新开的川菜馆排烟管子直接对着我们家窗户，炒菜的油烟呛得咳嗽"),
    ("E0602", "zh", "zh-typo", "火锅店的油烟没有净华直接排，整栋楼都是味"),
    ("E0602", "en", "en", "the restaurant's extractor fan blows greasy smoke straight into our bedroom"),
    ("E0602", "en", "en-mixed", "cooking smell and 油烟 from the hotpot place downstairs is unbearable"),
    # E0603 污水直排
    ("E0603", "zh", "zh", "河边有根管子一直往河里排黑水，泡沫很多，臭死了"),
    ("E0603", "zh", "zh-typo", "洗车行的污水直接排到雨水井里，地上流的都是泡末"),
    ("E0603", "en", "en", "a pipe from the factory is pumping brown water straight into the stream"),
    ("E0603", "en", "en-typo", "the car wash is discharging soapy waste water into the storm sewer"),
    # E0604 焚烧垃圾
    ("E0604", "zh", "zh", "村口有人把塑料和旧轮胎堆一起烧，黑烟冲天"),
    ("E0604", "zh", "zh-typo", "田里又在烧桔杆了，烟大得看不清路"),
    ("E0604", "en", "en", "somebody is burning a pile of rubbish and old tyres on the waste ground, black smoke"),
    ("E0604", "en", "en-mixed", "farmers are setting fire to 秸秆 again, the whole town smells of smoke"),
    # E0701 矛盾纠纷
    ("E0701", "zh", "zh", "楼上楼下因为漏水的事吵了好几次，今天差点动手，请社区来调解一下"),
    ("E0701", "zh", "zh-typo", "两户人家为了停车位吵架，越吵越凶，需要调节"),
    ("E0701", "en", "en", "my upstairs neighbour and I keep arguing about his dog, it nearly got physical today"),
    ("E0701", "en", "en-mixed", "two families in 5栋 are fighting over a shared wall, please send someone to mediate"),
    # E0702 群租房
    ("E0702", "zh", "zh", "对门那套两居室住了十几个年轻人，上下铺，进进出出的"),
    ("E0702", "zh", "zh-typo", "房东把客厅隔成好几间出组，住了一大堆人"),
    ("E0702", "en", "en", "the flat opposite has bunk beds for about 15 people, the landlord keeps adding more"),
    ("E0702", "en", "en-typo", "landlord has partitoned a 3-bed apartment into 10 tiny rooms"),
    # E0703 安全隐患排查
    ("E0703", "zh", "zh", "楼道里有人拉电线给电瓶车充电，晚上插在那没人管，太危险了"),
    ("E0703", "zh", "zh-grid", "巡查：某服装小作坊灭火器过期，安全出口堆放布料"),
    ("E0703", "en", "en", "the emergency exit at the supermarket is chained shut"),
    ("E0703", "en", "en-mixed", "neighbours charge e-scooters in the 楼道 overnight, someone will start a fire"),
    # E0704 流动人口登记
    ("E0704", "zh", "zh", "隔壁新搬来几个外地的租户，好像没去社区登记过"),
    ("E0704", "zh", "zh-grid", "巡查：3栋502新入住外来人员4名，未办理居住登记"),
    ("E0704", "en", "en", "new tenants moved in next door last week and haven't registered with the community office"),
    ("E0704", "en", "en-typo", "several workers from out of town staying at no 12 with no residnce registration"),
    # E0705 特殊人群关爱
    ("E0705", "zh", "zh", "楼上王奶奶一个人住，好几天没见她下楼了，敲门也没人应"),
    ("E0705", "zh", "zh-typo", "我们这有个坐轮椅的残疾人，家里没人照顾，饭都吃不上，需要帮胡"),
    ("E0705", "en", "en", "an elderly man who lives alone on our floor hasn't been seen for days"),
    ("E0705", "en", "en-mixed", "kids at no. 8 are home alone, parents work in another city, 需要关爱"),
    # E0801 供水问题
    ("E0801", "zh", "zh", "从昨天下午开始家里水龙头就没水了，也没看到停水通知"),
    ("E0801", "zh", "zh-typo", "自来水放出来是黄的，还有股铁秀味"),
    ("E0801", "en", "en", "our taps have been dry since this morning and nobody said anything"),
    ("E0801", "en", "en-typo", "the water from the kitchen tap is brown and smells of rust, is it safe"),
    # E0802 物业服务
    ("E0802", "zh", "zh", "小区电梯坏了一个星期物业也不修，住18楼的老人只能爬楼梯"),
    ("E0802", "zh", "zh-typo", "物页收了钱不干事，楼道灯坏了没人换，垃圾也没人收"),
    ("E0802", "en", "en", "the management company hasn't cleaned the stairs or fixed the door entry system in months"),
    ("E0802", "en", "en-mixed", "物业 keeps charging us fees but the security guard is never at the gate"),
    # E0803 食品安全
    ("E0803", "zh", "zh", "在超市买的酸奶过期三天了还在卖，喝了拉肚子"),
    ("E0803", "zh", "zh-typo", "那家快餐店后厨老鼠乱跑，卫生太差了，吃完胃疼"),
    ("E0803", "en", "en", "bought chicken at the market that was clearly off, my whole family got sick"),
    ("E0803", "en", "en-typo", "found a cockroach in my noodles from the takeway place on 2nd St"),
    # E0804 医疗卫生
    ("E0804", "zh", "zh", "社区医院说好的周六开门，去了大门锁着，老人打针没地方去"),
    ("E0804", "zh", "zh-typo", "小区里有个没执照的牙医诊所，器械都不消读"),
    ("E0804", "en", "en", "waited five hours at the community hospital and the doctor never showed up"),
    ("E0804", "en", "en-mixed", "the 诊所 on our street is giving injections without a licence"),
    # E0805 社会保障
    ("E0805", "zh", "zh", "我爸的退休工资这个月没到账，问了好几个地方都说不归他们管"),
    ("E0805", "zh", "zh-typo", "低保申请交上去三个月了也没人回复，家里实在困难"),
    ("E0805", "en", "en", "my mother's pension payment didn't arrive this month and nobody can tell us why"),
    ("E0805", "en", "en-typo", "applied for unemployement benefit two months ago, still no money and no answer"),
    # E0806 价格投诉
    ("E0806", "zh", "zh", "景区门口的饭店一碗面收80块，菜单上根本没写价格"),
    ("E0806", "zh", "zh-typo", "菜市场那个摊主称重做手脚，一斤肉少了二两，缺斤少俩"),
    ("E0806", "en", "en", "the taxi driver charged me three times the meter price"),
    ("E0806", "en", "en-mixed", "supermarket shelf tag says 9.9元 but at the till they charged 15"),
]
