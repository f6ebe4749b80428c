"""Reconcile one day: WeChat Pay's trade bill and fund flow bill against payments, refunds, transfers.

Each WeChat row is looked up in our records by the merchant's number, whatever day we recorded it;
each of our records of the day is looked up in WeChat's rows. What does not match becomes a
Difference that finance sees in the admin:

- payments (trade bill, SUCCESS rows, dated by the payment's success): a payment WeChat took that we
  never recorded, one we recorded that WeChat does not know, or another amount;
- refunds (trade bill REFUND rows, dated by WeChat's acceptance; their state is a snapshot, so only
  a contradiction counts: WeChat SUCCESS and ours not succeeded, or ours succeeded and WeChat
  ABNORMAL/CLOSED), and the fund flow's refund payments (money that left: ours must be succeeded);
- transfers (fund flow rows that are neither 交易 nor 退款, paid out): a transfer WeChat paid that we
  do not hold as succeeded, or one we hold as succeeded that WeChat never paid.

Running a day again replaces its differences (keeping what finance marked resolved).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from apps.commissions.models import Withdrawal
from apps.shop.models import Payment, Refund
from apps.wechat import bills
from apps.wechat import pay as wechatpay

from .models import Difference, ReconciliationRun

logger = logging.getLogger(__name__)

NOT_TRANSFERS = {"交易", "退款"}


@dataclass
class _Found:
    kind: str
    reference: str
    problem: str
    wechat_amount_fen: int | None = None
    our_amount_fen: int | None = None
    wechat_state: str = ""
    our_state: str = ""
    explanation: str = ""


def _day_range(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def _payments(trade: list[bills.TradeRow], day: date) -> tuple[int, list[_Found]]:
    found: list[_Found] = []
    rows = {r.transaction_id: r for r in trade if r.trade_state == "SUCCESS"}
    ours = {
        p.transaction_id: p
        for p in Payment.objects.filter(transaction_id__in=list(rows)).select_related("order")
    }
    for transaction_id, row in rows.items():
        payment = ours.get(transaction_id)
        if payment is None:
            found.append(
                _Found(
                    "payment",
                    row.out_trade_no,
                    "missing_ours",
                    wechat_amount_fen=row.amount_fen,
                    wechat_state="SUCCESS",
                    explanation=f"微信支付单 {transaction_id} 未入账",
                )
            )
        elif payment.amount_fen != row.amount_fen:
            found.append(
                _Found(
                    "payment",
                    row.out_trade_no,
                    "amount",
                    wechat_amount_fen=row.amount_fen,
                    our_amount_fen=payment.amount_fen,
                )
            )
    start, end = _day_range(day)
    for payment in Payment.objects.filter(success_time__gte=start, success_time__lt=end).select_related(
        "order"
    ):
        if payment.transaction_id not in rows:
            found.append(
                _Found(
                    "payment",
                    payment.order.no,
                    "missing_wechat",
                    our_amount_fen=payment.amount_fen,
                    our_state=payment.outcome,
                    explanation=f"微信账单没有 {payment.transaction_id}",
                )
            )
    return len(rows), found


def _refunds(trade: list[bills.TradeRow], fund: list[bills.FundRow], day: date) -> tuple[int, list[_Found]]:
    found: list[_Found] = []
    rows = {r.out_refund_no: r for r in trade if r.trade_state == "REFUND" and r.out_refund_no}
    paid_out = {f.voucher: f for f in fund if f.kind == "退款" and f.direction == "支出"}
    numbers = set(rows) | set(paid_out)
    ours = {r.out_refund_no: r for r in Refund.objects.filter(out_refund_no__in=numbers)}
    for number in sorted(numbers):
        row, move, refund = rows.get(number), paid_out.get(number), ours.get(number)
        wechat_fen = row.refund_fen if row else move.amount_fen
        wechat_state = row.refund_state if row else "SUCCESS"
        if refund is None:
            found.append(
                _Found(
                    "refund",
                    number,
                    "missing_ours",
                    wechat_amount_fen=wechat_fen,
                    wechat_state=wechat_state,
                    explanation="微信有此退款，本系统没有",
                )
            )
            continue
        if refund.amount_fen != wechat_fen:
            found.append(
                _Found(
                    "refund", number, "amount", wechat_amount_fen=wechat_fen, our_amount_fen=refund.amount_fen
                )
            )
        refunded_at_wechat = move is not None or wechat_state == "SUCCESS"
        failed_at_wechat = wechat_state in ("ABNORMAL", "CLOSED") and move is None
        if (refunded_at_wechat and refund.status != Refund.Status.SUCCEEDED) or (
            failed_at_wechat and refund.status == Refund.Status.SUCCEEDED
        ):
            found.append(
                _Found(
                    "refund",
                    number,
                    "state",
                    wechat_amount_fen=wechat_fen,
                    our_amount_fen=refund.amount_fen,
                    wechat_state=wechat_state,
                    our_state=refund.status,
                )
            )
    start, end = _day_range(day)
    accepted = Refund.objects.filter(
        submitted_at__gte=start,
        submitted_at__lt=end,
        status__in=[Refund.Status.PROCESSING, Refund.Status.SUCCEEDED],
    ).exclude(out_refund_no__in=numbers)
    for refund in accepted:
        if refund.wechat_refund_id or refund.status == Refund.Status.SUCCEEDED:
            found.append(
                _Found(
                    "refund",
                    refund.out_refund_no,
                    "missing_wechat",
                    our_amount_fen=refund.amount_fen,
                    our_state=refund.status,
                    explanation="本系统已提交，微信账单没有",
                )
            )
    return len(numbers), found


def _transfers(fund: list[bills.FundRow], day: date) -> tuple[int, list[_Found]]:
    found: list[_Found] = []
    rows = {f.voucher: f for f in fund if f.kind not in NOT_TRANSFERS and f.direction == "支出"}
    ours = {w.out_bill_no: w for w in Withdrawal.objects.filter(out_bill_no__in=list(rows))}
    for number, row in rows.items():
        withdrawal = ours.get(number)
        if withdrawal is None:
            found.append(
                _Found(
                    "transfer",
                    number,
                    "missing_ours",
                    wechat_amount_fen=row.amount_fen,
                    wechat_state="SUCCESS",
                    explanation="微信已转账，本系统没有此提现",
                )
            )
            continue
        if withdrawal.net_fen != row.amount_fen:
            found.append(
                _Found(
                    "transfer",
                    number,
                    "amount",
                    wechat_amount_fen=row.amount_fen,
                    our_amount_fen=withdrawal.net_fen,
                )
            )
        if withdrawal.status != Withdrawal.Status.SUCCEEDED:
            found.append(
                _Found(
                    "transfer",
                    number,
                    "state",
                    wechat_amount_fen=row.amount_fen,
                    our_amount_fen=withdrawal.net_fen,
                    wechat_state="SUCCESS",
                    our_state=withdrawal.status,
                    explanation="微信已转账，本系统未记为到账",
                )
            )
    start, end = _day_range(day)
    succeeded = Withdrawal.objects.filter(
        channel=Withdrawal.Channel.WECHAT,
        status=Withdrawal.Status.SUCCEEDED,
        finished_at__gte=start,
        finished_at__lt=end,
    ).exclude(out_bill_no__in=list(rows))
    for withdrawal in succeeded:
        found.append(
            _Found(
                "transfer",
                withdrawal.out_bill_no,
                "missing_wechat",
                our_amount_fen=withdrawal.net_fen,
                our_state=withdrawal.status,
                explanation="本系统记为到账，微信资金账单没有",
            )
        )
    return len(rows), found


def reconcile(*, bill_date: date) -> ReconciliationRun:
    """Fetch the day's two bills (outside any transaction), compare, and record the outcome."""
    started = timezone.now()
    try:
        trade = bills.trade_bill(bill_date=bill_date)
        fund = bills.fundflow_bill(bill_date=bill_date)
    except wechatpay.WeChatPayError as exc:
        logger.warning("reconciliation of %s: bills unavailable: %s", bill_date, exc.message)
        run, _ = ReconciliationRun.objects.update_or_create(
            bill_date=bill_date,
            defaults={
                "status": ReconciliationRun.Status.FAILED,
                "error": str(exc.message)[:2000],
                "started_at": started,
                "finished_at": timezone.now(),
            },
        )
        return run
    payments, found_p = _payments(trade, bill_date)
    refunds, found_r = _refunds(trade, fund, bill_date)
    transfers, found_t = _transfers(fund, bill_date)
    return _record(
        bill_date=bill_date,
        started=started,
        counts=(payments, refunds, transfers),
        found=[*found_p, *found_r, *found_t],
    )


