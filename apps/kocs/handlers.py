"""Subscribers to the shop's order events (apps.core.events): the KOC app's own sales read model.

Each handler runs in the delivery's transaction, exactly once per event; tier re-evaluation is sent
to Celery only after that transaction commits.
"""

from __future__ import annotations

from typing import Any

from apps.core.events import subscribe

from . import services


@subscribe("order_completed")
def on_order_completed(payload: dict[str, Any]) -> None:
    koc_id = services.order_completed_record(order=payload)
    if koc_id is not None:
        services.evaluate_tiers_on_commit(koc_id)


@subscribe("order_refunded")
def on_order_refunded(payload: dict[str, Any]) -> None:
    # A refund lowers the seller's sales and her uplines' team sales: their levels are evaluated
    # again, and the downgrade policy decides whether and when a level no longer met is lowered.
    koc_id = services.order_refund_record(refund=payload)
    if koc_id is not None:
        services.evaluate_tiers_on_commit(koc_id)
