"""Fulfilment: the buyer's confirmation of receipt, and automatic confirmation (parcels: shipments.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import events
from ..errors import OrderNotShipped
from ..lock_objects import order_lock
from ..models import Order


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
