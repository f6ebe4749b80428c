"""The KOC list's actions, each through the services: approve, reject, set level, move, suspend, reinstate.

Each action that changes a KOC leaves an entry on its History page (the services write most; a move
is recorded here, on the moved node and on both parents). A refusal reads as a sentence in the
operator's language (`common.error_text`), never as a raw code.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core import audit
from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError

from .. import services
from ..models import Koc
from ..selectors import team_member_count
from .common import error_text, placement_text
from .forms import MoveForm, ReasonForm, SetLevelForm


def _approval(queryset) -> Confirmation:
    """Who will be approved, and under whom each lands in the team (its inviter)."""
    kocs = list(queryset.select_related("user", "sponsor", "sponsor__user").order_by("pk"))
    pending = [k for k in kocs if k.status == Koc.Status.PENDING]
    warnings = []
    if len(pending) < len(kocs):
        others = len(kocs) - len(pending)
        warnings.append(
            ngettext(
                "%(count)d more is not pending and will not be approved",
                "%(count)d more are not pending and will not be approved",
                others,
            )
            % {"count": others}
        )
    return Confirmation(
        title=_t("Confirm approving KOC applications"),
        button=ngettext("Approve %(count)d application", "Approve %(count)d applications", len(pending))
        % {"count": len(pending)},
        effects=[
            ngettext(
                "%(count)d KOC application will be approved: each applicant goes under its inviter, "
                "joins its team and can start sharing to earn commission",
                "%(count)d KOC applications will be approved: each applicant goes under its inviter, "
                "joins its team and can start sharing to earn commission",
                len(pending),
            )
            % {"count": len(pending)}
        ],
        warnings=warnings,
        headers=[_t("Name"), _t("Role"), _t("Status"), _t("Parent (inviter)"), _t("Applied at")],
        rows=[
            [
                k.display_name,
                k.get_role_display(),
                k.get_status_display(),
                k.sponsor.display_name if k.sponsor_id else _t("None (top level)"),
                f"{timezone.localtime(k.applied_at):%Y-%m-%d %H:%M}" if k.applied_at else "",
            ]
            for k in kocs
        ],
    )


def _record_move(*, koc: Koc, old_parent: Koc | None, new_parent: Koc | None, by, reason: str) -> None:
    """History entries for a subtree move: on the moved node, the parent it left and the one it joined."""
    members = team_member_count(koc=koc)
    before = old_parent.display_name if old_parent else "—"
    after = new_parent.display_name if new_parent else "—"
    audit.record(
        actor=by,
        obj=koc,
        message=_t("Moved from %(before)s to %(after)s with %(members)d members below it; reason: %(reason)s")
        % {"before": before, "after": after, "members": members, "reason": reason},
    )
    if old_parent is not None:
        audit.record(
            actor=by,
            obj=old_parent,
            message=_t("%(name)s (with %(members)d members) moved out to %(after)s; reason: %(reason)s")
            % {"name": koc.display_name, "members": members, "after": after, "reason": reason},
        )
    if new_parent is not None:
        audit.record(
            actor=by,
            obj=new_parent,
            message=_t("%(name)s (with %(members)d members) moved in from %(before)s; reason: %(reason)s")
            % {"name": koc.display_name, "members": members, "before": before, "reason": reason},
        )


class KocActionsMixin:
    def _run(self, request, queryset, label: str, fn) -> None:
        done, failed = 0, []
        for koc in queryset.select_related("user").order_by("pk"):
            try:
                fn(koc)
                done += 1
            except ApplicationError as exc:
                failed.append(f"{koc.display_name}: {error_text(exc)}")
        if done:
            self.message_user(
                request, _t("%(label)s: %(count)d") % {"label": label, "count": done}, messages.SUCCESS
            )
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    def _form_action(
        self, request, queryset, *, form_class, title: str, action: str, apply, label: str, form_kwargs=None
    ):
        form = form_class(request.POST if "confirm" in request.POST else None, **(form_kwargs or {}))
        if "confirm" in request.POST and form.is_valid():
            self._run(request, queryset, label, lambda koc: apply(koc, form.cleaned_data))
            return None
        return TemplateResponse(
            request,
            "admin/kocs/koc/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "queryset": queryset.select_related("user", "parent__user").order_by("pk"),
                "action": action,
                "media": self.media + form.media,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description=_("Approve applications (each goes under its inviter)"), permissions=["change"])
    def approve(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="approve", confirmation=_approval(queryset)
            )
        self._run(
            request,
            queryset,
            _t("Applications approved"),
            lambda koc: services.koc_approve(koc=koc, by=request.user),
        )
        return None

    @admin.action(
        description=_("Reject applications (with a reason the applicant sees)"), permissions=["change"]
    )
    def reject(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=ReasonForm,
            title=_t("Reject applications"),
            action="reject",
            label=_t("Rejected"),
            apply=lambda koc, data: services.koc_reject(koc=koc, by=request.user, reason=data["reason"]),
        )

    @admin.action(description=_("Set level (with a reason and a hold date)"), permissions=["change"])
    def set_level(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=SetLevelForm,
            title=_t("Set level"),
            action="set_level",
            label=_t("Level set"),
            apply=lambda koc, data: services.koc_set_level(
                koc=koc,
                level=data["level"],
                by=request.user,
                reason=data["reason"],
                hold_until=data["hold_until"],
            ),
        )

    @admin.action(
        description=_("Change parent (moves the whole subtree, keeps history)"), permissions=["change"]
    )
    def move(self, request, queryset):
        @transaction.atomic  # the move and its History entries, or neither
        def apply(koc, data):
            old_parent = Koc.objects.select_related("user").filter(pk=koc.parent_id).first()
            try:
                moved = services.koc_move(
                    koc=koc, new_parent=data["new_parent"], by=request.user, reason=data["reason"]
                )
            except ApplicationError as exc:
                text = placement_text(koc.role, data["new_parent"]) if exc.code == "invalid_parent" else None
                if text is None:
                    raise
                raise ApplicationError(text, code=exc.code) from exc
            _record_move(
                koc=moved,
                old_parent=old_parent,
                new_parent=data["new_parent"],
                by=request.user,
                reason=data["reason"].strip(),
            )

        return self._form_action(
            request,
            queryset,
            form_class=MoveForm,
            title=_t("Change parent"),
            action="move",
            label=_t("Moved"),
            form_kwargs={"admin_site": self.admin_site},
            apply=apply,
        )

    @admin.action(description=_("Suspend"), permissions=["change"])
    def suspend(self, request, queryset):
        self._run(
            request,
            queryset,
            _t("Suspended"),
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.SUSPENDED, by=request.user),
        )

    @admin.action(description=_("Reinstate"), permissions=["change"])
    def reinstate(self, request, queryset):
        self._run(
            request,
            queryset,
            _t("Reinstated"),
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.APPROVED, by=request.user),
        )
