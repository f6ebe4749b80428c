"""Share links, their visits and orders, and who each shopper is bound to (绑定关系).

A `ShareLink` is one sharer's link to one target (a product, a group-buy campaign, a group); its
short `code` is what travels: in the card's path, in the QR code's `scene`, in `/s/{code}`, in the
`share_code` of a login or an order. Counters on the link move with F() only.

A `CustomerBinding` is the shopper's current KOC (one row per shopper, kept after it expires); every
change of it is a `BindingChange` row with its reason. `BindingPolicy` is the one row of rules the
admin edits: first or last touch, validity and protection periods.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q


class Target(models.TextChoices):
    PRODUCT = "product", "商品"
    GROUP_BUY = "group_buy", "拼团活动"
    GROUP = "group", "拼团团组"


class ShareLink(models.Model):
    code = models.CharField("短码", max_length=8, unique=True)
    # What the mini-program code carries (getwxacodeunlimit: at most 32 characters).
    scene = models.CharField(max_length=32, unique=True)
    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_links", verbose_name="分享人"
    )
    target = models.CharField("分享对象", max_length=16, choices=Target.choices)
    target_id = models.BigIntegerField("对象 ID")
    # A snapshot of the card as last shared (refreshed whenever the sharer shares again).
    title = models.CharField("卡片标题", max_length=120, blank=True)
    image_url = models.CharField("卡片图片 (5:4)", max_length=500, blank=True)
    page = models.CharField("小程序页面", max_length=128)

    qr = models.FileField("小程序码", upload_to="share/qr/", blank=True)
    poster = models.FileField("海报", upload_to="share/posters/", blank=True)
    # What the stored poster was drawn from: a new price or title makes the next request redraw it.
    poster_digest = models.CharField(max_length=64, blank=True)
    # wxa/generate_urllink answers links that expire (30 days at most): kept with their expiry.
    url_link = models.URLField("URL Link", max_length=300, blank=True)
    url_link_expires_at = models.DateTimeField(null=True, blank=True)

    visits = models.PositiveIntegerField("访问", default=0)
    orders = models.PositiveIntegerField("订单", default=0)
    gmv_fen = models.BigIntegerField("成交额 (分)", default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sharer", "target", "target_id"], name="sharing_one_link_per_sharer_target"
            ),
            models.CheckConstraint(condition=Q(gmv_fen__gte=0), name="sharing_link_gmv_non_negative"),
        ]
        verbose_name = "分享链接"
        verbose_name_plural = "分享链接"

    def __str__(self) -> str:
        return self.code


class ShareVisit(models.Model):
    """One viewer on one day: the row that makes a visit count once per viewer per day.

    `visitor_key` is `u<user id>` for a logged-in viewer, else `a<hash of IP and User-Agent>`.
    """

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="visit_rows")
    visitor_key = models.CharField(max_length=40)
    day = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=16, default="api")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "visitor_key", "day"], name="sharing_one_visit_per_day")
        ]
        verbose_name = "访问"
        verbose_name_plural = "访问"

    def __str__(self) -> str:
        return f"{self.link_id} {self.visitor_key} {self.day}"


class ShareLinkOrder(models.Model):
    """A paid order attributed through a link, with what was refunded of it: one row per order.

    The link's `orders` and `gmv_fen` are recounted from these rows (orders not refunded in full;
    paid minus refunded), so a replayed or reordered event cannot count anything twice.
    """

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="order_rows")
    order_id = models.BigIntegerField(unique=True)
    paid_fen = models.BigIntegerField()
    refunded_fen = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("paid_fen")),
                name="sharing_link_order_refund_in_range",
            )
        ]
        verbose_name = "链接订单"
        verbose_name_plural = "链接订单"

    def __str__(self) -> str:
        return f"{self.link_id} <- order {self.order_id}"


class BindingPolicy(models.Model):
    """The one row of binding rules (`BindingPolicy.load()` creates it with the defaults).

    - first_touch: the first KOC keeps the customer until the binding expires;
    - last_touch: the latest KOC's link takes the customer, except during the current KOC's
      protection period (no 抢客 then).
    The same protection decides orders (`binding_rules.attribute`): a protected customer's order is
    her KOC's even when it carries another KOC's share code. Outside protection,
    `share_code_wins_unprotected` says whether an order's explicit share code beats the binding.
    A binding lasts `validity_days` from its last touch by its own KOC; the protection period runs
    `protection_days` from when that KOC won the customer. A change applies to later decisions;
    existing bindings keep the dates they were given.
    """

    class Mode(models.TextChoices):
        FIRST_TOUCH = "first_touch", "首次触达 (先到先得)"
        LAST_TOUCH = "last_touch", "最后触达 (可抢客)"

    mode = models.CharField("归属规则", max_length=16, choices=Mode.choices, default=Mode.LAST_TOUCH)
    validity_days = models.PositiveIntegerField(
        "绑定有效期 (天)", default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    protection_days = models.PositiveIntegerField(
        "保护期 (天)",
        default=7,
        validators=[MaxValueValidator(3650)],
        help_text="最后触达模式下，保护期内其他 KOC 的链接不能改绑该客户；0 表示没有保护期",
    )
    share_code_wins_unprotected = models.BooleanField(
        "未受保护时分享码优先",
        default=True,
        help_text=(
            "客户受保护时（首次触达：绑定有效期内；最后触达：保护期内），订单总是归绑定的 KOC。"
            "不受保护时：勾选则订单归所带分享码的 KOC，不勾选则仍归绑定的 KOC"
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "绑定规则"
        verbose_name_plural = "绑定规则"

    def __str__(self) -> str:
        return f"{self.get_mode_display()} / 有效 {self.validity_days} 天 / 保护 {self.protection_days} 天"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self):
        if (
            self.protection_days is not None
            and self.validity_days is not None
            and self.protection_days > self.validity_days
        ):
            raise ValidationError({"protection_days": "保护期不能长于绑定有效期"})

    @classmethod
    def load(cls) -> BindingPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy

    def snapshot(self) -> dict:
        return {
            "mode": self.mode,
            "validity_days": self.validity_days,
            "protection_days": self.protection_days,
            "share_code_wins_unprotected": self.share_code_wins_unprotected,
        }


class CustomerBinding(models.Model):
    """The shopper's KOC. Current while `expires_at` is in the future and the KOC is approved."""

    customer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_binding", verbose_name="客户"
    )
    koc = models.ForeignKey(
        "kocs.Koc", on_delete=models.PROTECT, related_name="customer_bindings", verbose_name="KOC"
    )
    link = models.ForeignKey(
        ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="来源链接"
    )
    bound_at = models.DateTimeField("绑定时间")  # when this KOC won the customer
    touched_at = models.DateTimeField("最近触达")  # the last touch by this KOC (renewals)
    expires_at = models.DateTimeField("到期时间", db_index=True)
    protected_until = models.DateTimeField("保护期至")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gte=F("bound_at")), name="sharing_binding_period"),
        ]
        verbose_name = "客户绑定"
        verbose_name_plural = "客户绑定"

    def __str__(self) -> str:
        return f"{self.customer_id} -> KOC {self.koc_id}"


