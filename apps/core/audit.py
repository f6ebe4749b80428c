"""Who changed what, when: recorded in Django's admin log, shown on each object's History page.

Services that change something people answer for (a KOC's level, a rule set, a refund, a
withdrawal) call `record(actor=..., obj=..., message=...)`. Admin edits are logged by Django itself;
this puts changes made through services and admin actions in the same place.
"""

from __future__ import annotations

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
