"""The shop: catalogue (brands, categories, products, SKUs, images), orders, payments and refunds.

Money is integer fen. The database itself refuses negative stock and amounts and a refund total
above the paid total (CHECK constraints), so a bug in a service cannot corrupt the books silently.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from mptt.models import MPTTModel, TreeForeignKey


class Brand(models.Model):
    name = models.CharField(max_length=64, unique=True)
    logo = models.ImageField(upload_to="brands/", blank=True)
    intro = models.TextField(blank=True)
    # The brand's own cap on what any KOC earns on its products (percent of the paid amount); the
    # commission engine enforces it, so no one can outbid it.
    max_commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("30.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="百分比，例如 30.00 表示 30%",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_commission_rate__gte=0) & Q(max_commission_rate__lte=100),
                name="brand_commission_rate_0_100",
            )
        ]
        verbose_name = "品牌"
        verbose_name_plural = "品牌"

    def __str__(self) -> str:
        return self.name


class BrandOperator(models.Model):
    """A staff user who works for one brand (品牌运营): the console shows them that brand's data only.

    One brand per operator keeps every scoping rule a single `brand_id` comparison; a person who
    works for two brands gets two logins, which is also what the brands' own audits want.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_operator"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="operators")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "品牌运营账号"
        verbose_name_plural = "品牌运营账号"

    def __str__(self) -> str:
        return f"{self.user} → {self.brand}"


class Category(MPTTModel):
    name = models.CharField(max_length=64)
    parent = TreeForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class MPTTMeta:
        order_insertion_by = ["sort_order", "name"]

    class Meta:
        verbose_name = "类目"
        verbose_name_plural = "类目"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="products")
    category = TreeForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, db_index=True)
    # Units paid for; moved with F() when an order is paid.
    sales = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(sales__gte=0), name="product_sales_non_negative")]
        verbose_name = "商品"
        verbose_name_plural = "商品"

    def __str__(self) -> str:
        return self.title


class Sku(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    spec = models.CharField(max_length=64, help_text="规格，例如 250g")
    price_fen = models.IntegerField(validators=[MinValueValidator(0)])
    # Reserved by orders with a conditional UPDATE (stock >= quantity), never read-then-write.
    stock = models.IntegerField(default=0, validators=[MinValueValidator(0)])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product_id", "price_fen", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_non_negative"),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="sku_price_non_negative"),
        ]
        verbose_name = "SKU"
        verbose_name_plural = "SKU"

    def __str__(self) -> str:
        return f"{self.product.title} / {self.spec}" if self.product_id else self.spec


def _image_path(instance: ProductImage, filename: str) -> str:
    return f"products/{instance.product_id or 'new'}/{filename}"


