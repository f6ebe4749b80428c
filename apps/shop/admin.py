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
from django.utils.html import format_html
from mptt.admin import MPTTModelAdmin, TreeRelatedFieldListFilter

from apps.core import audit
from apps.core.confirm import Confirmation, confirmation_page, is_confirmed
from apps.core.errors import ApplicationError
from apps.core.exports import ExportMixin, money
from apps.core.masking import mask_phone
from apps.core.money import yuan, yuan_grouped

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

    @admin.display(description="Logo")
    def logo_preview(self, brand: Brand) -> str:
        return _thumb(brand.logo, 40)


@admin.register(BrandOperator)
class BrandOperatorAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Which staff user works for which brand; add the user to the 品牌运营 group as well."""

    list_display = ["user", "brand", "created_at"]
    list_filter = [("brand", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "brand"]
    search_fields = ["user__username", "brand__name"]
    raw_id_fields = ["user"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            from apps.accounts.models import User

            kwargs["queryset"] = User.objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Category)
class CategoryAdmin(MPTTModelAdmin):
    list_display = ["name", "sort_order", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


class SkuInline(admin.TabularInline):
    model = Sku
    extra = 0
    fields = ["spec", "price_fen", "stock", "is_active"]


class ProductImageInlineForm(forms.ModelForm):
    # A plain file field: the upload service's validation (content, format, pixels) gives the error,
    # not Django's generic "upload a valid image".
    original = forms.FileField(label="图片")

    class Meta:
        model = ProductImage
        fields = ["position", "original"]

    def clean_original(self):
        upload = self.cleaned_data.get("original")
        if isinstance(upload, UploadedFile):
            if self.instance.pk:
                raise forms.ValidationError("图片不能替换：请删除后重新上传")
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

    @admin.display(description="缩略图")
    def preview(self, image: ProductImage) -> str:
        return _thumb(image.thumb, 80)

    @admin.display(description="分享封面 5:4")
    def share_preview(self, image: ProductImage) -> str:
        return _thumb(image.share_cover, 100)

    @admin.display(description="尺寸")
    def size(self, image: ProductImage) -> str:
        return f"{image.width}×{image.height} {image.format}" if image.pk else "-"


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

    @admin.display(description="封面")
    def cover(self, product: Product) -> str:
        first = next(iter(sorted(product.images.all(), key=lambda i: (i.position, i.id))), None)
        return _thumb(first.thumb if first else None)

    @admin.display(description="价格（元起）", ordering="min_price_fen")
    def price(self, product: Product) -> str:
        return yuan(product.min_price_fen) if product.min_price_fen is not None else "-"

    @admin.display(description="库存", ordering="total_stock")
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


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderItemInline(BrandScopedInlineMixin, _ReadOnlyInline):
    model = OrderItem
    fields = ["title", "spec", "price_fen", "quantity", "line_fen", "price_source", "sku"]
    readonly_fields = fields


class PaymentInline(_ReadOnlyInline):
    model = Payment
    fields = ["transaction_id", "amount_fen", "outcome", "success_time", "created_at"]
    readonly_fields = fields


class RefundInline(_ReadOnlyInline):
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


class ShipmentInline(_ReadOnlyInline):
    model = Shipment
    fields = ["carrier", "express_company", "tracking_no", "brand_id", "shipped_by", "shipped_at", "lines"]
    readonly_fields = fields

    @admin.display(description="商品")
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
    carrier = forms.CharField(max_length=32, label="快递公司")


def _yuan_or_blank(fen) -> str:
    return "—" if fen is None else yuan(fen)


def _order_items(order: Order) -> str:
    return "; ".join(f"{i.title} {i.spec} ×{i.quantity}" for i in order.items.all())


def _order_address(order: Order) -> str:
    a = order.address or {}
    return " ".join(str(a.get(k, "")) for k in ("province", "city", "district", "detail")).strip()


@admin.register(Order)
class OrderAdmin(BrandScopedAdminMixin, ExportMixin, admin.ModelAdmin):
    export_filename = "orders"
    export_columns = [
        ("订单号", "no"),
        ("状态", "get_status_display"),
        ("类型", "kind"),
        ("买家 ID", "buyer_id"),
        # A brand operator's amounts: its own lines; a mixed order's paid and refunded are blank.
        ("金额（元）", lambda o: money(o.scoped_total_fen)),
        ("已付（元）", lambda o: money(o.scoped_paid_fen)),
        ("已退（元）", lambda o: money(o.scoped_refunded_fen)),
        ("商品", _order_items),
        ("收货人", lambda o: (o.address or {}).get("name", "")),
        ("收货电话", "receiver_phone"),
        ("收货地址", _order_address),
        ("归因 KOC ID", "attributed_koc_id"),
        ("下单时间", "created_at"),
        ("支付时间", "paid_at"),
        ("发货时间", "shipped_at"),
        ("快递公司", "carrier"),
        ("快递单号", "tracking_no"),
    ]
    list_display = [
        "no",
        "buyer",
        "status",
        "kind",
        "total",
        "paid",
        "refunded",
        "receiver_phone_masked",
        "shipping_hold",
        "created_at",
        "paid_at",
        "shipped_at",
    ]
    list_filter = ["status", "kind", "shipping_hold", ("created_at", admin.DateFieldListFilter)]
    date_hierarchy = "created_at"
    search_fields = ["no", "receiver_phone", "buyer__phone"]
    list_select_related = ["buyer"]
    inlines = [OrderItemInline, ShipmentInline, PaymentInline, RefundInline]
    actions = ["ship_orders"]
    readonly_fields = [f.name for f in Order._meta.fields]

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

    @admin.display(description="收货电话")
    def receiver_phone_masked(self, order: Order) -> str:
        # The list is for finding orders; the full number is on the order's page and in the export.
        return mask_phone(order.receiver_phone)

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

    @admin.display(description="金额", ordering="scoped_total_fen")
    def total(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_total_fen)

    @admin.display(description="已付", ordering="scoped_paid_fen")
    def paid(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_paid_fen)

    @admin.display(description="已退", ordering="scoped_refunded_fen")
    def refunded(self, order: Order) -> str:
        return _yuan_or_blank(order.scoped_refunded_fen)

    @admin.action(description="发货（填写快递单号）", permissions=["ship"])
    def ship_orders(self, request, queryset):
        orders = list(queryset.filter(status=Order.Status.PAID).order_by("id"))
        if "apply" in request.POST:
            form = ShipForm(request.POST)
            if form.is_valid():
                shipped, failed = 0, []
                for order in orders:
                    tracking_no = request.POST.get(f"tracking_{order.pk}", "").strip()
                    if not tracking_no:
                        failed.append(f"{order.no}: 缺少快递单号")
                        continue
                    try:
                        services.order_ship(
                            order=order,
                            carrier=form.cleaned_data["carrier"],
                            tracking_no=tracking_no,
                            brand_ids=brand_scope(request.user),
                            user=request.user,
                        )
                        shipped += 1
                    except ApplicationError as exc:
                        failed.append(f"{order.no}: {exc.message}")
                self.message_user(request, f"已发货 {shipped} 单", messages.SUCCESS)
                for line in failed:
                    self.message_user(request, line, messages.WARNING)
                return None
        else:
            form = ShipForm()
        if not orders:
            self.message_user(request, "所选订单中没有待发货（已支付）的订单", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "批量发货",
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


@admin.register(Refund)
class RefundAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
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
    search_fields = ["out_refund_no", "order__no", "order__receiver_phone"]
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

    @admin.display(description="金额", ordering="scoped_amount_fen")
    def amount(self, refund: Refund) -> str:
        return _yuan_or_blank(getattr(refund, "scoped_amount_fen", None))

    @admin.display(description="退货明细")
    def lines(self, refund: Refund) -> str:
        items = getattr(refund, "visible_items", [])
        return (
            "; ".join(
                f"{i.order_item.title} {i.order_item.spec} ×{i.quantity} ¥{yuan(i.amount_fen)}" for i in items
            )
            or "-"
        )

    def _decide(self, request, queryset, service, verb: str) -> None:
        done, failed = 0, []
        for refund in queryset.order_by("id"):
            if not operator_scope.refund_wholly_in_scope(request.user, refund):
                failed.append(f"{refund.out_refund_no}: 退款涉及其他品牌的商品，须由平台处理")
                continue
            try:
                decided = service(refund=refund, note=f"{verb} by {request.user}")
                if decided.status != refund.status:  # a repeated decision changes nothing: no entry
                    audit.record(
                        actor=request.user,
                        obj=decided,
                        message=f"{verb}退款（后台）: {refund.status} → {decided.status}",
                    )
                done += 1
            except ApplicationError as exc:
                failed.append(f"{refund.out_refund_no}: {exc.message}")
        self.message_user(request, f"{verb} {done} 笔退款", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="同意退款（提交微信支付）", permissions=["change"])
    def approve_refunds(self, request, queryset):
        if not is_confirmed(request):
            return confirmation_page(
                self, request, queryset, action="approve_refunds", confirmation=_refund_confirmation(queryset)
            )
        self._decide(request, queryset, services.refund_approve, "已同意")
        return None

    @admin.action(description="拒绝退款", permissions=["change"])
    def reject_refunds(self, request, queryset):
        self._decide(request, queryset, services.refund_reject, "已拒绝")

    @admin.action(description="重试失败的退款（原退款单号）", permissions=["change"])
    def retry_refunds(self, request, queryset):
        self._decide(request, queryset, services.refund_retry, "重试")


def _refund_confirmation(queryset) -> Confirmation:
    """What approving these refunds does: the money that leaves, per refund and in total.

    A refund whose amount this user may not see (scoped_amount_fen None: it moves another brand's
    money) shows none, counts in no total and is not submitted (RefundAdmin._decide refuses it)."""
    refunds = list(queryset.select_related("order").order_by("id"))
    visible = [r for r in refunds if getattr(r, "scoped_amount_fen", r.amount_fen) is not None]
    waiting = [r for r in visible if r.status == Refund.Status.REQUESTED]
    total = sum(r.amount_fen for r in waiting)
    effects = [f"将向微信支付提交 {len(waiting)} 笔退款，合计 ¥{yuan_grouped(total)}，原路退回买家"]
    warnings = []
    if len(refunds) > len(visible):
        warnings.append(f"另有 {len(refunds) - len(visible)} 笔涉及其他品牌的商品，须由平台处理，不会提交")
    not_waiting = len(visible) - len(waiting)
    if not_waiting:
        warnings.append(f"另有 {not_waiting} 笔不是“待审核”状态，不会提交")

    def amount(refund: Refund) -> str:
        return "—" if refund not in visible else yuan_grouped(refund.amount_fen)

    return Confirmation(
        title="确认同意退款",
        button=f"确认退款 {len(waiting)} 笔，合计 ¥{yuan_grouped(total)}",
        effects=effects,
        warnings=warnings,
        headers=["退款单号", "订单号", "金额（元）", "状态", "原因"],
        rows=[[r.out_refund_no, r.order.no, amount(r), r.get_status_display(), r.reason] for r in refunds],
    )


@admin.register(Payment)
class PaymentAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    list_display = ["transaction_id", "order", "amount_fen", "outcome", "success_time", "created_at"]
    list_filter = ["outcome"]
    search_fields = ["transaction_id", "order__no"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in Payment._meta.fields]

    def scope_queryset(self, queryset, brands):
        return queryset.filter(order_id__in=order_ids_of(brands))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ShippingUpload)
class ShippingUploadAdmin(admin.ModelAdmin):
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

    @admin.action(description="重新上传发货信息到微信", permissions=["change"])
    def retry_uploads(self, request, queryset):
        done, failed = 0, []
        for upload in queryset.order_by("id"):
            try:
                services.shipping_upload_retry(upload=upload)
                audit.record(actor=request.user, obj=upload.order, message="重新上传微信发货信息")
                done += 1
            except ApplicationError as exc:
                failed.append(f"{upload.order}: {exc.message}")
        self.message_user(request, f"已重新提交 {done} 单", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.WARNING)


@admin.register(TradeEvent)
class TradeEventAdmin(admin.ModelAdmin):
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

    @admin.action(description="标记为已处理", permissions=["change"])
    def resolve(self, request, queryset):
        for event in queryset.filter(resolved_at__isnull=True):
            services.trade_event_resolve(event=event, user=request.user)
        self.message_user(request, "已处理", messages.SUCCESS)
