"""Finance's tax reports (reads only): the monthly withholding list and the quarterly platform report.

Both are for the tax authority, so both carry the full ID number (decrypted here and nowhere else
in an export); every other export and page shows it masked. Both stream: one grouped query for the
people, then their details in chunks of `CHUNK`, so 100,000 people take a few dozen queries and
constant memory; `total` lets a command draw a progress bar.

- Monthly withholding list (扣缴申报, 劳务报酬): one row per person paid in the month, the figures
  of the 16号 formula as they stood after the person's last payout of the month.
- Quarterly platform report (国务院令第810号, reported within the month after the quarter): one row
  per individual and organisation the platform paid in the quarter (a transfer or B2B settlement
  that succeeded in it): identity; income = commission earned in the quarter (accrued); refunds =
  commission taken back in the quarter because orders were refunded; net income = income − refunds;
  commission income paid = what the platform paid out to them in the quarter (gross, before tax);
  tax withheld on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from apps.core.money import percent_of, yuan

from . import sources
from .models import LedgerEntry, TaxRecord, Withdrawal

CHUNK = 2000


def _yuan(fen) -> Decimal:
    """Fen as a yuan amount: "99.00" in a CSV, a number in Excel."""
    return Decimal(yuan(fen or 0))


@dataclass(frozen=True)
class Report:
    filename: str
    header: list[str]
    total: int
    rows: Callable[[], Iterator[list]]


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- the monthly withholding list --------------------------------------------------------------------


WITHHOLDING_HEADER = [
    "所属月份",
    "KOC ID",
    "姓名",
    "证件类型",
    "证件号码",
    "所得项目",
    "本期收入(元)",
    "本期费用(元)",
    "累计收入(元)",
    "累计费用(元)",
    "累计减除费用(元)",
    "累计其他扣除(元)",
    "累计应纳税所得额(元)",
    "预扣率(%)",
    "速算扣除数(元)",
    "累计应纳税额(元)",
    "累计已预扣预缴税额(元)",
    "本期应预扣预缴税额(元)",
]


def withholding_list(month: date) -> Report:
    people = (
        TaxRecord.objects.filter(month=month)
        .values("koc_id")
        .annotate(income=Sum("income_fen"), withheld=Sum("withheld_fen"), last=Max("id"))
        .order_by("koc_id")
    )

    def rows() -> Iterator[list]:
        summaries = list(people.values_list("koc_id", "income", "withheld", "last"))
        for chunk in _chunks(summaries):
            last = TaxRecord.objects.in_bulk([s[3] for s in chunk])
            for koc_id, income, withheld, last_id in chunk:
                r = last[last_id]
                yield [
                    f"{month:%Y-%m}",
                    koc_id,
                    r.real_name,
                    "居民身份证",
                    r.id_number,
                    "劳务报酬所得",
                    _yuan(income),
                    _yuan(percent_of(income, Decimal(20))),
                    _yuan(r.cum_income_fen),
                    _yuan(r.cum_expense_fen),
                    _yuan(r.cum_basic_deduction_fen),
                    _yuan(r.cum_other_deductions_fen),
                    _yuan(max(0, r.cum_taxable_fen)),
                    r.rate_percent,
                    _yuan(r.quick_deduction_fen),
                    _yuan(r.cum_tax_fen),
                    _yuan(r.cum_withheld_fen - withheld),
                    _yuan(withheld),
                ]

    return Report(
        filename=f"withholding-{month:%Y-%m}",
        header=WITHHOLDING_HEADER,
        total=people.count(),
        rows=rows,
    )


# --- the quarterly platform report (810号) -------------------------------------------------------------


PLATFORM_HEADER = [
    "季度",
    "KOC ID",
    "主体类型",
    "名称",
    "证件类型",
    "证件号码",
    "收入总额(元)",
    "退款金额(元)",
    "收入净额(元)",
    "佣金收入(已支付, 元)",
    "已代扣个税(元)",
    "支付笔数",
]


def quarter_bounds(year: int, quarter: int) -> tuple[datetime, datetime]:
    if quarter not in (1, 2, 3, 4):
        raise ValueError("quarter is 1..4")
    tz = timezone.get_current_timezone()
    start = datetime.combine(date(year, 3 * quarter - 2, 1), time.min, tzinfo=tz)
    end_month = 3 * quarter + 1
    end_day = date(year + 1, 1, 1) if end_month > 12 else date(year, end_month, 1)
    return start, datetime.combine(end_day, time.min, tzinfo=tz)


def platform_report(year: int, quarter: int) -> Report:
    start, end = quarter_bounds(year, quarter)
    paid = (
        Withdrawal.objects.filter(
            status=Withdrawal.Status.SUCCEEDED, finished_at__gte=start, finished_at__lt=end
        )
        .values("koc_id")
        .annotate(paid=Sum("amount_fen"), tax=Sum("tax_fen"), n=Count("id"))
        .order_by("koc_id")
    )

    def rows() -> Iterator[list]:
        summaries = list(paid.values_list("koc_id", "paid", "tax", "n"))
        for chunk in _chunks(summaries):
            ids = [s[0] for s in chunk]
            money = {
                row["koc_id"]: row
                for row in LedgerEntry.objects.filter(
                    koc_id__in=ids, created_at__gte=start, created_at__lt=end
                )
                .values("koc_id")
                .annotate(
                    accrued=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.ACCRUAL)),
                    reversed=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.REVERSAL)),
                )
                .order_by()
            }
            identities = sources.identities(ids)
            for koc_id, paid_fen, tax_fen, count in chunk:
                who = identities.get(koc_id)
                accrued = (money.get(koc_id) or {}).get("accrued") or 0
                reversed_ = (money.get(koc_id) or {}).get("reversed") or 0
                yield [
                    f"{year}Q{quarter}",
                    koc_id,
                    who.kind if who else "",
                    who.name if who else "",
                    who.id_type if who else "",
                    who.number if who else "",
                    _yuan(accrued),
                    _yuan(reversed_),
                    _yuan(accrued - reversed_),
                    _yuan(paid_fen),
                    _yuan(tax_fen),
                    count,
                ]

    return Report(
        filename=f"platform-report-{year}Q{quarter}",
        header=PLATFORM_HEADER,
        total=paid.count(),
        rows=rows,
    )


def write(report: Report, *, path: str, fmt: str, stream=None) -> int:
    """Write a report to a file (CSV with a BOM for Excel, or .xlsx in write-only mode) with a
    progress bar on `stream`; answers the number of rows. Memory stays flat whatever the size."""
    import csv

    from apps.core.progress import Progress

    count = 0
    with Progress(report.total, label=report.filename, stream=stream) as bar:
        if fmt == "xlsx":
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet(title=report.filename[:31])
            sheet.append(report.header)
            for row in report.rows():
                sheet.append(row)
                count += 1
                bar.advance()
            workbook.save(path)
        else:
            with open(path, "w", newline="", encoding="utf-8-sig") as out:
                writer = csv.writer(out)
                writer.writerow(report.header)
                for row in report.rows():
                    writer.writerow(row)
                    count += 1
                    bar.advance()
    return count
