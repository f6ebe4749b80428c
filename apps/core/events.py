"""Domain events between apps: publish inside a transaction, delivered after commit, exactly once.

The shop publishes `order_paid`, `order_completed`, `order_refunded` (and more) without knowing who
listens; group buys and the commission engine subscribe in their AppConfig.ready(). This is the only
way apps that must not know each other talk.

Exactly once per subscriber: each delivery runs the handler and inserts its EventDelivery row in one
transaction; a second delivery of the same event to the same handler hits the unique constraint (or
finds the row) and does nothing. Handlers must therefore do all their writes in the database they
are given, and send Celery tasks only with `transaction.on_commit`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import EventDelivery, OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
_subscribers: dict[str, dict[str, Handler]] = defaultdict(dict)


def subscribe(event_type: str) -> Callable[[Handler], Handler]:
    """Register `handler(payload)` for `event_type`; its dotted name is its identity in the ledger."""

    def register(handler: Handler) -> Handler:
        name = f"{handler.__module__}.{handler.__qualname__}"
        _subscribers[event_type][name] = handler
        return handler

    return register


def subscribers(event_type: str) -> dict[str, Handler]:
    return dict(_subscribers.get(event_type, {}))


def publish(event_type: str, payload: dict[str, Any], *, key: str) -> OutboxEvent:
    """Record the event in the current transaction and dispatch it once the transaction commits.

    Publishing the same `key` again returns the first event and dispatches nothing new.
    """
    try:
        with transaction.atomic():
            event = OutboxEvent.objects.create(type=event_type, key=key, payload=payload)
    except IntegrityError:
        return OutboxEvent.objects.get(key=key)

    from .tasks import dispatch_event

    transaction.on_commit(lambda: dispatch_event.delay(event.pk))
    return event


def dispatch(event_id: int) -> bool:
    """Deliver one event to every subscriber that has not had it. True when all have it now."""
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None or event.dispatched_at is not None:
        return True
    failed = False
    for name, handler in subscribers(event.type).items():
        try:
            _deliver(event, name, handler)
        except Exception as exc:  # a failing subscriber must not block the others; it is retried
            failed = True
            logger.exception("event %s (%s) failed in %s", event.pk, event.type, name)
            OutboxEvent.objects.filter(pk=event.pk).update(last_error=f"{name}: {exc!r}"[:2000])
    OutboxEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    if not failed:
        OutboxEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(
            dispatched_at=timezone.now()
        )
    return not failed


def _deliver(event: OutboxEvent, name: str, handler: Handler) -> None:
    try:
        with transaction.atomic():
            if EventDelivery.objects.filter(event=event, handler=name).exists():
                return
            # Insert first: a concurrent delivery of the same pair blocks here until we commit,
            # then fails the unique constraint and skips.
            EventDelivery.objects.create(event=event, handler=name)
            handler(dict(event.payload))
    except IntegrityError:
        if EventDelivery.objects.filter(event=event, handler=name).exists():
            return
        raise


def redeliver(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
    """Dispatch events that a crash or a failing subscriber left undispatched. Returns how many."""
    cutoff = timezone.now() - older_than
    ids = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in ids:
        dispatch(event_id)
    return len(ids)
