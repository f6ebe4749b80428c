"""Daily reconciliation (对账): WeChat Pay's bills of a day against the project's records."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReconciliationRun(models.Model):
    """One day's comparison; running it again replaces its differences (the bills are the same)."""

    class Status(models.TextChoices):
        CLEAN = "clean", _("Matched")
        DIFFERENCES = "differences", _("Differences")
        FAILED = "failed", _("Could not finish")

    bill_date = models.DateField(unique=True, verbose_name=_("bill date"))
    status = models.CharField(max_length=16, choices=Status.choices, verbose_name=_("status"))
    payments = models.PositiveIntegerField(
        default=0, verbose_name=_("payments compared")
    )  # rows compared, each kind
    refunds = models.PositiveIntegerField(default=0, verbose_name=_("refunds compared"))
    transfers = models.PositiveIntegerField(default=0, verbose_name=_("transfers compared"))
    differences_count = models.PositiveIntegerField(default=0, verbose_name=_("differences"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        ordering = ["-bill_date"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")

    def __str__(self) -> str:
        return f"{self.bill_date} {self.get_status_display()}"


class Difference(models.Model):
    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        TRANSFER = "transfer", _("Merchant transfer")

    class Problem(models.TextChoices):
        MISSING_OURS = "missing_ours", _("At WeChat, missing here")
        MISSING_WECHAT = "missing_wechat", _("Here, missing at WeChat")
        AMOUNT = "amount", _("Amounts differ")
        STATE = "state", _("States differ")

    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="differences", verbose_name=_("run")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    reference = models.CharField(
        max_length=64, db_index=True, verbose_name=_("reference")
    )  # out_trade_no / out_refund_no / out_bill_no
    problem = models.CharField(max_length=16, choices=Problem.choices, verbose_name=_("problem"))
    wechat_amount_fen = models.BigIntegerField(null=True, blank=True, verbose_name=_("amount at WeChat"))
    our_amount_fen = models.BigIntegerField(null=True, blank=True, verbose_name=_("our amount"))
    wechat_state = models.CharField(max_length=32, blank=True, verbose_name=_("state at WeChat"))
    our_state = models.CharField(max_length=32, blank=True, verbose_name=_("our state"))
    explanation = models.CharField(max_length=300, blank=True, verbose_name=_("explanation"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_note = models.CharField(max_length=200, blank=True, verbose_name=_("resolution note"))

    class Meta:
        ordering = ["run", "kind", "reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "reference", "problem"], name="one_difference_per_problem"
            )
        ]
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference}: {self.get_problem_display()}"
