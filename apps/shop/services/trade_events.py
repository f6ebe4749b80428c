"""WeChat's trade-management messages (trade_manage_*), applied once each.

- trade_manage_order_settlement: WeChat shipped-confirmed-settled the payment. A message with
  `confirm_receive_time` means the buyer (or WeChat's automatic confirmation) received the goods:
  the order completes exactly as `confirm-receipt` completes it (same service path, same event).
  A message with `settlement_time` records the settlement on the order.
- trade_manage_remind_access_api, trade_manage_remind_shipping: reminders; they wait in the
  console's work queue until someone resolves them.

A message is kept once (its key: MsgId, or for events, as WeChat advises, sender and CreateTime,
with the event and transaction to be safe): WeChat resends a message it thinks undelivered. The
order moves are conditional on its state as well, so even two different messages saying the same
thing move it once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..lock_objects import order_lock
from ..models import Order, TradeEvent
from .fulfilment import _complete_locked

SETTLEMENT = "trade_manage_order_settlement"
REMINDERS = {"trade_manage_remind_access_api", "trade_manage_remind_shipping"}


def message_key(message: dict[str, Any]) -> str:
    if message.get("MsgId"):
        return f"msg:{message['MsgId']}"
    parts = [str(message.get(k, "")) for k in ("FromUserName", "CreateTime", "Event", "transaction_id")]
    return "event:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


def _seconds(value: Any) -> datetime | None:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


def _order_for(message: dict[str, Any]) -> Order | None:
    transaction_id = str(message.get("transaction_id") or "")
    if transaction_id:
        order = Order.objects.filter(transaction_id=transaction_id).first()
        if order is not None:
            return order
    no = str(message.get("merchant_trade_no") or "")
    return Order.objects.filter(no=no).first() if no else None


@transaction.atomic
def trade_event_handle(*, message: dict[str, Any]) -> str:
    """Apply one verified message; answers what it did ("duplicate" for a message seen before)."""
    event = str(message.get("Event") or message.get("MsgType") or "")
    order = _order_for(message)
    try:
        with transaction.atomic():
            record = TradeEvent.objects.create(
                key=message_key(message)[:200],
                event=event[:64],
                transaction_id=str(message.get("transaction_id") or "")[:64],
                order=order,
                payload=message,
                needs_attention=event in REMINDERS,
            )
    except IntegrityError:
        return "duplicate"
    outcome = "recorded"
    if event == SETTLEMENT and order is not None:
        outcome = _apply_settlement(order_id=order.pk, message=message)
    elif event == SETTLEMENT:
        outcome = "unknown_order"
    elif event in REMINDERS:
        outcome = "reminder"
    TradeEvent.objects.filter(pk=record.pk).update(outcome=outcome)
    return outcome


def _apply_settlement(*, order_id: int, message: dict[str, Any]) -> str:
    order = order_lock(order_id=order_id)
    done = []
    confirmed_at = _seconds(message.get("confirm_receive_time"))
    if confirmed_at is not None and order.status == Order.Status.SHIPPED:
        _complete_locked(order, now=timezone.now())
        done.append("completed")
    settled_at = _seconds(message.get("settlement_time"))
    if settled_at is not None and order.settled_at is None:
        order.settled_at = settled_at
        order.save(update_fields=["settled_at", "updated_at"])
        done.append("settled")
    return "+".join(done) or "no_change"


@transaction.atomic
def trade_event_resolve(*, event: TradeEvent, user) -> TradeEvent:
    TradeEvent.objects.filter(pk=event.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=user
    )
    event.refresh_from_db()
    return event