@transaction.atomic
def _record(*, bill_date: date, started: datetime, counts: tuple[int, int, int], found: list[_Found]):
    run, _ = ReconciliationRun.objects.select_for_update().update_or_create(
        bill_date=bill_date,
        defaults={
            "status": ReconciliationRun.Status.DIFFERENCES if found else ReconciliationRun.Status.CLEAN,
            "payments": counts[0],
            "refunds": counts[1],
            "transfers": counts[2],
            "differences_count": len(found),
            "error": "",
            "started_at": started,
            "finished_at": timezone.now(),
        },
    )
    resolved = {
        (d.kind, d.reference, d.problem): (d.resolved_at, d.resolved_note)
        for d in run.differences.filter(resolved_at__isnull=False)
    }
    run.differences.all().delete()
    Difference.objects.bulk_create(
        [
            Difference(
                run=run,
                **f.__dict__,
                resolved_at=resolved.get((f.kind, f.reference, f.problem), (None, ""))[0],
                resolved_note=resolved.get((f.kind, f.reference, f.problem), (None, ""))[1],
            )
            for f in found
        ]
    )
    if found:
        logger.warning("reconciliation of %s: %d difference(s)", bill_date, len(found))
    return run


@transaction.atomic
def difference_resolve(*, difference: Difference, note: str) -> Difference:
    difference = Difference.objects.select_for_update().get(pk=difference.pk)
    if difference.resolved_at is None:
        difference.resolved_at = timezone.now()
        difference.resolved_note = note[:200]
        difference.save(update_fields=["resolved_at", "resolved_note"])
    return difference
