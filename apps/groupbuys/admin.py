"""Admin for brand staff: campaigns with live counts, groups with their members' orders and refunds.

Groups and members are read-only: seats, payments and refunds move only through the services (and
the shop's events), and there is no way to add a member by hand: no simulated members (虚拟成团).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.admin_names import ReadOnlyPageMixin
from apps.core.money_admin import YuanAdminMixin, yuan_text
from apps.shop.models import Refund

from . import selectors
from .models import Campaign, Group, GroupMember, GroupNotification, SubscriptionQuota


@admin.register(Campaign)
class CampaignAdmin(YuanAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "product",
        "sku",
        "group_price",
        "group_size",
        "starts_at",
        "ends_at",
        "per_user_limit",
        "is_active",
        "forming_count",
        "succeeded_count",
        "failed_count",
        "success_rate",
    ]
    list_display_links = ["id", "product"]
    list_filter = ["is_active"]
    search_fields = ["product__title"]
    autocomplete_fields = ["product", "sku"]  # searched, never listed: a catalogue may hold 100,000
    fields = [
        "product",
        "sku",
        "group_price_fen",
        "leader_price_fen",
        "group_size",
        "duration_minutes",
        "starts_at",
        "ends_at",
        "per_user_limit",
        "is_active",
    ]

    def get_queryset(self, request):
        return selectors.campaigns_with_counts().select_related("product", "sku__product")

    @admin.display(description=_("group price"), ordering="group_price_fen")
    def group_price(self, campaign: Campaign) -> str:
        return yuan_text(campaign.group_price_fen)

    @admin.display(description=_("Forming"), ordering="forming_count")
    def forming_count(self, campaign: Campaign) -> int:
        return campaign.forming_count

    @admin.display(description=_("Succeeded"), ordering="succeeded_count")
    def succeeded_count(self, campaign: Campaign) -> int:
        return campaign.succeeded_count

    @admin.display(description=_("Failed"), ordering="failed_count")
    def failed_count(self, campaign: Campaign) -> int:
        return campaign.failed_count

    @admin.display(description=_("success rate"))
    def success_rate(self, campaign: Campaign) -> str:
        rate = selectors.success_rate(succeeded=campaign.succeeded_count, failed=campaign.failed_count)
        return "-" if rate is None else f"{rate:.1%}"


class GroupMemberInline(YuanAdminMixin, admin.TabularInline):
    model = GroupMember
    extra = 0
    can_delete = False
    fields = [
        "user",
        "is_leader",
        "status",
        "quantity",
        "unit_price",
        "order_link",
        "order_status",
        "refund_status",
        "joined_at",
        "paid_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        refunds = Prefetch("order__refunds", queryset=Refund.objects.order_by("id"))
        return super().get_queryset(request).select_related("user", "order").prefetch_related(refunds)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("unit price"))
    def unit_price(self, member: GroupMember) -> str:
        return yuan_text(member.unit_price_fen)

    @admin.display(description=_("order"))
    def order_link(self, member: GroupMember) -> str:
        url = reverse("admin:shop_order_change", args=[member.order_id])
        return format_html('<a href="{}">{}</a>', url, member.order.no)

    @admin.display(description=_("order status"))
    def order_status(self, member: GroupMember) -> str:
        return member.order.get_status_display()

    @admin.display(description=_("refunds"))
    def refund_status(self, member: GroupMember) -> str:
        refunds = list(member.order.refunds.all())
        if not refunds:
            return "-"
        return "; ".join(f"{r.get_status_display()} {yuan_text(r.amount_fen)}" for r in refunds)


@admin.register(Group)
class GroupAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "campaign",
        "leader",
        "status",
        "joined",
        "paid_count",
        "size",
        "expires_at",
        "succeeded_at",
        "failed_at",
    ]
    list_filter = ["status", "campaign"]
    search_fields = ["=id", "leader__nickname", "members__order__no"]
    date_hierarchy = "created_at"
    inlines = [GroupMemberInline]
    readonly_fields = [
        "campaign",
        "leader",
        "status",
        "size",
        "joined",
        "paid_count",
        "expires_at",
        "created_at",
        "succeeded_at",
        "failed_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("campaign__product", "leader")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GroupNotification)
class GroupNotificationAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = ["id", "group", "user", "kind", "status", "errcode", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [
        "group",
        "user",
        "kind",
        "template_id",
        "status",
        "errcode",
        "error",
        "attempts",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SubscriptionQuota)
class SubscriptionQuotaAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = ["id", "user", "template_id", "remaining", "granted_total", "last_errcode", "updated_at"]
    search_fields = ["user__nickname", "user__openid", "template_id"]
    readonly_fields = ["user", "template_id", "remaining", "granted_total", "last_errcode", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False
