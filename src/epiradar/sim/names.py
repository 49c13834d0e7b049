"""Made-up names for the synthetic city: sub-districts, districts, hospitals and places."""

from __future__ import annotations

import numpy as np

CITY_NAME = "Haicheng"

# (pinyin, hanzi) pairs in the style of Chinese sub-district names; none is a real address.
AREA_NAMES: tuple[tuple[str, str], ...] = (
    ("Xinhua", "新华"),
    ("Jiangbin", "江滨"),
    ("Hongyuan", "宏远"),
    ("Qingshui", "清水"),
    ("Baihe", "白鹤"),
    ("Donghu", "东湖"),
    ("Xilin", "西林"),
    ("Nanpu", "南浦"),
    ("Beiqiao", "北桥"),
    ("Jinsha", "金沙"),
    ("Yinhu", "银湖"),
    ("Taoyuan", "桃源"),
    ("Liuxiang", "柳巷"),
    ("Meilong", "梅陇"),
    ("Fenghuang", "凤凰"),
    ("Longtan", "龙潭"),
    ("Shijia", "石家"),
    ("Huaxi", "华溪"),
    ("Changning", "长宁"),
    ("Anting", "安亭"),
    ("Ruijin", "瑞金"),
    ("Guanglan", "广澜"),
    ("Heping", "和平"),
    ("Yongfeng", "永丰"),
    ("Tianxing", "天星"),
    ("Wuyi", "五一"),
    ("Chengqiao", "城桥"),
    ("Songyuan", "松园"),
    ("Zhuyuan", "竹园"),
    ("Lianhua", "莲花"),
    ("Fuxing", "复兴"),
    ("Xiangyang", "向阳"),
    ("Hengsha", "横沙"),
    ("Dongjing", "东泾"),
    ("Xijiao", "西郊"),
    ("Nanxiang", "南翔"),
    ("Beicai", "北蔡"),
    ("Jiading", "嘉定"),
    ("Qibao", "七宝"),
    ("Zhoupu", "周浦"),
    ("Huamu", "花木"),
    ("Tangqiao", "塘桥"),
    ("Yangsi", "杨思"),
    ("Caohe", "漕河"),
    ("Linfen", "临汾"),
    ("Pengpu", "彭浦"),
    ("Daning", "大宁"),
    ("Gonghe", "共和"),
    ("Shanyang", "山阳"),
    ("Tinglin", "亭林"),
    ("Zhujing", "朱泾"),
    ("Fengjing", "枫泾"),
    ("Xinbang", "新浜"),
    ("Maogang", "泖港"),
    ("Yexie", "叶榭"),
    ("Chedun", "车墩"),
    ("Sijing", "泗泾"),
    ("Jiuting", "九亭"),
    ("Dongxin", "东新"),
    ("Huating", "华亭"),
    ("Baoshan", "宝山"),
    ("Luojing", "罗泾"),
    ("Yuepu", "月浦"),
    ("Gucun", "顾村"),
    ("Dachang", "大场"),
    ("Miaohang", "庙行"),
    ("Songnan", "淞南"),
    ("Gaojing", "高境"),
    ("Jiangwan", "江湾"),
    ("Wujiao", "五角"),
    ("Yinhang", "殷行"),
    ("Kongjiang", "控江"),
    ("Pingliang", "平凉"),
    ("Dinghai", "定海"),
    ("Changbai", "长白"),
    ("Xinjiang", "新江"),
    ("Shuangqiao", "双桥"),
    ("Jinyang", "金阳"),
    ("Sanlin", "三林"),
    ("Kangqiao", "康桥"),
    ("Hangtou", "航头"),
    ("Xinchang", "新场"),
    ("Datuan", "大团"),
    ("Huinan", "惠南"),
    ("Laogang", "老港"),
    ("Shuyuan", "书院"),
    ("Wanxiang", "万祥"),
    ("Nicheng", "泥城"),
    ("Zhuqiao", "祝桥"),
    ("Chuansha", "川沙"),
    ("Caolu", "曹路"),
    ("Gaohang", "高行"),
    ("Gaoqiao", "高桥"),
    ("Jinqiao", "金桥"),
    ("Zhangjiang", "张江"),
    ("Tangzhen", "唐镇"),
    ("Heqing", "合庆"),
    ("Huangdu", "黄渡"),
    ("Waigang", "外冈"),
    ("Xuhang", "徐行"),
    ("Huating", "华庭"),
    ("Malu", "马陆"),
    ("Jiangqiao", "江桥"),
    ("Zhenxin", "真新"),
    ("Taopu", "桃浦"),
    ("Zhenru", "真如"),
    ("Ganquan", "甘泉"),
    ("Yichuan", "宜川"),
    ("Caoyang", "曹杨"),
    ("Changfeng", "长风"),
    ("Tianshan", "天山"),
    ("Xianxia", "仙霞"),
    ("Hongmei", "虹梅"),
    ("Tianlin", "田林"),
    ("Longhua", "龙华"),
    ("Fenglin", "枫林"),
    ("Xietu", "斜土"),
    ("Wukang", "武康"),
    ("Hunan", "湖南"),
    ("Jing'an", "静安"),
    ("Shimen", "石门"),
    ("Nanjing", "南京"),
    ("Yuyuan", "豫园"),
    ("Laoximen", "老西门"),
    ("Dapu", "打浦"),
    ("Wuliqiao", "五里桥"),
    ("Bansongyuan", "半淞园"),
    ("Xiaodongmen", "小东门"),
)

