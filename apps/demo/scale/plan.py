"""What `seed_demo --scale N` makes: sizes, the catalogue, names, and the markers a second run finds."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

MARKER_PREFIX = "SCALE-"  # the branches' registration numbers
ORDER_PREFIX = "SC"
DAYS = 60  # orders are paid over the last DAYS days
TEAM_DAYS = 200  # the team grows over the last TEAM_DAYS days
# The shop's events of the orders paid in the last ENGINE_DAYS days (at most ENGINE_MAX orders, the
# most recent ones) are published and delivered to their subscribers with the clock set back: the
# commission engine, the KOC sales read model, the tiers, group buys and share links. Older orders are
# the history before the KOC programme's window: direct sales, no KOC, so no event subscriber has
# anything to record for them (see README, "The scale demo").
ENGINE_DAYS = 14
ENGINE_MAX = 3_000
BATCH = 2000
GROUP_SIZE = 3
GROUP_PRODUCT = "安吉白茶 100g"
GROUP_PRICE_FEN = 4900
CARRIER = "顺丰速运"

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华玲萍红梅琳雪婷慧晶佳欣怡雅琪子涵梓萱思睿宇轩浩然"
CITIES = [
    ("浙江省", "杭州市", "西湖区"),
    ("浙江省", "宁波市", "鄞州区"),
    ("上海市", "上海市", "浦东新区"),
    ("江苏省", "南京市", "鼓楼区"),
    ("江苏省", "苏州市", "姑苏区"),
    ("广东省", "广州市", "天河区"),
    ("广东省", "深圳市", "南山区"),
    ("福建省", "厦门市", "思明区"),
    ("四川省", "成都市", "武侯区"),
    ("北京市", "北京市", "朝阳区"),
]
BRANCHES = [("华南分公司（规模测试）", "SB1"), ("西南分公司（规模测试）", "SB2")]
# brand, cap %, [(category path, product, spec, price fen)]
CATALOGUE = [
    (
        "云岭普洱 Yunling Pu'er",
        "25.00",
        [
            (("茶饮", "黑茶"), "古树普洱饼 357g", "357g", 16800),
            (("茶饮", "黑茶"), "普洱熟茶小沱 200g", "200g", 5900),
            (("茶饮", "红茶"), "滇红金芽 150g", "150g", 8800),
        ],
    ),
    (
        "闽茶坊 Min Tea House",
        "30.00",
        [
            (("茶饮", "乌龙茶"), "武夷岩茶大红袍 200g", "200g", 12800),
            (("茶饮", "乌龙茶"), "安溪铁观音 250g", "250g", 7800),
            (("茶饮", "白茶"), "福鼎白牡丹 200g", "200g", 9800),
            (("茶饮", "绿茶"), "安吉白茶 100g", "100g", 6800),
        ],
    ),
    (
        "青瓷茶器 Celadon Ware",
        "20.00",
        [
            (("茶具",), "青瓷盖碗套装", "一壶四杯", 19900),
            (("茶具",), "便携旅行茶具", "一壶两杯", 12900),
        ],
    ),
]


@dataclass(frozen=True)
class Plan:
    """How much to make; `for_scale(1)` is the documented size."""

    branches: int
    agencies_per_branch: int
    leaders: int
    kocs: int
    pending: int
    buyers: int
    orders: int
    groups: int
    refund_requests: int

    @classmethod
    def for_scale(cls, scale: float, *, kocs: int | None = None, orders: int | None = None) -> Plan:
        """N x the base; `kocs` / `orders` set those totals outright (e.g. 1,000,000 of each)."""

        def n(base: int, minimum: int) -> int:
            return max(minimum, round(base * scale))

        leaders, individuals = n(120, 6), n(1880, 20)
        if kocs is not None:
            leaders = max(6, round(kocs * 0.06))
            individuals = max(20, kocs - leaders)
        return cls(
            branches=2,
            agencies_per_branch=3,
            leaders=leaders,
            kocs=individuals,
            pending=n(60, 3),
            buyers=max(30, round((orders or n(10_000, 60)) * 0.4)),
            orders=orders if orders is not None else n(10_000, 60),
            groups=n(150, 4),
            refund_requests=min(n(30, 2), 300),  # made one by one through refund_create
        )


@dataclass
class Report:
    skipped: bool = False
    timings: list[tuple[str, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def person(index: int, salt: int = 0) -> str:
    """A Chinese name, the same for the same index (no stored list of a million names)."""
    h = zlib.crc32(f"{salt}:{index}".encode())
    given = GIVEN[(h >> 8) % len(GIVEN)]
    if h & 1:
        given += GIVEN[(h >> 16) % len(GIVEN)]
    return SURNAMES[h % len(SURNAMES)] + given


def phone(index: int) -> str:
    """A mainland mobile number, the same for the same person."""
    return f"13{8 - index % 3}{zlib.crc32(f'phone:{index}'.encode()) % 10**8:08d}"
