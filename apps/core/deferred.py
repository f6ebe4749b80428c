"""Sending Celery tasks after commit, safely: the project's one way to defer work.

Two rules every caller gets for free:

- A committed request never fails because the broker cannot be reached. The send runs after
  commit; if it raises, the failure is logged and the row's state is left for the beat sweeper
  that owns it (undispatched events, approved refunds, forming groups past their deadline, ...),
  so nothing is lost and the client is not told "500" for an order that exists (and retried
  into a duplicate).
- No task waits on the broker beyond its visibility timeout. Redis hands a task whose ETA lies
  further ahead to another worker when the timeout passes, again and again (one task, many
  runs). Such a task is not sent at all: the beat sweeper that checks the same deadline does it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

DEFAULT_VISIBILITY_TIMEOUT = 3600


def max_delay() -> timedelta:
    """The furthest ahead a task may be scheduled: ten minutes inside the visibility timeout."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    timeout = int(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
    return timedelta(seconds=max(60, timeout - 600))


def send(task, *args, countdown: float | None = None, eta: datetime | None = None) -> bool:
    """Send `task(*args)` now; False (logged) when the broker refused or the delay is too long."""
    delay = (eta - timezone.now()).total_seconds() if eta is not None else countdown
    if delay is not None and delay > max_delay().total_seconds():
        logger.info("%s%r is due in %ds: left to its beat sweeper", task.name, args, delay)
        return False
    try:
        if eta is not None:
            task.apply_async(args, eta=eta)
        elif countdown is not None:
            task.apply_async(args, countdown=max(0, countdown))
        else:
            task.apply_async(args)
    except Exception:  # broker down or misconfigured: the sweeper finds the work by its state
        logger.exception("could not send %s%r; its sweeper will pick it up", task.name, args)
        return False
    return True


def send_on_commit(task, *args, countdown: float | None = None, eta: datetime | None = None) -> None:
    """`send` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(task, *args, countdown=countdown, eta=eta))