class BindingChange(models.Model):
    """One change of a shopper's binding, with its reason: the history 抢客 disputes are settled on."""

    class Reason(models.TextChoices):
        BOUND = "bound", "绑定"  # no current binding (none, or the previous one expired)
        RENEWED = "renewed", "续期"  # the same KOC touched the customer again
        SWITCHED = "switched", "改绑"  # last touch, outside the current KOC's protection period
        RELEASED = "released", "解绑"  # an operator ended it

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name="客户"
    )
    binding = models.ForeignKey(
        CustomerBinding, on_delete=models.CASCADE, related_name="changes", null=True, blank=True
    )
    from_koc = models.ForeignKey(
        "kocs.Koc", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="原 KOC"
    )
    to_koc = models.ForeignKey(
        "kocs.Koc", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="新 KOC"
    )
    link = models.ForeignKey(
        ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="链接"
    )
    reason = models.CharField("原因", max_length=16, choices=Reason.choices)
    via = models.CharField("来源", max_length=16, blank=True)  # api, login, landing, admin
    policy = models.JSONField("当时的规则", default=dict)
    expires_at = models.DateTimeField("到期时间", null=True, blank=True)
    protected_until = models.DateTimeField("保护期至", null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField("时间", db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "绑定变更"
        verbose_name_plural = "绑定变更记录"

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_koc_id} -> {self.to_koc_id} ({self.reason})"
