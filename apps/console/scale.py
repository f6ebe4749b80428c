"""`seed_demo --scale N`: a large, realistic data set for benchmarks and for the console's dashboard.

At N = 1: about 2,000 approved KOCs in two branches (2 branches -> 6 agencies -> ~120 leaders -> KOC
chains up to a dozen levels deep), ~60 pending applications, ~10,000 orders paid over the last 60
days (paid, shipped, completed, refunded, a few partially refunded, cancelled ones), ~150 group buys
that succeeded or failed, refund requests waiting for approval, and the commissions of every
attributed order computed by the real engine (its accrual services, then `settle_commissions`).

Fast because rows the services would write one at a time are written in bulk where the invariants
can be kept by construction:

- the team tree is generated in memory, its nested set (tree_id, lft, rght, depth) computed here in
  one depth-first walk and inserted level by level under the tree lock, each approved node with its
  one open parent-history row from its approval time (what `koc_create` writes), and checked with
  `team_tree_problems()` before the transaction commits;
- orders, items, payments, refunds and group members are bulk-inserted with consistent amounts
  (line = price x quantity, total = sum of lines, refunded <= paid, refund rows summing to it);
- commissions are not written here: the engine receives each attributed order's `order_paid`,
  `order_refunded` and `order_completed` payloads, exactly as the outbox would deliver them, and the
  KOC app's sales read model gets the completed ones.

Everything generated is marked (usernames `scale-...`, order numbers `SC...`, invite codes `S...`,
branches registered as `SCALE-...`), so a second run finds the marker and does nothing.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.core.progress import Progress
from apps.groupbuys.models import Campaign, CampaignUsage, Group, GroupMember
from apps.kocs.lock_objects import lock_team_tree
from apps.kocs.models import Koc, KocParentHistory, KocProductPick, Level
from apps.shop.models import Brand, Category, Order, OrderItem, Payment, Product, Refund, Sku

MARKER_PREFIX = "SCALE-"  # the branches' registration numbers
ORDER_PREFIX = "SC"
DAYS = 60
# Orders paid in the last ENGINE_DAYS days are attributed to KOCs (and so go through the commission
# engine); older ones are direct sales. The engine does ~30 statements per event, ~25 ms on SQLite:
# attributing all 60 days would take minutes at --scale 1 instead of about one.
ENGINE_DAYS = 14
BATCH = 1000

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
GROUP_PRODUCT = "安吉白茶 100g"
GROUP_PRICE_FEN = 4900
GROUP_SIZE = 3


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
    def for_scale(cls, scale: float) -> Plan:
        def n(base: int, minimum: int) -> int:
            return max(minimum, round(base * scale))

        return cls(
            branches=2,
            agencies_per_branch=3,
            leaders=n(120, 6),
            kocs=n(1880, 20),
            pending=n(60, 3),
            buyers=n(4000, 30),
            orders=n(10_000, 60),
            groups=n(150, 4),
            refund_requests=n(30, 2),
        )


@dataclass
class Report:
    skipped: bool = False
    timings: list[tuple[str, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


# --- in-memory rows ---------------------------------------------------------------------------------


@dataclass
class _Node:
    index: int
    role: str
    parent: _Node | None
    approved_at: datetime
    name: str = ""
    user: User | None = None
    children: list[_Node] = field(default_factory=list)
    row: Koc | None = None
    weight: float = 1.0


@dataclass
class _Line:
    sku: Sku
    quantity: int
    price_fen: int
    source: str = "list"

    @property
    def line_fen(self) -> int:
        return self.price_fen * self.quantity


@dataclass
class _Order:
    no: str
    buyer: User
    status: str
    lines: list[_Line]
    created_at: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunds: list[tuple[int, datetime, str]] = field(default_factory=list)  # (fen, when, kind)
    refund_request_fen: int = 0
    seller: _Node | None = None
    kind: str = Order.Kind.STANDARD
    group: Any = None
    row: Order | None = None

    @property
    def total_fen(self) -> int:
        return sum(line.line_fen for line in self.lines)

    @property
    def refunded_fen(self) -> int:
        return sum(r[0] for r in self.refunds)


class _Phase:
    """Times one phase of the seed and reports it."""

    def __init__(self, report: Report, stdout: TextIO, label: str):
        self.report, self.stdout, self.label = report, stdout, label

    def __enter__(self):
        self.began = time.perf_counter()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.began
        self.report.timings.append((self.label, elapsed))
        if exc[0] is None:
            self.stdout.write(f"  {self.label}: {elapsed:.1f} s\n")


# --- the seeder -------------------------------------------------------------------------------------


def existing_scale() -> str | None:
    """The marker of the scale data already present (e.g. 'SCALE-x1'), or None."""
    return (
        Koc.objects.filter(role=Koc.Role.BRANCH, registration_number__startswith=MARKER_PREFIX)
        .values_list("registration_number", flat=True)
        .first()
    )


def seed_scale(
    *, scale: float, stdout: TextIO, now: datetime | None = None, rng_seed: int = 20260101
) -> Report:
    """Create the scale data set once (see the module docstring); a second call does nothing."""
    report = Report()
    marker = existing_scale()
    if marker is not None:
        stdout.write(f"scale data already present ({marker}): nothing to do\n")
        report.skipped = True
        return report
    plan = Plan.for_scale(scale)
    now = now or timezone.now()
    rng = random.Random(rng_seed)
    tag = f"{MARKER_PREFIX}x{scale:g}"
    stdout.write(
        f"seeding scale x{scale:g}: {plan.kocs + plan.leaders} KOCs, {plan.orders} orders, "
        f"{plan.groups} group buys\n"
    )
    began = time.perf_counter()

    with _Phase(report, stdout, "catalogue"), transaction.atomic():
        skus = _catalogue()
        campaign = _campaign(skus, now)
    with _Phase(report, stdout, "users"), transaction.atomic():
        koc_users, buyers = _users(plan, rng, stdout)
    with _Phase(report, stdout, "team tree"), transaction.atomic():
        nodes = _team(plan, rng, now, koc_users, tag, stdout)
        _picks(nodes, skus, rng)
    sellers = [n for n in nodes if n.role in (Koc.Role.LEADER, Koc.Role.KOC)]
    with _Phase(report, stdout, "orders"), transaction.atomic():
        orders = _orders(plan, rng, now, skus, buyers, sellers)
        orders += _groups(plan, rng, now, campaign, buyers, sellers)
        _write_orders(orders, stdout)
        _write_groups(orders, campaign)
    with _Phase(report, stdout, "commissions"):
        _feed_engine(orders, stdout)
    with _Phase(report, stdout, "settlement"):
        from apps.commissions.services.settlement import settle_commissions

        settled = settle_commissions(now=now)
        stdout.write(f"  settle_commissions: {settled}\n")

    total = time.perf_counter() - began
    report.timings.append(("total", total))
    report.counts = {
        "kocs": len(nodes),
        "pending": plan.pending,
        "orders": len(orders),
        "groups": plan.groups,
    }
    stdout.write(f"scale x{scale:g} seeded in {total:.1f} s\n")
    return report


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _catalogue() -> list[Sku]:
    skus = []
    for brand_name, cap, products in CATALOGUE:
        brand, _ = Brand.objects.get_or_create(
            name=brand_name, defaults={"max_commission_rate": Decimal(cap), "intro": "规模测试品牌"}
        )
        for path, title, spec, price in products:
            parent = None
            for name in path:
                parent = Category.objects.filter(name=name, parent=parent).first() or Category.objects.create(
                    name=name, parent=parent
                )
            product, _ = Product.objects.get_or_create(
                title=title,
                brand=brand,
                defaults={"category": parent, "description": f"{title}，规模测试商品。"},
            )
            sku, _ = Sku.objects.get_or_create(
                product=product, spec=spec, defaults={"price_fen": price, "stock": 1_000_000}
            )
            skus.append(sku)
    return skus


def _campaign(skus: list[Sku], now: datetime) -> Campaign:
    sku = next(s for s in skus if s.product.title == GROUP_PRODUCT)
    campaign = Campaign.objects.filter(sku=sku, group_price_fen=GROUP_PRICE_FEN).first()
    if campaign is None:
        campaign = Campaign(
            product=sku.product,
            sku=sku,
            group_price_fen=GROUP_PRICE_FEN,
            group_size=GROUP_SIZE,
            duration_minutes=24 * 60,
            starts_at=now - timedelta(days=DAYS + 1),
            ends_at=now + timedelta(days=365),
            per_user_limit=5,
            is_active=True,
        )
        campaign.full_clean()
        campaign.save()
    return campaign


def _users(plan: Plan, rng: random.Random, stdout: TextIO) -> tuple[list[User], list[User]]:
    people = plan.leaders + plan.kocs + plan.pending
    rows = [
        User(
            username=f"scale-koc-{i:06d}",
            openid=f"scale-koc-{i:06d}",
            nickname=_person(rng),
            password="!scale",  # unusable: these people log in through WeChat only
        )
        for i in range(people)
    ] + [
        User(
            username=f"scale-buyer-{i:06d}",
            openid=f"scale-buyer-{i:06d}",
            nickname=_person(rng),
            password="!scale",
        )
        for i in range(plan.buyers)
    ]
    with Progress(len(rows), label="users", stream=stdout) as bar:
        for start in range(0, len(rows), BATCH):
            User.objects.bulk_create(rows[start : start + BATCH])
            bar.advance(len(rows[start : start + BATCH]))
    return rows[:people], rows[people:]


def _team(
    plan: Plan, rng: random.Random, now: datetime, users: list[User], tag: str, stdout: TextIO
) -> list[_Node]:
    """Generate the tree, number it, insert it parents first; pending applicants are roots of their own."""
    lock_team_tree()
    start = now - timedelta(days=200)
    nodes: list[_Node] = []

    def add(role: str, parent: _Node | None, at: datetime, name: str = "") -> _Node:
        node = _Node(index=len(nodes), role=role, parent=parent, approved_at=at, name=name)
        if parent is not None:
            parent.children.append(node)
        nodes.append(node)
        return node

    branches = [add(Koc.Role.BRANCH, None, start, name) for name, _code in BRANCHES[: plan.branches]]
    agencies = []
    for b, branch in enumerate(branches):
        for a in range(plan.agencies_per_branch):
            at = start + timedelta(days=5 + a * 3, hours=b)
            agencies.append(add(Koc.Role.AGENCY, branch, at, f"{branch.name[:2]}第{a + 1}机构（规模测试）"))

    def later(parent: _Node, spread: float) -> datetime:
        # A recruit joins after its sponsor, sooner rather than later: the team grows over time.
        room = (now - timedelta(hours=2) - parent.approved_at).total_seconds()
        return parent.approved_at + timedelta(seconds=room * spread * rng.random() ** 1.5 + 3600)

    people = iter(users)
    leaders = []
    for i in range(plan.leaders):
        agency = agencies[i % len(agencies)]
        leader = add(Koc.Role.LEADER, agency, later(agency, 0.6))
        leader.user = next(people)
        leader.weight = rng.paretovariate(1.4) * 3
        leaders.append(leader)
    kocs: list[_Node] = []
    for _ in range(plan.kocs):
        # About a third under a leader, the rest under a recent KOC: chains several levels deep.
        if not kocs or rng.random() < 0.3:
            parent = rng.choice(leaders)
        else:
            parent = kocs[-1 - min(int(rng.expovariate(1 / 40)), len(kocs) - 1)]
            if _depth(parent) >= 14:
                parent = rng.choice(leaders)
        koc = add(Koc.Role.KOC, parent, later(parent, 0.5))
        koc.user = next(people)
        koc.weight = rng.paretovariate(1.6)
        kocs.append(koc)

    first_tree = (Koc.objects.order_by("-tree_id").values_list("tree_id", flat=True).first() or 0) + 1
    entry = Level.objects.filter(rank=0).first()
    for t, branch in enumerate(branches):
        counter = 0

        def number(node: _Node, depth: int, tree_id: int) -> None:
            nonlocal counter
            counter += 1
            lft = counter
            for child in node.children:
                number(child, depth + 1, tree_id)
            counter += 1
            node.row = _koc_row(node, rng, lft=lft, rght=counter, depth=depth, tree_id=tree_id)
            node.row.level = entry if node.role in Koc.INDIVIDUAL_ROLES else None
            if node.role == Koc.Role.BRANCH:
                node.row.registration_number = f"{tag}-{BRANCHES[node.index][1]}"

        number(branch, 0, first_tree + t)

    by_depth: dict[int, list[_Node]] = defaultdict(list)
    for node in nodes:
        by_depth[node.row.depth].append(node)
    with Progress(len(nodes) + plan.pending, label="team", stream=stdout) as bar:
        for depth in sorted(by_depth):
            level_nodes = by_depth[depth]
            for node in level_nodes:
                node.row.parent = node.parent.row if node.parent else None
            for start_at in range(0, len(level_nodes), BATCH):
                chunk = level_nodes[start_at : start_at + BATCH]
                Koc.objects.bulk_create([n.row for n in chunk])
                bar.advance(len(chunk))
        KocParentHistory.objects.bulk_create(
            [
                KocParentHistory(
                    koc=n.row,
                    parent=n.parent.row if n.parent else None,
                    valid_from=n.approved_at,
                    reason="规模测试数据 scale seed",
                )
                for n in nodes
            ],
            batch_size=BATCH,
        )
        # Pending applicants: each a root of its own tree until approved, sponsored by a KOC.
        pending = []
        for i in range(plan.pending):
            sponsor = rng.choice(leaders + kocs[:200])
            applied = now - timedelta(hours=rng.uniform(1, 24 * 6))
            pending.append(
                Koc(
                    user=next(people),
                    role=Koc.Role.KOC,
                    status=Koc.Status.PENDING,
                    sponsor=sponsor.row,
                    invite_code=f"SP{i:06d}",
                    real_name=_person(rng),
                    bio=rng.choice(
                        ["宝妈，想分享好茶。", "社区团购团长。", "茶艺爱好者。", "导购，有客户群。"]
                    ),
                    applied_at=applied,
                    tree_id=first_tree + len(branches) + i,
                    lft=1,
                    rght=2,
                    depth=0,
                )
            )
        Koc.objects.bulk_create(pending, batch_size=BATCH)
        bar.advance(len(pending))
    # created_at is auto_now_add: put it back to when each node joined.
    Koc.objects.filter(tree_id__gte=first_tree).update(created_at=F("applied_at"))

    from apps.kocs.selectors import team_tree_problems

    problems = team_tree_problems()
    if problems:  # rolls the whole team back: never leave a broken tree behind
        raise RuntimeError(f"scale seed built an invalid team tree: {problems[:5]}")
    return nodes


def _depth(node: _Node) -> int:
    depth = 0
    while node.parent is not None:
        node, depth = node.parent, depth + 1
    return depth


def _koc_row(node: _Node, rng: random.Random, *, lft: int, rght: int, depth: int, tree_id: int) -> Koc:
    organisation = node.role in Koc.ORGANISATION_ROLES
    return Koc(
        user=node.user,
        role=node.role,
        status=Koc.Status.APPROVED,
        invite_code=f"S{node.index:06d}",
        real_name="" if organisation else (node.user.nickname if node.user else _person(rng)),
        legal_name=node.name if organisation else "",
        registration_number=f"91SCALE{node.index:08d}" if organisation else "",
        bio=""
        if organisation
        else rng.choice(["宝妈，爱喝茶。", "社区团长。", "茶叶店主。", "白领，分享好物。"]),
        applied_at=node.approved_at - timedelta(hours=2),
        reviewed_at=node.approved_at,
        approved_at=node.approved_at,
        lft=lft,
        rght=rght,
        depth=depth,
        tree_id=tree_id,
    )


def _picks(nodes: list[_Node], skus: list[Sku], rng: random.Random) -> None:
    picks = []
    for node in nodes:
        if node.role in Koc.INDIVIDUAL_ROLES and node.weight > 1.5:
            for position, sku in enumerate(rng.sample(skus, k=min(3, len(skus)))):
                picks.append(KocProductPick(koc=node.row, product_id=sku.product_id, position=position))
    KocProductPick.objects.bulk_create(picks, batch_size=BATCH, ignore_conflicts=True)


# --- orders -----------------------------------------------------------------------------------------


def _paid_moment(rng: random.Random, now: datetime) -> datetime:
    """A payment time in the last DAYS days: more recently (growth), more in the evening (local)."""
    days_ago = DAYS * (1 - rng.random() ** 0.8)
    local = timezone.localtime(now - timedelta(days=days_ago))
    hour = rng.choices(
        range(24), weights=[1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 6, 5, 5, 6, 7, 9, 11, 12, 12, 9, 4]
    )[0]
    moment = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return min(moment, now - timedelta(minutes=5))


def _weighted_sellers(sellers: list[_Node]):
    weights = [s.weight for s in sellers]
    total = sum(weights)
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    return cumulative


def _seller_for(rng, sellers, cumulative, paid_at: datetime) -> _Node | None:
    for _ in range(5):
        seller = rng.choices(sellers, cum_weights=cumulative)[0]
        if seller.approved_at < paid_at:
            return seller
    return None


def _lifecycle(order: _Order, rng: random.Random, now: datetime) -> None:
    """Statuses by age: recent orders wait to ship, older ones are shipped, then completed."""
    paid_at = order.paid_at
    age_days = (now - paid_at).total_seconds() / 86400
    roll = rng.random()
    if roll < 0.04 and age_days > 0.5:
        order.status = Order.Status.REFUNDED
        when = paid_at + timedelta(hours=rng.uniform(2, min(age_days * 24, 96)))
        order.refunds.append((order.total_fen, min(when, now - timedelta(minutes=1)), Refund.Kind.AFTER_SALE))
        return
    if age_days < 1.5 or (age_days < 4 and roll < 0.4):
        order.status = Order.Status.PAID
        return
    order.shipped_at = paid_at + timedelta(hours=rng.uniform(4, 36))
    shipped_days = (now - order.shipped_at).total_seconds() / 86400
    if shipped_days < 3 or (shipped_days < 10 and roll < 0.35):
        order.status = Order.Status.SHIPPED
        return
    order.status = Order.Status.COMPLETED
    order.completed_at = order.shipped_at + timedelta(days=rng.uniform(1, min(shipped_days, 10)))
    if roll > 0.985 and order.total_fen > 100:  # a partial after-sales refund after completion
        part = order.total_fen // rng.choice((2, 3, 4))
        when = order.completed_at + timedelta(hours=rng.uniform(1, 48))
        order.refunds.append((part, min(when, now - timedelta(minutes=1)), Refund.Kind.AFTER_SALE))


def _orders(plan, rng, now, skus, buyers, sellers) -> list[_Order]:
    cumulative = _weighted_sellers(sellers)
    sku_weights = [5, 8, 6, 3, 6, 4, 7, 2, 3][: len(skus)] + [1] * max(0, len(skus) - 9)
    orders: list[_Order] = []
    for i in range(plan.orders):
        paid_at = _paid_moment(rng, now)
        picked = rng.choices(skus, weights=sku_weights, k=rng.choice((1, 1, 1, 2)))
        lines = {}
        for sku in picked:
            lines[sku.pk] = _Line(sku=sku, quantity=rng.choice((1, 1, 1, 2, 2, 3)), price_fen=sku.price_fen)
        order = _Order(
            no=f"{ORDER_PREFIX}{timezone.localtime(paid_at):%Y%m%d}{i:08d}",
            buyer=rng.choice(buyers),
            status=Order.Status.PAID,
            lines=list(lines.values()),
            created_at=paid_at - timedelta(minutes=rng.uniform(0.5, 20)),
            paid_at=paid_at,
        )
        if rng.random() < 0.03:  # never paid: cancelled at the payment deadline
            order.status = Order.Status.CANCELLED
            order.paid_at = None
            order.cancelled_at = order.created_at + timedelta(minutes=30)
            orders.append(order)
            continue
        recent = now - paid_at < timedelta(days=ENGINE_DAYS)
        order.seller = (
            _seller_for(rng, sellers, cumulative, paid_at) if recent and rng.random() < 0.9 else None
        )
        _lifecycle(order, rng, now)
        orders.append(order)
    # Requests waiting for an operator: on paid or shipped orders, nothing refunded yet.
    open_orders = [
        o for o in orders if o.status in (Order.Status.PAID, Order.Status.SHIPPED) and not o.refunds
    ]
    for order in rng.sample(open_orders, k=min(plan.refund_requests, len(open_orders))):
        order.refund_request_fen = order.total_fen
    return orders


def _groups(plan, rng, now, campaign, buyers, sellers) -> list[_Order]:
    cumulative = _weighted_sellers(sellers)
    orders = []
    for g in range(plan.groups):
        opened = _paid_moment(rng, now - timedelta(days=1))
        succeeded = rng.random() < 0.8
        members = rng.sample(buyers, k=GROUP_SIZE if succeeded else rng.choice((1, 2)))
        recent = now - opened < timedelta(days=ENGINE_DAYS)
        seller = _seller_for(rng, sellers, cumulative, opened) if recent else None
        group = {
            "index": g,
            "opened": opened,
            "expires": opened + timedelta(minutes=campaign.duration_minutes),
            "succeeded": succeeded,
            "orders": [],
            "leader": members[0],
        }
        for m, buyer in enumerate(members):
            paid_at = opened + timedelta(minutes=rng.uniform(1, 600) if m else 1)
            order = _Order(
                no=f"{ORDER_PREFIX}G{timezone.localtime(paid_at):%Y%m%d}{g:06d}{m}",
                buyer=buyer,
                status=Order.Status.PAID,
                lines=[
                    _Line(
                        sku=campaign.sku, quantity=1, price_fen=campaign.group_price_fen, source="group_buy"
                    )
                ],
                created_at=paid_at - timedelta(minutes=1),
                paid_at=paid_at,
                seller=seller,
                kind=Order.Kind.GROUP_BUY,
                group=group,
            )
            if succeeded:
                _lifecycle(order, rng, now)
                if order.refunds:  # keep group buys simple: a succeeded member ships
                    order.refunds.clear()
                    order.status = Order.Status.PAID
            else:  # the group failed at its deadline: every paid member refunded, once
                order.status = Order.Status.REFUNDED
                order.refunds.append(
                    (order.total_fen, group["expires"] + timedelta(minutes=2), Refund.Kind.SYSTEM)
                )
            group["orders"].append(order)
            orders.append(order)
        group["closed_at"] = max(o.paid_at for o in group["orders"]) if succeeded else group["expires"]
    return orders


def _write_orders(orders: list[_Order], stdout: TextIO) -> None:
    with Progress(len(orders), label="orders", stream=stdout) as bar:
        for start in range(0, len(orders), BATCH):
            chunk = orders[start : start + BATCH]
            for o in chunk:
                province, city, district = CITIES[zlib.crc32(o.no.encode()) % len(CITIES)]
                o.row = Order(
                    no=o.no,
                    buyer=o.buyer,
                    status=o.status,
                    kind=o.kind,
                    total_fen=o.total_fen,
                    paid_fen=o.total_fen if o.paid_at else 0,
                    refunded_fen=o.refunded_fen,
                    address={
                        "name": o.buyer.nickname,
                        "phone": f"138{zlib.crc32(o.buyer.username.encode()) % 10**8:08d}",
                        "province": province,
                        "city": city,
                        "district": district,
                        "detail": "规模测试路 1 号",
                    },
                    pay_deadline=o.created_at + timedelta(minutes=30),
                    paid_at=o.paid_at,
                    shipped_at=o.shipped_at,
                    completed_at=o.completed_at,
                    cancelled_at=o.cancelled_at,
                    cancel_reason="timeout" if o.cancelled_at else "",
                    carrier="顺丰速运" if o.shipped_at else "",
                    tracking_no=f"SF{zlib.crc32(o.no.encode()) * 7919 % 10**12:012d}" if o.shipped_at else "",
                    attributed_koc_id=o.seller.row.pk if o.seller else None,
                    attribution={"koc_id": o.seller.row.pk, "self_purchase": False} if o.seller else {},
                    transaction_id=f"SCALE{o.no}" if o.paid_at else "",
                )
            Order.objects.bulk_create([o.row for o in chunk])
            items, payments = [], []
            for o in chunk:
                for line in o.lines:
                    product = line.sku.product
                    items.append(
                        OrderItem(
                            order=o.row,
                            sku=line.sku,
                            product_id=product.pk,
                            brand_id=product.brand_id,
                            category_id=product.category_id,
                            title=product.title,
                            spec=line.sku.spec,
                            price_fen=line.price_fen,
                            quantity=line.quantity,
                            line_fen=line.line_fen,
                            price_source=line.source,
                            shipped_quantity=line.quantity if o.shipped_at else 0,
                        )
                    )
                if o.paid_at:
                    payments.append(
                        Payment(
                            order=o.row,
                            transaction_id=f"SCALE{o.no}",
                            amount_fen=o.total_fen,
                            payer_openid=o.buyer.openid,
                            success_time=o.paid_at,
                            outcome=Payment.Outcome.PAID_ORDER,
                        )
                    )
            OrderItem.objects.bulk_create(items)
            Payment.objects.bulk_create(payments)
            by_order = {p.order_id: p for p in payments}
            refunds = []
            for o in chunk:
                for n, (fen, when, kind) in enumerate(o.refunds):
                    refunds.append(
                        Refund(
                            order=o.row,
                            payment=by_order[o.row.pk],
                            out_refund_no=f"R{o.no}{n}",
                            amount_fen=fen,
                            reason="拼团未成功" if kind == Refund.Kind.SYSTEM else "不想要了",
                            kind=kind,
                            status=Refund.Status.SUCCEEDED,
                            approved_at=when - timedelta(minutes=10),
                            submitted_at=when - timedelta(minutes=5),
                            refunded_at=when,
                            wechat_refund_id=f"SCALE-R{o.no}{n}",
                            wechat_status="SUCCESS",
                        )
                    )
                if o.refund_request_fen:
                    refunds.append(
                        Refund(
                            order=o.row,
                            payment=by_order[o.row.pk],
                            out_refund_no=f"R{o.no}Q",
                            amount_fen=o.refund_request_fen,
                            reason="商品与描述不符，申请退款",
                            kind=Refund.Kind.AFTER_SALE,
                            status=Refund.Status.REQUESTED,
                        )
                    )
            Refund.objects.bulk_create(refunds)
            for o in chunk:
                o.row_refunds = [
                    r for r in refunds if r.order_id == o.row.pk and r.status == Refund.Status.SUCCEEDED
                ]
            bar.advance(len(chunk))
    # auto_now_add fields back to when things happened.
    Order.objects.filter(no__startswith=ORDER_PREFIX).update(
        created_at=F("pay_deadline") - timedelta(minutes=30)
    )
    Refund.objects.filter(out_refund_no__startswith=f"R{ORDER_PREFIX}").exclude(refunded_at=None).update(
        created_at=F("refunded_at") - timedelta(hours=1)
    )
    Payment.objects.filter(transaction_id__startswith="SCALE").update(created_at=F("success_time"))
    units: dict[int, int] = defaultdict(int)
    for o in orders:
        if o.paid_at:
            for line in o.lines:
                units[line.sku.pk] += line.quantity
    for sku_id, n in units.items():
        Sku.objects.filter(pk=sku_id).update(stock=F("stock") - n)
        Product.objects.filter(skus__pk=sku_id).update(sales=F("sales") + n)


def _write_groups(orders: list[_Order], campaign: Campaign) -> None:
    groups = {}
    for o in orders:
        if o.group is not None:
            groups.setdefault(o.group["index"], o.group)
    rows = []
    for g in groups.values():
        paid = len(g["orders"])
        rows.append(
            Group(
                campaign=campaign,
                leader=g["leader"],
                status=Group.Status.SUCCEEDED if g["succeeded"] else Group.Status.FAILED,
                size=GROUP_SIZE,
                joined=paid,
                paid_count=paid,
                expires_at=g["expires"],
                succeeded_at=g["closed_at"] if g["succeeded"] else None,
                failed_at=None if g["succeeded"] else g["closed_at"],
            )
        )
    Group.objects.bulk_create(rows, batch_size=BATCH)
    members, usage = [], defaultdict(int)
    for g, row in zip(groups.values(), rows, strict=True):
        g["row"] = row
        Group.objects.filter(pk=row.pk).update(created_at=g["opened"])
        for m, o in enumerate(g["orders"]):
            o.row.group_id = row.pk
            refund = o.row_refunds[0] if o.row_refunds else None
            members.append(
                GroupMember(
                    group=row,
                    user=o.buyer,
                    order=o.row,
                    is_leader=m == 0,
                    quantity=1,
                    unit_price_fen=campaign.group_price_fen,
                    status=GroupMember.Status.REFUNDED if refund else GroupMember.Status.PAID,
                    refund_id=refund.pk if refund else None,
                    paid_at=o.paid_at,
                    refunded_at=refund.refunded_at if refund else None,
                )
            )
            usage[o.buyer.pk] += 1
    GroupMember.objects.bulk_create(members, batch_size=BATCH)
    Order.objects.bulk_update([o.row for o in orders if o.group is not None], ["group_id"], batch_size=BATCH)
    for user_id, units in usage.items():
        row, _ = CampaignUsage.objects.get_or_create(campaign=campaign, user_id=user_id)
        CampaignUsage.objects.filter(pk=row.pk).update(units=F("units") + units)


# --- commissions ------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _payload(o: _Order) -> dict[str, Any]:
    """What the shop's events carry (apps.shop.events._order_payload), built from the rows just written."""
    return {
        "order_id": o.row.pk,
        "order_no": o.no,
        "buyer_id": o.buyer.pk,
        "paid_fen": o.row.paid_fen,
        "total_fen": o.row.total_fen,
        "paid_at": _iso(o.paid_at),
        "kind": o.kind,
        "group_id": o.row.group_id,
        "attributed_koc_id": o.row.attributed_koc_id,
        "share_link_id": None,
        "attribution": o.row.attribution,
        "items": [
            {
                "item_id": item.pk,
                "sku_id": item.sku_id,
                "product_id": item.product_id,
                "brand_id": item.brand_id,
                "category_id": item.category_id,
                "quantity": item.quantity,
                "price_fen": item.price_fen,
                "line_fen": item.line_fen,
                "price_source": item.price_source,
            }
            for item in o.items
        ],
    }


