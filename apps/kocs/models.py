"""KOC profiles, the team tree (django-mptt), tiers, and the KOC app's own read model of sales.

The tree holds both organisation nodes (branch 分公司, agency 机构: companies, settled B2B) and
individuals (team leader 团长, KOC). Structural writes happen only in `services/` (its tree and
applications flows): never `save()` a Koc with a changed parent elsewhere. The parent pointers are
the tree's truth; the nested set (tree_id, lft, rght, depth) is renumbered from them by
`services.tree` (at once for small trees, by the refresher for large ones: README "The team tree").
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from mptt.fields import TreeForeignKey
from mptt.models import MPTTModel

from apps.core.crypto import EncryptedTextField

PERCENT_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


def mask_name(name: str) -> str:
    """张三丰 -> 张**: the first character and one star per hidden character."""
    name = name.strip()
    if len(name) <= 1:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(number: str) -> str:
    """330102199001011234 -> 3301**********1234: region prefix and last four only."""
    number = number.strip()
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


class Level(models.Model):
    """A tier (等级): reached by meeting every condition, giving a rate bonus and a lower own price.

    A head count never counts: `min_active_direct_kocs` counts direct KOCs who have themselves made
    at least one completed sale, and a level cannot rest on that condition alone (see `clean`).
    """

    name = models.CharField(_("name"), max_length=32, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    min_own_sales_fen = models.PositiveBigIntegerField(_("own sales threshold (fen)"), default=0)
    min_team_sales_fen = models.PositiveBigIntegerField(_("team sales threshold (fen)"), default=0)
    min_active_direct_kocs = models.PositiveIntegerField(_("direct KOCs with a sale, at least"), default=0)
    commission_bonus_percent = models.DecimalField(
        _("commission bonus (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT_VALIDATORS,
    )
    own_purchase_discount_percent = models.DecimalField(
        _("own purchase discount (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("90"))],
        help_text=_("own price = list price × (100 − discount) / 100, rounded to the fen"),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier level")
        verbose_name_plural = _("levels and benefits")

    def __str__(self) -> str:
        return f"{self.name} (L{self.rank})"

    def clean(self):
        if self.min_active_direct_kocs and not (self.min_own_sales_fen or self.min_team_sales_fen):
            # 禁止传销条例: reward for recruiting people is forbidden, so a level always needs sales.
            raise ValidationError(
                {
                    "min_active_direct_kocs": _(
                        "A level cannot rest on a head count alone: it also needs own or team sales"
                    )
                }
            )


class Koc(MPTTModel):
    """A node of the team tree: an organisation (branch, agency) or an individual (leader, KOC).

    An applicant is a pending root node of its own; approval places it under its sponsor (the KOC
    whose invite code it used). Becoming a KOC never costs money and never requires a purchase.
    """

    class Role(models.TextChoices):
        BRANCH = "branch", _("branch")
        AGENCY = "agency", _("agency")
        LEADER = "leader", _("team leader")
        KOC = "koc", "KOC"

    class Status(models.TextChoices):
        PENDING = "pending", _("pending review")
        APPROVED = "approved", _("approved (KOC)")
        REJECTED = "rejected", _("rejected (KOC)")
        SUSPENDED = "suspended", _("suspended")

    ORGANISATION_ROLES = frozenset({Role.BRANCH, Role.AGENCY})
    INDIVIDUAL_ROLES = frozenset({Role.LEADER, Role.KOC})

    # Organisation nodes may have no login of their own.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="koc",
        null=True,
        blank=True,
    )
    # No index on role or status: four values each over a million rows, no query is selective on
    # them except the review queue (status = pending: a partial index, below).
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.KOC)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    parent = TreeForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    # The KOC whose invite code the applicant used; becomes the parent on approval.
    sponsor = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("inviter")
    )
    # Unique through a constraint, not unique=True: on PostgreSQL that also builds a LIKE index
    # (varchar_pattern_ops) nothing uses, one more index every row write maintains.
    invite_code = models.CharField(_("invite code"), max_length=16)

    # Individuals: kept for tax withholding (劳务报酬), shown masked. The ID number is encrypted at
    # rest (apps/core/crypto.py); its keyed digest makes one number one KOC (no income split over
    # several accounts of one person). Set through services.koc_identity_set only.
    real_name = models.CharField(_("real name"), max_length=32, blank=True)
    id_number = EncryptedTextField(_("ID number"), blank=True, default="")
    id_number_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    # Organisations: a company, settled B2B.
    legal_name = models.CharField(_("company name"), max_length=100, blank=True)
    registration_number = models.CharField(_("unified social credit code"), max_length=32, blank=True)

    bio = models.TextField(_("bio"), blank=True)
    # What the KOC likes: brands find KOCs by it (product preference first, money second).
    favorite_categories = models.ManyToManyField(
        "shop.Category", blank=True, related_name="+", verbose_name=_("favourite categories")
    )
    level = models.ForeignKey(
        Level,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="kocs",
        verbose_name=_("tier level"),
    )
    # Since when the KOC has no longer met its level's conditions (None: it meets them); the
    # downgrade policy lowers the level once this is old enough (`TierPolicy`).
    level_below_since = models.DateTimeField(_("below the level's conditions since"), null=True, blank=True)
    # An operator's level holds through this (local) date: no automatic change until it has passed.
    level_held_until = models.DateField(_("level held until"), null=True, blank=True)
    rejection_reason = models.CharField(_("rejection reason"), max_length=200, blank=True)
    applied_at = models.DateTimeField(_("application date"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approval date"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    # The nested set, declared here so that tree_id has no index of its own: (tree_id, lft) below
    # serves every query on it. Derived from the parent pointers (services/tree.py).
    lft = models.PositiveIntegerField(editable=False)
    rght = models.PositiveIntegerField(editable=False)
    tree_id = models.PositiveIntegerField(editable=False)
    depth = models.PositiveIntegerField(editable=False)

    class MPTTMeta:
        parent_attr = "parent"
        # `level` is the tier (the commission engine reads koc.level); the tree depth is `depth`.
        level_attr = "depth"

    class Meta:
        # Subtree ranges (team sales, team size, branch filters) are lft ranges within one tree_id.
        indexes = [
            models.Index(fields=["tree_id", "lft"], name="kocs_koc_tree_lft"),
            models.Index(
                fields=["applied_at"], condition=models.Q(status="pending"), name="kocs_koc_pending"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["invite_code"], name="kocs_koc_invite_code_unique"),
            models.UniqueConstraint(
                fields=["id_number_digest"],
                condition=~models.Q(id_number_digest=""),
                name="kocs_one_koc_per_id_number",
            ),
        ]
        verbose_name = _("KOC / team node")
        verbose_name_plural = _("KOCs and teams")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()})"

    @property
    def is_organisation(self) -> bool:
        return self.role in self.ORGANISATION_ROLES

    @property
    def is_individual(self) -> bool:
        return self.role in self.INDIVIDUAL_ROLES

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def display_name(self) -> str:
        if self.is_organisation:
            return self.legal_name or self.invite_code
        user = self.user if self.user_id else None
        return (user.nickname if user else "") or mask_name(self.real_name) or self.invite_code

    @property
    def real_name_masked(self) -> str:
        return mask_name(self.real_name)

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def has_identity(self) -> bool:
        """What tax withholding needs of an individual: a real name and a valid ID number."""
        return bool(self.real_name.strip() and self.id_number)

    @property
    def team_size(self) -> int:
        """Members below this node, from the nested set (fresh lft/rght assumed)."""
        return (self.rght - self.lft - 1) // 2

    def clean(self):
        errors = {}
        if self.is_organisation:
            if not self.legal_name:
                errors["legal_name"] = _("An organisation needs its company name")
        elif not self.real_name:
            errors["real_name"] = _("An individual needs a real name")
        if errors:
            raise ValidationError(errors)


class KocTreeChange(models.Model):
    """A structural write whose tree still awaits renumbering (services/tree.py, the refresher).

    Insert-only on the write path (no row every writer must update): `koc_id` is the node placed
    or moved, or the old parent a subtree left. The refresher renumbers the tree each one is in
    when it runs (found through the parent pointers then) and deletes the rows it covered.
    """

    koc_id = models.BigIntegerField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("team tree change awaiting renumbering")
        verbose_name_plural = _("team tree changes awaiting renumbering")

    def __str__(self) -> str:
        return f"{self.koc_id} @ {self.at:%H:%M:%S}"


class KocParentHistory(models.Model):
    """Who was whose parent when: [valid_from, valid_to). Commissions ask it for a past date."""

    koc = models.ForeignKey(
        Koc, verbose_name=_("KOC"), on_delete=models.CASCADE, related_name="parent_history"
    )
    parent = models.ForeignKey(
        Koc, verbose_name=_("parent"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    valid_from = models.DateTimeField(
        _("valid from"),
    )
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["koc_id", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["koc"], condition=models.Q(valid_to__isnull=True), name="kocs_one_open_parent_row"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=models.F("valid_from")),
                name="kocs_parent_history_period",
            ),
        ]
        indexes = [models.Index(fields=["koc", "valid_from"], name="kocs_parent_hist_koc_from")]
        verbose_name = _("parent change")
        verbose_name_plural = _("parent history")

    def __str__(self) -> str:
        return f"{self.koc_id} -> {self.parent_id} [{self.valid_from:%Y-%m-%d %H:%M}, {self.valid_to or '…'})"


class TierPolicy(models.Model):
    """The one row of tier rules the admin edits (`TierPolicy.load()` creates it with the defaults).

    Levels are reached on cumulative sales to others, net of refunds; a refund (or a member moving
    away) can take a KOC below its level's conditions. Then:
    - after_days: the level drops to the highest level still met once the KOC has been below for
      `downgrade_after_days` days (0: at the evaluation that finds it below);
    - never: levels are only ever lowered by an operator. Beware: then a level reached on orders
      that are refunded afterwards is kept.
    The days count from the first evaluation that finds the KOC below (a refund's re-evaluation,
    or the nightly pass); a level an operator holds is not evaluated until its date has passed.
    """

    class Downgrade(models.TextChoices):
        AFTER_DAYS = "after_days", _("lower after N days below the conditions")
        NEVER = "never", _("never lower automatically")

    downgrade = models.CharField(
        _("downgrade rule"), max_length=16, choices=Downgrade.choices, default=Downgrade.AFTER_DAYS
    )
    downgrade_after_days = models.PositiveIntegerField(
        _("days below the conditions before lowering"),
        default=0,
        validators=[MaxValueValidator(3650)],
        help_text=_(
            "0 lowers at once when found below the conditions (say, re-evaluated after a refund); "
            "the nightly evaluation of everyone lowers those whose time has come"
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tier rules")
        verbose_name_plural = _("tier rules")

    def __str__(self) -> str:
        if self.downgrade == self.Downgrade.NEVER:
            return str(_("never lower automatically"))
        return _("lower after %(days)d days below the conditions") % {"days": self.downgrade_after_days}

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> TierPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class LevelHistory(models.Model):
    """Every level change: automatic upgrades and downgrades (with the figures), and manual sets
    (with the reason and the date the operator's level holds through)."""

    koc = models.ForeignKey(
        Koc, verbose_name=_("KOC"), on_delete=models.CASCADE, related_name="level_history"
    )
    from_level = models.ForeignKey(
        Level, verbose_name=_("from level"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_level = models.ForeignKey(
        Level, verbose_name=_("to level"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=200)
    automatic = models.BooleanField(_("automatic"), default=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    stats = models.JSONField(_("figures at the time"), default=dict, blank=True)
    held_until = models.DateField(_("held until"), null=True, blank=True)
    at = models.DateTimeField(_("changed at"), db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("level change")
        verbose_name_plural = _("level history")

    def __str__(self) -> str:
        return f"{self.koc_id}: {self.from_level_id} -> {self.to_level_id}"


class KocSale(models.Model):
    """One completed order attributed to a KOC: the read model tiers and team sales are counted on.

    Built from the shop's `order_completed` / `order_refunded` events; `amount_fen` is what the
    shopper finally paid, net of refunds. A KOC's own purchase (through her own link) is no sale and
    has no row here: tiers count only sales to others.
    """

    koc = models.ForeignKey(Koc, verbose_name=_("KOC"), on_delete=models.PROTECT, related_name="sales")
    order_id = models.BigIntegerField(_("order ID"), unique=True)
    order_no = models.CharField(_("order number"), max_length=64, blank=True)
    paid_fen = models.BigIntegerField(
        _("paid"),
    )
    refunded_fen = models.BigIntegerField(_("refunded (sale)"), default=0)
    amount_fen = models.BigIntegerField(
        _("net amount"),
    )
    units = models.PositiveIntegerField(_("units"), default=0)
    completed_at = models.DateTimeField(
        _("completed at"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-completed_at"]
        verbose_name = _("KOC sale")
        verbose_name_plural = _("KOC sales")

    def __str__(self) -> str:
        return f"{self.order_no or self.order_id}: {self.amount_fen} fen"


class KocOrderLine(models.Model):
    """An item of a completed order that involved a KOC: one they bought, or one they sold.

    Brand affinity reads these (what a KOC buys of a brand, what they sell of it).
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("own purchase")
        SALE = "sale", _("sold")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    koc = models.ForeignKey(Koc, verbose_name=_("KOC"), on_delete=models.PROTECT, related_name="order_lines")
    order_id = models.BigIntegerField(_("order ID"), db_index=True)
    item_id = models.BigIntegerField(
        _("order item ID"),
    )
    brand_id = models.BigIntegerField(_("brand ID"), null=True, blank=True)
    product_id = models.BigIntegerField(_("product ID"), null=True, blank=True)
    category_id = models.BigIntegerField(_("category ID"), null=True, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=0)
    line_fen = models.BigIntegerField(_("line amount"), default=0)
    refunded = models.BooleanField(_("refunded (line)"), default=False)
    completed_at = models.DateTimeField(
        _("completed at"),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "item_id"], name="kocs_one_line_per_item")]
        indexes = [models.Index(fields=["brand_id", "kind"], name="kocs_line_brand_kind")]
        verbose_name = _("KOC order line")
        verbose_name_plural = _("KOC order lines")

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id} ({self.koc_id})"


class KocProductPick(models.Model):
    """A product a KOC chose to feature in their storefront (选品)."""

    koc = models.ForeignKey(Koc, verbose_name=_("KOC"), on_delete=models.CASCADE, related_name="picks")
    product = models.ForeignKey(
        "shop.Product", verbose_name=_("product"), on_delete=models.CASCADE, related_name="+"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["koc_id", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["koc", "product"], name="kocs_one_pick_per_product")]
        verbose_name = _("storefront pick")
        verbose_name_plural = _("storefront picks")

    def __str__(self) -> str:
        return f"{self.koc_id}: {self.product_id}"


class BrandInvitation(models.Model):
    """A brand invites a KOC to partner (品牌合作); the KOC accepts or declines."""

    class Status(models.TextChoices):
        INVITED = "invited", _("awaiting an answer")
        ACCEPTED = "accepted", _("accepted")
        DECLINED = "declined", _("declined")

    brand = models.ForeignKey(
        "shop.Brand", verbose_name=_("brand"), on_delete=models.CASCADE, related_name="koc_invitations"
    )
    koc = models.ForeignKey(
        Koc, verbose_name=_("KOC"), on_delete=models.CASCADE, related_name="brand_invitations"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.INVITED, db_index=True
    )
    message = models.CharField(_("invitation message"), max_length=300, blank=True)
    # The affinity score when invited, kept so the brand can see why it picked this KOC.
    affinity_score = models.IntegerField(_("affinity score"), default=0)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("invited at"), auto_now_add=True)
    responded_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "koc"],
                condition=models.Q(status="invited"),
                name="kocs_one_open_invitation_per_brand",
            )
        ]
        verbose_name = _("brand partnership invitation")
        verbose_name_plural = _("brand partnership invitations")

    def __str__(self) -> str:
        return f"{self.brand_id} -> {self.koc_id} ({self.status})"
