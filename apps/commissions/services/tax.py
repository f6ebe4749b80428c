"""Individual income tax on payouts to individuals (团长, KOC): 劳务报酬 by the cumulative method.

Since 2025-10-01 an internet platform withholds the labour remuneration it pays to the people working
through it like wages (国家税务总局公告2025年第16号, applying the 累计预扣法 of 公告2018年第61号):

    本期应预扣预缴税额 = (累计收入 − 累计费用 − 累计免税收入 − 累计减除费用 − 累计依法确定的其他扣除)
                        × 预扣率 − 速算扣除数 − 累计减免税额 − 累计已预扣预缴税额
    累计费用 = 累计收入 × 20%
    累计减除费用 = 5,000 元/月 × 纳税人当年截至本月在本平台连续取得劳务报酬的月份数

with 预扣率表一 (taxable up to 36,000 yuan 3%; 144,000 10% − 2,520; 300,000 20% − 16,920; 420,000 25%
− 31,920; 660,000 30% − 52,920; 960,000 35% − 85,920; above 45% − 181,920). A payout withholds the
tax to date minus what was already withheld, never less than zero (an excess stays withheld: the
annual settlement, 汇算清缴, returns it; it is never clawed back from a later payout below zero).

Choices the announcement leaves, as settings (README "Tax"):
- `TAX_CONSECUTIVE_MONTHS`: "restart" (default) reads 连续 literally: a calendar month in which the
  person received no payout ends the run, and the next payout starts a new cumulative computation
  (income, months, withheld) from its month; "year" counts every month of the year with a payout.
  Either way a year starts a new run.
- `TAX_OTHER_DEDUCTIONS`: the other deductions finance records per person and month (TaxDeduction)
  are subtracted (on, default) or ignored. 免税收入 and 减免税额: the platform knows of none, 0.

Money: amounts are fen. 累计费用 is 20% of the income rounded half up to the fen; the tax to date is
rounded half up to the fen once (apps.core.money.round_fen); every payout's withholding is the
difference of two rounded figures, so the payouts of a run add up exactly to the run's tax to date.

Recognition: income counts when its transfer succeeds (a TaxRecord is written then, in the month of
the success); a transfer that fails or is cancelled writes nothing, so later payouts are computed as
if it never happened. A person has at most one transfer in flight (withdrawals.py), so the figures a
payout is computed on are final when it is requested.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.utils import timezone

from apps.core.money import percent_of, round_fen

from ..models import TaxDeduction, TaxRecord, Withdrawal

MONTHLY_DEDUCTION_FEN = 500_000  # 5,000 yuan per month
EXPENSE_PERCENT = Decimal(20)
# 预扣率表一: (taxable up to, in fen; rate %; quick deduction, fen). None: no upper bound.
RATE_TABLE: tuple[tuple[int | None, int, int], ...] = (
    (3_600_000, 3, 0),
    (14_400_000, 10, 252_000),
    (30_000_000, 20, 1_692_000),
    (42_000_000, 25, 3_192_000),
    (66_000_000, 30, 5_292_000),
    (96_000_000, 35, 8_592_000),
    (None, 45, 18_192_000),
)
POLICIES = ("restart", "year")


def policy() -> str:
    value = settings.TAX_CONSECUTIVE_MONTHS
    if value not in POLICIES:
        raise ImproperlyConfigured(f"TAX_CONSECUTIVE_MONTHS must be one of {POLICIES}, not {value!r}")
    return value


def bracket(taxable_fen: int) -> tuple[int, int]:
    """(rate %, quick deduction fen) of 预扣率表一 for a cumulative taxable income."""
    for ceiling, rate, quick in RATE_TABLE:
        if ceiling is None or taxable_fen <= ceiling:
            return rate, quick
    raise AssertionError("unreachable: the last bracket has no ceiling")


def tax_to_date_fen(taxable_fen: int) -> int:
    if taxable_fen <= 0:
        return 0
    rate, quick = bracket(taxable_fen)
    return max(0, round_fen(Decimal(taxable_fen) * rate / 100 - quick))


def tax_month(at: datetime | None = None) -> date:
    local = timezone.localtime(at or timezone.now())
    return date(local.year, local.month, 1)


def _previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


@dataclass(frozen=True)
class Paid:
    """What a person was paid (and had withheld) in one month, from the records."""

    month: date
    income_fen: int
    withheld_fen: int


@dataclass(frozen=True)
class Assessment:
    """The formula for one payout of `amount_fen` in `month`, on the person's earlier payouts."""

    month: date
    run_start: date
    months: int
    amount_fen: int
    cum_income_fen: int
    cum_expense_fen: int
    cum_basic_deduction_fen: int
    cum_other_deductions_fen: int
    cum_taxable_fen: int
    rate_percent: int
    quick_deduction_fen: int
    cum_tax_fen: int
    withheld_before_fen: int

    @property
    def tax_fen(self) -> int:
        """This payout's withholding: tax to date minus what the run already withheld, never < 0."""
        return min(self.amount_fen, max(0, self.cum_tax_fen - self.withheld_before_fen))

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.tax_fen


def run_months(paid_months: Iterable[date], month: date, *, rule: str) -> list[date]:
    """The months counted for `month`'s payout: the year's paid months up to it, by the policy."""
    months = sorted({m for m in paid_months if m.year == month.year and m <= month} | {month})
    if rule == "year":
        return months
    run = [month]
    present = set(months)
    while (earlier := _previous_month(run[0])) in present:
        run.insert(0, earlier)
    return run


