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
from django.utils.translation import gettext_lazy as _
from mptt.models import MPTTModel, TreeForeignKey


class Brand(models.Model):
    name = models.CharField(max_length=64, unique=True, verbose_name=_("name"))
    logo = models.ImageField(upload_to="brands/", blank=True, verbose_name=_("logo"))
    intro = models.TextField(blank=True, verbose_name=_("introduction"))
    # The brand's own cap on what any KOC earns on its products (percent of the paid amount); the
    # commission engine enforces it, so no one can outbid it.
    max_commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("30.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Percent, e.g. 30.00 means 30%."),
        verbose_name=_("commission cap (%)"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_commission_rate__gte=0) & Q(max_commission_rate__lte=100),
                name="brand_commission_rate_0_100",
            )
        ]
        verbose_name = _("brand")
        verbose_name_plural = _("brands")

    def __str__(self) -> str:
        return self.name


class BrandOperator(models.Model):
    """A staff user who works for one brand (品牌运营): the console shows them that brand's data only.

    One brand per operator keeps every scoping rule a single `brand_id` comparison; a person who
    works for two brands gets two logins, which is also what the brands' own audits want.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="brand_operator",
        verbose_name=_("operator"),
    )
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="operators", verbose_name=_("brand")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("brand operator account")
        verbose_name_plural = _("brand operator accounts")

    def __str__(self) -> str:
        return f"{self.user} → {self.brand}"


class Category(MPTTModel):
    name = models.CharField(max_length=64, verbose_name=_("name"))
    parent = TreeForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent category"),
    )
    sort_order = models.PositiveIntegerField(default=0, verbose_name=_("sort order"))
    is_active = models.BooleanField(default=True, verbose_name=_("active"))

    class MPTTMeta:
        order_insertion_by = ["sort_order", "name"]

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    brand = models.ForeignKey(
        Brand, on_delete=models.PROTECT, related_name="products", verbose_name=_("brand")
    )
    category = TreeForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", verbose_name=_("category")
    )
    title = models.CharField(max_length=120, verbose_name=_("title"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    is_active = models.BooleanField(default=True, db_index=True, verbose_name=_("active"))
    # Units paid for; moved with F() when an order is paid.
    sales = models.PositiveIntegerField(default=0, verbose_name=_("units sold"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(sales__gte=0), name="product_sales_non_negative")]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return self.title


class Sku(models.Model):
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="skus", verbose_name=_("product")
    )
    spec = models.CharField(max_length=64, help_text=_("Specification, e.g. 250g."), verbose_name=_("spec"))
    price_fen = models.IntegerField(validators=[MinValueValidator(0)], verbose_name=_("price"))
    # Reserved by orders with a conditional UPDATE (stock >= quantity), never read-then-write.
    stock = models.IntegerField(default=0, validators=[MinValueValidator(0)], verbose_name=_("stock"))
    is_active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        ordering = ["product_id", "price_fen", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_non_negative"),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="sku_price_non_negative"),
        ]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")

    def __str__(self) -> str:
        return f"{self.product.title} / {self.spec}" if self.product_id else self.spec


def _image_path(instance: ProductImage, filename: str) -> str:
    return f"products/{instance.product_id or 'new'}/{filename}"


class ProductImage(models.Model):
    """An uploaded picture and the variants made from it at upload time (see images.py)."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="images", verbose_name=_("product")
    )
    position = models.PositiveIntegerField(default=0, verbose_name=_("position"))
    original = models.ImageField(upload_to=_image_path, verbose_name=_("original"))
    thumb = models.ImageField(upload_to=_image_path, blank=True, verbose_name=_("thumbnail"))  # fits 200x200
    display = models.ImageField(
        upload_to=_image_path, blank=True, verbose_name=_("display image")
    )  # 750 wide at most
    share_cover = models.ImageField(
        upload_to=_image_path, blank=True, verbose_name=_("share cover")
    )  # exactly 500x400 (5:4)
    width = models.PositiveIntegerField(default=0, verbose_name=_("width"))
    height = models.PositiveIntegerField(default=0, verbose_name=_("height"))
    format = models.CharField(max_length=8, blank=True, verbose_name=_("format"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["product_id", "position", "id"]
        verbose_name = _("product image")
        verbose_name_plural = _("product images")

    def __str__(self) -> str:
        return f"{self.product_id}#{self.position}"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
        PAID = "paid", _("Paid")
        SHIPPED = "shipped", _("Shipped")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    class Kind(models.TextChoices):
        STANDARD = "standard", _("Standard")
        GROUP_BUY = "group_buy", _("Group buy")

    # Date prefix + 12 random digits from `secrets`: unique and not guessable (see services.new_order_no).
    no = models.CharField(max_length=32, unique=True, verbose_name=_("order number"))
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", verbose_name=_("buyer")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT, verbose_name=_("status")
    )
    kind = models.CharField(
        max_length=20, choices=Kind.choices, default=Kind.STANDARD, verbose_name=_("order type")
    )
    group_id = models.BigIntegerField(null=True, blank=True, db_index=True, verbose_name=_("group"))
    total_fen = models.BigIntegerField(verbose_name=_("total"))
    paid_fen = models.BigIntegerField(default=0, verbose_name=_("paid"))
    refunded_fen = models.BigIntegerField(default=0, verbose_name=_("refunded"))
    address = models.JSONField(
        default=dict, verbose_name=_("delivery address")
    )  # Address.as_snapshot() at creation
    receiver_phone = models.CharField(
        max_length=20, blank=True, db_index=True, verbose_name=_("receiver phone")
    )
    pay_deadline = models.DateTimeField(verbose_name=_("pay by"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    shipped_at = models.DateTimeField(null=True, blank=True, verbose_name=_("shipped at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
    cancel_reason = models.CharField(max_length=32, blank=True, verbose_name=_("cancel reason"))
    # The last parcel's carrier and tracking number (every parcel is a Shipment).
    carrier = models.CharField(max_length=32, blank=True, verbose_name=_("carrier"))
    tracking_no = models.CharField(max_length=64, blank=True, verbose_name=_("tracking number"))
    # When WeChat settled the payment (trade_manage_order_settlement): the money left its freeze.
    settled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("settled at"))
    # A group-buy order waits for its group: it cannot ship until order_release_hold().
    shipping_hold = models.BooleanField(default=False, verbose_name=_("held for its group"))
    # Attribution snapshot (the KOC app's resolver); ids only: the shop never imports that app.
    attributed_koc_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("attributed KOC")
    )
    share_link_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("share link"))
    attribution = models.JSONField(default=dict, blank=True, verbose_name=_("attribution"))
    prepay_id = models.CharField(max_length=128, blank=True, verbose_name=_("prepay id"))
    transaction_id = models.CharField(max_length=64, blank=True, verbose_name=_("WeChat transaction id"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

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
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        permissions = [("ship_order", "Can ship orders (发货)")]

    def __str__(self) -> str:
        return self.no

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


class OrderItem(models.Model):
    """One line, with the product as it was when ordered (a later edit changes no order)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="order_items", verbose_name=_("SKU"))
    product_id = models.BigIntegerField(verbose_name=_("product"))
    brand_id = models.BigIntegerField(verbose_name=_("brand"))
    category_id = models.BigIntegerField(verbose_name=_("category"))
    title = models.CharField(max_length=120, verbose_name=_("title"))
    spec = models.CharField(max_length=64, verbose_name=_("spec"))
    price_fen = models.BigIntegerField(verbose_name=_("price"))
    quantity = models.IntegerField(verbose_name=_("quantity"))
    line_fen = models.BigIntegerField(verbose_name=_("line total"))
    price_source = models.CharField(max_length=32, default="list", verbose_name=_("price source"))
    # Units already in a parcel; moved under the order's row lock by the shipping service.
    shipped_quantity = models.IntegerField(default=0, verbose_name=_("shipped"))

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
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    def __str__(self) -> str:
        return f"{self.title} {self.spec} x{self.quantity}"


class Payment(models.Model):
    """One WeChat Pay transaction that reached us. The unique transaction id makes it count once."""

    class Outcome(models.TextChoices):
        PAID_ORDER = "paid_order", _("Paid an order")
        REFUNDED_LATE = "refunded_late", _("Order closed, refunded automatically")

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="payments", verbose_name=_("order")
    )
    transaction_id = models.CharField(max_length=64, unique=True, verbose_name=_("WeChat transaction id"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    payer_openid = models.CharField(max_length=128, blank=True, verbose_name=_("payer openid"))
    success_time = models.DateTimeField(null=True, blank=True, verbose_name=_("payment succeeded at"))
    outcome = models.CharField(max_length=20, choices=Outcome.choices, verbose_name=_("result"))
    raw = models.JSONField(default=dict, verbose_name=_("WeChat notification"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="payment_amount_non_negative")
        ]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

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
        REQUESTED = "requested", _("Awaiting review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        SUBMITTING = "submitting", _("Submitting")
        PROCESSING = "processing", _("Refunding")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Refund failed")
        CLOSED = "closed", _("Closed")

    IN_FLIGHT = (Status.REQUESTED, Status.APPROVED, Status.SUBMITTING, Status.PROCESSING)
    # What clients see (the API's refund statuses): `submitting` is internal - the refund is on its
    # way to WeChat or its answer is being confirmed - and reads as `processing`.
    API_STATUSES = ("requested", "approved", "processing", "succeeded", "failed", "rejected", "closed")

    class Kind(models.TextChoices):
        AFTER_SALE = "after_sale", _("After-sales")
        LATE_PAYMENT = "late_payment", _("Paid after closing")
        SYSTEM = "system", _("System")

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("order")
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("payment"),
    )
    out_refund_no = models.CharField(max_length=64, unique=True, verbose_name=_("refund number"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))
    kind = models.CharField(
        max_length=20, choices=Kind.choices, default=Kind.AFTER_SALE, verbose_name=_("refund type")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.REQUESTED, verbose_name=_("status")
    )
    # A caller's key (e.g. "group_failed:<order id>") makes refund_create answer the first refund again.
    idempotency_key = models.CharField(
        max_length=128, unique=True, null=True, blank=True, verbose_name=_("idempotency key")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    wechat_refund_id = models.CharField(max_length=64, blank=True, verbose_name=_("WeChat refund id"))
    wechat_status = models.CharField(max_length=20, blank=True, verbose_name=_("WeChat status"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    # Submissions to WeChat so far, and when an automatic retry (same out_refund_no) is due.
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("next attempt at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    approved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("approved at"))
    submitted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("submitted at"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive")]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

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

    refund = models.ForeignKey(
        Refund, on_delete=models.CASCADE, related_name="items", verbose_name=_("refund")
    )
    order_item = models.ForeignKey(
        OrderItem, on_delete=models.PROTECT, related_name="refund_items", verbose_name=_("order item")
    )
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))

    class Meta:
        ordering = ["refund_id", "order_item_id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "order_item"], name="refund_item_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="refund_item_quantity_positive"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="refund_item_amount_non_negative"),
        ]
        verbose_name = _("refund line")
        verbose_name_plural = _("refund lines")

    def __str__(self) -> str:
        return f"{self.order_item_id} x{self.quantity}"


class Shipment(models.Model):
    """One parcel of an order (包裹): some of its lines, one carrier and tracking number.

    A brand operator's parcel holds only its brand's lines, so `brand_id` says whose parcel it is
    (null when a platform operator put several brands' lines in one parcel).
    """

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="shipments", verbose_name=_("order")
    )
    brand_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("brand"))
    carrier = models.CharField(max_length=32, verbose_name=_("carrier"))
    # The carrier's code in WeChat's list (get_delivery_list), which upload_shipping_info needs.
    express_company = models.CharField(max_length=32, verbose_name=_("WeChat carrier code"))
    tracking_no = models.CharField(max_length=64, verbose_name=_("tracking number"))
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("shipped by"),
    )
    shipped_at = models.DateTimeField(verbose_name=_("shipped at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["order_id", "id"]
        verbose_name = _("parcel")
        verbose_name_plural = _("parcels")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}"


class ShipmentItem(models.Model):
    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="items", verbose_name=_("parcel")
    )
    order_item = models.ForeignKey(
        OrderItem, on_delete=models.PROTECT, related_name="shipment_items", verbose_name=_("order item")
    )
    sku_id = models.BigIntegerField(verbose_name=_("SKU"))
    quantity = models.IntegerField(verbose_name=_("quantity"))

    class Meta:
        ordering = ["shipment_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="shipment_item_quantity_positive")
        ]
        verbose_name = _("parcel line")
        verbose_name_plural = _("parcel lines")

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
        PENDING = "pending", _("Awaiting upload")
        UPLOADED = "uploaded", _("Uploaded")
        FAILED = "failed", _("Upload failed")

    order = models.OneToOneField(
        Order, on_delete=models.PROTECT, related_name="shipping_upload", verbose_name=_("order")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    version = models.PositiveIntegerField(default=0, verbose_name=_("version"))
    uploaded_version = models.PositiveIntegerField(default=0, verbose_name=_("uploaded version"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    uploads = models.PositiveIntegerField(default=0, verbose_name=_("uploads accepted"))
    last_errcode = models.IntegerField(null=True, blank=True, verbose_name=_("last error code"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    last_payload = models.JSONField(default=dict, blank=True, verbose_name=_("last request"))
    # Set while a worker uploads (a conditional UPDATE claims it): never two uploads at once.
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    uploaded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("uploaded at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("WeChat shipping upload")
        verbose_name_plural = _("WeChat shipping uploads")

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class TradeEvent(models.Model):
    """A trade-management message WeChat pushed (trade_manage_*), kept once per message.

    Reminders (`needs_attention`) wait in the console's work queue until someone resolves them.
    """

    key = models.CharField(max_length=200, unique=True, verbose_name=_("key"))
    event = models.CharField(max_length=64, db_index=True, verbose_name=_("event"))
    transaction_id = models.CharField(max_length=64, blank=True, verbose_name=_("WeChat transaction id"))
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("order")
    )
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    outcome = models.CharField(max_length=64, blank=True, verbose_name=_("outcome"))
    needs_attention = models.BooleanField(default=False, verbose_name=_("needs attention"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("WeChat trade message")
        verbose_name_plural = _("WeChat trade messages")

    def __str__(self) -> str:
        return f"{self.event} {self.transaction_id}"
