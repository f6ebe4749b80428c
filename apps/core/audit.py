"""Who changed what, when: recorded in Django's admin log, shown on each object's History page.

Services that change something people answer for (a KOC's level, a rule set, a refund, a
withdrawal) call `record(actor=..., obj=..., message=...)`. Admin edits are logged by Django itself;
this puts changes made through services and admin actions in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType

ACTIONS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def record(*, actor: Any, obj: Any, message: str, action: str = "change") -> LogEntry | None:
    """Log `message` against `obj` for a staff `actor`. System changes (no actor) are not logged here:
    they are explained by the objects' own histories (ledger entries, level history)."""
    if actor is None or not getattr(actor, "pk", None):
        return None
    return LogEntry.objects.create(
        user_id=actor.pk,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=ACTIONS[action],
        change_message=message,
    )


def history(obj: Any):
    """The log entries of one object, newest first (what its admin History page shows)."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("user")


@dataclass(frozen=True)
class TimelineEntry:
    """One event of an object's life read from its own rows (a parcel shipped, a refund paid)."""

    at: Any
    actor: Any
    message: str


class HistoryTimelineMixin:
    """The History page shows the object's own timeline above the admin's log.

    Things that happen through services, the ops API, the CSV upload or WeChat's notifications are
    kept on the objects themselves (a shipment's time and who shipped it, a refund's approval and
    payment times, a withdrawal's ledger entries); `history_timeline(obj)` reads them, so History
    shows every shipment, refund and payout whichever way it came, next to the admin's own entries.
    """

    object_history_template = "admin/object_history_timeline.html"

    def history_timeline(self, obj) -> list[TimelineEntry]:
        return []

    def history_view(self, request, object_id, extra_context=None):
        from django.contrib.admin.utils import unquote

        obj = self.get_object(request, unquote(object_id))
        timeline = []
        if obj is not None and self.has_view_or_change_permission(request, obj):
            timeline = sorted(
                (e for e in self.history_timeline(obj) if e.at is not None), key=lambda e: e.at, reverse=True
            )
        return super().history_view(request, object_id, {**(extra_context or {}), "timeline": timeline})