def assess(
    *,
    history: Iterable[Paid],
    month: date,
    amount_fen: int,
    deductions: dict[date, int] | None = None,
    rule: str | None = None,
) -> Assessment:
    """The cumulative formula, pure: no database, so tests and the quote use the very same code."""
    history = list(history)
    months = run_months((p.month for p in history), month, rule=rule or policy())
    in_run = set(months)
    earlier = [p for p in history if p.month in in_run]
    income = sum(p.income_fen for p in earlier) + amount_fen
    withheld = sum(p.withheld_fen for p in earlier)
    expense = percent_of(income, EXPENSE_PERCENT)
    basic = MONTHLY_DEDUCTION_FEN * len(months)
    other = sum(v for m, v in (deductions or {}).items() if m in in_run)
    taxable = income - expense - basic - other
    rate, quick = bracket(max(taxable, 0))
    return Assessment(
        month=month,
        run_start=months[0],
        months=len(months),
        amount_fen=amount_fen,
        cum_income_fen=income,
        cum_expense_fen=expense,
        cum_basic_deduction_fen=basic,
        cum_other_deductions_fen=other,
        cum_taxable_fen=taxable,
        rate_percent=rate,
        quick_deduction_fen=quick,
        cum_tax_fen=tax_to_date_fen(taxable),
        withheld_before_fen=withheld,
    )


# --- reading the records ---------------------------------------------------------------------------------


def history(*, koc_id: int, year: int) -> list[Paid]:
    rows = (
        TaxRecord.objects.filter(koc_id=koc_id, month__year=year)
        .values("month")
        .annotate(income=Sum("income_fen"), withheld=Sum("withheld_fen"))
        .order_by("month")
    )
    return [Paid(month=r["month"], income_fen=r["income"], withheld_fen=r["withheld"]) for r in rows]


def deductions(*, koc_id: int, year: int) -> dict[date, int]:
    if not settings.TAX_OTHER_DEDUCTIONS:
        return {}
    out: dict[date, int] = defaultdict(int)
    for month, amount in TaxDeduction.objects.filter(koc_id=koc_id, month__year=year).values_list(
        "month", "amount_fen"
    ):
        out[month] += amount
    return dict(out)


def quote(*, koc_id: int, amount_fen: int, at: datetime | None = None) -> Assessment:
    """What a payout of `amount_fen` now would withhold (the request path holds the account lock)."""
    month = tax_month(at)
    return assess(
        history=history(koc_id=koc_id, year=month.year),
        month=month,
        amount_fen=amount_fen,
        deductions=deductions(koc_id=koc_id, year=month.year),
    )


# --- writing ---------------------------------------------------------------------------------------------


def tax_record_for_payout(
    *, withdrawal: Withdrawal, at: datetime, real_name: str, id_number: str
) -> TaxRecord:
    """The payout succeeded: recognise its income in the month of `at` (callers hold the account lock).

    The withholding is what the withdrawal withheld (the transfer's amount is final); the formula's
    figures are recomputed for the month of the success, so a transfer requested on the last evening
    of a month and confirmed after midnight lands in the new month, and the next payout's
    "tax to date − withheld" settles any difference. Idempotent: one record per withdrawal.
    """
    existing = TaxRecord.objects.filter(withdrawal=withdrawal).first()
    if existing is not None:
        return existing
    month = tax_month(at)
    a = assess(
        history=history(koc_id=withdrawal.koc_id, year=month.year),
        month=month,
        amount_fen=withdrawal.amount_fen,
        deductions=deductions(koc_id=withdrawal.koc_id, year=month.year),
    )
    record = TaxRecord(
        koc_id=withdrawal.koc_id,
        kind=TaxRecord.Kind.PAYOUT,
        withdrawal=withdrawal,
        month=month,
        run_start=a.run_start,
        months=a.months,
        income_fen=withdrawal.amount_fen,
        withheld_fen=withdrawal.tax_fen,
        cum_income_fen=a.cum_income_fen,
        cum_expense_fen=a.cum_expense_fen,
        cum_basic_deduction_fen=a.cum_basic_deduction_fen,
        cum_other_deductions_fen=a.cum_other_deductions_fen,
        cum_taxable_fen=a.cum_taxable_fen,
        rate_percent=a.rate_percent,
        quick_deduction_fen=a.quick_deduction_fen,
        cum_tax_fen=a.cum_tax_fen,
        cum_withheld_fen=a.withheld_before_fen + withdrawal.tax_fen,
        real_name=real_name,
        id_number=id_number,
    )
    record.save()
    return record


# --- the KOC's own statement --------------------------------------------------------------------------------


def statement(*, koc_id: int, year: int) -> dict:
    """GET koc/tax?year=: income recognised and tax withheld in the year, per month with a payout."""
    months = history(koc_id=koc_id, year=year)
    return {
        "year": year,
        "income_fen": sum(p.income_fen for p in months),
        "withheld_fen": sum(p.withheld_fen for p in months),
        "months": [
            {"month": f"{p.month:%Y-%m}", "income_fen": p.income_fen, "withheld_fen": p.withheld_fen}
            for p in months
        ],
    }
