"""Individual income tax on commission (劳务报酬), withheld by the payer, cumulative per calendar month.

For one person's cumulative gross X paid in a month (all amounts in yuan here, fen in code):
- taxable income: X - 800 when X <= 4,000, otherwise X x 80%;
- tax: 20% of taxable up to 20,000; 30% minus 2,000 up to 50,000; 40% minus 7,000 above;
- a payout withholds tax(X after it) - what this month's earlier payouts withheld, never negative.
Organisations are settled gross, B2B: no withholding.
Rounded half up to the fen, once, on the month's tax (apps.core.money).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from apps.core.money import round_fen

from ..models import TaxRecord


def labour_tax_fen(cumulative_gross_fen: int) -> int:
    x = Decimal(max(0, cumulative_gross_fen))
    taxable = max(Decimal(0), x - 80_000) if x <= 400_000 else x * Decimal("0.8")
    if taxable <= 2_000_000:
        tax = taxable * Decimal("0.2")
    elif taxable <= 5_000_000:
        tax = taxable * Decimal("0.3") - 200_000
    else:
        tax = taxable * Decimal("0.4") - 700_000
    return max(0, round_fen(tax))


def withholding_fen(*, gross_before_fen: int, withheld_before_fen: int, amount_fen: int) -> int:
    due = labour_tax_fen(gross_before_fen + amount_fen) - withheld_before_fen
    return max(0, min(amount_fen, due))


def tax_month(at: datetime | None = None) -> date:
    local = timezone.localtime(at or timezone.now())
    return date(local.year, local.month, 1)


def tax_record_lock(*, koc_id: int, month: date, real_name: str = "", id_number: str = "") -> TaxRecord:
    """The person's record of the month, created when missing and locked (callers hold the account lock)."""
    record, _ = TaxRecord.objects.get_or_create(
        koc_id=koc_id, month=month, defaults={"real_name": real_name, "id_number": id_number}
    )
    return TaxRecord.objects.select_for_update().get(pk=record.pk)
