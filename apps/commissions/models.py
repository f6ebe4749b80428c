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

from apps.core.crypto import EncryptedTextField

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


# --- rules ------------------------------------------------------------------------------------------


class RuleSet(models.Model):
    """A versioned commission plan. Draft while being edited; active sets are immutable.

    `version` is a global, increasing number given at creation; a change to an active plan is a new
    draft (the admin's "copy as new version") activated from a later `effective_from`.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        ACTIVE = "active", "生效"
        RETIRED = "retired", "已停用"

    name = models.CharField("名称", max_length=64)
    version = models.PositiveIntegerField("版本", unique=True, editable=False)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT)
    effective_from = models.DateTimeField("生效时间", null=True, blank=True)
    effective_to = models.DateTimeField("失效时间", null=True, blank=True, help_text="空表示长期有效")
    notes = models.TextField("说明", blank=True)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

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
        verbose_name = "分佣规则集"
        verbose_name_plural = "分佣规则集"

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
        SALES = "sales", "销售奖励"
        TEAM = "team", "团队业绩奖励 (仅机构)"
        PERIODIC = "periodic", "周期性奖励"
        TARGETED = "targeted", "定向奖励"
        TIER = "tier", "等级权益"
        SIGNUP = "signup", "拉新/注册奖励 (禁止)"

    class Basis(models.TextChoices):
        PERCENT = "percent", "按实付金额百分比"
        PER_UNIT = "per_unit", "按件固定金额"

    class Scope(models.TextChoices):
        ALL = "all", "全部商品"
        BRAND = "brand", "品牌"
        CATEGORY = "category", "类目"
        PRODUCT = "product", "商品"

    class Period(models.TextChoices):
        MONTH = "month", "月度"
        QUARTER = "quarter", "季度"

    class Measure(models.TextChoices):
        OWN = "own", "个人成交"
        TEAM = "team", "团队成交"

    class Metric(models.TextChoices):
        AMOUNT = "amount", "成交金额 (分)"
        UNITS = "units", "成交件数"
        RECRUITS = "recruits", "新增下级人数 (禁止)"

    class Role(models.TextChoices):
        BRANCH = "branch", "分公司"
        AGENCY = "agency", "机构"
        LEADER = "leader", "团长"
        KOC = "koc", "KOC"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField("名称", max_length=64)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices, default=Kind.SALES)
    level = models.PositiveSmallIntegerField(
        "层级", default=0, help_text="0 = 成交 KOC 本人，1 = 上级，2 = 上上级"
    )
    basis = models.CharField("计算方式", max_length=16, choices=Basis.choices, default=Basis.PERCENT)
    rate_percent = models.DecimalField(
        "比例 (%)", max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT
    )
    amount_fen = models.PositiveIntegerField(
        "金额 (分)", null=True, blank=True, help_text="按件金额或周期奖励金额"
    )
    scope = models.CharField("适用范围", max_length=16, choices=Scope.choices, default=Scope.ALL)
    scope_id = models.BigIntegerField("范围 ID", null=True, blank=True, help_text="品牌/类目/商品的 ID")
    product_ids = models.JSONField("定向商品 ID", default=list, blank=True)
    koc_ids = models.JSONField("定向 KOC ID", default=list, blank=True)
    valid_from = models.DateTimeField("活动开始", null=True, blank=True)
    valid_to = models.DateTimeField("活动结束", null=True, blank=True)
    beneficiary_role = models.CharField("受益角色", max_length=16, choices=Role.choices, blank=True)
    period = models.CharField("周期", max_length=16, choices=Period.choices, blank=True)
    measure = models.CharField("考核对象", max_length=16, choices=Measure.choices, blank=True)
    metric = models.CharField("考核指标", max_length=16, choices=Metric.choices, blank=True)
    target = models.PositiveBigIntegerField("目标值", null=True, blank=True)

    class Meta:
        ordering = ["rule_set_id", "kind", "level", "id"]
        verbose_name = "规则"
        verbose_name_plural = "规则"

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
                errors[name] = f"「{self.get_kind_display()}」不使用此字段，请留空"
        if self.kind in (self.Kind.SALES, self.Kind.TARGETED):
            if self.basis == self.Basis.PERCENT and self.amount_fen is not None:
                errors["amount_fen"] = "按比例计算的规则不使用金额，请留空"
            if self.basis == self.Basis.PER_UNIT and self.rate_percent is not None:
                errors["rate_percent"] = "按件固定金额的规则不使用比例，请留空"
        needs_amount = self.kind == self.Kind.PERIODIC or (
            self.kind in (self.Kind.SALES, self.Kind.TARGETED) and self.basis == self.Basis.PER_UNIT
        )
        needs_rate = self.kind == self.Kind.TEAM or (
            self.kind in (self.Kind.SALES, self.Kind.TARGETED) and self.basis == self.Basis.PERCENT
        )
        if needs_rate and self.rate_percent is None:
            errors["rate_percent"] = "请填写比例"
        if needs_amount and not self.amount_fen:
            errors["amount_fen"] = "请填写金额"
        if self.scope != self.Scope.ALL and self.scope_id is None:
            errors["scope_id"] = "请填写品牌/类目/商品 ID"
        if self.kind == self.Kind.PERIODIC:
            for name in ("period", "measure", "metric"):
                if not getattr(self, name):
                    errors[name] = "周期奖励需要填写"
            if self.metric != self.Metric.RECRUITS and not self.target:
                errors["target"] = "周期奖励需要目标值"
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            errors["valid_to"] = "结束时间必须晚于开始时间"
        for name in ("product_ids", "koc_ids"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
                errors[name] = "请填写 ID 列表，例如 [1, 2]"
        if errors:
            raise ValidationError(errors)


# --- facts ------------------------------------------------------------------------------------------


class OrderFact(models.Model):
    """Everything the shop told us about one order, merged from its events in any order.

    `payload` is the order_paid (or order_completed) payload: the attribution snapshot and the items.
    `accrued_at` is set once the order's commissions exist; `rule_set` is the set that paid it.
    """

    order_id = models.BigIntegerField(unique=True)
    order_no = models.CharField(max_length=32, blank=True)
    buyer_id = models.BigIntegerField(null=True, blank=True)
    attributed_koc_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    paid_fen = models.BigIntegerField(default=0)
    total_fen = models.BigIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    refunded_fen = models.BigIntegerField(default=0, help_text="largest cumulative refund reported")
    # What order_completed said was refunded by then: the freeze waits until those refunds are here.
    refunded_at_completion_fen = models.BigIntegerField(default=0)
    payload = models.JSONField(default=dict, blank=True)
    accrued_at = models.DateTimeField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True, help_text="completion applied to the commissions")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cap_fen = models.BigIntegerField(default=0)
    # A completion or refund arrived: the periodic rewards of a closed period it belongs to are
    # recomputed by periods.periods_resync (settle_commissions, or a task after commit).
    periods_stale = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "订单事实"
        verbose_name_plural = "订单事实"

    def __str__(self) -> str:
        return self.order_no or str(self.order_id)

    @property
    def has_payment(self) -> bool:
        return self.paid_at is not None and bool(self.payload)


class OrderOrgLink(models.Model):
    """An organisation node the order's KOC was under when the order was paid (team sales)."""

    order = models.ForeignKey(OrderFact, on_delete=models.CASCADE, related_name="org_links")
    org_koc_id = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "org_koc_id"], name="comm_one_org_link")]

    def __str__(self) -> str:
        return f"{self.order_id} <- org {self.org_koc_id}"