class ProductImage(models.Model):
    """An uploaded picture and the variants made from it at upload time (see images.py)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveIntegerField(default=0)
    original = models.ImageField(upload_to=_image_path)
    thumb = models.ImageField(upload_to=_image_path, blank=True)  # fits 200x200
    display = models.ImageField(upload_to=_image_path, blank=True)  # 750 wide at most
    share_cover = models.ImageField(upload_to=_image_path, blank=True)  # exactly 500x400 (5:4)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product_id", "position", "id"]
        verbose_name = "商品图片"
        verbose_name_plural = "商品图片"

    def __str__(self) -> str:
        return f"{self.product_id}#{self.position}"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "待支付"
        PAID = "paid", "已支付"
        SHIPPED = "shipped", "已发货"
        COMPLETED = "completed", "已完成"
        CANCELLED = "cancelled", "已取消"
        REFUNDED = "refunded", "已退款"

    class Kind(models.TextChoices):
        STANDARD = "standard", "普通"
        GROUP_BUY = "group_buy", "拼团"

    # Date prefix + 12 random digits from `secrets`: unique and not guessable (see services.new_order_no).
    no = models.CharField(max_length=32, unique=True)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT)
    kind = models.CharField(max_length=20, default=Kind.STANDARD)
    group_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    total_fen = models.BigIntegerField()
    paid_fen = models.BigIntegerField(default=0)
    refunded_fen = models.BigIntegerField(default=0)
    address = models.JSONField(default=dict)  # Address.as_snapshot() at creation
    receiver_phone = models.CharField(max_length=20, blank=True, db_index=True)
    pay_deadline = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=32, blank=True)
    # The last parcel's carrier and tracking number (every parcel is a Shipment).
    carrier = models.CharField(max_length=32, blank=True)
    tracking_no = models.CharField(max_length=64, blank=True)
    # When WeChat settled the payment (trade_manage_order_settlement): the money left its freeze.
    settled_at = models.DateTimeField(null=True, blank=True)
    # A group-buy order waits for its group: it cannot ship until order_release_hold().
    shipping_hold = models.BooleanField(default=False)
    # Attribution snapshot (the KOC app's resolver); ids only: the shop never imports that app.
    attributed_koc_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    share_link_id = models.BigIntegerField(null=True, blank=True)
    attribution = models.JSONField(default=dict, blank=True)
    prepay_id = models.CharField(max_length=128, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "pay_deadline"], name="order_status_deadline"),
            models.Index(fields=["status", "shipped_at"], name="order_status_shipped"),
            models.Index(fields=["buyer", "status"], name="order_buyer_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_fen__gte=0), name="order_total_non_negative"),
            models.CheckConstraint(condition=Q(paid_fen__gte=0), name="order_paid_non_negative"),
            models.CheckConstraint(condition=Q(refunded_fen__gte=0), name="order_refunded_non_negative"),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("paid_fen")), name="order_refunded_not_above_paid"
            ),
        ]
        verbose_name = "订单"
        verbose_name_plural = "订单"
        permissions = [("ship_order", "Can ship orders (发货)")]

    def __str__(self) -> str:
        return self.no

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


class OrderItem(models.Model):
    """One line, with the product as it was when ordered (a later edit changes no order)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="order_items")
    product_id = models.BigIntegerField()
    brand_id = models.BigIntegerField()
    category_id = models.BigIntegerField()
    title = models.CharField(max_length=120)
    spec = models.CharField(max_length=64)
    price_fen = models.BigIntegerField()
    quantity = models.IntegerField()
    line_fen = models.BigIntegerField()
    price_source = models.CharField(max_length=32, default="list")
    # Units already in a parcel; moved under the order's row lock by the shipping service.
    shipped_quantity = models.IntegerField(default=0)

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_item_quantity_positive"),
            models.CheckConstraint(
                condition=Q(shipped_quantity__gte=0) & Q(shipped_quantity__lte=F("quantity")),
                name="order_item_shipped_within_quantity",
            ),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="order_item_price_non_negative"),
            models.CheckConstraint(condition=Q(line_fen__gte=0), name="order_item_line_non_negative"),
        ]
        verbose_name = "订单明细"
        verbose_name_plural = "订单明细"

    def __str__(self) -> str:
        return f"{self.title} {self.spec} x{self.quantity}"


class Payment(models.Model):
    """One WeChat Pay transaction that reached us. The unique transaction id makes it count once."""

    class Outcome(models.TextChoices):
        PAID_ORDER = "paid_order", "支付订单"
        REFUNDED_LATE = "refunded_late", "订单已关闭，自动退款"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    transaction_id = models.CharField(max_length=64, unique=True)
    amount_fen = models.BigIntegerField()
    payer_openid = models.CharField(max_length=128, blank=True)
    success_time = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    raw = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="payment_amount_non_negative")
        ]
        verbose_name = "支付记录"
        verbose_name_plural = "支付记录"

    def __str__(self) -> str:
        return self.transaction_id


