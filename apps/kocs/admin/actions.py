"""The KOC list's actions, each through the services: approve, reject, set level, move, suspend, reinstate."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError

from .. import services
from ..models import (
    Koc,
)
from .forms import MoveForm, ReasonForm, SetLevelForm


def _approval(queryset) -> Confirmation:
    """Who will be approved, and under whom each lands in the team (its inviter)."""
    kocs = list(queryset.select_related("user", "sponsor", "sponsor__user").order_by("pk"))
    pending = [k for k in kocs if k.status == Koc.Status.PENDING]
    warnings = []
    if len(pending) < len(kocs):
        warnings.append(f"另有 {len(kocs) - len(pending)} 个不是“待审核”状态，不会通过")
    return Confirmation(
        title="确认通过 KOC 申请",
        button=f"确认通过 {len(pending)} 个申请",
        effects=[
            f"将通过 {len(pending)} 个 KOC 申请：每人放到邀请人之下，成为其团队成员，可开始分享赚取佣金"
        ],
        warnings=warnings,
        headers=["名称", "角色", "状态", "上级（邀请人）", "申请时间"],
        rows=[
            [
                k.display_name,
                k.get_role_display(),
                k.get_status_display(),
                k.sponsor.display_name if k.sponsor_id else "无（顶层）",
                f"{timezone.localtime(k.applied_at):%Y-%m-%d %H:%M}" if k.applied_at else "",
            ]
            for k in kocs
        ],
    )


class KocActionsMixin:
    def _run(self, request, queryset, label: str, fn) -> None:
        done, failed = 0, []
        for koc in queryset.order_by("pk"):
            try:
                fn(koc)
                done += 1
            except ApplicationError as exc:
                failed.append(f"{koc.display_name}: {exc.message}")
        if done:
            self.message_user(request, f"{label}: {done} 个", messages.SUCCESS)
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

    @admin.action(description="通过申请 (放到邀请人之下)", permissions=["change"])
    def approve(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="approve", confirmation=_approval(queryset)
            )
        self._run(request, queryset, "已通过", lambda koc: services.koc_approve(koc=koc, by=request.user))
        return None

    @admin.action(description="拒绝申请 (填写原因，申请人可见)", permissions=["change"])
    def reject(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=ReasonForm,
            title="拒绝申请",
            action="reject",
            label="已拒绝",
            apply=lambda koc, data: services.koc_reject(koc=koc, by=request.user, reason=data["reason"]),
        )

    @admin.action(description="设置等级 (填写原因和保持日期)", permissions=["change"])
    def set_level(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=SetLevelForm,
            title="设置等级",
            action="set_level",
            label="等级已设置",
            apply=lambda koc, data: services.koc_set_level(
                koc=koc,
                level=data["level"],
                by=request.user,
                reason=data["reason"],
                hold_until=data["hold_until"],
            ),
        )

    @admin.action(description="调整上级 (整棵子树移动，保留历史)", permissions=["change"])
    def move(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=MoveForm,
            title="调整上级",
            action="move",
            label="已移动",
            form_kwargs={"admin_site": self.admin_site},
            apply=lambda koc, data: services.koc_move(
                koc=koc, new_parent=data["new_parent"], by=request.user, reason=data["reason"]
            ),
        )

    @admin.action(description="停用", permissions=["change"])
    def suspend(self, request, queryset):
        self._run(
            request,
            queryset,
            "已停用",
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.SUSPENDED, by=request.user),
        )

    @admin.action(description="恢复", permissions=["change"])
    def reinstate(self, request, queryset):
        self._run(
            request,
            queryset,
            "已恢复",
            lambda koc: services.koc_set_status(koc=koc, status=Koc.Status.APPROVED, by=request.user),
        )

    # --- the tree view ----------------------------------------------------------------------------
