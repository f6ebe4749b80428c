from celery import shared_task

from . import events


@shared_task(name="core.dispatch_event", acks_late=True)
def dispatch_event(event_id: int) -> bool:
    return events.dispatch(event_id)


@shared_task(name="core.redeliver_events")
def redeliver_events() -> int:
    return events.redeliver()