DISTRICT_NAMES: tuple[tuple[str, str], ...] = (
    ("Haidong", "海东"),
    ("Haixi", "海西"),
    ("Jiangnan", "江南"),
    ("Jiangbei", "江北"),
    ("Zhongshan", "中山"),
    ("Lingang", "临港"),
    ("Qingpu", "青浦"),
    ("Songling", "松陵"),
    ("Minhai", "闵海"),
    ("Yangcheng", "杨城"),
    ("Putuo", "普陀"),
    ("Hongkou", "虹口"),
    ("Xuhui", "徐汇"),
    ("Jinshan", "金山"),
    ("Fengxian", "奉贤"),
    ("Chongming", "崇明"),
)

HOSPITAL_STEMS: tuple[str, ...] = (
    "Haicheng First People's Hospital",
    "Haicheng Second People's Hospital",
    "Haicheng Sixth People's Hospital",
    "Renhe Hospital",
    "Tongji Union Hospital",
    "Zhongshan Hospital East",
    "Huashan North Hospital",
    "Ruiguang Hospital",
    "Haicheng Children's Hospital",
    "Haicheng Public Health Clinical Centre",
    "Traditional Chinese Medicine Hospital",
    "Xinhua Hospital",
    "Changzheng Hospital",
    "Haicheng Ninth People's Hospital",
    "Shuguang Hospital",
    "Longhua Hospital",
    "Yueyang Hospital",
    "Eastern Hepatobiliary Hospital",
    "Haicheng Tenth People's Hospital",
    "Haicheng Chest Hospital",
)

RESTAURANT_PREFIX: tuple[str, ...] = (
    "Golden Dragon",
    "Lao Wang",
    "Xiao Li",
    "Jade Garden",
    "Red Lantern",
    "Happy Family",
    "Old Street",
    "Lucky Star",
    "Double Happiness",
    "Peach Blossom",
    "Silver Moon",
    "Spring River",
    "Auntie Zhou",
    "Bamboo House",
    "Sichuan Flavour",
    "Hunan Kitchen",
)
RESTAURANT_KIND: tuple[str, ...] = (
    "Noodle House",
    "Dumplings",
    "Hot Pot",
    "BBQ",
    "Restaurant",
    "Seafood",
    "Canteen",
    "Wonton Shop",
    "Bistro",
    "Tea House",
    "Rice Bowl",
    "Buns",
)
BRANDS: tuple[str, ...] = (
    "EverFresh",
    "Daily Harvest",
    "Green Basket",
    "Sunrise",
    "Orchid",
    "Harbour",
    "Pearl",
    "Lotus",
    "Summit",
    "Riverside",
    "Horizon",
    "Maple",
)

PLACE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "market": ("{area} Wet Market", "{area} Fresh Food Market", "{area} Seafood Market"),
    "supermarket": ("{brand} Supermarket", "{brand} Mart"),
    "school": ("{area} No. {n} Primary School", "{area} Middle School", "{area} Kindergarten"),
    "office": ("{brand} Tower", "{area} Business Park", "{brand} Plaza Offices"),
    "mall": ("{brand} Mall", "{area} Shopping Centre"),
    "park": ("{area} Park", "{area} Riverside Park", "{area} Sports Ground"),
    "gym": ("{brand} Fitness", "{area} Swimming Pool"),
    "cinema": ("{brand} Cinema", "{area} Cultural Centre"),
    "station": (CITY_NAME + " South Railway Station",),
}


def unique_pairs(
    pool: tuple[tuple[str, str], ...], n: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """``n`` distinct names from ``pool`` (numbered once the pool is exhausted)."""
    order = rng.permutation(len(pool))
    out = []
    for i in range(n):
        py, hz = pool[order[i % len(pool)]]
        k = i // len(pool)
        out.append((py, hz) if k == 0 else (f"{py} {k + 1}", f"{hz}{k + 1}"))
    return out


def area_label(pinyin: str, hanzi: str) -> str:
    """Display name of a sub-district, e.g. ``Xinhua (新华)``."""
    return f"{pinyin} ({hanzi})"


def place_name(kind: str, area: str, rng: np.random.Generator) -> str:
    """A plausible, made-up name of a place of ``kind`` in the sub-district ``area``."""
    if kind == "restaurant":
        prefix = RESTAURANT_PREFIX[rng.integers(len(RESTAURANT_PREFIX))]
        return f"{prefix} {RESTAURANT_KIND[rng.integers(len(RESTAURANT_KIND))]}"
    templates = PLACE_TEMPLATES.get(kind, ("{area} " + kind.title(),))
    template = templates[rng.integers(len(templates))]
    return template.format(
        area=area, brand=BRANDS[rng.integers(len(BRANDS))], n=int(rng.integers(1, 9))
    )
