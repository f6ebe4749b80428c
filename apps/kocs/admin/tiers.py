"""Levels (等级) and the tier policy."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core.money_admin import YuanAdminMixin, yuan_text

from ..models import (
    Level,
    TierPolicy,
)

YUAN_LABELS = {
    "min_own_sales_fen": _("Own sales threshold (yuan)"),
    "min_team_sales_fen": _("Team sales threshold (yuan)"),
}


@admin.register(Level)
class LevelAdmin(YuanAdminMixin, admin.ModelAdmin):
    list_display = [
        "rank",
        "name",
        "min_own_sales_yuan",
        "min_team_sales_yuan",
        "min_active_direct_kocs",
        "commission_bonus_percent",
        "own_purchase_discount_percent",
        "members",
    ]
    list_display_links = ["rank", "name"]
    ordering = ["rank"]

    @admin.display(description=_("Own sales threshold"), ordering="min_own_sales_fen")
    def min_own_sales_yuan(self, level: Level) -> str:
        return yuan_text(level.min_own_sales_fen)

    @admin.display(description=_("Team sales threshold"), ordering="min_team_sales_fen")
    def min_team_sales_yuan(self, level: Level) -> str:
        return yuan_text(level.min_team_sales_fen)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in YUAN_LABELS:  # the model's labels say fen; people type yuan here
            kwargs["label"] = YUAN_LABELS[db_field.name]
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_count=Count("kocs"))

    @admin.display(description=_("Members"), ordering="members_count")
    def members(self, level: Level) -> int:
        return level.members_count


@admin.register(TierPolicy)
class TierPolicyAdmin(admin.ModelAdmin):
    """The one row of tier rules: whether and when a KOC below its level's conditions is lowered."""

    list_display = ["__str__", "downgrade", "downgrade_after_days", "updated_at"]
    fields = ["downgrade", "downgrade_after_days", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return not TierPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        policy = TierPolicy.load()
        return HttpResponseRedirect(reverse("admin:kocs_tierpolicy_change", args=[policy.pk]))
