"""Group buys (拼团): campaigns, their groups, the members holding seats, and what we tell them.

Every member is a real shopper with a real order: there is no way to add simulated members
(虚拟成团), which WeChat forbids as misleading. A group's counters are moved only by conditional
UPDATEs under the group's row (see services), and the database refuses any state where more seats
are held than the group has, or more are paid than held.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.shop.models import Order, Product, Sku

MIN_GROUP_SIZE = 2
MAX_GROUP_SIZE = 100


class Campaign(models.Model):
    """A group-buy offer on one SKU, set by brand staff in the admin."""

    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    group_price_fen = models.BigIntegerField(_("group price"), validators=[MinValueValidator(1)])
    # The opener's price when set (团长价): a reward for starting a group, never above the group price.
    leader_price_fen = models.BigIntegerField(
        _("leader price"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
    )
    group_size = models.PositiveSmallIntegerField(
        _("group size"),
        validators=[MinValueValidator(MIN_GROUP_SIZE), MaxValueValidator(MAX_GROUP_SIZE)],
    )
    duration_minutes = models.PositiveIntegerField(_("minutes per group"), validators=[MinValueValidator(1)])
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    # Units (件) one user may hold or have bought in this campaign, over all its groups.
    per_user_limit = models.PositiveSmallIntegerField(
        _("limit per person (units)"),
        default=1,
        validators=[MinValueValidator(1)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["is_active", "ends_at"], name="gb_campaign_live")]
        constraints = [
            models.CheckConstraint(
                condition=Q(group_size__gte=MIN_GROUP_SIZE) & Q(group_size__lte=MAX_GROUP_SIZE),
                name="gb_campaign_group_size_2_100",
            ),
            models.CheckConstraint(condition=Q(group_price_fen__gte=1), name="gb_campaign_price_positive"),
            models.CheckConstraint(
                condition=Q(leader_price_fen__isnull=True)
                | (Q(leader_price_fen__gte=1) & Q(leader_price_fen__lte=F("group_price_fen"))),
                name="gb_campaign_leader_price_valid",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1), name="gb_campaign_duration_positive"
            ),
            models.CheckConstraint(condition=Q(per_user_limit__gte=1), name="gb_campaign_limit_positive"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="gb_campaign_ends_after_start"
            ),
        ]
        verbose_name = _("group buy")
        verbose_name_plural = _("group buys")

    def __str__(self) -> str:
        title = self.product.title if self.product_id else "?"
        return gettext("%(title)s · group of %(size)d") % {"title": title, "size": self.group_size}

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.sku_id and self.product_id and self.sku.product_id != self.product_id:
            errors.setdefault("sku", []).append(gettext("The SKU does not belong to the chosen product."))
        if self.sku_id and self.group_price_fen and self.group_price_fen > self.sku.price_fen:
            # A "group price" above the list price would be a misleading offer.
            errors.setdefault("group_price_fen", []).append(
                gettext("The group price cannot be higher than the product's price.")
            )
        if (
            self.leader_price_fen is not None
            and self.group_price_fen
            and (self.leader_price_fen > self.group_price_fen)
        ):
            errors.setdefault("leader_price_fen", []).append(
                gettext("The leader's price cannot be higher than the group price.")
            )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors.setdefault("ends_at", []).append(gettext("The end must be later than the start."))
        if self.pk and self.sku_id and self._sku_changed_with_groups_forming():
            # Forming groups hold units of the SKU they opened on, and give them back to it.
            errors.setdefault("sku", []).append(
                gettext("The campaign has groups forming, so its SKU cannot change.")
            )
        if errors:
            raise ValidationError(errors)

    def _sku_changed_with_groups_forming(self) -> bool:
        stored = Campaign.objects.filter(pk=self.pk).values_list("sku_id", flat=True).first()
        if stored is None or stored == self.sku_id:
            return False
        return Group.objects.filter(campaign_id=self.pk, status=Group.Status.FORMING).exists()

    def price_for(self, *, is_leader: bool) -> int:
        if is_leader and self.leader_price_fen is not None:
            return self.leader_price_fen
        return self.group_price_fen


class Group(models.Model):
    """One group (团) of a campaign: `size` seats, open until `expires_at`.

    `joined` counts held seats (members holding an unpaid or paid seat), `paid_count` the paid
    ones. `status` moves forming -> succeeded or forming -> failed, once, by a conditional UPDATE.

    `stock_held` is the SKU stock the group holds for its free seats, one unit per seat: taken off
    the shelf when the group opens, handed to each joiner's order, and put back on the shelf when
    the group closes (see services/groups.py). Never more than its free seats.
    """

    class Status(models.TextChoices):
        FORMING = "forming", _("Forming")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="groups", verbose_name=_("group buy")
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("leader")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.FORMING, verbose_name=_("status")
    )
    size = models.PositiveSmallIntegerField(verbose_name=_("size"))
    joined = models.PositiveSmallIntegerField(default=0, verbose_name=_("joined"))
    paid_count = models.PositiveSmallIntegerField(default=0, verbose_name=_("paid members"))
    stock_held = models.PositiveSmallIntegerField(default=0, verbose_name=_("stock held for free seats"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    succeeded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("succeeded at"))
    failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("failed at"))

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="gb_group_status_expiry"),
            models.Index(fields=["campaign", "status"], name="gb_group_campaign_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=MIN_GROUP_SIZE) & Q(size__lte=MAX_GROUP_SIZE),
                name="gb_group_size_2_100",
            ),
            models.CheckConstraint(condition=Q(paid_count__gte=0), name="gb_group_paid_non_negative"),
            models.CheckConstraint(condition=Q(paid_count__lte=F("joined")), name="gb_group_paid_le_joined"),
            models.CheckConstraint(condition=Q(joined__lte=F("size")), name="gb_group_joined_le_size"),
            models.CheckConstraint(
                condition=Q(stock_held__gte=0) & Q(stock_held__lte=F("size") - F("joined")),
                name="gb_group_stock_held_le_free_seats",
            ),
        ]
        verbose_name = _("buying group")
        verbose_name_plural = _("buying groups")

    def __str__(self) -> str:
        return gettext("Group #%(id)s") % {"id": self.pk}

    @property
    def seats_left(self) -> int:
        """Seats one can still take: none once the group closed or its deadline passed."""
        if self.status != self.Status.FORMING or self.expires_at <= timezone.now():
            return 0
        return max(0, self.size - self.joined)


class GroupMember(models.Model):
    """A shopper's seat in a group, backed by one shop order.

    held (ordered, unpaid) -> paid, or -> released (the order was cancelled: the seat is free again);
    paid -> refunded (the group failed, the payment came too late, or a full after-sales refund).
    """

    class Status(models.TextChoices):
        HELD = "held", _("Seat held, awaiting payment")
        PAID = "paid", _("Paid")
        RELEASED = "released", _("Released seat")
        REFUNDED = "refunded", _("Refunded")

    ACTIVE = (Status.HELD, Status.PAID)

    group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="members", verbose_name=_("group")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="+", verbose_name=_("order"))
    is_leader = models.BooleanField(default=False, verbose_name=_("leader"))
    quantity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)], verbose_name=_("quantity"))
    unit_price_fen = models.BigIntegerField(verbose_name=_("unit price"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.HELD, verbose_name=_("status")
    )
    # The shop refund that returned this member's money (failure or late payment), when we asked.
    refund_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("refund"))
    joined_at = models.DateTimeField(auto_now_add=True, verbose_name=_("joined at"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    released_at = models.DateTimeField(null=True, blank=True, verbose_name=_("released at"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded at"))

    class Meta:
        ordering = ["group_id", "id"]
        constraints = [
            # One seat per user per group; a user whose unpaid seat was released may join again.
            models.UniqueConstraint(
                fields=["group", "user"],
                condition=Q(status__in=["held", "paid"]),
                name="gb_member_one_active_seat",
            ),
            models.UniqueConstraint(
                fields=["group"], condition=Q(is_leader=True), name="gb_member_one_leader"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="gb_member_quantity_positive"),
        ]
        verbose_name = _("group member")
        verbose_name_plural = _("group members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.group}"


class CampaignUsage(models.Model):
    """Units one user holds or has bought in a campaign: the per-user limit, as a guarded counter."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("group buy")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    units = models.PositiveIntegerField(default=0, verbose_name=_("units"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="gb_usage_one_per_user"),
            models.CheckConstraint(condition=Q(units__gte=0), name="gb_usage_units_non_negative"),
        ]
        verbose_name = _("purchase limit use")
        verbose_name_plural = _("purchase limit uses")

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.campaign_id}: {self.units}"


