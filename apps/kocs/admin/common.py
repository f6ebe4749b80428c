"""Pieces the KOC app's admin pages share: the branch filter, read-only inlines, refusals in words."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import ReadOnlyInline
from apps.core.errors import ApplicationError

from ..models import Koc

# The services' refusals speak the caller's language themselves; these few codes the admin words
# once for every place that raises them (the services' texts differ by call site). The services' own
# text is the fallback: a code whose message carries details, such as the roles of a placement, keeps them.
ERROR_TEXTS = {
    "already_applied": _("This user is already a KOC or has applied."),
    "reason_required": _("Please give a reason."),
    "invalid_status": _("That status change is not possible from the current status."),
    "invite_code_invalid": _("Invalid invite code."),
}


def error_text(exc: ApplicationError) -> str:
    """A refusal in the operator's language: never a bare code such as "[too_many_levels]"."""
    text = ERROR_TEXTS.get(exc.code)
    return str(text) if text is not None else exc.message


def placement_text(role: str, parent: Koc | None) -> str | None:
    """Why `role` cannot go under `parent`, in the operator's language (None: it can). The same table
    and the same msgids as the services' check (check_placement), asked before anything is written."""
    from ..services import ALLOWED_PARENT_ROLES

    allowed = ALLOWED_PARENT_ROLES[role]
    label = Koc.Role(role).label
    if parent is None:
        return None if None in allowed else _("%(role)s needs a parent") % {"role": label}
    if parent.role not in allowed:
        return _("%(role)s cannot go under %(parent)s") % {"role": label, "parent": parent.get_role_display()}
    if not parent.is_approved:
        return str(_("The parent is not an approved node"))
    return None


class BranchFilter(admin.SimpleListFilter):
    """Everything under one branch (分公司): a range of its nested set."""

    title = _("branch")
    parameter_name = "branch"

    def lookups(self, request, model_admin):
        branches = Koc.objects.filter(role=Koc.Role.BRANCH).order_by("tree_id")
        return [(str(b.pk), b.legal_name) for b in branches]

    def queryset(self, request, queryset):
        if not self.value() or not self.value().isdigit():
            return queryset
        branch = Koc.objects.filter(pk=int(self.value()), role=Koc.Role.BRANCH).first()
        if branch is None:
            return queryset.none()
        return queryset.filter(tree_id=branch.tree_id, lft__gte=branch.lft, lft__lte=branch.rght)


__all__ = ["BranchFilter", "ReadOnlyInline"]
