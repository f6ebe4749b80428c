"""The commission engine's tables: rule sets, the facts it received, commissions and the ledger.

Three kinds of rows, on purpose:

- **Rules** (`RuleSet`, `Rule`): versioned, edited in the admin while `draft`, frozen once `active`.
  An order is paid by the rule set in force at its `paid_at` (effective windows never overlap).
- **Facts** (`OrderFact`, `RefundFact`): what the shop told us, merged idempotently by natural key
  (order id, refund id), so events may arrive twice or in any order.
- **Money** (`Commission`, `LedgerEntry`, `Account`): a `Commission` is one earning (order x beneficiary
  x rule) with its snapshot (rule, version, base, rate, level, explanation); a `LedgerEntry` is one
  movement of money between buckets, append-only (refused by the model and, on PostgreSQL, by a
  trigger). Balances are sums of entries. `Commission.status` and the fen counters next to it are a
  projection, moved in the same transaction as the entries that justify them.

Every id of another app (KOC, order, product, brand, category) is a plain integer: the engine only
reads those apps through `sources.py`, and its migrations do not depend on theirs.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.crypto import EncryptedTextField
from apps.core.money import yuan_grouped

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


# --- rules ------------------------------------------------------------------------------------------


class RuleSet(models.Model):
    """A versioned commission plan. Draft while being edited; active sets are immutable.

    `version` is a global, increasing number given at creation; a change to an active plan is a new
    draft (the admin's "copy as new version") activated from a later `effective_from`.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    name = models.CharField(_("name"), max_length=64)
    version = models.PositiveIntegerField(_("version"), unique=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    effective_from = models.DateTimeField(_("effective from"), null=True, blank=True)
    effective_to = models.DateTimeField(
        _("effective until"),
        null=True,
        blank=True,
        help_text=_("Empty means no end."),
    )
    notes = models.TextField(_("notes"), blank=True)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("activated at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-version"]
        indexes = [models.Index(fields=["status", "effective_from"], name="comm_ruleset_status_from")]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_from__isnull=True)
                | Q(effective_to__gt=F("effective_from")),
                name="comm_ruleset_window",
            )
        ]
        verbose_name = _("commission rule set")
        verbose_name_plural = _("commission rule sets")

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class Rule(models.Model):
    """One incentive of a rule set. Which fields matter depends on `kind` (see `clean`).

    - sales (销售奖励): `level` 0 = the attributed KOC, 1..n = individual uplines on the order's date;
      percent of the paid amount or a fixed amount per unit; scope all / brand / category / product.
      At one level the most specific matching rule wins (product > category > brand > all).
    - team (团队业绩奖励): a percent of subtree sales to organisation ancestors (`beneficiary_role`
      agency or branch). Never to individuals.
    - periodic (周期性奖励): a month's or quarter's own or team completed sales (amount or units) reaching
      `target`; pays `amount_fen` once per KOC per period.
    - targeted (定向奖励): extra percent / per-unit for chosen products and/or KOCs in [valid_from,
      valid_to); stacks on the attributed KOC's sales reward.
    - tier (等级权益): adds the attributed KOC's level `commission_bonus_percent`.
    - signup (注册/拉新奖励): listed only to be refused by compliance, with its own error.
    """

    class Kind(models.TextChoices):
        SALES = "sales", _("Sales reward")
        TEAM = "team", _("Team performance reward (organisations only)")
        PERIODIC = "periodic", _("Periodic reward")
        TARGETED = "targeted", _("Targeted reward")
        TIER = "tier", _("Level benefit")
        SIGNUP = "signup", _("Recruiting / signup reward (forbidden)")

    class Basis(models.TextChoices):
        PERCENT = "percent", _("Percent of the amount paid")
        PER_UNIT = "per_unit", _("Fixed amount per unit")

    class Scope(models.TextChoices):
        ALL = "all", _("All products")
        BRAND = "brand", _("Brand")
        CATEGORY = "category", _("Category")
        PRODUCT = "product", _("Product")

    class Period(models.TextChoices):
        MONTH = "month", _("Monthly")
        QUARTER = "quarter", _("Quarterly")

    class Measure(models.TextChoices):
        OWN = "own", _("Own sales")
        TEAM = "team", _("Team sales")

    class Metric(models.TextChoices):
        AMOUNT = "amount", _("Sales amount")
        UNITS = "units", _("Units sold")
        RECRUITS = "recruits", _("New recruits (forbidden)")

    class Role(models.TextChoices):
        BRANCH = "branch", _("Branch")
        AGENCY = "agency", _("Agency")
        LEADER = "leader", _("Team leader")
        KOC = "koc", _("KOC")

    rule_set = models.ForeignKey(
        RuleSet, on_delete=models.CASCADE, related_name="rules", verbose_name=_("rule set")
    )
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.SALES)
    level = models.PositiveSmallIntegerField(
        _("level"),
        default=0,
        help_text=_("0 = the selling KOC, 1 = their parent, 2 = the parent's parent."),
    )
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices, default=Basis.PERCENT)
    rate_percent = models.DecimalField(
        _("rate (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=PERCENT,
    )
    amount_fen = models.PositiveIntegerField(
        _("amount"),
        null=True,
        blank=True,
        help_text=_("Per-unit amount, or the periodic reward."),
    )
    scope = models.CharField(_("applies to"), max_length=16, choices=Scope.choices, default=Scope.ALL)
    scope_id = models.BigIntegerField(
        _("scope id"),
        null=True,
        blank=True,
        help_text=_("The id of the brand, category or product."),
    )
    product_ids = models.JSONField(_("targeted product ids"), default=list, blank=True)
    koc_ids = models.JSONField(_("targeted KOC ids"), default=list, blank=True)
    valid_from = models.DateTimeField(_("campaign starts"), null=True, blank=True)
    valid_to = models.DateTimeField(_("campaign ends"), null=True, blank=True)
    beneficiary_role = models.CharField(
        _("beneficiary role"),
        max_length=16,
        choices=Role.choices,
        blank=True,
    )
    period = models.CharField(_("period"), max_length=16, choices=Period.choices, blank=True)
    measure = models.CharField(_("measured on"), max_length=16, choices=Measure.choices, blank=True)
    metric = models.CharField(_("metric"), max_length=16, choices=Metric.choices, blank=True)
    target = models.PositiveBigIntegerField(_("target"), null=True, blank=True)

    class Meta:
        ordering = ["rule_set_id", "kind", "level", "id"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    # The fields each kind reads (engine.rule_applies and the engine's kinds). Anything else set on
    # a rule of that kind is refused at save: a field the engine would silently ignore is a rule
    # that pays what it does not say.
    KIND_FIELDS = {
        Kind.SALES: {
            "level", "basis", "rate_percent", "amount_fen", "scope", "scope_id", "product_ids", "koc_ids",
            "valid_from", "valid_to",
        },
        Kind.TARGETED: {
            "basis", "rate_percent", "amount_fen", "scope", "scope_id", "product_ids", "koc_ids",
            "valid_from", "valid_to",
        },
        Kind.TIER: {"scope", "scope_id", "product_ids", "koc_ids", "valid_from", "valid_to"},
        Kind.TEAM: {
            "rate_percent", "scope", "scope_id", "product_ids", "koc_ids", "valid_from", "valid_to",
            "beneficiary_role",
        },
        Kind.PERIODIC: {
            "amount_fen", "scope", "scope_id", "product_ids", "koc_ids", "valid_from", "valid_to",
            "beneficiary_role", "period", "measure", "metric", "target",
        },
    }  # fmt: skip
    FIELD_DEFAULTS = {
        "level": 0, "basis": Basis.PERCENT, "rate_percent": None, "amount_fen": None, "scope": Scope.ALL,
        "scope_id": None, "product_ids": [], "koc_ids": [], "valid_from": None, "valid_to": None,
        "beneficiary_role": "", "period": "", "measure": "", "metric": "", "target": None,
    }  # fmt: skip

    def fields_set(self) -> set[str]:
        """The kind-dependent fields that hold something other than their empty value."""
        return {
            name for name, empty in self.FIELD_DEFAULTS.items() if getattr(self, name) not in (empty, None)
        }

    def clean(self):
        """Shape checks of one rule; the compliance checks of the whole set are in compliance.py."""
        errors: dict[str, str] = {}
        allowed = self.KIND_FIELDS.get(self.kind)
        if allowed is not None:
            for name in sorted(self.fields_set() - allowed):
                errors[name] = gettext("A “%(kind)s” rule does not use this field: leave it empty.") % {
                    "kind": self.get_kind_display()
                }
        if self.kind in (self.Kind.SALES, self.Kind.TARGETED):
            if self.basis == self.Basis.PERCENT and self.amount_fen is not None:
                errors["amount_fen"] = gettext("A percentage rule does not use an amount: leave it empty.")
            if self.basis == self.Basis.PER_UNIT and self.rate_percent is not None:
                errors["rate_percent"] = gettext(
                    "A fixed-amount-per-unit rule does not use a percentage: leave it empty."
                )
        needs_amount = self.kind == self.Kind.PERIODIC or (
            self.kind in (self.Kind.SALES, self.Kind.TARGETED) and self.basis == self.Basis.PER_UNIT
        )
        needs_rate = self.kind == self.Kind.TEAM or (
            self.kind in (self.Kind.SALES, self.Kind.TARGETED) and self.basis == self.Basis.PERCENT
        )
        if needs_rate and self.rate_percent is None:
            errors["rate_percent"] = gettext("Please fill in the rule's percentage.")
        if needs_amount and not self.amount_fen:
            errors["amount_fen"] = gettext("Please fill in the rule's amount.")
        if self.scope != self.Scope.ALL and self.scope_id is None:
            errors["scope_id"] = gettext(
                "Please fill in the brand, category or product ID of the rule's scope."
            )
        if self.kind == self.Kind.PERIODIC:
            for name in ("period", "measure", "metric"):
                if not getattr(self, name):
                    errors[name] = gettext("A periodic reward needs this field.")
            if self.metric != self.Metric.RECRUITS and not self.target:
                errors["target"] = gettext("A periodic reward needs a target.")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            errors["valid_to"] = gettext("The rule's end time must be later than its start time.")
        for name in ("product_ids", "koc_ids"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
                errors[name] = gettext("Please fill in a list of IDs, such as [1, 2].")
        if errors:
            raise ValidationError(errors)


# --- facts ------------------------------------------------------------------------------------------


class OrderFact(models.Model):
    """Everything the shop told us about one order, merged from its events in any order.

    `payload` is the order_paid (or order_completed) payload: the attribution snapshot and the items.
    `accrued_at` is set once the order's commissions exist; `rule_set` is the set that paid it.
    """

    order_id = models.BigIntegerField(unique=True, verbose_name=_("order"))
    order_no = models.CharField(max_length=32, blank=True, verbose_name=_("order number"))
    buyer_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("buyer"))
    attributed_koc_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("attributed KOC")
    )
    paid_fen = models.BigIntegerField(default=0, verbose_name=_("paid"))
    total_fen = models.BigIntegerField(default=0, verbose_name=_("total"))
    units = models.PositiveIntegerField(default=0, verbose_name=_("units"))
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("paid at"))
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("completed at"))
    refunded_fen = models.BigIntegerField(
        default=0, help_text=_("largest cumulative refund reported"), verbose_name=_("refunded")
    )
    # What order_completed said was refunded by then: the freeze waits until those refunds are here.
    refunded_at_completion_fen = models.BigIntegerField(default=0, verbose_name=_("refunded at completion"))
    payload = models.JSONField(default=dict, blank=True, verbose_name=_("payload"))
    accrued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accrued at"))
    frozen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("completion applied to the commissions"),
        verbose_name=_("frozen at"),
    )
    rule_set = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rule set")
    )
    cap_fen = models.BigIntegerField(default=0, verbose_name=_("commission cap"))
    # A completion or refund arrived: the periodic rewards of a closed period it belongs to are
    # recomputed by periods.periods_resync (settle_commissions, or a task after commit).
    periods_stale = models.BooleanField(default=False, db_index=True, verbose_name=_("periods to recompute"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("order fact")
        verbose_name_plural = _("order facts")

    def __str__(self) -> str:
        return self.order_no or str(self.order_id)

    @property
    def has_payment(self) -> bool:
        return self.paid_at is not None and bool(self.payload)


class OrderOrgLink(models.Model):
    """An organisation node the order's KOC was under when the order was paid (team sales)."""

    order = models.ForeignKey(
        OrderFact, on_delete=models.CASCADE, related_name="org_links", verbose_name=_("order")
    )
    org_koc_id = models.BigIntegerField(db_index=True, verbose_name=_("organisation"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "org_koc_id"], name="comm_one_org_link")]
        verbose_name_plural = _("order organisation links")
        verbose_name = _("order organisation link")

    def __str__(self) -> str:
        return f"{self.order_id} <- org {self.org_koc_id}"


class RefundFact(models.Model):
    """One refund of an order, as reported; `applied_at` once its reversals are in the ledger."""

    refund_id = models.BigIntegerField(unique=True, verbose_name=_("refund"))
    order_id = models.BigIntegerField(db_index=True, verbose_name=_("order"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    refunded_fen = models.BigIntegerField(
        help_text=_("the order's cumulative refunded amount after it"), verbose_name=_("refunded to date")
    )
    # Refunds of returned lines: this refund's lines ([[item_id, units], ...]), and the order's
    # cumulative units returned per item and fen refunded by line refunds after it.
    items = models.JSONField(default=list, blank=True, verbose_name=_("items"))
    units_after = models.JSONField(default=list, blank=True, verbose_name=_("units after"))
    lines_fen_after = models.BigIntegerField(default=0, verbose_name=_("lines after"))
    paid_fen = models.BigIntegerField(verbose_name=_("paid"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded at"))
    applied_at = models.DateTimeField(null=True, blank=True, verbose_name=_("applied at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["order_id", "refund_id"]
        verbose_name = _("refund fact")
        verbose_name_plural = _("refund facts")

    def __str__(self) -> str:
        return f"refund {self.refund_id} of order {self.order_id}"


# --- money ------------------------------------------------------------------------------------------


class Bucket(models.TextChoices):
    """Where a KOC's money is. `earned` is the source of every accrual; `reversed`, `paid` and `tax`
    are sinks. A KOC's balance in a bucket = what moved in minus what moved out."""

    EARNED = "earned", _("Earned (source)")
    PENDING = "pending", _("Pending completion")
    FROZEN = "frozen", _("Frozen")
    AVAILABLE = "available", _("Available")
    WITHDRAWING = "withdrawing", _("Withdrawing")
    PAID = "paid", _("Paid out")
    TAX = "tax", _("Tax withheld")
    REVERSED = "reversed", _("Reversed")


class Account(models.Model):
    """One per KOC: the row locked (select_for_update, by pk) around every change of its money."""

    koc_id = models.BigIntegerField(unique=True, verbose_name=_("KOC"))
    is_organisation = models.BooleanField(default=False, verbose_name=_("organisation account"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("commission account")
        verbose_name_plural = _("commission accounts")

    def __str__(self) -> str:
        return gettext("Account of KOC #%(koc)s") % {"koc": self.koc_id}


class Commission(models.Model):
    """One earning, with the snapshot that explains it. `amount_fen` never changes after creation.

    `key` is the natural key that makes accrual idempotent:
    `o:<order>:r:<rule>:k:<koc>` for order commissions, `p:<rule>:k:<koc>:<period start>` for
    periodic rewards. `status`, `reversed_fen`, `allocated_fen`, `paid_fen` and `available_at` are the
    projection kept next to the ledger entries.
    """

    class Kind(models.TextChoices):
        DIRECT = "direct", _("Direct reward")
        UPLINE = "upline", _("Upline reward")
        TEAM = "team", _("Team performance reward")
        TARGETED = "targeted", _("Targeted reward")
        TIER = "tier", _("Level bonus")
        PERIODIC = "periodic", _("Periodic bonus")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending completion")
        FROZEN = "frozen", _("Frozen")
        AVAILABLE = "available", _("Available")
        WITHDRAWING = "withdrawing", _("Withdrawing")
        PAID = "paid", _("Paid out")
        REVERSED = "reversed", _("Reversed")

    key = models.CharField(max_length=96, unique=True, verbose_name=_("key"))
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="commissions", verbose_name=_("account")
    )
    koc_id = models.BigIntegerField(db_index=True, verbose_name=_("KOC"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    level = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("level"))
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True, verbose_name=_("order"))
    order_no = models.CharField(max_length=32, blank=True, verbose_name=_("order number"))
    rule = models.ForeignKey(
        Rule, on_delete=models.PROTECT, related_name="commissions", verbose_name=_("rule")
    )
    rule_set = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, related_name="commissions", verbose_name=_("rule set")
    )
    rule_set_version = models.PositiveIntegerField(verbose_name=_("rule set version"))
    base_fen = models.BigIntegerField(
        help_text=_("the amount the rate applies to (paid share of the items)"), verbose_name=_("base")
    )
    rate_percent = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True, verbose_name=_("rate (%)")
    )
    unit_fen = models.BigIntegerField(null=True, blank=True, verbose_name=_("per unit"))
    quantity = models.PositiveIntegerField(default=0, verbose_name=_("quantity"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    explanation = models.TextField(verbose_name=_("explanation"))
    period_start = models.DateField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateField(null=True, blank=True, verbose_name=_("period end"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status")
    )
    available_at = models.DateTimeField(null=True, blank=True, verbose_name=_("available from"))
    reversed_fen = models.BigIntegerField(default=0, verbose_name=_("reversed"))
    # [[item_id, fen], ...]: what each order line earned of amount_fen, so that a refund of returned
    # lines takes back exactly what those lines earned (engine.kept_fen). Empty for periodic rewards.
    lines = models.JSONField(default=list, blank=True, verbose_name=_("lines"))
    allocated_fen = models.BigIntegerField(
        default=0, help_text=_("taken by withdrawals (FIFO)"), verbose_name=_("allocated")
    )
    paid_out_fen = models.BigIntegerField(
        default=0, help_text=_("of the allocated, paid out"), verbose_name=_("paid out")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "available_at"], name="comm_status_available_at"),
            models.Index(fields=["koc_id", "status"], name="comm_koc_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="comm_amount_positive"),
            models.CheckConstraint(
                condition=Q(reversed_fen__gte=0) & Q(reversed_fen__lte=F("amount_fen")),
                name="comm_reversed_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(allocated_fen__gte=0)
                & Q(paid_out_fen__gte=0)
                & Q(paid_out_fen__lte=F("allocated_fen")),
                name="comm_allocation_sane",
            ),
        ]
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ¥{yuan_grouped(self.amount_fen)} → KOC #{self.koc_id}"

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.reversed_fen


class AppendOnly(Exception):
    """A ledger entry was about to be changed or deleted."""


class LedgerEntry(models.Model):
    """One movement of `amount_fen` (> 0) of a KOC's money from one bucket to another. Append-only.

    `key` is the natural key of the action that wrote it, so no action writes twice:
    `c:<commission>:accrue`, `c:<commission>:freeze`, `c:<commission>:release`,
    `c:<commission>:reverse:<refund>`, `w:<withdrawal>:debit|pay|tax|return`, ...
    """

    class Kind(models.TextChoices):
        ACCRUAL = "accrual", _("Accrual")
        FREEZE = "freeze", _("Order completed, frozen")
        RELEASE = "release", _("Freeze over, available")
        REVERSAL = "reversal", _("Reversed by a refund")
        WITHDRAWAL = "withdrawal", _("Withdrawal requested")
        PAYOUT = "payout", _("Withdrawal paid")
        TAX = "tax", _("Tax withheld")
        RETURN = "return", _("Withdrawal failed, returned")

    key = models.CharField(max_length=96, unique=True, verbose_name=_("key"))
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    koc_id = models.BigIntegerField(verbose_name=_("KOC"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    from_bucket = models.CharField(max_length=16, choices=Bucket.choices, verbose_name=_("from"))
    to_bucket = models.CharField(max_length=16, choices=Bucket.choices, verbose_name=_("to"))
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    commission = models.ForeignKey(
        Commission,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("commission"),
    )
    withdrawal = models.ForeignKey(
        "Withdrawal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("withdrawal"),
    )
    order_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("order"))
    refund_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("refund"))
    explanation = models.TextField(blank=True, verbose_name=_("explanation"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["account", "to_bucket"], name="comm_entry_acct_to"),
            models.Index(fields=["account", "from_bucket"], name="comm_entry_acct_from"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="comm_entry_amount_positive"),
            models.CheckConstraint(condition=~Q(from_bucket=F("to_bucket")), name="comm_entry_moves"),
        ]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries (append-only)")

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} ¥{yuan_grouped(self.amount_fen)} "
            f"{self.get_from_bucket_display()} → {self.get_to_bucket_display()} (KOC #{self.koc_id})"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnly("账本分录只能新增，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("账本分录不能删除")


# --- withdrawals ------------------------------------------------------------------------------------


class PayoutSettings(models.Model):
    """The one row of payout limits, edited in the admin (`PayoutSettings.load()` creates it)."""

    min_withdrawal_fen = models.PositiveIntegerField(_("minimum withdrawal"), default=100)
    daily_max_fen = models.PositiveBigIntegerField(_("daily limit per person"), default=5_000_000)
    transfer_remark = models.CharField(_("transfer remark"), max_length=32, default="推广佣金")
    b2b_invoice_required = models.BooleanField(
        _("organisations invoice before payment"),
        default=False,
        help_text=_(
            "When on, an organisation's (branch, agency) bank settlement cannot be marked paid before "
            "its invoice is received."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("payout settings")
        verbose_name_plural = _("payout settings")

    def __str__(self) -> str:
        return gettext("Payout settings")

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> PayoutSettings:
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings


class Withdrawal(models.Model):
    """A KOC's request to take `amount_fen` out; individuals by merchant transfer, net of tax.

    created (money debited, WeChat not answered yet) -> wait_user_confirm (package_info ready) ->
    processing (user confirmed) -> succeeded | failed (money returned by a new entry);
    wait_user_confirm -> cancelling (WeChat accepted our cancel) -> cancelled (money returned).
    The money returns only when WeChat says FAIL or CANCELLED. A SUCCESS WeChat reports after we
    recorded failed/cancelled (a transfer that went through after all) is applied all the same and
    flagged `late_success`, its ledger entries explaining it.
    Organisations: b2b_pending -> succeeded | failed, settled gross by bank transfer against an invoice.
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Accepted")
        WAIT_USER_CONFIRM = "wait_user_confirm", _("Waiting for the user to confirm")
        PROCESSING = "processing", _("Transferring")
        B2B_PENDING = "b2b_pending", _("Awaiting bank transfer")
        CANCELLING = "cancelling", _("Cancelling")
        SUCCEEDED = "succeeded", _("Received")
        FAILED = "failed", _("Failed, returned")
        CANCELLED = "cancelled", _("Cancelled, returned")

    IN_FLIGHT = (
        Status.CREATED,
        Status.WAIT_USER_CONFIRM,
        Status.PROCESSING,
        Status.CANCELLING,
        Status.B2B_PENDING,
    )
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    class InvoiceStatus(models.TextChoices):
        NOT_APPLICABLE = "n/a", _("Not applicable (individual)")
        AWAITED = "awaited", _("Invoice awaited")
        RECEIVED = "received", _("Invoice received")

    class Channel(models.TextChoices):
        WECHAT = "wechat_transfer", _("WeChat merchant transfer")
        B2B = "b2b", _("Bank settlement")

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="withdrawals", verbose_name=_("account")
    )
    koc_id = models.BigIntegerField(db_index=True, verbose_name=_("KOC"))
    user_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("user"))
    channel = models.CharField(
        max_length=16, choices=Channel.choices, default=Channel.WECHAT, verbose_name=_("channel")
    )
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))
    tax_fen = models.BigIntegerField(default=0, verbose_name=_("tax withheld"))
    net_fen = models.BigIntegerField(verbose_name=_("net paid"))
    tax_month = models.DateField(verbose_name=_("tax month"))
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CREATED, verbose_name=_("status")
    )
    idempotency_key = models.CharField(max_length=128, verbose_name=_("idempotency key"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response sent"))
    out_bill_no = models.CharField(max_length=32, unique=True, verbose_name=_("transfer number"))
    transfer_bill_no = models.CharField(max_length=64, blank=True, verbose_name=_("WeChat transfer number"))
    wechat_state = models.CharField(max_length=32, blank=True, verbose_name=_("WeChat state"))
    package_info = models.TextField(blank=True, verbose_name=_("package info"))
    openid = models.CharField(max_length=128, blank=True, verbose_name=_("openid"))
    fail_reason = models.CharField(max_length=200, blank=True, verbose_name=_("failure reason"))
    # WeChat reported SUCCESS after the project had recorded failed/cancelled: paid after all.
    late_success = models.BooleanField(default=False, verbose_name=_("succeeded after being returned"))
    # B2B settlements: the organisation's invoice for the amount (individuals: not applicable).
    invoice_status = models.CharField(
        _("invoice"),
        max_length=16,
        choices=InvoiceStatus.choices,
        default=InvoiceStatus.NOT_APPLICABLE,
    )
    invoice_no = models.CharField(_("invoice number"), max_length=32, blank=True)
    invoice_received_at = models.DateTimeField(_("invoice received at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["koc_id", "idempotency_key"], name="comm_withdrawal_idem"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="comm_withdrawal_positive"),
            models.CheckConstraint(
                condition=Q(tax_fen__gte=0) & Q(net_fen=F("amount_fen") - F("tax_fen")),
                name="comm_withdrawal_net",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="comm_withdrawal_status")]
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")

    def __str__(self) -> str:
        return f"{self.out_bill_no} ¥{yuan_grouped(self.amount_fen)} ({self.get_status_display()})"


class WithdrawalAllocation(models.Model):
    """Which commissions a withdrawal took (FIFO), so each commission can show withdrawing / paid."""

    withdrawal = models.ForeignKey(
        Withdrawal, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("withdrawal")
    )
    commission = models.ForeignKey(
        Commission, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("commission")
    )
    amount_fen = models.BigIntegerField(verbose_name=_("amount"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["withdrawal", "commission"], name="comm_one_allocation"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="comm_allocation_positive"),
        ]
        verbose_name_plural = _("withdrawal allocations")
        verbose_name = _("withdrawal allocation")

    def __str__(self) -> str:
        return f"{self.withdrawal_id} takes {self.amount_fen} of {self.commission_id}"


class TaxRecord(models.Model):
    """One payout's income and withholding for one person (劳务报酬, cumulative method). Append-only.

    Written when a transfer succeeds (income is recognised then), in the month of its success
    (Asia/Shanghai); a transfer that fails or is cancelled writes nothing. `cum_*` are the figures of
    the 16号 formula as they stood after this payout, for the monthly return; the computation itself
    only ever sums `income_fen` and `withheld_fen` of earlier records. A correction is a new record
    (kind `correction`, amounts may be negative), never an edit: the model refuses updates and
    deletes, and on PostgreSQL so does a trigger. Name and ID number are snapshots (the number
    encrypted), so what was declared stays what it was.
    """

    class Kind(models.TextChoices):
        PAYOUT = "payout", _("Withdrawal paid")
        CORRECTION = "correction", _("Correction")

    koc_id = models.BigIntegerField(db_index=True, verbose_name=_("KOC"))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAYOUT, verbose_name=_("kind"))
    withdrawal = models.OneToOneField(
        "Withdrawal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tax_record",
        verbose_name=_("withdrawal"),
    )
    month = models.DateField(
        help_text=_("first day of the month the income was recognised in"), verbose_name=_("month")
    )
    run_start = models.DateField(
        help_text=_("first month of the run of consecutive months it belongs to"), verbose_name=_("run start")
    )
    months = models.PositiveSmallIntegerField(
        help_text=_("months counted for the 5,000 yuan deduction"), verbose_name=_("months")
    )
    income_fen = models.BigIntegerField(verbose_name=_("income"))
    withheld_fen = models.BigIntegerField(verbose_name=_("withheld"))
    cum_income_fen = models.BigIntegerField(verbose_name=_("cumulative income"))
    cum_expense_fen = models.BigIntegerField(
        help_text=_("20% of the cumulative income (rounded half up)"), verbose_name=_("cumulative expenses")
    )
    cum_basic_deduction_fen = models.BigIntegerField(verbose_name=_("cumulative basic deduction"))
    cum_other_deductions_fen = models.BigIntegerField(
        default=0, verbose_name=_("cumulative other deductions")
    )
    cum_taxable_fen = models.BigIntegerField(verbose_name=_("cumulative taxable"))
    rate_percent = models.PositiveSmallIntegerField(verbose_name=_("tax rate (%)"))
    quick_deduction_fen = models.BigIntegerField(verbose_name=_("quick deduction"))
    cum_tax_fen = models.BigIntegerField(
        help_text=_("tax to date by the formula"), verbose_name=_("cumulative tax")
    )
    cum_withheld_fen = models.BigIntegerField(
        help_text=_("withheld in the run, this record included"), verbose_name=_("cumulative withheld")
    )
    real_name = models.CharField(max_length=32, blank=True, verbose_name=_("real name"))
    id_number = EncryptedTextField(blank=True, default="", verbose_name=_("ID number"))
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-month", "koc_id", "id"]
        indexes = [
            models.Index(fields=["month", "koc_id"], name="comm_tax_month_koc"),
            models.Index(fields=["koc_id", "month"], name="comm_tax_koc_month"),
        ]
        verbose_name = _("tax withholding record")
        verbose_name_plural = _("tax withholding records (append-only)")

    def __str__(self) -> str:
        return f"KOC {self.koc_id} {self.month:%Y-%m} {self.get_kind_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnly("个税记录只能新增，不能修改（更正请新增一条更正记录）")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("个税记录不能删除")

    @property
    def id_number_masked(self) -> str:
        from apps.kocs.models import mask_id_number

        return mask_id_number(self.id_number)


class TaxDeduction(models.Model):
    """累计依法确定的其他扣除 of one person in one month, as finance records it (used when the
    TAX_OTHER_DEDUCTIONS setting is on). Counted in every payout of its run from that month on."""

    koc_id = models.BigIntegerField(db_index=True, verbose_name=_("KOC"))
    month = models.DateField(help_text=_("first day of the month"), verbose_name=_("month"))
    amount_fen = models.PositiveBigIntegerField(_("amount"))
    note = models.CharField(_("legal basis"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-month", "koc_id"]
        verbose_name = _("other deduction")
        verbose_name_plural = _("other tax deductions")

    def __str__(self) -> str:
        return f"KOC #{self.koc_id} {self.month:%Y-%m} ¥{yuan_grouped(self.amount_fen)}"

    def save(self, *args, **kwargs):
        self.month = self.month.replace(day=1)  # a month, whatever day the form was given
        super().save(*args, **kwargs)


class WithdrawalRefusal(models.Model):
    """The first answer to an Idempotency-Key that was refused (409 insufficient_balance, ...).

    A retry with the same key and body answers it again, status and body, whatever changed since:
    the key names one request, and that request was refused. Only business refusals are kept, never
    an answer that says "try again" (503, withdrawal_in_progress) or a malformed request (400 from
    the serializer, before the service ran).
    """

    koc_id = models.BigIntegerField(verbose_name=_("KOC"))
    idempotency_key = models.CharField(max_length=128, verbose_name=_("idempotency key"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    status_code = models.PositiveSmallIntegerField(verbose_name=_("status code"))
    body = models.JSONField(verbose_name=_("response"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["koc_id", "idempotency_key"], name="comm_refusal_idem"),
        ]
        verbose_name_plural = _("refused withdrawals")
        verbose_name = _("refused withdrawal")

    def __str__(self) -> str:
        return f"{self.koc_id} {self.idempotency_key} -> {self.status_code}"


class PeriodRun(models.Model):
    """One periodic rule's period, closed (for every KOC at once) by settle_commissions."""

    rule = models.ForeignKey(
        Rule, on_delete=models.PROTECT, related_name="period_runs", verbose_name=_("rule")
    )
    period_start = models.DateField(verbose_name=_("period start"))
    period_end = models.DateField(help_text=_("exclusive"), verbose_name=_("period end"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    rewarded = models.PositiveIntegerField(default=0, verbose_name=_("rewarded"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "period_start"], name="comm_one_period_run")]
        verbose_name = _("period settlement")
        verbose_name_plural = _("period settlements")

    def __str__(self) -> str:
        return f"{self.rule_id} {self.period_start}..{self.period_end}"
