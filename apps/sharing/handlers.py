"""Subscribers to other apps' events (apps.core.events): logins with a share code, paid and refunded
orders (a link's counters).

Each runs in the delivery's transaction, exactly once per event. Junk payloads change nothing and
raise nothing (a raising handler would be redelivered forever).
"""

from __future__ import annotations

from typing import Any

from apps.core.events import subscribe

from . import services


@subscribe("shopper_arrived")
def on_shopper_arrived(payload: dict[str, Any]) -> None:
    """A login carried a share code: apply the binding policy, as opening the link would."""
    user_id = payload.get("user_id")
    share_code = payload.get("share_code")
    if not isinstance(user_id, int) or not isinstance(share_code, str):
        return
    services.binding_touch_by_code(
        customer_id=user_id, share_code=share_code, via=str(payload.get("via") or "login")
    )


@subscribe("order_paid")
def on_order_paid(payload: dict[str, Any]) -> None:
    services.order_paid_record(order=payload)


@subscribe("order_refunded")
def on_order_refunded(payload: dict[str, Any]) -> None:
    if isinstance(payload.get("order_id"), int):
        services.order_refund_record(refund=payload)
