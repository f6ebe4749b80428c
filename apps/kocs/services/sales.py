"""The sales read model, from the shop's events: completed and refunded orders per KOC."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import (
    Koc,
    KocOrderLine,
    KocSale,
)

Role = Koc.Role
Status = Koc.Status

# --- the sales read model (from the shop's events) -------------------------------------------------


def _when(value) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(value) if value else None
    return parsed or timezone.now()


@transaction.atomic
def order_completed_record(*, order: dict) -> int | None:
    """Record a completed order: a sale for the attributed KOC, brand lines for affinity.

    Idempotent: one KocSale per order id, one line per (kind, item id). Returns the attributed KOC's
    id when a sale was recorded now, so its tiers (and its uplines') can be re-evaluated.
    """
    order_id = int(order["order_id"])
    completed_at = _when(order.get("completed_at"))
    paid = int(order.get("paid_fen") or 0)
    refunded = min(int(order.get("refunded_fen") or 0), paid)
    items = order.get("items") or []
    fully_refunded = paid > 0 and refunded >= paid
    recorded_for = None

    koc_id = order.get("attributed_koc_id")
    seller = Koc.objects.filter(pk=koc_id).first() if koc_id else None
    if seller is not None and not _is_own_purchase(order=order, seller=seller):
        _, created = KocSale.objects.get_or_create(
            order_id=order_id,
            defaults={
                "koc": seller,
                "order_no": str(order.get("order_no") or "")[:64],
                "paid_fen": paid,
                "refunded_fen": refunded,
                "amount_fen": paid - refunded,
                "units": sum(int(i.get("quantity") or 0) for i in items),
                "completed_at": completed_at,
            },
        )
        if created:
            recorded_for = seller.pk
        _record_lines(
            kind=KocOrderLine.Kind.SALE, koc=seller, order=order, at=completed_at, refunded=fully_refunded
        )

    buyer = Koc.objects.filter(user_id=order.get("buyer_id")).first() if order.get("buyer_id") else None
    if buyer is not None:
        _record_lines(
            kind=KocOrderLine.Kind.PURCHASE, koc=buyer, order=order, at=completed_at, refunded=fully_refunded
        )
    return recorded_for


def _is_own_purchase(*, order: dict, seller: Koc) -> bool:
    """A KOC buying through her own link (or bound to herself) sells to nobody: it is no sale, for
    her own sales, her team's, or any tier condition (her benefit is the tier price). The snapshot's
    flag says so; the buyer check covers snapshots made before the flag existed."""
    attribution = order.get("attribution") or {}
    if attribution.get("self_purchase"):
        return True
    buyer_id = order.get("buyer_id")
    return buyer_id is not None and seller.user_id is not None and int(buyer_id) == seller.user_id


def _record_lines(*, kind: str, koc: Koc, order: dict, at: datetime, refunded: bool) -> None:
    lines = [
        KocOrderLine(
            kind=kind,
            koc=koc,
            order_id=int(order["order_id"]),
            item_id=int(item["item_id"]),
            brand_id=item.get("brand_id"),
            product_id=item.get("product_id"),
            category_id=item.get("category_id"),
            quantity=int(item.get("quantity") or 0),
            line_fen=int(item.get("line_fen") or 0),
            refunded=refunded,
            completed_at=at,
        )
        for item in order.get("items") or []
    ]
    KocOrderLine.objects.bulk_create(lines, ignore_conflicts=True)


@transaction.atomic
def order_refund_record(*, refund: dict) -> int | None:
    """Lower a recorded sale by a refund made after completion. Idempotent and order-independent:
    the payload carries the order's cumulative refunded amount, and the larger one wins.

    Returns the seller's id when the sale went down now (its tiers and its uplines' must be
    evaluated again), else None."""
    order_id = int(refund["order_id"])
    if refund.get("fully_refunded"):
        KocOrderLine.objects.filter(order_id=order_id).update(refunded=True)
    sale = KocSale.objects.select_for_update().filter(order_id=order_id).first()
    if sale is None:
        return None  # not completed yet: order_completed will carry the refunded amount
    refunded = min(max(sale.refunded_fen, int(refund.get("refunded_fen") or 0)), sale.paid_fen)
    if refunded == sale.refunded_fen:
        return None
    sale.refunded_fen = refunded
    sale.amount_fen = sale.paid_fen - refunded
    sale.save(update_fields=["refunded_fen", "amount_fen", "updated_at"])
    return sale.koc_id
