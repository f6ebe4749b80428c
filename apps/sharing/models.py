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
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Target(models.TextChoices):
    PRODUCT = "product", _("Product")
    GROUP_BUY = "group_buy", _("Group-buy campaign")
    GROUP = "group", _("Buying group")


class ShareLink(models.Model):
    code = models.CharField(_("short code"), max_length=8, unique=True)
    # What the mini-program code carries (getwxacodeunlimit: at most 32 characters).
    scene = models.CharField(max_length=32, unique=True, verbose_name=_("scene"))
    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="share_links",
        verbose_name=_("sharer"),
    )
    target = models.CharField(_("shared item"), max_length=16, choices=Target.choices)
    target_id = models.BigIntegerField(_("item id"))
    # A snapshot of the card as last shared (refreshed whenever the sharer shares again).
    title = models.CharField(_("card title"), max_length=120, blank=True)
    image_url = models.CharField(_("card image (5:4)"), max_length=500, blank=True)
    page = models.CharField(_("mini-program page"), max_length=128)

    qr = models.FileField(_("mini-program code"), upload_to="share/qr/", blank=True)
    poster = models.FileField(_("poster"), upload_to="share/posters/", blank=True)
    # What the stored poster was drawn from: a new price or title makes the next request redraw it.
    poster_digest = models.CharField(max_length=64, blank=True, verbose_name=_("poster digest"))
    # wxa/generate_urllink answers links that expire (30 days at most): kept with their expiry.
    url_link = models.URLField(_("URL Link"), max_length=300, blank=True)
    url_link_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("URL Link expires at"))

    visits = models.PositiveIntegerField(_("visits"), default=0)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    gmv_fen = models.BigIntegerField(_("sales"), default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sharer", "target", "target_id"], name="sharing_one_link_per_sharer_target"
            ),
            models.CheckConstraint(condition=Q(gmv_fen__gte=0), name="sharing_link_gmv_non_negative"),
        ]
        verbose_name = _("share link")
        verbose_name_plural = _("share links")

    def __str__(self) -> str:
        return self.code


class ShareVisit(models.Model):
    """One viewer on one day: the row that makes a visit count once per viewer per day.

    `visitor_key` is `u<user id>` for a logged-in viewer, else `a<hash of IP and User-Agent>`.
    """

    link = models.ForeignKey(
        ShareLink, on_delete=models.CASCADE, related_name="visit_rows", verbose_name=_("share link")
    )
    visitor_key = models.CharField(max_length=40, verbose_name=_("visitor"))
    day = models.DateField(verbose_name=_("day"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    channel = models.CharField(max_length=16, default="api", verbose_name=_("channel"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "visitor_key", "day"], name="sharing_one_visit_per_day")
        ]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")

    def __str__(self) -> str:
        return f"{self.link_id} {self.visitor_key} {self.day}"


class ShareLinkOrder(models.Model):
    """A paid order attributed through a link, with what was refunded of it: one row per order.

    The link's `orders` and `gmv_fen` are recounted from these rows (orders not refunded in full;
    paid minus refunded), so a replayed or reordered event cannot count anything twice.
    """

    link = models.ForeignKey(
        ShareLink, on_delete=models.CASCADE, related_name="order_rows", verbose_name=_("share link")
    )
    order_id = models.BigIntegerField(unique=True, verbose_name=_("order"))
    paid_fen = models.BigIntegerField(verbose_name=_("paid"))
    refunded_fen = models.BigIntegerField(default=0, verbose_name=_("refunded"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("paid_fen")),
                name="sharing_link_order_refund_in_range",
            )
        ]
        verbose_name = _("link order")
        verbose_name_plural = _("link orders")

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
        FIRST_TOUCH = "first_touch", _("First touch (first come, first served)")
        LAST_TOUCH = "last_touch", _("Last touch (can be taken over)")

    mode = models.CharField(
        _("attribution mode"), max_length=16, choices=Mode.choices, default=Mode.LAST_TOUCH
    )
    validity_days = models.PositiveIntegerField(
        _("binding valid for (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    protection_days = models.PositiveIntegerField(
        _("protection (days)"),
        default=7,
        validators=[MaxValueValidator(3650)],
        help_text=_(
            "In last-touch mode, other KOCs' links cannot take the customer over during the protection "
            "period; 0 means none."
        ),
    )
    share_code_wins_unprotected = models.BooleanField(
        _("share code wins when unprotected"),
        default=True,
        help_text=(
            _(
                "While the customer is protected (first touch: within the binding's validity; last touch: "
                "within the protection period), orders always go to the bound KOC. When unprotected: "
                "ticked, the order goes to the KOC of the share code it carries; unticked, it stays with "
                "the bound KOC."
            )
        ),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("binding policy")
        verbose_name_plural = _("binding policy")

    def __str__(self) -> str:
        return gettext("%(mode)s / valid %(valid)d days / protected %(protected)d days") % {
            "mode": self.get_mode_display(),
            "valid": self.validity_days,
            "protected": self.protection_days,
        }

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self):
        if (
            self.protection_days is not None
            and self.validity_days is not None
            and self.protection_days > self.validity_days
        ):
            raise ValidationError(
                {
                    "protection_days": gettext(
                        "The protection period cannot be longer than the binding's validity."
                    )
                }
            )

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
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="share_binding",
        verbose_name=_("customer"),
    )
    koc = models.ForeignKey(
        "kocs.Koc", on_delete=models.PROTECT, related_name="customer_bindings", verbose_name=_("KOC")
    )
    link = models.ForeignKey(
        ShareLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("source link"),
    )
    bound_at = models.DateTimeField(_("bound at"))  # when this KOC won the customer
    touched_at = models.DateTimeField(_("last touched"))  # the last touch by this KOC (renewals)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    protected_until = models.DateTimeField(_("protected until"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gte=F("bound_at")), name="sharing_binding_period"),
        ]
        verbose_name = _("customer binding")
        verbose_name_plural = _("customer bindings")

    def __str__(self) -> str:
        return f"{self.customer_id} -> KOC {self.koc_id}"


class BindingChange(models.Model):
    """One change of a shopper's binding, with its reason: the history 抢客 disputes are settled on."""

    class Reason(models.TextChoices):
        BOUND = "bound", _("Bound")  # no current binding (none, or the previous one expired)
        RENEWED = "renewed", _("Renewed")  # the same KOC touched the customer again
        SWITCHED = "switched", _("Switched")  # last touch, outside the current KOC's protection period
        RELEASED = "released", _("Released")  # an operator ended it

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    binding = models.ForeignKey(
        CustomerBinding,
        on_delete=models.CASCADE,
        related_name="changes",
        null=True,
        blank=True,
        verbose_name=_("binding"),
    )
    from_koc = models.ForeignKey(
        "kocs.Koc",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("previous KOC"),
    )
    to_koc = models.ForeignKey(
        "kocs.Koc",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("new KOC"),
    )
    link = models.ForeignKey(
        ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("link")
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    via = models.CharField(_("via"), max_length=16, blank=True)  # api, login, landing, admin
    policy = models.JSONField(_("policy at the time"), default=dict)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    protected_until = models.DateTimeField(_("protected until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("binding change")
        verbose_name_plural = _("binding changes")

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_koc_id} -> {self.to_koc_id} ({self.reason})"