class Refund(models.Model):
    """A refund of part or all of an order's payment; sent to WeChat once, under its out_refund_no.

    requested -> approved -> submitting -> processing -> succeeded (or failed);
    requested -> rejected; requested -> closed (a failed group refunds the whole order instead).
    `submitting` is committed before WeChat is called, so a second approval or a retried task finds
    it taken; it also holds a refund whose answer could not be trusted (timeout, 5xx, a probe
    signature: `wechat_status` UNKNOWN) until a query says what WeChat did. The notification may
    arrive before or after the call returns, and every move is a conditional UPDATE on the status,
    so the order is credited once. A refund WeChat refused for a retryable reason (NOT_ENOUGH) goes
    back to `approved` with `next_attempt_at` and is sent again under the same out_refund_no.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "待审核"
        APPROVED = "approved", "已同意"
        REJECTED = "rejected", "已拒绝"
        SUBMITTING = "submitting", "提交中"
        PROCESSING = "processing", "退款中"
        SUCCEEDED = "succeeded", "已退款"
        FAILED = "failed", "退款失败"
        CLOSED = "closed", "已关闭"

    IN_FLIGHT = (Status.REQUESTED, Status.APPROVED, Status.SUBMITTING, Status.PROCESSING)
    # What clients see (the API's refund statuses): `submitting` is internal - the refund is on its
    # way to WeChat or its answer is being confirmed - and reads as `processing`.
    API_STATUSES = ("requested", "approved", "processing", "succeeded", "failed", "rejected", "closed")

    class Kind(models.TextChoices):
        AFTER_SALE = "after_sale", "售后"
        LATE_PAYMENT = "late_payment", "关闭后支付"
        SYSTEM = "system", "系统"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    out_refund_no = models.CharField(max_length=64, unique=True)
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AFTER_SALE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    # A caller's key (e.g. "group_failed:<order id>") makes refund_create answer the first refund again.
    idempotency_key = models.CharField(max_length=128, unique=True, null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    wechat_refund_id = models.CharField(max_length=64, blank=True)
    wechat_status = models.CharField(max_length=20, blank=True)
    last_error = models.TextField(blank=True)
    # Submissions to WeChat so far, and when an automatic retry (same out_refund_no) is due.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive")]
        verbose_name = "退款"
        verbose_name_plural = "退款"

    def __str__(self) -> str:
        return self.out_refund_no

    @property
    def api_status(self) -> str:
        return self.Status.PROCESSING if self.status == self.Status.SUBMITTING else self.status


class RefundItem(models.Model):
    """A returned line of a refund: units of one order item and the fen they refund.

    The amount is the line's share of what was paid for those units (services.refunds.line_refund_fen),
    so the commission engine can take back exactly what the returned lines earned.
    """

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="items")
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="refund_items")
    quantity = models.PositiveIntegerField()
    amount_fen = models.BigIntegerField()

    class Meta:
        ordering = ["refund_id", "order_item_id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "order_item"], name="refund_item_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="refund_item_quantity_positive"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="refund_item_amount_non_negative"),
        ]
        verbose_name = "退货明细"
        verbose_name_plural = "退货明细"

    def __str__(self) -> str:
        return f"{self.order_item_id} x{self.quantity}"


class Shipment(models.Model):
    """One parcel of an order (包裹): some of its lines, one carrier and tracking number.

    A brand operator's parcel holds only its brand's lines, so `brand_id` says whose parcel it is
    (null when a platform operator put several brands' lines in one parcel).
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    brand_id = models.BigIntegerField(null=True, blank=True)
    carrier = models.CharField(max_length=32)
    # The carrier's code in WeChat's list (get_delivery_list), which upload_shipping_info needs.
    express_company = models.CharField(max_length=32)
    tracking_no = models.CharField(max_length=64)
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shipped_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order_id", "id"]
        verbose_name = "包裹"
        verbose_name_plural = "包裹"

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}"


class ShipmentItem(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="items")
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="shipment_items")
    sku_id = models.BigIntegerField()
    quantity = models.IntegerField()

    class Meta:
        ordering = ["shipment_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="shipment_item_quantity_positive")
        ]
        verbose_name = "包裹明细"
        verbose_name_plural = "包裹明细"

    def __str__(self) -> str:
        return f"{self.sku_id} x{self.quantity}"


class ShippingUpload(models.Model):
    """The order's shipping information at WeChat (发货信息录入, wxa/sec/order/upload_shipping_info).

    Every change to the order's parcels bumps `version`; the upload task sends the order's current
    parcels and records the version it sent, so a change made during an upload is sent again and
    a retried task never sends stale information. WeChat allows one re-upload after the order is
    fully shipped, so corrections are precious: `uploads` counts what WeChat accepted.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待上传"
        UPLOADED = "uploaded", "已上传"
        FAILED = "failed", "上传失败"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="shipping_upload")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    version = models.PositiveIntegerField(default=0)
    uploaded_version = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    uploads = models.PositiveIntegerField(default=0)
    last_errcode = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_payload = models.JSONField(default=dict, blank=True)
    # Set while a worker uploads (a conditional UPDATE claims it): never two uploads at once.
    claimed_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = "微信发货信息上传"
        verbose_name_plural = "微信发货信息上传"

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class TradeEvent(models.Model):
    """A trade-management message WeChat pushed (trade_manage_*), kept once per message.

    Reminders (`needs_attention`) wait in the console's work queue until someone resolves them.
    """

    key = models.CharField(max_length=200, unique=True)
    event = models.CharField(max_length=64, db_index=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=64, blank=True)
    needs_attention = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "微信交易管理消息"
        verbose_name_plural = "微信交易管理消息"

    def __str__(self) -> str:
        return f"{self.event} {self.transaction_id}"
