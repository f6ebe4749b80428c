"""The sales read model, read-only: per-KOC sales and order lines, with names, yuan and order links."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.money_admin import YuanAdminMixin
from apps.shop.models import Brand, Product

from ..models import (
    KocOrderLine,
    KocSale,
)

# A sale is found by its order number or by the KOC's name, phone or invite code.
KOC_SEARCH = ["koc__invite_code", "koc__user__nickname", "koc__user__phone", "koc__legal_name"]


def order_link(order_id: int, text) -> str:
    try:
        url = reverse("admin:shop_order_change", args=[order_id])
    except NoReverseMatch:  # pragma: no cover - the shop's admin is always registered
        return str(text)
    return format_html('<a href="{}">{}</a>', url, text)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KocSale)
class KocSaleAdmin(YuanAdminMixin, ReadOnlyAdmin):
    list_display = ["order", "koc", "paid_fen", "refunded_fen", "amount_fen", "units", "completed_at"]
    list_select_related = ["koc__user"]
    search_fields = ["=order_no", *KOC_SEARCH]
    date_hierarchy = "completed_at"

    @admin.display(description=_("Order"), ordering="order_no")
    def order(self, sale: KocSale) -> str:
        return order_link(sale.order_id, sale.order_no or sale.order_id)


@admin.register(KocOrderLine)
class KocOrderLineAdmin(YuanAdminMixin, ReadOnlyAdmin):
    list_display = ["order", "kind", "koc", "brand", "product", "quantity", "line_fen", "refunded"]
    list_filter = ["kind", "refunded"]
    list_select_related = ["koc__user"]
    search_fields = KOC_SEARCH
    date_hierarchy = "completed_at"

    def get_queryset(self, request):
        # The line keeps the shop's ids (no foreign keys across apps): the names come by subquery.
        return (
            super()
            .get_queryset(request)
            .annotate(
                brand_name=Subquery(Brand.objects.filter(pk=OuterRef("brand_id")).values("name")[:1]),
                product_name=Subquery(Product.objects.filter(pk=OuterRef("product_id")).values("title")[:1]),
            )
        )

    @admin.display(description=_("Order"), ordering="order_id")
    def order(self, line: KocOrderLine) -> str:
        return order_link(line.order_id, line.order_id)

    @admin.display(description=_("Brand"), ordering="brand_name")
    def brand(self, line: KocOrderLine) -> str:
        return line.brand_name or "—"

    @admin.display(description=_("Product"), ordering="product_name")
    def product(self, line: KocOrderLine) -> str:
        return line.product_name or "—"