class RefundFact(models.Model):
    """One refund of an order, as reported; `applied_at` once its reversals are in the ledger."""

    refund_id = models.BigIntegerField(unique=True)
    order_id = models.BigIntegerField(db_index=True)
    amount_fen = models.BigIntegerField()
    refunded_fen = models.BigIntegerField(help_text="the order's cumulative refunded amount after it")
    # Refunds of returned lines: this refund's lines ([[item_id, units], ...]), and the order's
    # cumulative units returned per item and fen refunded by line refunds after it.
    items = models.JSONField(default=list, blank=True)
    units_after = models.JSONField(default=list, blank=True)
    lines_fen_after = models.BigIntegerField(default=0)
    paid_fen = models.BigIntegerField()
    refunded_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order_id", "refund_id"]
        verbose_name = "退款事实"
        verbose_name_plural = "退款事实"

    def __str__(self) -> str:
        return f"refund {self.refund_id} of order {self.order_id}"


# --- money ------------------------------------------------------------------------------------------


class Bucket(models.TextChoices):
    """Where a KOC's money is. `earned` is the source of every accrual; `reversed`, `paid` and `tax`
    are sinks. A KOC's balance in a bucket = what moved in minus what moved out."""

    EARNED = "earned", "计提来源"
    PENDING = "pending", "待完成"
    FROZEN = "frozen", "冻结中"
    AVAILABLE = "available", "可提现"
    WITHDRAWING = "withdrawing", "提现中"
    PAID = "paid", "已打款"
    TAX = "tax", "代扣个税"
    REVERSED = "reversed", "已冲回"


