"""Fulfilment: shipping, the buyer's confirmation of receipt, and automatic confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import events
from ..errors import OrderNotShippable, OrderNotShipped
from ..lock_objects import order_lock
from ..models import Order


@transaction.atomic
def order_ship(*, order: Order, carrier: str, tracking_no: str) -> Order:
    """Ship a paid order. Held (group-buy) and unpaid, refunded or shipped orders: order_not_shippable."""
    order = order_lock(order_id=order.pk)
    if order.status != Order.Status.PAID:
        raise OrderNotShippable()
    if order.shipping_hold:
        raise OrderNotShippable("拼团尚未成功，订单暂不能发货")
    order.status = Order.Status.SHIPPED
    order.shipped_at = timezone.now()
    order.carrier = carrier.strip()[:32]
    order.tracking_no = tracking_no.strip()[:64]
    order.save(update_fields=["status", "shipped_at", "carrier", "tracking_no", "updated_at"])
    return order


def _complete_locked(order: Order, *, now: datetime) -> None:
    order.status = Order.Status.COMPLETED
    order.completed_at = now
    order.save(update_fields=["status", "completed_at", "updated_at"])
    events.publish_order_completed(order)


@transaction.atomic
def order_confirm_receipt(*, order: Order) -> Order:
    order = order_lock(order_id=order.pk)
    if order.status != Order.Status.SHIPPED:
        raise OrderNotShipped()
    _complete_locked(order, now=timezone.now())
    return order


@transaction.atomic
def _auto_confirm_one(*, order_id: int, cutoff: datetime, now: datetime) -> bool:
    order = order_lock(order_id=order_id)
    if order.status != Order.Status.SHIPPED or order.shipped_at is None or order.shipped_at > cutoff:
        return False
    _complete_locked(order, now=now)
    return True


def auto_confirm_orders(*, now: datetime | None = None) -> int:
    """Complete every order shipped more than SHOP_AUTO_CONFIRM_DAYS ago; safe to run twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SHOP_AUTO_CONFIRM_DAYS)
    ids = list(
        Order.objects.filter(status=Order.Status.SHIPPED, shipped_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return sum(1 for order_id in ids if _auto_confirm_one(order_id=order_id, cutoff=cutoff, now=now))
