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
from django.db.models import Q
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

    from .deferred import send_on_commit
    from .tasks import dispatch_event

    send_on_commit(dispatch_event, event.pk)
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
    attempts = event.attempts + 1
    now = timezone.now()
    if not failed:
        OutboxEvent.objects.filter(pk=event.pk).update(attempts=attempts, next_attempt_at=None)
        OutboxEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=now)
        return True
    if attempts >= MAX_ATTEMPTS:
        logger.error("event %s (%s) is dead after %s attempts", event.pk, event.type, attempts)
        OutboxEvent.objects.filter(pk=event.pk).update(attempts=attempts, dead_at=now, next_attempt_at=None)
    else:
        OutboxEvent.objects.filter(pk=event.pk).update(
            attempts=attempts, next_attempt_at=now + retry_delay(attempts)
        )
    return False


MAX_ATTEMPTS = 10
RETRY_CAP = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... up to an hour: ten attempts span about seven hours."""
    return min(RETRY_CAP, timedelta(seconds=30 * 2 ** (attempts - 1)))


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


def redeliver(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500, now=None) -> int:
    """Dispatch events that a crash or a failing subscriber left undispatched. Returns how many.

    Only events whose retry is due: a failing one waits out its backoff, so a poisoned event
    never holds the batch (or the newer events behind it); dead ones wait for an operator.
    """
    now = now or timezone.now()
    due = (
        OutboxEvent.objects.filter(
            dispatched_at__isnull=True, dead_at__isnull=True, created_at__lte=now - older_than
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("id")
    )
    ids = list(due.values_list("id", flat=True)[:limit])
    for event_id in ids:
        dispatch(event_id)
    return len(ids)


def redeliver_dead(*, event_ids) -> int:
    """An operator's redeliver of dead events: they get a fresh set of attempts, now."""
    revived = list(
        OutboxEvent.objects.filter(pk__in=list(event_ids), dispatched_at__isnull=True, dead_at__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)
    )
    OutboxEvent.objects.filter(pk__in=revived).update(dead_at=None, attempts=0, next_attempt_at=None)
    for event_id in revived:
        dispatch(event_id)
    return len(revived)
