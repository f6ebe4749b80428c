"""Levels (等级) and the tier policy."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.core.money import yuan

from ..models import (
    Level,
    TierPolicy,
)


@admin.register(Level)
class LevelAdmin(admin.ModelAdmin):
    list_display = [
        "rank",
        "name",
        "own_sales_yuan",
        "team_sales_yuan",
        "min_active_direct_kocs",
        "commission_bonus_percent",
        "own_purchase_discount_percent",
        "members",
    ]
    list_display_links = ["rank", "name"]
    ordering = ["rank"]

    @admin.display(description="个人成交额门槛 (元)")
    def own_sales_yuan(self, level: Level) -> str:
        return yuan(level.min_own_sales_fen)

    @admin.display(description="团队成交额门槛 (元)")
    def team_sales_yuan(self, level: Level) -> str:
        return yuan(level.min_team_sales_fen)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_count=Count("kocs"))

    @admin.display(description="人数", ordering="members_count")
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
