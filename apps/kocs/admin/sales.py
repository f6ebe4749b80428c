"""The sales read model, read-only: per-KOC sales and order lines."""

from __future__ import annotations

from django.contrib import admin

from ..models import (
    KocOrderLine,
    KocSale,
)


@admin.register(KocSale)
class KocSaleAdmin(admin.ModelAdmin):
    list_display = ["order_no", "koc", "paid_fen", "refunded_fen", "amount_fen", "units", "completed_at"]
    list_select_related = ["koc__user"]
    search_fields = ["order_no", "koc__invite_code"]
    date_hierarchy = "completed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KocOrderLine)
class KocOrderLineAdmin(KocSaleAdmin):
    list_display = ["order_id", "kind", "koc", "brand_id", "product_id", "quantity", "line_fen", "refunded"]
    list_filter = ["kind", "refunded"]
    search_fields = ["koc__invite_code"]
    date_hierarchy = "completed_at"
