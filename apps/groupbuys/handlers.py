"""Subscribers to the shop's order events (apps.core.events): group buys learn of payments,
cancellations and refunds only this way. Each runs in its delivery's transaction, once per event;
the services also guard by member status, so a replayed payload changes nothing."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime

from apps.core.events import subscribe

from . import services

GROUP_BUY = "group_buy"


@subscribe("order_paid")
def on_order_paid(payload: dict[str, Any]) -> None:
    if payload.get("kind") != GROUP_BUY or not payload.get("group_id"):
        return
    paid_at = parse_datetime(payload["paid_at"]) if payload.get("paid_at") else None
    services.member_paid(order_id=payload["order_id"], paid_at=paid_at)


@subscribe("order_cancelled")
def on_order_cancelled(payload: dict[str, Any]) -> None:
    if payload.get("group_id"):
        services.seat_release(order_id=payload["order_id"])


@subscribe("order_refunded")
def on_order_refunded(payload: dict[str, Any]) -> None:
    if payload.get("group_id"):
        services.member_refunded(
            order_id=payload["order_id"], fully_refunded=bool(payload.get("fully_refunded"))
        )
