"""Row locks, always taken in this order so that concurrent flows cannot deadlock:

1. SKUs, by primary key (stock moves are conditional UPDATEs in pk order, which lock the same way);
2. the order;
3. its refunds, by primary key.
"""

from __future__ import annotations

from .models import Order, Refund


def order_lock(*, order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).get(pk=order_id)


def order_lock_by_no(*, no: str) -> Order | None:
    return Order.objects.select_for_update(of=("self",)).filter(no=no).first()


def refund_lock(*, refund_id: int) -> Refund:
    return Refund.objects.select_for_update(of=("self",)).get(pk=refund_id)
