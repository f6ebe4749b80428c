"""Daily reconciliation (对账): WeChat Pay's bills of a day against the project's records."""

from __future__ import annotations

from django.db import models


class ReconciliationRun(models.Model):
    """One day's comparison; running it again replaces its differences (the bills are the same)."""

    class Status(models.TextChoices):
        CLEAN = "clean", "一致"
        DIFFERENCES = "differences", "有差异"
        FAILED = "failed", "未能完成"

    bill_date = models.DateField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    payments = models.PositiveIntegerField(default=0)  # rows compared, each kind
    refunds = models.PositiveIntegerField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    differences_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-bill_date"]
        verbose_name = "对账批次"
        verbose_name_plural = "对账批次"

    def __str__(self) -> str:
        return f"{self.bill_date} {self.get_status_display()}"


class Difference(models.Model):
    class Kind(models.TextChoices):
        PAYMENT = "payment", "支付"
        REFUND = "refund", "退款"
        TRANSFER = "transfer", "商家转账"

    class Problem(models.TextChoices):
        MISSING_OURS = "missing_ours", "微信有，本系统没有"
        MISSING_WECHAT = "missing_wechat", "本系统有，微信没有"
        AMOUNT = "amount", "金额不一致"
        STATE = "state", "状态不一致"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reference = models.CharField(max_length=64, db_index=True)  # out_trade_no / out_refund_no / out_bill_no
    problem = models.CharField(max_length=16, choices=Problem.choices)
    wechat_amount_fen = models.BigIntegerField(null=True, blank=True)
    our_amount_fen = models.BigIntegerField(null=True, blank=True)
    wechat_state = models.CharField(max_length=32, blank=True)
    our_state = models.CharField(max_length=32, blank=True)
    explanation = models.CharField(max_length=300, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "kind", "reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "reference", "problem"], name="one_difference_per_problem"
            )
        ]
        verbose_name = "对账差异"
        verbose_name_plural = "对账差异"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference}: {self.get_problem_display()}"
