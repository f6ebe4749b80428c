from celery import shared_task

from . import events


@shared_task(name="core.dispatch_event", acks_late=True)
def dispatch_event(event_id: int) -> bool:
    return events.dispatch(event_id)


@shared_task(name="core.redeliver_events")
def redeliver_events() -> int:
    return events.redeliver()


@shared_task(name="core.health", bind=True)
def health(self) -> dict:
    """A worker's answer that it runs the project's code and reaches the database (ops and tests)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {"db": connection.vendor, "select": one, "worker": self.request.hostname}
