"""The shop's one publisher of domain events; group buys and commissions subscribe, the shop imports neither.

Each function is called inside the transaction that makes the change, so the outbox row commits or
rolls back with it (apps.core.events): a crash between commit and delivery loses nothing, and the
key makes each fact publishable once.

Subscribe with `apps.core.events.subscribe(ORDER_PAID)` etc. Payloads are JSON: money in int fen,
times as ISO 8601 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.core import events

from .models import Order, Refund

ORDER_PAID = "order_paid"
ORDER_COMPLETED = "order_completed"
ORDER_REFUNDED = "order_refunded"
ORDER_CANCELLED = "order_cancelled"


def _iso(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _order_payload(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "order_no": order.no,
        "buyer_id": order.buyer_id,
        "paid_fen": order.paid_fen,
        "total_fen": order.total_fen,
        "paid_at": _iso(order.paid_at),
        "kind": order.kind,
        "group_id": order.group_id,
        "attributed_koc_id": order.attributed_koc_id,
        "share_link_id": order.share_link_id,
        "attribution": order.attribution or {},
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
            for item in order.items.order_by("id")
        ],
    }


def publish_order_paid(order: Order) -> None:
    events.publish(ORDER_PAID, _order_payload(order), key=f"{ORDER_PAID}:{order.pk}")


def publish_order_completed(order: Order) -> None:
    payload = {
        **_order_payload(order),
        "completed_at": _iso(order.completed_at),
        "refunded_fen": order.refunded_fen,
    }
    events.publish(ORDER_COMPLETED, payload, key=f"{ORDER_COMPLETED}:{order.pk}")


def publish_order_refunded(order: Order, refund: Refund) -> None:
    """`items` are the lines this refund returned (empty for an amount refund); `refunded_items`
    and `refunded_lines_fen` are the order's cumulative returned units and line-refund fen after it,
    so a subscriber can apply refunds in any order (engine.kept_fen telescopes over them)."""
    from .services.refunds import refunded_lines

    units, lines_fen = refunded_lines(order)
    payload = {
        "order_id": order.pk,
        "order_no": order.no,
        "refund_id": refund.pk,
        "amount_fen": refund.amount_fen,
        "refunded_fen": order.refunded_fen,
        "paid_fen": order.paid_fen,
        "fully_refunded": order.paid_fen > 0 and order.refunded_fen >= order.paid_fen,
        "refunded_at": _iso(refund.refunded_at),
        "buyer_id": order.buyer_id,
        "group_id": order.group_id,
        "attributed_koc_id": order.attributed_koc_id,
        "items": [
            {
                "item_id": line.order_item_id,
                "sku_id": line.order_item.sku_id,
                "quantity": line.quantity,
                "amount_fen": line.amount_fen,
            }
            for line in refund.items.select_related("order_item").order_by("order_item_id")
        ],
        "refunded_items": [{"item_id": i, "quantity": q} for i, q in sorted(units.items())],
        "refunded_lines_fen": lines_fen,
    }
    events.publish(ORDER_REFUNDED, payload, key=f"{ORDER_REFUNDED}:{refund.pk}")


def publish_order_cancelled(order: Order, *, reason: str) -> None:
    payload = {
        "order_id": order.pk,
        "order_no": order.no,
        "buyer_id": order.buyer_id,
        "group_id": order.group_id,
        "reason": reason,
    }
    events.publish(ORDER_CANCELLED, payload, key=f"{ORDER_CANCELLED}:{order.pk}")
