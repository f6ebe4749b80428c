"""The engine's subscriptions to the shop's order events (apps.core.events).

Each handler runs inside the delivery's own transaction, exactly once per event; the services merge
facts by natural key as well, so the same business fact reported twice or out of order is harmless.
"""

from __future__ import annotations

from typing import Any

from apps.core.events import subscribe

from .services import accrual


@subscribe("order_paid")
def on_order_paid(payload: dict[str, Any]) -> None:
    accrual.order_paid_record(payload=payload)


@subscribe("order_completed")
def on_order_completed(payload: dict[str, Any]) -> None:
    accrual.order_completed_record(payload=payload)


@subscribe("order_refunded")
def on_order_refunded(payload: dict[str, Any]) -> None:
    accrual.order_refunded_record(payload=payload)