class Account(models.Model):
    """One per KOC: the row locked (select_for_update, by pk) around every change of its money."""

    koc_id = models.BigIntegerField(unique=True)
    is_organisation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "佣金账户"
        verbose_name_plural = "佣金账户"

    def __str__(self) -> str:
        return f"KOC {self.koc_id}"


class Commission(models.Model):
    """One earning, with the snapshot that explains it. `amount_fen` never changes after creation.

    `key` is the natural key that makes accrual idempotent:
    `o:<order>:r:<rule>:k:<koc>` for order commissions, `p:<rule>:k:<koc>:<period start>` for
    periodic rewards. `status`, `reversed_fen`, `allocated_fen`, `paid_fen` and `available_at` are the
    projection kept next to the ledger entries.
    """

    class Kind(models.TextChoices):
        DIRECT = "direct", "直推奖励"
        UPLINE = "upline", "上级奖励"
        TEAM = "team", "团队业绩奖励"
        TARGETED = "targeted", "定向奖励"
        TIER = "tier", "等级加成"
        PERIODIC = "periodic", "周期奖励"

    class Status(models.TextChoices):
        PENDING = "pending", "待完成"
        FROZEN = "frozen", "冻结中"
        AVAILABLE = "available", "可提现"
        WITHDRAWING = "withdrawing", "提现中"
        PAID = "paid", "已打款"
        REVERSED = "reversed", "已冲回"

    key = models.CharField(max_length=96, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="commissions")
    koc_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    order_no = models.CharField(max_length=32, blank=True)
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="commissions")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="commissions")
    rule_set_version = models.PositiveIntegerField()
    base_fen = models.BigIntegerField(help_text="the amount the rate applies to (paid share of the items)")
    rate_percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    unit_fen = models.BigIntegerField(null=True, blank=True)
    quantity = models.PositiveIntegerField(default=0)
    amount_fen = models.BigIntegerField()
    explanation = models.TextField()
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    available_at = models.DateTimeField(null=True, blank=True)
    reversed_fen = models.BigIntegerField(default=0)
    # [[item_id, fen], ...]: what each order line earned of amount_fen, so that a refund of returned
    # lines takes back exactly what those lines earned (engine.kept_fen). Empty for periodic rewards.
    lines = models.JSONField(default=list, blank=True)
    allocated_fen = models.BigIntegerField(default=0, help_text="taken by withdrawals (FIFO)")
    paid_out_fen = models.BigIntegerField(default=0, help_text="of the allocated, paid out")
    created_at = models.DateTimeField(auto_now_add=True)

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
        verbose_name = "佣金"
        verbose_name_plural = "佣金明细"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen} fen -> KOC {self.koc_id}"

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
        ACCRUAL = "accrual", "计提"
        FREEZE = "freeze", "订单完成，进入冻结期"
        RELEASE = "release", "冻结期满，可提现"
        REVERSAL = "reversal", "退款冲回"
        WITHDRAWAL = "withdrawal", "申请提现"
        PAYOUT = "payout", "提现到账"
        TAX = "tax", "代扣个税"
        RETURN = "return", "提现失败退回"

    key = models.CharField(max_length=96, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    koc_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_bucket = models.CharField(max_length=16, choices=Bucket.choices)
    to_bucket = models.CharField(max_length=16, choices=Bucket.choices)
    amount_fen = models.BigIntegerField()
    commission = models.ForeignKey(
        Commission, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    withdrawal = models.ForeignKey(
        "Withdrawal", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    order_id = models.BigIntegerField(null=True, blank=True)
    refund_id = models.BigIntegerField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

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
        verbose_name = "账本分录"
        verbose_name_plural = "账本分录 (只增不改)"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_fen} {self.from_bucket}->{self.to_bucket} (KOC {self.koc_id})"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnly("账本分录只能新增，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("账本分录不能删除")


# --- withdrawals ------------------------------------------------------------------------------------


class PayoutSettings(models.Model):
    """The one row of payout limits, edited in the admin (`PayoutSettings.load()` creates it)."""

    min_withdrawal_fen = models.PositiveIntegerField("单笔最低提现 (分)", default=100)
    daily_max_fen = models.PositiveBigIntegerField("每人每日提现上限 (分)", default=5_000_000)
    transfer_remark = models.CharField("转账备注", max_length=32, default="推广佣金")
    b2b_invoice_required = models.BooleanField(
        "机构结算须先收到发票",
        default=False,
        help_text="开启后，机构（分公司、机构）的对公结算在收到其发票前不能标记打款",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "提现设置"
        verbose_name_plural = "提现设置"

    def __str__(self) -> str:
        return "提现设置"

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
        CREATED = "created", "已受理"
        WAIT_USER_CONFIRM = "wait_user_confirm", "待用户确认收款"
        PROCESSING = "processing", "转账中"
        B2B_PENDING = "b2b_pending", "待对公打款"
        CANCELLING = "cancelling", "撤销中"
        SUCCEEDED = "succeeded", "已到账"
        FAILED = "failed", "失败已退回"
        CANCELLED = "cancelled", "已撤销已退回"

    IN_FLIGHT = (
        Status.CREATED,
        Status.WAIT_USER_CONFIRM,
        Status.PROCESSING,
        Status.CANCELLING,
        Status.B2B_PENDING,
    )
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    class InvoiceStatus(models.TextChoices):
        NOT_APPLICABLE = "n/a", "不适用（个人）"
        AWAITED = "awaited", "待收票"
        RECEIVED = "received", "已收票"

    class Channel(models.TextChoices):
        WECHAT = "wechat_transfer", "微信商家转账"
        B2B = "b2b", "对公结算"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="withdrawals")
    koc_id = models.BigIntegerField(db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WECHAT)
    amount_fen = models.BigIntegerField()
    tax_fen = models.BigIntegerField(default=0)
    net_fen = models.BigIntegerField()
    tax_month = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    idempotency_key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    response_body = models.JSONField(null=True, blank=True)
    out_bill_no = models.CharField(max_length=32, unique=True)
    transfer_bill_no = models.CharField(max_length=64, blank=True)
    wechat_state = models.CharField(max_length=32, blank=True)
    package_info = models.TextField(blank=True)
    openid = models.CharField(max_length=128, blank=True)
    fail_reason = models.CharField(max_length=200, blank=True)
    # WeChat reported SUCCESS after the project had recorded failed/cancelled: paid after all.
    late_success = models.BooleanField(default=False)
    # B2B settlements: the organisation's invoice for the amount (individuals: not applicable).
    invoice_status = models.CharField(
        "发票状态", max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.NOT_APPLICABLE
    )
    invoice_no = models.CharField("发票号码", max_length=32, blank=True)
    invoice_received_at = models.DateTimeField("收票时间", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

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
        verbose_name = "提现"
        verbose_name_plural = "提现"

    def __str__(self) -> str:
        return f"{self.out_bill_no} {self.amount_fen} fen ({self.status})"


class WithdrawalAllocation(models.Model):
    """Which commissions a withdrawal took (FIFO), so each commission can show withdrawing / paid."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="allocations")
    commission = models.ForeignKey(Commission, on_delete=models.PROTECT, related_name="allocations")
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["withdrawal", "commission"], name="comm_one_allocation"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="comm_allocation_positive"),
        ]

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
        PAYOUT = "payout", "提现到账"
        CORRECTION = "correction", "更正"

    koc_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAYOUT)
    withdrawal = models.OneToOneField(
        "Withdrawal", on_delete=models.PROTECT, null=True, blank=True, related_name="tax_record"
    )
    month = models.DateField(help_text="first day of the month the income was recognised in")
    run_start = models.DateField(help_text="first month of the run of consecutive months it belongs to")
    months = models.PositiveSmallIntegerField(help_text="months counted for the 5,000 yuan deduction")
    income_fen = models.BigIntegerField()
    withheld_fen = models.BigIntegerField()
    cum_income_fen = models.BigIntegerField()
    cum_expense_fen = models.BigIntegerField(help_text="20% of the cumulative income (rounded half up)")
    cum_basic_deduction_fen = models.BigIntegerField()
    cum_other_deductions_fen = models.BigIntegerField(default=0)
    cum_taxable_fen = models.BigIntegerField()
    rate_percent = models.PositiveSmallIntegerField()
    quick_deduction_fen = models.BigIntegerField()
    cum_tax_fen = models.BigIntegerField(help_text="tax to date by the formula")
    cum_withheld_fen = models.BigIntegerField(help_text="withheld in the run, this record included")
    real_name = models.CharField(max_length=32, blank=True)
    id_number = EncryptedTextField(blank=True, default="")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "koc_id", "id"]
        indexes = [
            models.Index(fields=["month", "koc_id"], name="comm_tax_month_koc"),
            models.Index(fields=["koc_id", "month"], name="comm_tax_koc_month"),
        ]
        verbose_name = "个税代扣记录"
        verbose_name_plural = "个税代扣记录 (劳务报酬，只增不改)"

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

    koc_id = models.BigIntegerField(db_index=True)
    month = models.DateField(help_text="first day of the month")
    amount_fen = models.PositiveBigIntegerField("金额 (分)")
    note = models.CharField("依据", max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "koc_id"]
        verbose_name = "其他扣除"
        verbose_name_plural = "个税其他扣除"

    def __str__(self) -> str:
        return f"KOC {self.koc_id} {self.month:%Y-%m} {self.amount_fen}"

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

    koc_id = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["koc_id", "idempotency_key"], name="comm_refusal_idem"),
        ]

    def __str__(self) -> str:
        return f"{self.koc_id} {self.idempotency_key} -> {self.status_code}"


class PeriodRun(models.Model):
    """One periodic rule's period, closed (for every KOC at once) by settle_commissions."""

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="period_runs")
    period_start = models.DateField()
    period_end = models.DateField(help_text="exclusive")
    closed_at = models.DateTimeField(null=True, blank=True)
    rewarded = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "period_start"], name="comm_one_period_run")]
        verbose_name = "周期结算"
        verbose_name_plural = "周期结算"

    def __str__(self) -> str:
        return f"{self.rule_id} {self.period_start}..{self.period_end}"