def _refund_payload(o: _Order, refund: Refund, refunded_fen: int) -> dict[str, Any]:
    """apps.shop.events.publish_order_refunded's payload; `refunded_fen` is the order's total so far."""
    return {
        "order_id": o.row.pk,
        "order_no": o.no,
        "refund_id": refund.pk,
        "amount_fen": refund.amount_fen,
        "refunded_fen": refunded_fen,
        "paid_fen": o.row.paid_fen,
        "fully_refunded": refunded_fen >= o.row.paid_fen,
        "refunded_at": _iso(refund.refunded_at),
        "buyer_id": o.buyer.pk,
        "group_id": o.row.group_id,
        "attributed_koc_id": o.row.attributed_koc_id,
    }


def _feed_engine(orders: list[_Order], stdout: TextIO) -> None:
    """Each attributed order's events, in the order they happened, to the engine's and the KOC app's services.

    Unattributed orders pay no commission and make no KOC sale: nothing to feed.
    """
    from apps.commissions.services import accrual
    from apps.kocs import services as koc_services

    paid = [o for o in orders if o.paid_at and o.seller is not None]
    items: dict[int, list[OrderItem]] = defaultdict(list)
    for start in range(0, len(paid), BATCH):
        ids = [o.row.pk for o in paid[start : start + BATCH]]
        for item in OrderItem.objects.filter(order_id__in=ids).order_by("id"):
            items[item.order_id].append(item)
    with Progress(len(paid), label="commissions", stream=stdout) as bar:
        for start in range(0, len(paid), 500):
            # One transaction per 500 orders (each service call is a savepoint inside it): on
            # SQLite a commit per event would cost more than the engine's own work.
            with transaction.atomic():
                for o in paid[start : start + 500]:
                    o.items = items[o.row.pk]
                    payload = _payload(o)
                    accrual.order_paid_record(payload=payload)
                    # Refunds before completion come first (the completion payload counts them),
                    # the ones after it follow it: the order the shop publishes them in.
                    done_at = o.completed_at
                    before = [r for r in o.row_refunds if done_at is None or r.refunded_at < done_at]
                    after = [r for r in o.row_refunds if done_at is not None and r.refunded_at >= done_at]
                    refunded = 0
                    for refund in before:
                        refunded += refund.amount_fen
                        accrual.order_refunded_record(payload=_refund_payload(o, refund, refunded))
                    if done_at is not None:
                        done = {**payload, "completed_at": _iso(done_at), "refunded_fen": refunded}
                        accrual.order_completed_record(payload=done)
                        koc_services.order_completed_record(order=done)
                    for refund in after:
                        refunded += refund.amount_fen
                        refund_payload = _refund_payload(o, refund, refunded)
                        accrual.order_refunded_record(payload=refund_payload)
                        koc_services.order_refund_record(refund=refund_payload)
                    bar.advance()
