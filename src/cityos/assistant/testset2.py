"""The second-round test split (see `evalset`): 4 whole reports per subclass, written as they are.

Written right after the first-round test (`testset.py`) was scored once (top-1 0.853, top-3
0.974) and before anything was changed because of it: before its errors were read, before any
training text was added and before any setting was tuned again. `cityos assistant tune` never
reads it; `cityos assistant eval` scores it once. Other voices than the first round: hotline
operators' summaries (市民来电反映…), chat messages, very short shouts, long complaints, English
from residents and visitors, typos of either language, Chinese and English mixed."""

from __future__ import annotations

# (subclass, language, style, text)
TESTSET2: list[tuple[str, str, str, str]] = [
    # P0101 上水井盖
    ("P0101", "zh", "zh-hotline", "市民来电反映：人民路与东风路口西北角自来水阀门井井盖缺失，夜间有行人跌落风险"),
    ("P0101", "zh", "zh-typo", "水表那个井的盖子没了！！一个黑窟窿"),
    ("P0101", "en", "en", "the little square lid over our water meter in front of the gate is smashed in"),
    ("P0101", "en", "en-mixed", "供水 valve cover near the school gate is missing, someone put a traffic cone in it"),
    # P0102 污水井盖
    ("P0102", "zh", "zh-hotline", "来电人称其楼下污水检查井盖板破损下沉，污水外溢，气味难闻，要求尽快维修"),
    ("P0102", "zh", "zh", "化粪池那个盖板塌了一角，臭味熏得一楼都没法开窗"),
    ("P0102", "en", "en-typo", "the sewage manhole lid out front has caved in and theres a horrible smell"),
    ("P0102", "en", "en", "sewer cover rattles loudly and dirty water seeps out every time a bus goes over it"),
    # P0103 雨水箅子
    ("P0103", "zh", "zh", "马路边那个铁格子排水口缺了，拖鞋都掉进去了"),
    ("P0103", "zh", "zh-hotline", "市民反映：幸福路公交站旁雨水篦子破损，一根铁条断裂翘起"),
    ("P0103", "en", "en", "the grate over the gutter drain has snapped and bike tyres get caught in the gap"),
    ("P0103", "en", "en-mixed", "雨水口 by the supermarket is blocked solid with mud, water just sits on the road"),
    # P0104 路灯
    ("P0104", "zh", "zh-chat", "我们楼下那盏灯又不亮了[捂脸]都第三次了"),
    ("P0104", "zh", "zh-hotline", "来电反映：滨河路约200米路段路灯全部熄灭，夜间无照明"),
    ("P0104", "en", "en-typo", "streetlamp outside number 3 is on during the day and off at nite"),
    ("P0104", "en", "en", "no lighting at all along the canal towpath, it's dangerous after dark"),
    # P0105 消防栓
    ("P0105", "zh", "zh", "消防栓的水阀被人拧开了，水哗哗地流了一个上午"),
    ("P0105", "zh", "zh-typo", "小区里的室外消火拴被电动车棚挡得严严实实"),
    ("P0105", "en", "en", "kids opened the fire hydrant and water is flooding the street"),
    ("P0105", "en", "en-mixed", "消防栓 outside the mall is cracked and leaking onto the pavement"),
    # P0106 电力设施
    ("P0106", "zh", "zh-hotline", "市民来电：村口变压器周边围栏倒塌，有儿童攀爬，存在触电隐患"),
    ("P0106", "zh", "zh-typo", "电线杆上的电线短路冒火化了，啪啪响"),
    ("P0106", "en", "en", "the substation fence is down and the transformer is buzzing loudly"),
    ("P0106", "en", "en-typo", "electricty pole on Birch Rd has a crack and is tilting toward the houses"),
    # P0107 通信交接箱
    ("P0107", "zh", "zh", "路口那个联通的铁皮柜子被车蹭了，门合不上，里面线都露着"),
    ("P0107", "zh", "zh-hotline", "市民反映：电信交接箱箱门缺失，箱内线缆外露淋雨"),
    ("P0107", "en", "en", "the green phone cabinet on the verge has been forced open and the wiring is exposed"),
    ("P0107", "en", "en-mixed", "光交箱 on our corner is knocked sideways and the door won't close"),
    # P0201 交通信号灯
    ("P0201", "zh", "zh-chat", "东门那个路口的灯又坏了，红灯绿灯都不亮，交警也没来"),
    ("P0201", "zh", "zh-typo", "人行道过马路的绿灯只亮三秒，老人根本走不过去，信号时长有问题"),
    ("P0201", "en", "en", "the stop lights at Oak and 3rd have been blinking red both ways all morning"),
    ("P0201", "en", "en-typo", "trafic signal head hanging loose at the junction and facing the wrong way"),
    # P0202 交通标志牌
    ("P0202", "zh", "zh", "限速40的牌子被广告横幅盖住了"),
    ("P0202", "zh", "zh-hotline", "来电反映：学院路口指路标志牌被风刮落，现放置在路边"),
    ("P0202", "en", "en", "the sign telling you which lane goes to the airport is lying in the ditch"),
    ("P0202", "en", "en-mixed", "交通标志 at the school crossing is so faded you can't see the children symbol"),
    # P0203 护栏
    ("P0203", "zh", "zh", "立交桥上的护栏被大货车撞出去一段，挂在半空"),
    ("P0203", "zh", "zh-typo", "路中间的隔离栏杆倒了一排，行人乱窜横穿马路"),
    ("P0203", "en", "en-typo", "crash barier on the bend has a huge dent and a section missing"),
    ("P0203", "en", "en", "the handrail on the steps down to the river came away from its posts"),
    # P0204 公交站亭
    ("P0204", "zh", "zh", "站台上的电子站牌黑屏，候车亭的顶棚也漏水"),
    ("P0204", "zh", "zh-hotline", "市民反映：火车站公交站亭广告玻璃破碎，存在划伤风险"),
    ("P0204", "en", "en", "someone kicked in the side panel of the bus stop and the glass is all over the seat"),
    ("P0204", "en", "en-mixed", "the 候车亭 at the hospital stop has no roof anymore, we stand in the rain"),
    # P0205 人行道板
    ("P0205", "zh", "zh-chat", "人行道砖又翘起来了，每次路过都要小心，推婴儿车根本推不动"),
    ("P0205", "zh", "zh-typo", "步行街的石板松了好几块，一踩就吱水"),
    ("P0205", "en", "en", "half the paving stones outside the post office are wobbly or cracked"),
    ("P0205", "en", "en-typo", "sidewalk tiles near the bakery are lifted, my grandma tripped and fell"),
    # P0206 隔离墩
    ("P0206", "zh", "zh", "广场入口挡车的铁桩被人拔掉了，现在汽车直接开进来"),
    ("P0206", "zh", "zh-hotline", "来电反映：解放桥上防撞隔离墩破损，碎块散落在车道内"),
    ("P0206", "en", "en", "the metal bollards at the end of the pedestrian street have been bent flat"),
    ("P0206", "en", "en-mixed", "some of the 石墩 stopping cars on the footpath were taken away"),
    # P0301 公共厕所
    ("P0301", "zh", "zh", "菜场公厕的蹲坑全堵了，门也坏了，大热天那个味道"),
    ("P0301", "zh", "zh-typo", "公测里面没有手纸，洗手的水龙头也不出水"),
    ("P0301", "en", "en", "the public toilets by the beach have no paper, no soap and a broken door"),
    ("P0301", "en", "en-typo", "public restroom in the bus terminal is flodded and filthy"),
    # P0302 垃圾箱
    ("P0302", "zh", "zh-chat", "路口那俩垃圾桶都满了，猫在里面翻，吃剩的撒一地"),
    ("P0302", "zh", "zh-hotline", "市民来电：南湖公园内垃圾箱损坏缺盖，垃圾外溢"),
    ("P0302", "en", "en", "the dustbin at the bus stop is gone, just the empty post left"),
    ("P0302", "en", "en-typo", "garbage cans along the promenade havent been emptied, overflowing with bottles"),
    # P0303 广告牌匾
    ("P0303", "zh", "zh", "二楼那块火锅店的招牌一刮风就啪嗒啪嗒拍墙，随时要掉"),
    ("P0303", "zh", "zh-typo", "楼顶的霓虹灯广告牌架子锈断了，歪在那里"),
    ("P0303", "en", "en", "a huge billboard frame on the roof is bent and looks like it could fall in the next storm"),
    ("P0303", "en", "en-mixed", "the 招牌 of the hotel is hanging by one corner over the entrance"),
    # P0304 垃圾收集站
    ("P0304", "zh", "zh", "小区垃圾收集点的房子墙倒了一半，垃圾桶都露在外面"),
    ("P0304", "zh", "zh-hotline", "来电反映：城南垃圾转运站周边污水渗漏，臭味扰民"),
    ("P0304", "en", "en", "the rubbish collection shed for our street has a broken roof and rats everywhere"),
    ("P0304", "en", "en-typo", "waste transfer staton behind the market leaks black liquid onto the road"),
    # P0401 行道树
    ("P0401", "zh", "zh", "这排行道树的树冠把路灯都挡住了，晚上树底下一团黑"),
    ("P0401", "zh", "zh-typo", "路边一棵树枯死好久了，树枝一碰就断，怕砸到人"),
    ("P0401", "en", "en", "the street trees haven't been pruned and the branches scrape the top deck of the bus"),
    ("P0401", "en", "en-mixed", "there's a dead 行道树 outside the school that drops branches every windy day"),
    # P0402 绿地护栏
    ("P0402", "zh", "zh", "公园草坪边上的小铁栅栏被人拆走了好几段，大家直接踩草地"),
    ("P0402", "zh", "zh-hotline", "市民反映：绿化带隔离护栏锈蚀断裂，尖角外露"),
    ("P0402", "en", "en", "the low metal fence around the flower lawn is broken and bent"),
    ("P0402", "en", "en-typo", "railings round the green space on Hill St are snapped, dogs get in"),
    # P0403 花坛花箱
    ("P0403", "zh", "zh", "桥上的花箱被人偷了两个，剩下的也破了"),
    ("P0403", "zh", "zh-typo", "广场的花台砖头塌了，花草都死光了"),
    ("P0403", "en", "en", "flower troughs along the bridge have been tipped over and smashed"),
    ("P0403", "en", "en-mixed", "the 花坛 in front of the town hall is full of weeds and broken edging"),
    # P0501 危旧房屋
    ("P0501", "zh", "zh-hotline", "来电人反映：老城区一栋土木结构老房墙体倾斜，屋内仍有老人居住"),
    ("P0501", "zh", "zh", "我家隔壁的老楼墙上的裂缝越来越宽，能塞进手指了"),
    ("P0501", "en", "en", "there are huge cracks in the walls of the old apartment block and bits of concrete falling"),
    ("P0501", "en", "en-typo", "the derilict house on the corner has a sagging roof and leaning walls"),
    # P0502 挡土墙
    ("P0502", "zh", "zh", "学校后面的挡土墙往外鼓了一个包，下面还有排水孔在冒泥水"),
    ("P0502", "zh", "zh-typo", "路边的堡砍开了几道大口子，怕塌下来"),
    ("P0502", "en", "en", "the big concrete wall holding up the road above us has a long diagonal crack"),
    ("P0502", "en", "en-mixed", "挡土墙 next to the stairs is leaning out and dropping stones"),
    # E0101 暴露垃圾
    ("E0101", "zh", "zh-chat", "谁在绿化带里扔了一堆外卖盒子，臭死了"),
    ("E0101", "zh", "zh-hotline", "市民反映：体育馆北门道路两侧有散落生活垃圾未清理"),
    ("E0101", "en", "en", "bags of rubbish thrown on the pavement outside the closed shop"),
    ("E0101", "en", "en-typo", "people keep leaving there trash at the bus stop, cups and wrappers everywere"),
    # E0102 积存垃圾渣土
    ("E0102", "zh", "zh", "桥洞下面的垃圾越堆越多，好几个月了，老鼠成群"),
    ("E0102", "zh", "zh-typo", "荒地上堆的建筑渣土和拉圾有好几十方，没人清"),
    ("E0102", "en", "en", "a massive mound of old rubbish and soil has built up under the flyover"),
    ("E0102", "en", "en-mixed", "the 积存垃圾 on the empty plot has been there since last year"),
    # E0103 道路不洁
    ("E0103", "zh", "zh", "夜市收摊以后满街的油渍和竹签，早上也没人扫"),
    ("E0103", "zh", "zh-hotline", "来电反映：学府路路面污染严重，有大面积泥浆"),
    ("E0103", "en", "en", "the road is caked with mud from the tractors, nobody has cleaned it"),
    ("E0103", "en", "en-typo", "sticky spilled paint and grease all over the street, very slipery"),
    # E0104 水域不洁
    ("E0104", "zh", "zh", "护城河里漂了好多泡沫箱和树枝，水面脏兮兮的"),
    ("E0104", "zh", "zh-typo", "湖面上有一层油花，还漂着塑料代"),
    ("E0104", "en", "en", "the moat is full of floating styrofoam boxes and leaves"),
    ("E0104", "en", "en-mixed", "湖 surface near the pavilion is covered in rubbish and green scum"),
    # E0105 乱涂写乱张贴
    ("E0105", "zh", "zh-chat", "单元门上又被贴了一堆开锁通马桶的，撕完又贴"),
    ("E0105", "zh", "zh", "桥墩上全是乱画的字，还有喷的电话号码"),
    ("E0105", "en", "en", "the shutters of every shop on the street were spray-painted last night"),
    ("E0105", "en", "en-typo", "illegal adverts glued all over the electrcity boxes and walls"),
    # E0106 乱堆物堆料
    ("E0106", "zh", "zh", "有人把装修用的木板和瓷砖堆在单元门口，进出都要侧身"),
    ("E0106", "zh", "zh-hotline", "市民反映：某商户在公共通道堆放纸箱、泡沫等杂物，影响通行"),
    ("E0106", "en", "en", "someone has stacked bricks and sand bags across the back lane"),
    ("E0106", "en", "en-mixed", "杂物 piled up in the stairwell, bikes, boxes, an old fridge"),
    # E0201 无照经营游商
    ("E0201", "zh", "zh", "天桥上好多摆地摊卖手机壳的，城管一来就卷铺盖跑"),
    ("E0201", "zh", "zh-typo", "地铁站门口有个骑三轮卖西瓜的游伤，天天都在"),
    ("E0201", "en", "en", "a guy selling pirated DVDs from a blanket on the footbridge every night"),
    ("E0201", "en", "en-typo", "unlicenced vendors with trolleys selling snacks at the hospital entrance"),
    # E0202 店外经营
    ("E0202", "zh", "zh", "那家洗车店直接在门口的人行道上洗车，水流一地"),
    ("E0202", "zh", "zh-hotline", "来电反映：建设路一水果店将货架摆放至店外人行道"),
    ("E0202", "en", "en", "the grocer stacks crates of fruit outside his shop and the pavement is blocked"),
    ("E0202", "en", "en-mixed", "the 饭店 downstairs puts tables and stools out on the footpath every evening"),
    # E0203 占道经营
    ("E0203", "zh", "zh", "每天早上菜贩子把菜筐摆到马路中间，车开不过去只能按喇叭"),
    ("E0203", "zh", "zh-typo", "夜宵摊占了一条车到，桌子都摆到马路上了"),
    ("E0203", "en", "en", "the weekend street market now covers the whole carriageway, cars can't pass"),
    ("E0203", "en", "en-typo", "stall holders setting up right in the road every morning, trafic is jammed"),
    # E0204 非法散发小广告
    ("E0204", "zh", "zh", "商场门口有几个人一直拦着人发健身卡传单"),
    ("E0204", "zh", "zh-chat", "又有人往电动车筐里塞小卡片，一塞就是一整排"),
    ("E0204", "en", "en", "people are posting advertising cards through every letterbox in the block"),
    ("E0204", "en", "en-mixed", "someone is handing out 小广告 at the crossing and people just drop them on the ground"),
    # E0205 机动车乱停放
    ("E0205", "zh", "zh", "医院门口那辆黑色轿车停在救护车通道上一个上午了"),
    ("E0205", "zh", "zh-typo", "有辆货车停在小区出口，车都开不出去，联系不上车主"),
    ("E0205", "en", "en", "a car has been parked on the zebra crossing outside the school all day"),
    ("E0205", "en", "en-typo", "vans parked on both sides of the lane, fire engine wouldnt get through"),
    # E0206 共享单车乱停放
    ("E0206", "zh", "zh", "公交站边上的共享单车堆成山了，等车都没地方站"),
    ("E0206", "zh", "zh-hotline", "市民反映：地铁2号线出口共享单车大量无序停放，阻塞通道"),
    ("E0206", "en", "en", "rental bikes thrown all over the entrance to the metro station"),
    ("E0206", "en", "en-mixed", "共享单车 left lying across the tactile paving, a blind lady tripped"),
    # E0207 露天烧烤
    ("E0207", "zh", "zh", "一到晚上河边就有人摆炭火烤鱼，烟呛得我们没法开窗"),
    ("E0207", "zh", "zh-typo", "小区门口的露天烤串一直烤到两点，油烟飘进屋里"),
    ("E0207", "en", "en", "there's an outdoor grill selling kebabs on the pavement, smoke goes straight into our flat"),
    ("E0207", "en", "en-typo", "street barbeque stalls every evening outside the flats, the smoke is unbearble"),
    # E0301 施工扰民
    ("E0301", "zh", "zh-hotline", "来电反映：某工地夜间22点后仍在进行混凝土浇筑作业，噪声扰民"),
    ("E0301", "zh", "zh", "隔壁工地早上五点就开始切割钢管，吵得孩子一直哭"),
    ("E0301", "en", "en", "the building site is drilling and banging until midnight on weeknights"),
    ("E0301", "en", "en-mixed", "工地 next door runs the crane and jackhammer through the night"),
    # E0302 施工废弃料
    ("E0302", "zh", "zh", "路修完了，剩下的沥青块和沙袋全扔在路边"),
    ("E0302", "zh", "zh-typo", "装修工人把拆下来的旧门窗和碎砖仍在楼道口"),
    ("E0302", "en", "en", "the roadworks crew left piles of broken asphalt and empty sandbags"),
    ("E0302", "en", "en-typo", "renovation rubbel and old tiles dumped next to the recycling bins"),
    # E0303 道路破损
    ("E0303", "zh", "zh", "出城那段路的路面裂得像蜘蛛网，好几处都塌了边"),
    ("E0303", "zh", "zh-chat", "学校门口的路坑坑洼洼的，下雨全是水坑，接孩子鞋都湿透"),
    ("E0303", "en", "en", "the road surface on the hill is crumbling and full of potholes"),
    ("E0303", "en", "en-mixed", "huge 坑 in the road near the gas station, my scooter nearly flipped"),
    # E0304 违法建设
    ("E0304", "zh", "zh-hotline", "市民举报：某小区一楼住户私自拆除承重墙并向外扩建"),
    ("E0304", "zh", "zh", "对面那户在自家阳台外面又接出去一截，用铁架子搭的"),
    ("E0304", "en", "en", "my neighbour is building a two-storey extension with no planning approval"),
    ("E0304", "en", "en-typo", "someone put up an illegel shack on the river bank"),
    # E0305 工地扬尘
    ("E0305", "zh", "zh", "搅拌站门口尘土飞扬，车一开过来一片灰，喉咙都疼"),
    ("E0305", "zh", "zh-typo", "拆迁工地拆房子也不喷水，灰大得看不清对面"),
    ("E0305", "en", "en", "dust blowing off the demolition site covers all the cars on our street"),
    ("E0305", "en", "en-mixed", "工地 soil heaps are uncovered and the wind blows dust into the classroom"),
    # E0306 渣土车遗撒
    ("E0306", "zh", "zh", "半夜拉渣土的车一路掉土，早上整条马路都是黄泥"),
    ("E0306", "zh", "zh-hotline", "来电反映：渣土运输车辆沿途遗撒，路面污染长约500米"),
    ("E0306", "en", "en", "dump trucks are shedding sand and gravel all along the main road"),
    ("E0306", "en", "en-typo", "uncovered lorrys from the quarry drop stones on the road, one hit my windscreen"),
    # E0401 路面塌陷
    ("E0401", "zh", "zh", "公交车道上突然塌出个洞，下面能看到水管，车都绕着走"),
    ("E0401", "zh", "zh-chat", "我的天，路中间陷下去一大块，差点把电动车吞了"),
    ("E0401", "en", "en", "part of the road collapsed into a hole near the bus lane"),
    ("E0401", "en", "en-typo", "the asphalt sunk into a big hole right at the crosing, very dangerous"),
    # E0402 自来水管爆裂
    ("E0402", "zh", "zh", "地下的供水管破了，水从路面裂缝里往外冒，越来越大"),
    ("E0402", "zh", "zh-hotline", "来电反映：光华大道一处给水管道爆裂，大量清水涌出"),
    ("E0402", "en", "en", "a water pipe has burst under the pavement and it's spraying everywhere"),
    ("E0402", "en", "en-mixed", "水管 under the road broke and water is bubbling up through the tarmac"),
    # E0403 燃气泄漏
    ("E0403", "zh", "zh", "厨房燃气管有咝咝的声音，满屋子煤气味，不敢开灯"),
    ("E0403", "zh", "zh-typo", "马路边有股很大的燃汽味，好像是地下管子漏了"),
    ("E0403", "en", "en", "there is a hissing sound and a strong gas smell from the meter box"),
    ("E0403", "en", "en-typo", "smell of gass in the whole block since this morning"),
    # E0404 道路积水
    ("E0404", "zh", "zh", "暴雨后地道桥全淹了，有辆车困在里面"),
    ("E0404", "zh", "zh-chat", "小区门口的路又成河了，水都漫到一楼门口了"),
    ("E0404", "en", "en", "the dip under the railway bridge is flooded again, cars are stalling"),
    ("E0404", "en", "en-mixed", "after the 暴雨 the whole road outside the market is under water"),
    # E0405 火灾
    ("E0405", "zh", "zh", "山上着火了，烟很大，好像往村子这边烧"),
    ("E0405", "zh", "zh-hotline", "来电人称其所在小区地下车库有车辆起火，浓烟"),
    ("E0405", "en", "en", "the kitchen of the restaurant across the street is on fire, people running out"),
    ("E0405", "en", "en-typo", "there is a fire in the rubish shed and flames are reaching the balconies"),
    # E0406 树木倒伏
    ("E0406", "zh", "zh", "刚才一阵大风把公园门口那棵老槐树吹倒了，砸在围墙上"),
    ("E0406", "zh", "zh-typo", "路边大树被台风刮到了，树干横在马路上"),
    ("E0406", "en", "en", "a big tree got blown over and is lying across the road"),
    ("E0406", "en", "en-mixed", "大树 toppled in the wind, it's blocking the entrance to the school"),
    # E0407 危险化学品泄漏
    ("E0407", "zh", "zh", "工厂里一个储罐漏了，黄烟往外冒，周围的人眼睛都睁不开"),
    ("E0407", "zh", "zh-hotline", "来电反映：高速辅道一辆危化品运输车发生泄漏，液体流入边沟"),
    ("E0407", "en", "en", "a truck carrying chemicals crashed and some liquid is leaking and smoking"),
    ("E0407", "en", "en-typo", "barrels of toxic stuff leaking behind the factory, the smell burns your throat"),
    # E0501 危岩崩塌
    ("E0501", "zh", "zh", "后山那块大岩石裂开了，下面就是住户，随时可能滚下来"),
    ("E0501", "zh", "zh-typo", "公路上方的石壁一直掉碎石，昨天还砸坏了一辆车"),
    ("E0501", "en", "en", "rocks keep dropping off the cliff face above the houses"),
    ("E0501", "en", "en-mixed", "a big chunk of 岩石 broke off the cliff and landed on the road"),
    # E0502 滑坡
    ("E0502", "zh", "zh-hotline", "来电反映：某村后山坡体出现多条拉裂缝，坡脚房屋墙体开裂"),
    ("E0502", "zh", "zh", "下了几天雨，山上的土整片往下滑，把路都埋了一半"),
    ("E0502", "en", "en", "the hillside above the road slid down and buried part of the lane"),
    ("E0502", "en", "en-typo", "land slip behind the farmhouse after the heavy rains, the field moved"),
    # E0503 地面塌陷
    ("E0503", "zh", "zh", "菜地中间塌了个大坑，越来越深，旁边的房子地板也裂了"),
    ("E0503", "zh", "zh-typo", "小区空地地面出现下陷，一圈一圈的裂纹"),
    ("E0503", "en", "en", "the ground behind our house has sunk and a round pit has formed"),
    ("E0503", "en", "en-mixed", "地面 in the courtyard dropped suddenly and the wall is cracking"),
    # E0504 泥石流隐患
    ("E0504", "zh", "zh", "沟口堆了很多冲下来的石头和泥，下大雨恐怕会引发泥石流"),
    ("E0504", "zh", "zh-hotline", "来电反映：某村沟道上游松散物源增多，担心汛期发生泥石流"),
    ("E0504", "en", "en", "the stream bed above the village is choked with boulders and mud, a debris flow could come down"),
    ("E0504", "en", "en-typo", "worried about mud slides from the gully if the storm comes, lots of loose debri"),
    # E0505 地灾监测预警
    ("E0505", "zh", "zh", "监测站发来短信说后山位移超限，已经到橙色预警了"),
    ("E0505", "zh", "zh-typo", "地灾监测设备一直报警，裂缝计读数变大了"),
    ("E0505", "en", "en", "the landslide monitoring sensors just sent a red alert for displacement"),
    ("E0505", "en", "en-mixed", "预警 from the slope monitoring station: the crack meter exceeded the threshold"),
    # E0601 噪声污染
    ("E0601", "zh", "zh", "对面健身房音乐开得震天响，从早到晚咚咚咚"),
    ("E0601", "zh", "zh-chat", "楼下的大喇叭卖货循环播放一整天，头都要炸了"),
    ("E0601", "en", "en", "the nightclub bass is so loud our windows rattle until 3am"),
    ("E0601", "en", "en-typo", "loud speakers from the square dancing group every evening, its too noisey"),
    # E0602 油烟污染
    ("E0602", "zh", "zh", "烤鸭店的排烟口正对着我们家阳台，衣服都晾不了"),
    ("E0602", "zh", "zh-hotline", "市民来电：某餐饮店油烟未经净化直接排放，影响楼上住户"),
    ("E0602", "en", "en", "the grease and smoke from the fried chicken shop's vent comes right into my window"),
    ("E0602", "en", "en-mixed", "the 餐馆 downstairs has no fume hood filter, our flat smells of oil all day"),
    # E0603 污水直排
    ("E0603", "zh", "zh", "养猪场的粪水直接排到小河里，河水都黑了"),
    ("E0603", "zh", "zh-typo", "有工厂晚上偷排废水到雨水管，第二天河里死鱼一片"),
    ("E0603", "en", "en", "a restaurant is pouring its dirty water straight down the street drain"),
    ("E0603", "en", "en-mixed", "black 污水 coming out of an outlet pipe into the river every night"),
    # E0604 焚烧垃圾
    ("E0604", "zh", "zh", "工地上的人把废木料和塑料一起烧了，烟特别呛"),
    ("E0604", "zh", "zh-hotline", "来电反映：某村村民在田间焚烧秸秆及生活垃圾"),
    ("E0604", "en", "en", "someone set fire to a heap of garbage in the empty lot, toxic smoke"),
    ("E0604", "en", "en-typo", "they are burnning plastic waste in barrels behind the warehouse"),
    # E0701 矛盾纠纷
    ("E0701", "zh", "zh", "两个邻居为了门口放鞋柜的事吵了一个月了，今天还报了警"),
    ("E0701", "zh", "zh-hotline", "来电人称与楼上住户因渗水问题发生纠纷，协商无果，请求调解"),
    ("E0701", "en", "en", "ongoing argument with the family next door about the boundary fence, we need a mediator"),
    ("E0701", "en", "en-typo", "neighbours shouting and threatning each other over a parking space"),
    # E0702 群租房
    ("E0702", "zh", "zh", "楼下那套房子被二房东隔成了八个小间，住了二十多人"),
    ("E0702", "zh", "zh-typo", "地下室改成了好多小房间出租，住满了人，群组房"),
    ("E0702", "en", "en", "the basement has been turned into tiny rooms rented to twenty people"),
    ("E0702", "en", "en-mixed", "二房东 split the flat into eight cubicles, people coming and going all night"),
    # E0703 安全隐患排查
    ("E0703", "zh", "zh", "商场的消防通道堆满了货，疏散指示灯也不亮"),
    ("E0703", "zh", "zh-hotline", "来电反映：某出租屋内私拉电线、违规使用大功率电器，存在火灾隐患"),
    ("E0703", "en", "en", "the shop keeps gas cylinders in the stairwell, it's a fire risk"),
    ("E0703", "en", "en-typo", "fire extinguishers in our building are all expird and the alarm doesnt work"),
    # E0704 流动人口登记
    ("E0704", "zh", "zh", "我家的房子租给了几个外地来打工的，要去哪里登记"),
    ("E0704", "zh", "zh-typo", "出租屋新住进来一批外来务工人员，还没有做人口登几"),
    ("E0704", "en", "en", "how do I register the workers who just moved into my rental flat"),
    ("E0704", "en", "en-mixed", "several new 租客 arrived from another province and are not registered"),
    # E0705 特殊人群关爱
    ("E0705", "zh", "zh", "楼下李大爷八十多了，儿女都在外地，最近腿脚不好买不了菜"),
    ("E0705", "zh", "zh-hotline", "来电反映：辖区内一名独居残疾人生活困难，请求社区上门帮扶"),
    ("E0705", "en", "en", "the old lady on the ground floor lives alone and can't get out to buy food"),
    ("E0705", "en", "en-typo", "a disabled veteren next door has no one to look after him"),
    # E0801 供水问题
    ("E0801", "zh", "zh", "整栋楼都停水一天了，也没有通知什么时候来"),
    ("E0801", "zh", "zh-chat", "高层的水压小得可怜，洗澡都出不来水"),
    ("E0801", "en", "en", "the water coming out of the tap is cloudy and smells of chlorine"),
    ("E0801", "en", "en-mixed", "停水 since last night in our whole street and nobody knows why"),
    # E0802 物业服务
    ("E0802", "zh", "zh", "物业管理太差了，小区门禁坏了一个月，谁都能进"),
    ("E0802", "zh", "zh-typo", "物业不给修漏水的楼顶，一直推脱，物业费倒是按时收"),
    ("E0802", "en", "en", "our building management never fixes anything, the lift has been out for weeks"),
    ("E0802", "en", "en-typo", "estate managment company ignores all our complaints about the broken gate"),
    # E0803 食品安全
    ("E0803", "zh", "zh", "学校门口小卖部卖的辣条没有生产日期，孩子吃了肚子疼"),
    ("E0803", "zh", "zh-hotline", "来电反映：在某餐馆就餐后多人出现腹泻呕吐症状"),
    ("E0803", "en", "en", "the bakery sold us cake with mould on it"),
    ("E0803", "en", "en-mixed", "the 外卖 I ordered had a hair and tasted rotten, I was sick all night"),
    # E0804 医疗卫生
    ("E0804", "zh", "zh", "小区门口的黑诊所给人输液，也没有医生资格证"),
    ("E0804", "zh", "zh-typo", "卫生院的医声态度很差，看病还要走后门"),
    ("E0804", "en", "en", "the local health clinic is always closed when it says it is open"),
    ("E0804", "en", "en-typo", "the hospitel charged for tests that were never done"),
    # E0805 社会保障
    ("E0805", "zh", "zh", "我的医保卡突然不能用了，去医院报不了销"),
    ("E0805", "zh", "zh-hotline", "来电人反映其养老保险缴费记录有误，影响退休待遇"),
    ("E0805", "en", "en", "my disability allowance was stopped without any explanation"),
    ("E0805", "en", "en-mixed", "my 社保 contributions are missing for six months and the office won't help"),
    # E0806 价格投诉
    ("E0806", "zh", "zh", "停车场说好5块一小时，出来收了我50"),
    ("E0806", "zh", "zh-typo", "这家药店同一个药比别家贵一倍，还不明码标价"),
    ("E0806", "en", "en", "the hotel charged a cleaning fee that wasn't on the booking"),
    ("E0806", "en", "en-typo", "the shop scales are rigged, I got 800g when I paid for a kilo"),
]
