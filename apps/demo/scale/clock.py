"""The clock set back, so that what the services and the event subscribers write carries its moment.

`back_in_time()` travels (time-machine: Django's timezone.now, datetime and time.time all see it,
so auto_now fields, the ledger's created_at and the tiers' level history are dated as they
happened); `traveller.move_to(moment)` moves it. Celery tasks run eagerly meanwhile: what a
service defers to after commit (event delivery, tier evaluation) runs at the same simulated moment,
in this process, instead of later in a worker at the real time. (`eager=False` leaves them to the
worker: a share link's poster is drawn when a worker gets to it, as it would be.)

`explicit_times(*models)` lets bulk-inserted rows keep the times they are given: their auto_now /
auto_now_add fields are switched off for the duration (a bulk insert has no clock to set per row).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime


@contextmanager
def back_in_time(start: datetime, *, eager: bool = True) -> Iterator:
    try:
        import time_machine
    except ImportError as exc:  # a dev dependency, as for `manage.py simulate`
        raise RuntimeError("seed_demo --scale needs time-machine (pip install -e '.[dev]')") from exc
    from config.celery import app as celery_app

    with ExitStack() as stack:
        traveller = stack.enter_context(time_machine.travel(start, tick=False))
        was_eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = eager
        stack.callback(setattr, celery_app.conf, "task_always_eager", was_eager)
        # Thousands of eager tasks: their one-line "succeeded" logs would drown the progress bar.
        trace = logging.getLogger("celery.app.trace")
        stack.callback(trace.setLevel, trace.level)
        trace.setLevel(logging.WARNING)
        yield traveller


@contextmanager
def explicit_times(*models) -> Iterator[None]:
    switched = []
    for model in models:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                switched.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, now, add in switched:
            f.auto_now, f.auto_now_add = now, add
