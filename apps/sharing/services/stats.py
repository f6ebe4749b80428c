"""Orders and GMV per link, from the shop's `order_paid` and `order_refunded` events.

A link's `orders` and `gmv_fen` count the orders attributed through it net of refunds: orders not
refunded in full, and what was paid minus what was refunded. They are recounted from the link's
`ShareLinkOrder` rows under the link's row lock whenever a row changes, so an event delivered
twice, late, or before the one it follows changes them once and to the same result.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q, Sum

from .. import selectors
from ..lock_objects import share_link_lock_if_exists
from ..models import ShareLink, ShareLinkOrder


def _recount(link_id: int) -> None:
    """Set the link's counters from its rows. The caller holds the link's row lock."""
    totals = ShareLinkOrder.objects.filter(link_id=link_id).aggregate(
        orders=Count("pk", filter=Q(refunded_fen=0) | Q(refunded_fen__lt=F("paid_fen"))),
        gmv=Sum(F("paid_fen") - F("refunded_fen"), default=0),
    )
    ShareLink.objects.filter(pk=link_id).update(orders=totals["orders"], gmv_fen=totals["gmv"])


@transaction.atomic
def order_paid_record(*, order: dict[str, Any]) -> bool:
    """Count a paid order on the link it is attributed through: True when it counted now.

    The order's `share_link_id` is the link of its attribution snapshot: the link whose code won,
    or the link that bound the buyer to the KOC. Idempotent: the unique order id makes a second
    delivery (or a paid event after its refund already made the row) a no-op.
    """
    link_id = order.get("share_link_id")
    if not link_id or share_link_lock_if_exists(link_id=link_id) is None:
        return False
    paid_fen = int(order.get("paid_fen") or 0)
    _, created = ShareLinkOrder.objects.get_or_create(
        order_id=int(order["order_id"]), defaults={"link_id": link_id, "paid_fen": paid_fen}
    )
    if created:
        _recount(link_id)
    return created


@transaction.atomic
def order_refund_record(*, refund: dict[str, Any]) -> bool:
    """Take a refund off its order's link: True when the counters moved now.

    The payload carries the order's cumulative `refunded_fen`; the larger of it and what is recorded
    wins, so refunds delivered twice or out of order land on the same figure. A refund that arrives
    before the order's `order_paid` reached this app makes the row from the order itself (the paid
    event then finds it and counts nothing twice).
    """
    order_id = int(refund["order_id"])
    row = ShareLinkOrder.objects.filter(order_id=order_id).values("link_id", "paid_fen").first()
    if row is None:
        row = selectors.order_link_facts(order_id=order_id)
        if row is None or not row["link_id"]:
            return False
    if share_link_lock_if_exists(link_id=row["link_id"]) is None:
        return False
    counted, _ = ShareLinkOrder.objects.select_for_update().get_or_create(
        order_id=order_id, defaults={"link_id": row["link_id"], "paid_fen": row["paid_fen"]}
    )
    refunded = min(max(counted.refunded_fen, int(refund.get("refunded_fen") or 0)), counted.paid_fen)
    if refunded == counted.refunded_fen:
        return False
    counted.refunded_fen = refunded
    counted.save(update_fields=["refunded_fen", "updated_at"])
    _recount(counted.link_id)
    return True
