from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it reports.

    A crash between commit and dispatch loses nothing: the row stays undispatched and the beat
    sweep (`core.redeliver_events`) hands it to the subscribers again. A failing subscriber pushes
    the event's `next_attempt_at` back (exponential backoff) so it never delays the others; after
    MAX_ATTEMPTS it is dead (`dead_at`): shown in the admin, redelivered only by an operator.
    """

    type = models.CharField(max_length=64, db_index=True, verbose_name=_("event type"))
    # One fact is published once: `order_paid:<order id>` cannot be published twice.
    key = models.CharField(max_length=191, unique=True, verbose_name=_("key"))
    payload = models.JSONField(verbose_name=_("payload"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    dispatched_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("dispatched at")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("next attempt at")
    )
    dead_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("dead-lettered at"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("domain event")
        verbose_name_plural = _("domain events (outbox)")

    def __str__(self) -> str:
        return f"{self.type} {self.key}"


class EventDelivery(models.Model):
    """One subscriber has handled one event. Written in the subscriber's own transaction."""

    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    handler = models.CharField(max_length=191, verbose_name=_("handler"))
    delivered_at = models.DateTimeField(auto_now_add=True, verbose_name=_("delivered at"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="uniq_event_delivery")]
        verbose_name_plural = _("event deliveries")
        verbose_name = _("event delivery")

    def __str__(self) -> str:
        return f"{self.handler} <- {self.event_id}"
