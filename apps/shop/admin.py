"""Admin for brand staff: catalogue with inline SKUs and pictures, orders (ship), refunds (approve/reject).

Orders, payments and refunds are read-only here: every change goes through the services, so the
admin obeys the same rules (stock, locks, events, WeChat exactly once) as the API.

A brand operator (品牌运营) sees only its brand: its products, and the orders and refunds holding an
item of its brand (apps/shop/brand_scope.py). Refund decisions are written to each refund's
History page with the deciding user.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    F,
    Min,
    OuterRef,
    Prefetch,
    Subquery,
    Sum,
    Value,
    When,
)
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from mptt.admin import MPTTModelAdmin, TreeRelatedFieldListFilter

from apps.core import admin_names, audit
from apps.core.admin import ReadOnlyInline
from apps.core.admin_filters import InputFilter
from apps.core.admin_names import NamedColumnsMixin, ReadOnlyPageMixin
from apps.core.audit import HistoryTimelineMixin, TimelineEntry
from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError
from apps.core.exports import ExportMixin, money
from apps.core.masking import mask_phone
from apps.core.money import yuan_grouped
from apps.core.money_admin import YuanAdminMixin, yuan_text

from . import images, operator_scope, services
from .brand_scope import (
    BrandScopedAdminMixin,
    BrandScopedInlineMixin,
    brand_scope,
    order_ids_of,
)
from .errors import InvalidImage
from .models import (
    Brand,
    BrandOperator,
    Category,
    Order,
    OrderItem,
    Payment,
    Product,
    ProductImage,
    Refund,
    RefundItem,
    Shipment,
    ShippingUpload,
    Sku,
    TradeEvent,
)


def _thumb(file, size: int = 60) -> str:
    if not file:
        return "-"
    return format_html(
        '<img src="{}" style="max-width:{}px;max-height:{}px;border-radius:4px" alt="">', file.url, size, size
    )


@admin.register(Brand)
class BrandAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    brand_path = "pk"
    brand_fields = ()

    list_display = ["id", "logo_preview", "name", "max_commission_rate", "is_active", "created_at"]
    list_display_links = ["id", "name"]
    list_filter = ["is_active"]
    search_fields = ["name"]

    @admin.display(description=_("logo"))
    def logo_preview(self, brand: Brand) -> str:
        return _thumb(brand.logo, 40)


@admin.register(BrandOperator)
class BrandOperatorAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Which staff user works for which brand; add the user to the 品牌运营 group as well."""

    list_display = ["user", "brand", "created_at"]
    list_filter = [("brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "brand"]
    search_fields = ["user__username", "user__nickname", "brand__name"]
    # Typed by username (the user admin's search: staff only, see accounts/admin.py), not a numeric id.
    autocomplete_fields = ["user"]


@admin.register(Category)
class CategoryAdmin(MPTTModelAdmin):
    list_display = ["name", "sort_order", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


class SkuInline(YuanAdminMixin, admin.TabularInline):
    model = Sku
    extra = 0
    fields = ["spec", "price_fen", "stock", "is_active"]


class ProductImageInlineForm(forms.ModelForm):
    # A plain file field: the upload service's validation (content, format, pixels) gives the error,
    # not Django's generic "upload a valid image".
    original = forms.FileField(label=_("picture"))

    class Meta:
        model = ProductImage
        fields = ["position", "original"]

    def clean_original(self):
        upload = self.cleaned_data.get("original")
        if isinstance(upload, UploadedFile):
            if self.instance.pk:
                raise forms.ValidationError(
                    _("A picture cannot be replaced: delete it and upload a new one.")
                )
            try:
                images.validate(images._read(upload))
            except InvalidImage as exc:
                raise forms.ValidationError(exc.message) from exc
            upload.seek(0)
        return upload


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageInlineForm
    extra = 1
    fields = ["preview", "share_preview", "position", "original", "size"]
    readonly_fields = ["preview", "share_preview", "size"]

    @admin.display(description=_("thumbnail"))
    def preview(self, image: ProductImage) -> str:
        return _thumb(image.thumb, 80)

    @admin.display(description=_("share cover 5:4"))
    def share_preview(self, image: ProductImage) -> str:
        return _thumb(image.share_cover, 100)

    @admin.display(description=_("dimensions"))
    def size(self, image: ProductImage) -> str:
        return f"{image.width}×{image.height} {image.format}" if image.pk else "-"


@admin.register(Sku)
class SkuAdmin(BrandScopedAdminMixin, YuanAdminMixin, admin.ModelAdmin):
    """SKUs are edited on their product's page; this admin answers the autocompletes that pick one
    (a campaign's SKU), by product title or spec, within the user's brands. Not on the index."""

    brand_path = "product__brand"
    brand_fields = ()
    search_fields = ["product__title", "spec"]
    list_display = ["id", "product", "spec", "price_fen", "stock", "is_active"]
    list_select_related = ["product"]
    ordering = ["product__title", "price_fen", "id"]

    def has_module_permission(self, request) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


@admin.register(Product)
class ProductAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "cover", "title", "brand", "category", "price", "stock", "sales", "is_active"]
    list_display_links = ["id", "title"]
    # RelatedOnly: the brand filter lists the brands of the rows the user may see, no other names.
    list_filter = [
        "is_active",
        ("brand", admin.RelatedOnlyFieldListFilter),
        ("category", TreeRelatedFieldListFilter),
    ]
    search_fields = ["title", "brand__name"]
    list_select_related = ["brand", "category"]
    inlines = [SkuInline, ProductImageInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(min_price_fen=Min("skus__price_fen"), total_stock=Sum("skus__stock"))
            .prefetch_related("images")
        )

    @admin.display(description=_("cover"))
    def cover(self, product: Product) -> str:
        first = next(iter(sorted(product.images.all(), key=lambda i: (i.position, i.id))), None)
        return _thumb(first.thumb if first else None)

    @admin.display(description=_("price from"), ordering="min_price_fen")
    def price(self, product: Product) -> str:
        return yuan_text(product.min_price_fen)

    @admin.display(description=_("stock"), ordering="total_stock")
    def stock(self, product: Product) -> int:
        return product.total_stock or 0

    def save_formset(self, request, form, formset, change):
        if formset.model is not ProductImage:
            return super().save_formset(request, form, formset, change)
        # New pictures go through the upload service (variants, share cover); existing ones may
        # only move; deleted ones take their files with them. The admin's history reads the lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for image_form in formset.forms:
            image = image_form.instance
            if image_form in formset.deleted_forms:
                if image.pk:
                    formset.deleted_objects.append(image)
                    services.product_image_delete(image=image)
                continue
            if not image_form.has_changed():
                continue
            if image.pk is None:
                upload = image_form.cleaned_data.get("original")
                if upload:
                    formset.new_objects.append(
                        services.product_image_add(
                            product=form.instance,
                            upload=upload,
                            position=image_form.cleaned_data.get("position") or 0,
                        )
                    )
            elif "position" in image_form.changed_data:
                ProductImage.objects.filter(pk=image.pk).update(position=image_form.cleaned_data["position"])
                formset.changed_objects.append((image, ["position"]))
        return None


class OrderItemInline(YuanAdminMixin, BrandScopedInlineMixin, ReadOnlyInline):
    model = OrderItem
    fields = ["title", "spec", "price_fen", "quantity", "line_fen", "price_source", "sku"]
    readonly_fields = fields


class PaymentInline(YuanAdminMixin, ReadOnlyInline):
    model = Payment
    fields = ["transaction_id", "amount_fen", "outcome", "success_time", "created_at"]
    readonly_fields = fields


class RefundInline(YuanAdminMixin, ReadOnlyInline):
    model = Refund
    fields = ["out_refund_no", "amount_fen", "status", "kind", "reason", "created_at", "refunded_at"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        # A mixed order's refunds move other brands' money too: not a brand operator's to see.
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        if brands is None:
            return queryset
        foreign = OrderItem.objects.filter(order_id=OuterRef("order_id")).exclude(brand_id__in=brands)
        return queryset.exclude(Exists(foreign))


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ["carrier", "express_company", "tracking_no", "brand", "shipped_by", "shipped_at", "lines"]
    readonly_fields = fields

    @admin.display(description=_("brand"))
    def brand(self, shipment: Shipment) -> str:
        if shipment.brand_id is None:
            return "—"
        return Brand.objects.filter(pk=shipment.brand_id).values_list("name", flat=True).first() or "—"

    @admin.display(description=_("products"))
    def lines(self, shipment: Shipment) -> str:
        return "; ".join(
            f"{i.order_item.title} {i.order_item.spec} ×{i.quantity}"
            for i in shipment.items.select_related("order_item")
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        if brands is None:
            return queryset
        return queryset.filter(items__order_item__brand_id__in=brands).distinct()


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=32, label=_("carrier"))


def _yuan_or_blank(fen) -> str:
    return yuan_text(fen)


def _order_items(order: Order) -> str:
    return "; ".join(f"{i.title} {i.spec} ×{i.quantity}" for i in order.items.all())


def _order_address(order: Order) -> str:
    a = order.address or {}
    return " ".join(str(a.get(k, "")) for k in ("province", "city", "district", "detail")).strip()


def _admin_link(url_name: str, pk, text) -> str:
    try:
        return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)
    except NoReverseMatch:
        return str(text)


class BrandFilter(admin.SimpleListFilter):
    """Orders holding an item of a brand (the brands this user may see)."""

    title = _("brand")
    parameter_name = "brand"

    def lookups(self, request, model_admin):
        brands = brand_scope(request.user)
        queryset = Brand.objects.all() if brands is None else Brand.objects.filter(pk__in=brands)
        return [(str(pk), name) for pk, name in queryset.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(pk__in=order_ids_of([int(self.value())]))
        return queryset


class KocFilter(InputFilter):
    """Orders attributed to a KOC, typed by name, phone or invite code (a list of KOCs would be
    thousands long)."""

    title = _("attributed KOC")
    parameter_name = "koc"

    def queryset(self, request, queryset):
        term = (self.value() or "").strip()
        if not term:
            return queryset
        ids = admin_names.search("koc", term)
        return queryset.filter(attributed_koc_id__in=ids) if ids is not None else queryset.none()


# JSON snapshots and bare ids read as text and links on the order's page.
ORDER_READABLE = {
    "address": "address_text",
    "attribution": "attribution_text",
    "group_id": "group_id_link",
    "share_link_id": "share_link",
}
ATTRIBUTION_SOURCES = {"share_code": _("share code"), "binding": _("customer binding")}


@admin.register(Order)
class OrderAdmin(
    HistoryTimelineMixin,
    ReadOnlyPageMixin,
    NamedColumnsMixin,
    YuanAdminMixin,
    BrandScopedAdminMixin,
    ExportMixin,
    admin.ModelAdmin,
):
    export_filename = "orders"
    export_columns = [
        (_("order number"), "no"),
        (_("status"), "get_status_display"),
        (_("order type"), "get_kind_display"),
        (_("buyer"), lambda o: o.buyer.nickname or o.buyer.username),
        # A brand operator's amounts: its own lines; a mixed order's paid and refunded are blank.
        (_("total (yuan)"), lambda o: money(o.scoped_total_fen)),
        (_("paid (yuan)"), lambda o: money(o.scoped_paid_fen)),
        (_("refunded (yuan)"), lambda o: money(o.scoped_refunded_fen)),
        (_("products"), _order_items),
        (_("receiver"), lambda o: (o.address or {}).get("name", "")),
        (_("receiver phone"), "receiver_phone"),
        (_("delivery address"), _order_address),
        (_("attributed KOC id"), "attributed_koc_id"),
        (_("ordered at"), "created_at"),
        (_("paid at"), "paid_at"),
        (_("shipped at"), "shipped_at"),
        (_("carrier"), "carrier"),
        (_("tracking number"), "tracking_no"),
    ]
    list_display = [
        "no",
        "buyer_id",
        "status",
        "kind",
        "total",
        "paid",
        "refunded",
        "receiver_phone_masked",
        "attributed_koc_id",
        "shipping_hold",
        "created_at",
        "paid_at",
        "shipped_at",
    ]
    named_fields = {"buyer_id": "user", "attributed_koc_id": "koc"}
    list_filter = [
        "status",
        "kind",
        BrandFilter,
        KocFilter,
        "shipping_hold",
        ("created_at", admin.DateFieldListFilter),
    ]
    date_hierarchy = "created_at"
    # Order number, the receiver's name and phone, the buyer's nickname and phone; the KOC's name
    # and phone through named_fields.
    search_fields = ["=no", "receiver_phone", "address__name", "buyer__nickname", "buyer__phone"]
    list_select_related = ["buyer"]
    inlines = [OrderItemInline, ShipmentInline, PaymentInline, RefundInline]
    actions = ["ship_orders"]
    readonly_fields = [
        ORDER_READABLE.get(f.name, f.name) for f in Order._meta.fields if f.name not in ("id", "prepay_id")
    ]

    def scope_queryset(self, queryset, brands):
        return queryset.filter(pk__in=order_ids_of(brands))

    def get_queryset(self, request):
        """Each order's amounts as this user may see them (scoped_*), for the list, page and exports."""
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        if brands is None:
            return queryset.annotate(
                scoped_total_fen=F("total_fen"),
                scoped_paid_fen=F("paid_fen"),
                scoped_refunded_fen=F("refunded_fen"),
            )
        own = (
            OrderItem.objects.filter(order_id=OuterRef("pk"), brand_id__in=brands)
            .order_by()
            .values("order_id")
            .annotate(total=Sum("line_fen"))
            .values("total")
        )
        foreign = Exists(OrderItem.objects.filter(order_id=OuterRef("pk")).exclude(brand_id__in=brands))
        hidden = Value(None, output_field=BigIntegerField())
        return queryset.annotate(
            scoped_total_fen=Subquery(own, output_field=BigIntegerField()),
            scoped_paid_fen=Case(When(foreign, then=hidden), default=F("paid_fen")),
            scoped_refunded_fen=Case(When(foreign, then=hidden), default=F("refunded_fen")),
        )

    def get_readonly_fields(self, request, obj=None):
        if brand_scope(request.user) is None:
            return self.readonly_fields
        money = {"total_fen", "paid_fen", "refunded_fen"}
        return [f for f in self.readonly_fields if f not in money] + ["total", "paid", "refunded"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    @admin.display(description=_("delivery address"))
    def address_text(self, order: Order) -> str:
        a = order.address or {}
        if not a:
            return "—"
        who = " ".join(str(a.get(k) or "") for k in ("name", "phone")).strip()
        return format_html("{}<br>{}", who, _order_address(order))

    @admin.display(description=_("attribution"))
    def attribution_text(self, order: Order) -> str:
        a = order.attribution or {}
        if not a or not a.get("koc_id"):
            return gettext_now("No KOC: a direct sale")
        koc = admin_names.named_html(admin_names.resolve("koc", [a["koc_id"]]).get(a["koc_id"]), a["koc_id"])
        source = ATTRIBUTION_SOURCES.get(a.get("source"), a.get("source") or "—")
        lines = [(gettext_now("KOC"), koc), (gettext_now("source"), source)]
        if a.get("share_code"):
            link = a.get("share_link_id")
            code = (
                _admin_link("admin:sharing_sharelink_change", link, a["share_code"])
                if link
                else a["share_code"]
            )
            lines.append((gettext_now("share code"), code))
        if a.get("why"):
            lines.append((gettext_now("why"), a["why"]))
        if a.get("self_purchase"):
            lines.append((gettext_now("self purchase"), gettext_now("yes")))
        return format_html_join(mark_safe("<br>"), "{}: {}", lines)

    @admin.display(description=_("group"))
    def group_id_link(self, order: Order) -> str:
        return (
            _admin_link("admin:groupbuys_group_change", order.group_id, order.group_id)
            if order.group_id
            else "—"
        )

    @admin.display(description=_("share link"))
    def share_link(self, order: Order) -> str:
        if not order.share_link_id:
            return "—"
        code = (order.attribution or {}).get("share_code") or f"#{order.share_link_id}"
        return _admin_link("admin:sharing_sharelink_change", order.share_link_id, code)

    @admin.display(description=_("receiver phone"))
    def receiver_phone_masked(self, order: Order) -> str:
        # The list is for finding orders; the full number is on the order's page and in the export.
        return mask_phone(order.receiver_phone)

    def history_timeline(self, order: Order) -> list[TimelineEntry]:
        """The order's life from its own rows: placed, paid, each parcel shipped (whoever shipped it:
        the admin, the CSV upload or the ops API), completed, each refund."""
        entries = [TimelineEntry(order.created_at, None, gettext_now("Order placed"))]
        if order.paid_at:
            entries.append(
                TimelineEntry(
                    order.paid_at,
                    None,
                    gettext_now("Paid %(amount)s")
                    % {"amount": yuan_text(getattr(order, "scoped_paid_fen", order.paid_fen))},
                )
            )
        for shipment in order.shipments.select_related("shipped_by").prefetch_related("items__order_item"):
            lines = "; ".join(f"{i.order_item.title} ×{i.quantity}" for i in shipment.items.all())
            entries.append(
                TimelineEntry(
                    shipment.shipped_at,
                    shipment.shipped_by,
                    gettext_now("Shipped: %(carrier)s %(tracking)s (%(lines)s)")
                    % {"carrier": shipment.carrier, "tracking": shipment.tracking_no, "lines": lines},
                )
            )
        if order.completed_at:
            entries.append(TimelineEntry(order.completed_at, None, gettext_now("Completed")))
        if order.cancelled_at:
            entries.append(TimelineEntry(order.cancelled_at, None, gettext_now("Cancelled")))
        for refund in order.refunds.all():
            if getattr(order, "scoped_paid_fen", 0) is None:
                refund.scoped_amount_fen = None  # a mixed order's money is not a brand operator's to see
            entries.extend(_refund_timeline(refund))
        return entries

    def export_queryset(self, request):
        # The items column: one prefetch per chunk, and only the user's brands' lines.
        items = OrderItem.objects.order_by("id")
        brands = brand_scope(request.user)
        if brands is not None:
            items = items.filter(brand_id__in=brands)
        return super().export_queryset(request).prefetch_related(Prefetch("items", queryset=items))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_ship_permission(self, request) -> bool:
        return operator_scope.can_ship(request.user)

    @admin.display(description=_("total"), ordering="scoped_total_fen")
    def total(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_total_fen)

    @admin.display(description=_("paid"), ordering="scoped_paid_fen")
    def paid(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_paid_fen)

    @admin.display(description=_("refunded"), ordering="scoped_refunded_fen")
    def refunded(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_refunded_fen)

    @admin.action(description=_("Ship (enter tracking numbers)"), permissions=["ship"])
    def ship_orders(self, request, queryset):
        orders = list(queryset.filter(status=Order.Status.PAID).order_by("id"))
        if "apply" in request.POST:
            form = ShipForm(request.POST)
            if form.is_valid():
                shipped, failed = 0, []
                for order in orders:
                    tracking_no = request.POST.get(f"tracking_{order.pk}", "").strip()
                    if not tracking_no:
                        failed.append(gettext_now("%(no)s: tracking number missing") % {"no": order.no})
                        continue
                    try:
                        services.order_ship(
                            order=order,
                            carrier=form.cleaned_data["carrier"],
                            tracking_no=tracking_no,
                            brand_ids=brand_scope(request.user),
                            user=request.user,
                        )
                    except ApplicationError as exc:
                        failed.append(f"{order.no}: {exc.message}")
                    else:
                        audit.record(
                            actor=request.user,
                            obj=order,
                            message=gettext_now("Shipped (admin): %(carrier)s %(tracking)s")
                            % {"carrier": form.cleaned_data["carrier"], "tracking": tracking_no},
                        )
                        shipped += 1
                self.message_user(
                    request,
                    ngettext("Shipped %(count)d order", "Shipped %(count)d orders", shipped)
                    % {"count": shipped},
                    messages.SUCCESS,
                )
                for line in failed:
                    self.message_user(request, line, messages.WARNING)
                return None
        else:
            form = ShipForm()
        if not orders:
            self.message_user(
                request, _("None of the selected orders is paid and waiting to ship."), messages.WARNING
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Ship orders"),
            "orders": orders,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/shop/order/ship_orders.html", context)


def _refund_touches_other_brands(brands: list[int]):
    """A refund moves money of lines outside `brands`: its returned lines' brands when it names
    lines, else its order's (operator_scope.refund_brand_ids, as a query)."""
    lines = RefundItem.objects.filter(refund_id=OuterRef("pk"))
    foreign_lines = lines.exclude(order_item__brand_id__in=brands)
    foreign_order_lines = OrderItem.objects.filter(order_id=OuterRef("order_id")).exclude(brand_id__in=brands)
    return (Exists(lines) & Exists(foreign_lines)) | (~Exists(lines) & Exists(foreign_order_lines))


def _refund_timeline(refund: Refund) -> list[TimelineEntry]:
    # A brand operator does not see the amount of a refund that moves another brand's money.
    amount = yuan_text(getattr(refund, "scoped_amount_fen", refund.amount_fen))
    entries = [
        TimelineEntry(
            refund.created_at,
            refund.requested_by,
            gettext_now("Refund %(no)s of %(amount)s requested: %(reason)s")
            % {"no": refund.out_refund_no, "amount": amount, "reason": refund.reason or "—"},
        )
    ]
    if refund.approved_at:
        entries.append(
            TimelineEntry(
                refund.approved_at, None, gettext_now("Refund %(no)s approved") % {"no": refund.out_refund_no}
            )
        )
    if refund.submitted_at:
        entries.append(
            TimelineEntry(
                refund.submitted_at,
                None,
                gettext_now("Refund %(no)s sent to WeChat Pay") % {"no": refund.out_refund_no},
            )
        )
    if refund.refunded_at:
        entries.append(
            TimelineEntry(
                refund.refunded_at,
                None,
                gettext_now("Refund %(no)s of %(amount)s returned to the buyer")
                % {"no": refund.out_refund_no, "amount": amount},
            )
        )
    if refund.status == Refund.Status.FAILED:
        entries.append(
            TimelineEntry(
                refund.updated_at,
                None,
                gettext_now("Refund %(no)s failed: %(error)s")
                % {"no": refund.out_refund_no, "error": refund.last_error or refund.wechat_status or "—"},
            )
        )
    return entries


@admin.register(Refund)
class RefundAdmin(
    HistoryTimelineMixin, ReadOnlyPageMixin, YuanAdminMixin, BrandScopedAdminMixin, admin.ModelAdmin
):
    """A brand operator sees the refunds of orders holding its lines, but the money only of those
    wholly inside its brand: a refund of a mixed order as a whole, or of several brands' lines,
    shows no amount to it (as the order admin hides a mixed order's totals); its returned lines
    list only its own."""

    list_display = [
        "id",
        "out_refund_no",
        "order",
        "amount",
        "status",
        "wechat_status",
        "kind",
        "reason",
        "created_at",
        "refunded_at",
    ]
    # Finance filters by WeChat's state: ABNORMAL (the buyer's account could not take the money;
    # handled in WeChat's merchant console) and NOT_ENOUGH / UNKNOWN (being retried or asked).
    list_filter = ["status", "wechat_status", "kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["out_refund_no", "order__no", "order__receiver_phone", "order__buyer__nickname"]
    list_select_related = ["order"]
    actions = ["approve_refunds", "reject_refunds", "retry_refunds"]
    readonly_fields = [f.name for f in Refund._meta.fields] + ["lines"]

    def scope_queryset(self, queryset, brands):
        return queryset.filter(order_id__in=order_ids_of(brands))

    def get_queryset(self, request):
        """Each refund's amount as this user may see it (scoped_amount_fen), and its visible lines."""
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        lines = RefundItem.objects.select_related("order_item").order_by("order_item_id")
        if brands is None:
            return queryset.annotate(scoped_amount_fen=F("amount_fen")).prefetch_related(
                Prefetch("items", queryset=lines, to_attr="visible_items")
            )
        hidden = When(_refund_touches_other_brands(brands), then=Value(None, output_field=BigIntegerField()))
        return queryset.annotate(scoped_amount_fen=Case(hidden, default=F("amount_fen"))).prefetch_related(
            Prefetch("items", queryset=lines.filter(order_item__brand_id__in=brands), to_attr="visible_items")
        )

    def get_readonly_fields(self, request, obj=None):
        if brand_scope(request.user) is None:
            return self.readonly_fields
        return ["amount" if f == "amount_fen" else f for f in self.readonly_fields]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def history_timeline(self, refund: Refund) -> list[TimelineEntry]:
        return _refund_timeline(refund)

    @admin.display(description=_("amount"), ordering="scoped_amount_fen")
    def amount(self, refund: Refund) -> str:
        return _yuan_or_blank(getattr(refund, "scoped_amount_fen", None))

    @admin.display(description=_("returned lines"))
    def lines(self, refund: Refund) -> str:
        items = getattr(refund, "visible_items", [])
        return (
            "; ".join(
                f"{i.order_item.title} {i.order_item.spec} ×{i.quantity} {yuan_text(i.amount_fen)}"
                for i in items
            )
            or "-"
        )

    def _decide(self, request, queryset, service, verb: str) -> None:
        done, failed = 0, []
        for refund in queryset.order_by("id"):
            if not operator_scope.refund_wholly_in_scope(request.user, refund):
                failed.append(
                    gettext_now("%(no)s: the refund covers other brands' products; the platform decides it")
                    % {"no": refund.out_refund_no}
                )
                continue
            try:
                decided = service(refund=refund, note=f"{verb} by {request.user}")
                if decided.status != refund.status:  # a repeated decision changes nothing: no entry
                    audit.record(
                        actor=request.user,
                        obj=decided,
                        message=gettext_now("%(verb)s (admin): %(before)s → %(after)s")
                        % {
                            "verb": verb,
                            "before": Refund.Status(refund.status).label,
                            "after": Refund.Status(decided.status).label,
                        },
                    )
                done += 1
            except ApplicationError as exc:
                failed.append(f"{refund.out_refund_no}: {exc.message}")
        self.message_user(
            request,
            ngettext("%(verb)s: %(count)d refund", "%(verb)s: %(count)d refunds", done)
            % {"verb": verb, "count": done},
            messages.SUCCESS,
        )
        for line in failed:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description=_("Approve refunds (send to WeChat Pay)"), permissions=["change"])
    def approve_refunds(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="approve_refunds", confirmation=_refund_confirmation(queryset)
            )
        self._decide(request, queryset, services.refund_approve, gettext_now("Refund approved"))
        return None

    @admin.action(description=_("Reject refunds"), permissions=["change"])
    def reject_refunds(self, request, queryset):
        self._decide(request, queryset, services.refund_reject, gettext_now("Refund rejected"))

    @admin.action(description=_("Retry failed refunds (same refund number)"), permissions=["change"])
    def retry_refunds(self, request, queryset):
        self._decide(request, queryset, services.refund_retry, gettext_now("Refund retried"))


def _refund_confirmation(queryset) -> Confirmation:
    """What approving these refunds does: the money that leaves, per refund and in total.

    A refund whose amount this user may not see (scoped_amount_fen None: it moves another brand's
    money) shows none, counts in no total and is not submitted (RefundAdmin._decide refuses it)."""
    refunds = list(queryset.select_related("order").order_by("id"))
    visible = [r for r in refunds if getattr(r, "scoped_amount_fen", r.amount_fen) is not None]
    waiting = [r for r in visible if r.status == Refund.Status.REQUESTED]
    total = sum(r.amount_fen for r in waiting)
    values = {"count": len(waiting), "total": yuan_grouped(total)}
    effects = [
        ngettext(
            "%(count)d refund of ¥%(total)s in all will be sent to WeChat Pay, back to the buyer's account",
            "%(count)d refunds of ¥%(total)s in all will be sent to WeChat Pay, back to the buyers' accounts",
            len(waiting),
        )
        % values
    ]
    warnings = []
    if len(refunds) > len(visible):
        others = len(refunds) - len(visible)
        warnings.append(
            ngettext(
                "%(count)d more covers other brands' products: the platform decides it; it will not be sent",
                "%(count)d more cover other brands' products: the platform decides them; they will not be "
                "sent",
                others,
            )
            % {"count": others}
        )
    not_waiting = len(visible) - len(waiting)
    if not_waiting:
        warnings.append(
            ngettext(
                "%(count)d more is not awaiting review and will not be sent",
                "%(count)d more are not awaiting review and will not be sent",
                not_waiting,
            )
            % {"count": not_waiting}
        )

    def amount(refund: Refund) -> str:
        return "—" if refund not in visible else yuan_grouped(refund.amount_fen)

    return Confirmation(
        title=gettext_now("Confirm refund approval"),
        button=gettext_now("Refund %(count)d, ¥%(total)s in all") % values,
        effects=effects,
        warnings=warnings,
        headers=[
            gettext_now("refund number"),
            gettext_now("order number"),
            gettext_now("amount (yuan)"),
            gettext_now("status"),
            gettext_now("reason"),
        ],
        rows=[[r.out_refund_no, r.order.no, amount(r), r.get_status_display(), r.reason] for r in refunds],
    )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyPageMixin, YuanAdminMixin, BrandScopedAdminMixin, admin.ModelAdmin):
    list_display = ["transaction_id", "order", "amount_fen", "outcome", "success_time", "created_at"]
    list_filter = ["outcome"]
    search_fields = ["transaction_id", "order__no"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in Payment._meta.fields if f.name != "raw"]

    def get_readonly_fields(self, request, obj=None):
        # WeChat's notification as received: for the platform's engineers, not an operator's page.
        return [*self.readonly_fields, "raw"] if request.user.is_superuser else self.readonly_fields

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    def scope_queryset(self, queryset, brands):
        return queryset.filter(order_id__in=order_ids_of(brands))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ShippingUpload)
class ShippingUploadAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    """What WeChat was told about each order's parcels; a refused upload waits here for a retry."""

    list_display = ["order", "status", "uploads", "attempts", "last_errcode", "last_error", "uploaded_at"]
    list_filter = ["status"]
    search_fields = ["order__no", "order__transaction_id"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in ShippingUpload._meta.fields]
    actions = ["retry_uploads"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Upload the shipping information to WeChat again"), permissions=["change"])
    def retry_uploads(self, request, queryset):
        done, failed = 0, []
        for upload in queryset.order_by("id"):
            try:
                services.shipping_upload_retry(upload=upload)
                audit.record(
                    actor=request.user,
                    obj=upload.order,
                    message=gettext_now("Shipping information re-uploaded to WeChat"),
                )
                done += 1
            except ApplicationError as exc:
                failed.append(f"{upload.order}: {exc.message}")
        self.message_user(
            request,
            ngettext("Re-sent %(count)d order", "Re-sent %(count)d orders", done) % {"count": done},
            messages.SUCCESS,
        )
        for line in failed:
            self.message_user(request, line, messages.WARNING)


@admin.register(TradeEvent)
class TradeEventAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    """WeChat's trade-management messages; reminders wait for someone to look (the work queue)."""

    list_display = [
        "received_at",
        "event",
        "transaction_id",
        "order",
        "outcome",
        "needs_attention",
        "resolved_at",
    ]
    list_filter = ["event", "needs_attention", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["transaction_id", "order__no"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in TradeEvent._meta.fields]
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark as handled"), permissions=["change"])
    def resolve(self, request, queryset):
        for event in queryset.filter(resolved_at__isnull=True):
            services.trade_event_resolve(event=event, user=request.user)
        self.message_user(request, _("Marked as handled"), messages.SUCCESS)
