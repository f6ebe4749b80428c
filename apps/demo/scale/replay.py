"""The shop's events of the window's orders, published as the shop publishes them, with the clock set
to the moment each happened, and delivered to every subscriber.

Each fact goes through the shop's own publisher (apps.shop.events.publish_order_paid and the rest:
the same payload function, the same key) inside a transaction at the simulated moment; the outbox
delivers it on commit (Celery eager, see clock.py) to the commission engine, the KOC sales read
model (which evaluates the seller's and her uplines' tiers), group buys and share links. So the
ledger's entries, commissions, sales and level changes carry the moment they happened. The beat's
settlement runs at the end of each simulated day. Then the buyers' after-sales requests that wait
for an operator are made through `refund_create`, at their moment too.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.core.progress import Progress
from apps.shop import events as shop_events
from apps.shop.models import Order, Refund

from .clock import back_in_time
from .timeline import PlannedOrder

PAID, CANCELLED, REFUNDED, COMPLETED = 0, 1, 2, 3  # same moment: this order


def _facts(orders: list[PlannedOrder]) -> list[tuple[datetime, int, int, PlannedOrder, int]]:
    facts = []
    for o in orders:
        if o.cancelled_at:
            facts.append((o.cancelled_at, CANCELLED, o.id, o, -1))
        if not o.paid_at:
            continue
        facts.append((o.paid_at, PAID, o.id, o, -1))
        for n, r in enumerate(o.refunds):
            facts.append((r.at, REFUNDED, o.id, o, n))
        if o.completed_at:
            facts.append((o.completed_at, COMPLETED, o.id, o, -1))
    facts.sort(key=lambda f: f[:3])
    return facts


def _as_of(order: Order, o: PlannedOrder, kind: int, n: int) -> Order:
    """The order row as it stood when the fact happened (what the publisher was given then)."""
    if kind == REFUNDED:
        order.refunded_fen = sum(r.amount_fen for r in o.refunds[: n + 1])
    elif kind == COMPLETED:
        order.refunded_fen = sum(r.amount_fen for r in o.refunds if r.at < o.completed_at)
    else:
        order.refunded_fen = 0
    order.completed_at = o.completed_at if kind == COMPLETED else None
    return order


def publish(orders: list[PlannedOrder], *, now: datetime, stdout: TextIO) -> int:
    """Publish and deliver every fact of `orders` at its moment; settle at each day's end. Returns
    the number of events."""
    from apps.commissions.services.settlement import settle_commissions

    facts = _facts(orders)
    if not facts:
        return 0
    first_event = OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rows = {}
    with back_in_time(facts[0][0]) as clock, Progress(len(facts), label="events", stream=stdout) as bar:
        day_end = _day_end(facts[0][0])
        for start in range(0, len(facts), 500):
            batch = facts[start : start + 500]
            ids = {f[2] for f in batch} - set(rows)
            rows.update(Order.objects.in_bulk(list(ids)))
            for when, kind, order_id, o, n in batch:
                if when >= day_end:
                    clock.move_to(min(day_end, now))
                    settle_commissions(now=min(day_end, now))
                    day_end = _day_end(when)
                clock.move_to(when)
                order = _as_of(rows[order_id], o, kind, n)
                with transaction.atomic():
                    if kind == PAID:
                        shop_events.publish_order_paid(order)
                    elif kind == CANCELLED:
                        shop_events.publish_order_cancelled(order, reason="timeout")
                    elif kind == COMPLETED:
                        shop_events.publish_order_completed(order)
                    else:
                        refund = Refund.objects.get(pk=o.refunds[n].id)
                        shop_events.publish_order_refunded(order, refund)
                bar.advance()
            for order_id in {f[2] for f in batch}:
                rows.pop(order_id, None)
        clock.move_to(now)
        settle_commissions(now=now)
    stuck = OutboxEvent.objects.filter(pk__gt=first_event, dispatched_at__isnull=True)
    if stuck.exists():
        error = stuck.exclude(last_error="").values_list("last_error", flat=True).first()
        raise RuntimeError(f"{stuck.count()} seeded events were not delivered: {error}")
    return len(facts)


def _day_end(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def request_refunds(orders: list[PlannedOrder], count: int, rng: random.Random, *, now: datetime) -> int:
    """Buyers' after-sales requests waiting for an operator, made through the shop's service."""
    from apps.shop.services import refund_create

    open_orders = [
        o
        for o in orders
        if o.status in (Order.Status.PAID, Order.Status.SHIPPED) and not o.refunds and o.group is None
    ]
    chosen = sorted(rng.sample(open_orders, k=min(count, len(open_orders))), key=lambda o: o.id)
    made = 0
    for o in chosen:
        since = o.shipped_at or o.paid_at
        moment = since + (now - since) * rng.uniform(0.3, 0.9)
        with back_in_time(moment):
            order = Order.objects.get(pk=o.id)
            refund_create(
                order=order,
                amount_fen=None,
                reason="商品与描述不符，申请退款",
                requested_by=order.buyer,
            )
        made += 1
    return made