class SubscriptionQuota(models.Model):
    """How many subscribe messages of one template the user has granted us (one per "accept")."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    template_id = models.CharField(max_length=128, verbose_name=_("template"))
    remaining = models.PositiveIntegerField(default=0, verbose_name=_("remaining"))
    granted_total = models.PositiveIntegerField(default=0, verbose_name=_("granted in total"))
    # WeChat's 43101 ("user refused") clears the quota; recorded so support can see why.
    last_errcode = models.IntegerField(null=True, blank=True, verbose_name=_("last error code"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "template_id"], name="gb_quota_one_per_template"),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="gb_quota_non_negative"),
        ]
        verbose_name = _("subscription quota")
        verbose_name_plural = _("subscription quotas")

    def __str__(self) -> str:
        return f"{self.user_id} {self.template_id}: {self.remaining}"


class GroupNotification(models.Model):
    """One subscribe message about a group's outcome to one user: queued once, sent at most once."""

    class Kind(models.TextChoices):
        SUCCEEDED = "succeeded", _("Group succeeded")
        FAILED = "failed", _("Group failed")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to send")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        NO_QUOTA = "no_quota", _("No subscription quota")
        REFUSED = "refused", _("Refused by the user (43101)")
        FAILED = "failed", _("Sending failed")

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("group")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    template_id = models.CharField(max_length=128, verbose_name=_("template"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status")
    )
    errcode = models.IntegerField(null=True, blank=True, verbose_name=_("error code"))
    error = models.CharField(max_length=500, blank=True, verbose_name=_("error"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user", "kind"], name="gb_notification_once"),
        ]
        verbose_name = _("group notification")
        verbose_name_plural = _("group notifications")

    def __str__(self) -> str:
        return f"{self.kind} -> {self.user_id} ({self.status})"
