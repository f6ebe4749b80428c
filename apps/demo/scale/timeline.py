"""What happens to each order, decided up front: when it is paid, by whom, through which KOC, and
whether it is shipped, completed, refunded or cancelled - the facts the writers then record.

Orders are numbered in the order they were paid (ids grow with time, as they do in the shop). Only
orders in the engine's window (plan.ENGINE_DAYS, at most ENGINE_MAX) are attributed to a KOC; the
generator works chunk by chunk with a random stream per chunk, so a million orders never sit in
memory at once and the same seed gives the same data.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from apps.shop.models import Order, Refund

from .people import Team
from .plan import DAYS, ENGINE_DAYS, ENGINE_MAX, GROUP_SIZE, ORDER_PREFIX, Plan

HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 6, 5, 5, 6, 7, 9, 11, 12, 12, 9, 4]
SKU_WEIGHTS = [5, 8, 6, 3, 6, 4, 7, 2, 3]
CHUNK = 20_000


@dataclass
class Line:
    sku: object  # apps.shop.models.Sku (with its product)
    quantity: int
    price_fen: int
    source: str = "list"

    @property
    def line_fen(self) -> int:
        return self.price_fen * self.quantity


@dataclass
class PlannedRefund:
    amount_fen: int
    at: datetime
    kind: str
    id: int = 0
    out_refund_no: str = ""


@dataclass
class PlannedGroup:
    index: int
    opened: datetime
    expires: datetime
    succeeded: bool
    leader: int  # buyer index
    orders: list[PlannedOrder] = field(default_factory=list)
    id: int = 0

    @property
    def closed_at(self) -> datetime:
        return max(o.paid_at for o in self.orders) if self.succeeded else self.expires


@dataclass
class PlannedOrder:
    no: str
    buyer: int  # buyer index (People.buyer_id)
    status: str
    lines: list[Line]
    created_at: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunds: list[PlannedRefund] = field(default_factory=list)
    seller: int | None = None  # team index
    kind: str = Order.Kind.STANDARD
    group: PlannedGroup | None = None
    in_window: bool = False
    id: int = 0
    item_ids: list[int] = field(default_factory=list)
    payment_id: int | None = None
    transaction_id: str = ""

    @property
    def total_fen(self) -> int:
        return sum(line.line_fen for line in self.lines)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)


def paid_moment(rng: random.Random, now: datetime) -> datetime:
    """A payment time in the last DAYS days: more recently (growth), more in the evening (local)."""
    days_ago = DAYS * (1 - rng.random() ** 0.8)
    local = timezone.localtime(now - timedelta(days=days_ago))
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    moment = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return min(moment, now - timedelta(minutes=5))


class Sellers:
    """Weighted choice of a seller approved before a moment (the busy ones sell more)."""

    def __init__(self, team: Team):
        self.team = team
        acc, self.cumulative = 0.0, []
        for i in team.sellers:
            acc += team.weight[i]
            self.cumulative.append(acc)

    def pick(self, rng: random.Random, at: datetime) -> int | None:
        for _ in range(5):
            i = rng.choices(self.team.sellers, cum_weights=self.cumulative)[0]
            if self.team.approved[i] < at:
                return i
        return None


def lifecycle(
    order: PlannedOrder, rng: random.Random, now: datetime, ready_at: datetime | None = None
) -> None:
    """Statuses by age: recent orders wait to ship, older ones are shipped, then completed.

    `ready_at`: the order cannot ship before it (a group buy ships once its group succeeded)."""
    paid_at = order.paid_at
    ready_at = max(paid_at, ready_at or paid_at)
    age_days = (now - paid_at).total_seconds() / 86400
    roll = rng.random()
    if roll < 0.04 and age_days > 0.5 and order.group is None:
        order.status = Order.Status.REFUNDED
        when = paid_at + timedelta(hours=rng.uniform(2, min(age_days * 24, 96)))
        order.refunds.append(
            PlannedRefund(order.total_fen, min(when, now - timedelta(minutes=1)), Refund.Kind.AFTER_SALE)
        )
        return
    shipped_at = ready_at + timedelta(hours=rng.uniform(4, 36))
    if age_days < 1.5 or (age_days < 4 and roll < 0.4) or shipped_at > now - timedelta(minutes=30):
        order.status = Order.Status.PAID
        return
    order.shipped_at = shipped_at
    shipped_days = (now - shipped_at).total_seconds() / 86400
    if shipped_days < 3 or (shipped_days < 10 and roll < 0.35):
        order.status = Order.Status.SHIPPED
        return
    order.status = Order.Status.COMPLETED
    order.completed_at = shipped_at + timedelta(days=rng.uniform(1, min(shipped_days, 10)))
    if roll > 0.985 and order.total_fen > 100 and order.group is None:
        part = order.total_fen // rng.choice((2, 3, 4))  # a partial after-sales refund after completion
        when = min(order.completed_at + timedelta(hours=rng.uniform(1, 48)), now - timedelta(minutes=1))
        order.refunds.append(PlannedRefund(part, when, Refund.Kind.AFTER_SALE))


@dataclass
class Timeline:
    """The standard orders' payment moments (sorted) and the start of the engine's window."""

    moments: list[datetime]
    window_start: datetime

    @classmethod
    def plan(cls, plan: Plan, rng: random.Random, now: datetime) -> Timeline:
        moments = sorted(paid_moment(rng, now) for _ in range(plan.orders))
        start = now - timedelta(days=ENGINE_DAYS)
        if len(moments) > ENGINE_MAX:
            start = max(start, moments[-ENGINE_MAX])
        return cls(moments=moments, window_start=start)

    @property
    def first_in_window(self) -> int:
        return bisect.bisect_left(self.moments, self.window_start)


def standard_orders(
    plan: Plan, timeline: Timeline, skus: list, sellers: Sellers, people_buyers: int, now: datetime, seed: int
) -> Iterator[list[PlannedOrder]]:
    """The standard orders in chunks, oldest first."""
    weights = SKU_WEIGHTS[: len(skus)] + [1] * max(0, len(skus) - len(SKU_WEIGHTS))
    n = len(timeline.moments)
    for chunk_no, start in enumerate(range(0, n, CHUNK)):
        rng = random.Random(seed * 1_000_003 + chunk_no)
        chunk = []
        for i in range(start, min(n, start + CHUNK)):
            paid_at = timeline.moments[i]
            lines: dict[int, Line] = {}
            for sku in rng.choices(skus, weights=weights, k=rng.choice((1, 1, 1, 2))):
                lines[sku.pk] = Line(
                    sku=sku, quantity=rng.choice((1, 1, 1, 2, 2, 3)), price_fen=sku.price_fen
                )
            order = PlannedOrder(
                no=f"{ORDER_PREFIX}{timezone.localtime(paid_at):%Y%m%d}{i:08d}",
                buyer=rng.randrange(people_buyers),
                status=Order.Status.PAID,
                lines=list(lines.values()),
                created_at=paid_at - timedelta(minutes=rng.uniform(0.5, 20)),
                paid_at=paid_at,
                in_window=paid_at >= timeline.window_start,
            )
            if rng.random() < 0.03:  # never paid: cancelled at the payment deadline
                order.status = Order.Status.CANCELLED
                order.paid_at = None
                order.cancelled_at = order.created_at + timedelta(minutes=30)
                chunk.append(order)
                continue
            if order.in_window and rng.random() < 0.9:
                order.seller = sellers.pick(rng, paid_at)
            lifecycle(order, rng, now)
            chunk.append(order)
        yield chunk


def group_orders(
    plan: Plan,
    campaign,
    sellers: Sellers,
    people_buyers: int,
    now: datetime,
    window_start: datetime,
    seed: int,
) -> list[PlannedGroup]:
    """Group buys: four in five fill up and succeed (their orders ship after that), the rest fail at their
    deadline and every paid member is refunded in full by the system."""
    rng = random.Random(seed + 7)
    groups = []
    for g in range(plan.groups):
        opened = paid_moment(rng, now - timedelta(days=1))
        succeeded = g % 5 != 1  # one in five fails
        members = rng.sample(range(people_buyers), k=GROUP_SIZE if succeeded else rng.choice((1, 2)))
        group = PlannedGroup(
            index=g,
            opened=opened,
            expires=opened + timedelta(minutes=campaign.duration_minutes),
            succeeded=succeeded,
            leader=members[0],
        )
        in_window = opened >= window_start
        seller = sellers.pick(rng, opened) if in_window else None
        for m, buyer in enumerate(members):
            paid_at = opened + timedelta(minutes=rng.uniform(1, 600) if m else 1)
            group.orders.append(
                PlannedOrder(
                    no=f"{ORDER_PREFIX}G{timezone.localtime(paid_at):%Y%m%d}{g:07d}{m}",
                    buyer=buyer,
                    status=Order.Status.PAID,
                    lines=[
                        Line(
                            sku=campaign.sku,
                            quantity=1,
                            price_fen=campaign.group_price_fen,
                            source="group_buy",
                        )
                    ],
                    created_at=paid_at - timedelta(minutes=1),
                    paid_at=paid_at,
                    seller=seller,
                    kind=Order.Kind.GROUP_BUY,
                    group=group,
                    in_window=in_window,
                )
            )
        for order in group.orders:
            if succeeded:
                lifecycle(order, rng, now, ready_at=group.closed_at)
            else:  # the group failed at its deadline: every paid member refunded, once
                order.status = Order.Status.REFUNDED
                order.refunds.append(
                    PlannedRefund(order.total_fen, group.expires + timedelta(minutes=2), Refund.Kind.SYSTEM)
                )
        groups.append(group)
    return groups
