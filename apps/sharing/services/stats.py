"""Orders and GMV per link, from the shop's `order_paid` event."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from ..models import ShareLink, ShareLinkOrder


@transaction.atomic
def order_paid_record(*, order: dict[str, Any]) -> bool:
    """Count a paid order on the link it is attributed through: True when it counted now.

    The order's `share_link_id` is the link of its attribution snapshot: the link whose code it
    carried, or the link that bound the buyer to the KOC. GMV is what was paid (refunds do not
    lower it). Idempotent: the outbox delivers once per subscriber, and the unique order id makes a
    second delivery a no-op anyway.
    """
    link_id = order.get("share_link_id")
    paid_fen = int(order.get("paid_fen") or 0)
    if not link_id or not ShareLink.objects.filter(pk=link_id).exists():
        return False
    try:
        with transaction.atomic():
            ShareLinkOrder.objects.create(link_id=link_id, order_id=int(order["order_id"]), paid_fen=paid_fen)
    except IntegrityError:
        return False
    ShareLink.objects.filter(pk=link_id).update(orders=F("orders") + 1, gmv_fen=F("gmv_fen") + paid_fen)
    return True
