from django.db import models


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it reports.

    A crash between commit and dispatch loses nothing: the row stays undispatched and the beat
    sweep (`core.redeliver_events`) hands it to the subscribers again. A failing subscriber pushes
    the event's `next_attempt_at` back (exponential backoff) so it never delays the others; after
    MAX_ATTEMPTS it is dead (`dead_at`): shown in the admin, redelivered only by an operator.
    """

    type = models.CharField(max_length=64, db_index=True)
    # One fact is published once: `order_paid:<order id>` cannot be published twice.
    key = models.CharField(max_length=191, unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    dead_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "领域事件"
        verbose_name_plural = "领域事件 (outbox)"

    def __str__(self) -> str:
        return f"{self.type} {self.key}"


class EventDelivery(models.Model):
    """One subscriber has handled one event. Written in the subscriber's own transaction."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=191)
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="uniq_event_delivery")]

    def __str__(self) -> str:
        return f"{self.handler} <- {self.event_id}"
