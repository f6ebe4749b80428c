"""Withdrawals: debit the balance atomically, pay by WeChat merchant transfer, finish exactly once.

Creating one (`withdrawal_create`):
1. The Idempotency-Key names one request: its first answer, a withdrawal (201) or a business
   refusal (409 insufficient_balance, 400 withdrawal_below_minimum, ...), is stored and a retry
   with the same key and body answers it again, status and body; a different body is
   `idempotency_key_reused` (409). Answers that mean "try again" are not stored: 503 (WeChat
   unreachable: the withdrawal exists, a retry finishes it) and `withdrawal_in_progress`.
2. An individual needs an identity (real name and ID number: 409 `identity_required`): tax is
   withheld and declared under it.
3. Under the account lock: the balance (a sum of entries) must cover the amount; the day's total
   must stay under the admin's daily maximum; an individual has at most one transfer in flight
   (409 `withdrawal_pending`); the tax is computed (services/tax.py) on the payouts that succeeded;
   then the withdrawal row, the `available -> withdrawing` entry and the FIFO allocation to
   commissions are written in one transaction. Fifty concurrent full-balance requests queue on the
   lock and all but the first find the balance gone.
4. Outside the transaction, WeChat Pay is asked for the transfer (`out_bill_no` makes a retry the
   same bill); its `package_info` is the answer. WeChat unreachable: the withdrawal stays `created`,
   the client gets 503 and may retry with the same key; the poll settles it either way.

No splitting (公告2025年第22号): one request is one transfer of its whole amount, never cut into
several; the daily maximum counts every transfer of the day that did not fail, so several small
requests reach it as surely as one large one; and the one-in-flight rule means a balance cannot be
sent as a burst of same-day transfers. A request above the daily maximum is refused, not split.

Finishing: the transfer notification and the poll both call `withdrawal_apply_state`; SUCCESS moves
`withdrawing -> paid` (net) and `withdrawing -> tax`, and recognises the income (a TaxRecord);
FAIL / CANCELLED moves the whole amount back to `available` by a new entry and records no income.
Both are keyed per withdrawal, under the account lock, so whichever comes first wins and the other
changes nothing.

Organisation nodes withdraw gross (B2B): no tax, no transfer; operators settle by bank transfer
against the organisation's invoice (recorded on the withdrawal; required first when the payout
settings say so) and mark it paid or failed in the admin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.errors import ApplicationError
from apps.core.exceptions import error_body
from apps.core.money import yuan

from .. import sources
from ..errors import (
    DailyLimitExceeded,
    IdempotencyKeyReused,
    IdentityRequired,
    InsufficientBalance,
    InvoiceRequired,
    PayeeUnavailable,
    WithdrawalBelowMinimum,
    WithdrawalInProgress,
    WithdrawalNotB2B,
    WithdrawalPending,
)
from ..lock_objects import accounts_lock, commissions_lock, withdrawal_lock
from ..models import (
    Bucket,
    Commission,
    LedgerEntry,
    PayoutSettings,
    Withdrawal,
    WithdrawalAllocation,
    WithdrawalRefusal,
)
from ..selectors import account_balances
from . import tax as tax_services
from .ledger import accounts_for_kocs, after_available_status, move

logger = logging.getLogger(__name__)

# A bill WeChat never heard of after this long is treated as never sent: the money goes back.
LOST_BILL_AFTER = timedelta(minutes=10)
NOTIFY_PATH = "/api/v1/payments/wechat/transfer-notify"


def request_hash(*, amount_fen: int) -> str:
    return hashlib.sha256(json.dumps({"amount_fen": amount_fen}, sort_keys=True).encode()).hexdigest()


def _new_out_bill_no() -> str:
    # Digits and letters only, unique, not guessable: W + yymmddHHMMSS + 12 hex.
    return f"W{timezone.localtime():%y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


@dataclass(frozen=True)
class Answer:
    """What POST koc/withdrawals answers: the first answer for a key, replayed verbatim."""

    status: int
    body: dict
    withdrawal: Withdrawal | None


def answer_body(withdrawal: Withdrawal) -> dict:
    return {
        "id": withdrawal.pk,
        "status": withdrawal.status,
        "amount_fen": withdrawal.amount_fen,
        "tax_fen": withdrawal.tax_fen,
        "net_fen": withdrawal.net_fen,
        "package_info": withdrawal.package_info or None,
        "out_bill_no": withdrawal.out_bill_no,
        "fail_reason": withdrawal.fail_reason,
    }


# Refusals that are the answer to the request, stored and replayed; anything else (a 503, a request
# still running, a key reused for another body) says nothing final about the request.
NOT_STORED = (IdempotencyKeyReused, WithdrawalInProgress)


def _replay(withdrawal: Withdrawal, *, digest: str) -> Answer | None:
    if withdrawal.request_hash != digest:
        raise IdempotencyKeyReused()
    if withdrawal.response_body:
        stored = withdrawal.response_body
        return Answer(status=stored["status"], body=stored["body"], withdrawal=withdrawal)
    return None


def _refusal_replay(refusal: WithdrawalRefusal, *, digest: str) -> Answer:
    if refusal.request_hash != digest:
        raise IdempotencyKeyReused()
    return Answer(status=refusal.status_code, body=refusal.body, withdrawal=None)


def _refuse(*, koc_id: int, idempotency_key: str, digest: str, error: ApplicationError) -> Answer:
    """Store a refusal as the key's first answer (the first writer wins) and answer it."""
    if isinstance(error, NOT_STORED) or error.status_code >= 500:
        raise error
    try:
        with transaction.atomic():
            refusal = WithdrawalRefusal.objects.create(
                koc_id=koc_id,
                idempotency_key=idempotency_key,
                request_hash=digest,
                status_code=error.status_code,
                body=error_body(error.code, error.message, error.fields),
            )
    except IntegrityError:
        refusal = WithdrawalRefusal.objects.get(koc_id=koc_id, idempotency_key=idempotency_key)
    return _refusal_replay(refusal, digest=digest)


def _first_answer(*, koc_id: int, idempotency_key: str, digest: str) -> Answer | None:
    refusal = WithdrawalRefusal.objects.filter(koc_id=koc_id, idempotency_key=idempotency_key).first()
    if refusal is not None:
        return _refusal_replay(refusal, digest=digest)
    existing = Withdrawal.objects.filter(koc_id=koc_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        replay = _replay(existing, digest=digest)
        return replay if replay is not None else _submit(existing)
    return None


def _remember(withdrawal: Withdrawal, *, status: int, body: dict) -> Answer:
    """Store the first answer (the first writer wins: a racing retry replays the same body)."""
    Withdrawal.objects.filter(pk=withdrawal.pk, response_body__isnull=True).update(
        response_body={"status": status, "body": body}
    )
    withdrawal.refresh_from_db()
    stored = withdrawal.response_body
    return Answer(status=stored["status"], body=stored["body"], withdrawal=withdrawal)


def _check_payee(*, koc_id: int, amount_fen: int, limits: PayoutSettings):
    """The checks that need no lock: who is paid, the minimum, the identity tax is declared under."""
    payee = sources.payee(koc_id)
    if payee is None or not payee.approved:
        raise PayeeUnavailable()
    if amount_fen < max(1, limits.min_withdrawal_fen):
        raise WithdrawalBelowMinimum(
            gettext("The minimum for one withdrawal is ¥%(minimum)s.")
            % {"minimum": yuan(limits.min_withdrawal_fen)}
        )
    if not payee.is_organisation:
        if not payee.openid:
            raise PayeeUnavailable(gettext("This account has no WeChat bound: no transfer can be made."))
        if not (payee.real_name.strip() and payee.id_number):
            raise IdentityRequired()
    return payee


def _check_locked(*, account, koc_id: int, payee, amount_fen: int, limits: PayoutSettings, now) -> int:
    """The checks under the account lock; answers the tax to withhold."""
    available = account_balances(account=account)[Bucket.AVAILABLE]
    if amount_fen > available:
        raise InsufficientBalance(
            gettext("Your withdrawable balance ¥%(available)s is less than ¥%(amount)s.")
            % {"available": yuan(max(0, available)), "amount": yuan(amount_fen)}
        )
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = (
        Withdrawal.objects.filter(koc_id=koc_id, created_at__gte=day_start)
        .exclude(status__in=[Withdrawal.Status.FAILED, Withdrawal.Status.CANCELLED])
        .aggregate(t=Sum("amount_fen"))["t"]
        or 0
    )
    if today + amount_fen > limits.daily_max_fen:
        raise DailyLimitExceeded(
            gettext("The daily withdrawal limit is ¥%(limit)s; ¥%(today)s was withdrawn today.")
            % {"limit": yuan(limits.daily_max_fen), "today": yuan(today)}
        )
    if payee.is_organisation:
        return 0
    in_flight = Withdrawal.objects.filter(
        koc_id=koc_id, channel=Withdrawal.Channel.WECHAT, status__in=Withdrawal.IN_FLIGHT
    )
    if in_flight.exists():
        raise WithdrawalPending()
    return tax_services.quote(koc_id=koc_id, amount_fen=amount_fen, at=now).tax_fen


def withdrawal_quote(*, koc_id: int, amount_fen: int) -> dict:
    """What a withdrawal of `amount_fen` would withhold and transfer now, with the same checks as the
    request (nothing written): what the mini-program shows before the KOC confirms."""
    limits = PayoutSettings.load()
    payee = _check_payee(koc_id=koc_id, amount_fen=amount_fen, limits=limits)
    account = accounts_for_kocs(koc_ids=[koc_id], organisations=[koc_id] if payee.is_organisation else [])[
        koc_id
    ]
    tax = _check_locked(
        account=account, koc_id=koc_id, payee=payee, amount_fen=amount_fen, limits=limits, now=timezone.now()
    )
    return {"amount_fen": amount_fen, "tax_fen": tax, "net_fen": amount_fen - tax}


def withdrawal_create(*, koc_id: int, user_id: int | None, amount_fen: int, idempotency_key: str) -> Answer:
    digest = request_hash(amount_fen=amount_fen)
    first = _first_answer(koc_id=koc_id, idempotency_key=idempotency_key, digest=digest)
    if first is not None:
        return first

    limits = PayoutSettings.load()
    try:
        payee = _check_payee(koc_id=koc_id, amount_fen=amount_fen, limits=limits)
    except ApplicationError as error:
        return _refuse(koc_id=koc_id, idempotency_key=idempotency_key, digest=digest, error=error)

    account = accounts_for_kocs(koc_ids=[koc_id], organisations=[koc_id] if payee.is_organisation else [])[
        koc_id
    ]
    try:
        withdrawal = _debit(
            account_id=account.pk,
            koc_id=koc_id,
            user_id=user_id,
            payee=payee,
            amount_fen=amount_fen,
            idempotency_key=idempotency_key,
            digest=digest,
            limits=limits,
        )
    except IntegrityError:
        # The same key won a race we lost (unique (koc, key)): answer what it answers.
        first = _first_answer(koc_id=koc_id, idempotency_key=idempotency_key, digest=digest)
        if first is None:
            raise
        return first
    if isinstance(withdrawal, Answer):
        return withdrawal
    if withdrawal.channel == Withdrawal.Channel.B2B:
        return _remember(withdrawal, status=201, body=answer_body(withdrawal))
    return _submit(withdrawal)


@transaction.atomic
def _debit(*, account_id, koc_id, user_id, payee, amount_fen, idempotency_key, digest, limits):
    account = accounts_lock(account_ids=[account_id])[account_id]
    # The same key may have finished while we waited for the lock: its answer is ours.
    refusal = WithdrawalRefusal.objects.filter(koc_id=koc_id, idempotency_key=idempotency_key).first()
    if refusal is not None:
        return _refusal_replay(refusal, digest=digest)
    existing = Withdrawal.objects.filter(koc_id=koc_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        replay = _replay(existing, digest=digest)
        if replay is not None:
            return replay
        raise WithdrawalInProgress()
    now = timezone.now()
    try:
        tax = _check_locked(
            account=account, koc_id=koc_id, payee=payee, amount_fen=amount_fen, limits=limits, now=now
        )
    except ApplicationError as error:
        # Written under the lock, in this transaction: a racing retry of the key sees it.
        return _refuse(koc_id=koc_id, idempotency_key=idempotency_key, digest=digest, error=error)
    organisation = payee.is_organisation
    withdrawal = Withdrawal(
        account=account,
        koc_id=koc_id,
        user_id=user_id,
        channel=Withdrawal.Channel.B2B if organisation else Withdrawal.Channel.WECHAT,
        amount_fen=amount_fen,
        tax_fen=tax,
        net_fen=amount_fen - tax,
        tax_month=tax_services.tax_month(now),
        status=Withdrawal.Status.B2B_PENDING if organisation else Withdrawal.Status.CREATED,
        invoice_status=Withdrawal.InvoiceStatus.AWAITED
        if organisation
        else Withdrawal.InvoiceStatus.NOT_APPLICABLE,
        idempotency_key=idempotency_key,
        request_hash=digest,
        out_bill_no=_new_out_bill_no(),
        openid=payee.openid,
    )
    withdrawal.save()
    move(
        key=f"w:{withdrawal.pk}:debit",
        account=account,
        kind=LedgerEntry.Kind.WITHDRAWAL,
        from_bucket=Bucket.AVAILABLE,
        to_bucket=Bucket.WITHDRAWING,
        amount_fen=amount_fen,
        withdrawal=withdrawal,
        explanation=f"申请提现 ¥{yuan(amount_fen)}（代扣个税 ¥{yuan(tax)}，实发 ¥{yuan(amount_fen - tax)}）",
    )
    _allocate(withdrawal)
    return withdrawal


def _allocate(withdrawal: Withdrawal) -> None:
    """Take the amount from the oldest available commissions first (for their status only)."""
    left = withdrawal.amount_fen
    ids = list(
        Commission.objects.filter(account_id=withdrawal.account_id, status=Commission.Status.AVAILABLE)
        .order_by("available_at", "pk")
        .values_list("pk", flat=True)
    )
    for commission in commissions_lock(ids=ids):
        if left <= 0:
            break
        free = commission.amount_fen - commission.reversed_fen - commission.allocated_fen
        if free <= 0:
            continue
        take = min(free, left)
        WithdrawalAllocation.objects.create(withdrawal=withdrawal, commission=commission, amount_fen=take)
        commission.allocated_fen += take
        commission.status = after_available_status(commission)
        commission.save(update_fields=["allocated_fen", "status"])
        left -= take


def _submit(withdrawal: Withdrawal) -> Answer:
    """Ask WeChat Pay for the transfer (again: the same out_bill_no is the same bill) and answer."""
    from apps.wechat import pay, transfers

    if withdrawal.status not in (Withdrawal.Status.CREATED, Withdrawal.Status.WAIT_USER_CONFIRM):
        return _remember(withdrawal, status=201, body=answer_body(withdrawal))
    payee = sources.payee(withdrawal.koc_id)
    try:
        bill = transfers.transfer_create(
            out_bill_no=withdrawal.out_bill_no,
            openid=withdrawal.openid,
            amount_fen=withdrawal.net_fen,
            remark=PayoutSettings.load().transfer_remark,
            notify_url=f"{settings.PUBLIC_BASE_URL}{NOTIFY_PATH}",
            user_name=(payee.real_name if payee else "") or None,
        )
    except pay.WeChatPayUnavailable:
        raise  # outcome unknown: stays `created`; a retry with the same key or the poll finishes it
    except pay.WeChatPayError as exc:
        # WeChat says an error answer may still mean the bill was created: ask by out_bill_no and
        # never re-create under another number. Only "no such bill" is a refusal: the withdrawal
        # failed and its money is back; that first answer (201, failed, with the reason) is stored
        # so a retry with the same key replays it.
        withdrawal = _after_ambiguous_create(withdrawal, error=exc)
        if withdrawal.status == Withdrawal.Status.CREATED:
            transaction.on_commit(lambda: _schedule_poll(withdrawal.pk))
        return _remember(withdrawal, status=201, body=answer_body(withdrawal))
    withdrawal = withdrawal_apply_state(
        withdrawal_id=withdrawal.pk,
        state=bill.state,
        transfer_bill_no=bill.transfer_bill_no,
        package_info=bill.package_info,
        fail_reason=bill.fail_reason,
    )
    if withdrawal.status in Withdrawal.FINAL:
        return _remember(withdrawal, status=201, body=answer_body(withdrawal))
    transaction.on_commit(lambda: _schedule_poll(withdrawal.pk))
    return _remember(withdrawal, status=201, body=answer_body(withdrawal))


def _after_ambiguous_create(withdrawal: Withdrawal, *, error) -> Withdrawal:
    """WeChat answered the create with an error: the bill may exist all the same. Query it."""
    from apps.wechat import pay, transfers

    try:
        bill = transfers.transfer_query(out_bill_no=withdrawal.out_bill_no)
    except pay.WeChatPayUnavailable:
        logger.warning("withdrawal %s: create refused and query unavailable; the poll decides", withdrawal.pk)
        return Withdrawal.objects.get(pk=withdrawal.pk)
    except pay.WeChatPayError as exc:
        if exc.wechat_code == "NOT_FOUND":
            return withdrawal_fail(withdrawal_id=withdrawal.pk, reason=error.message[:200])
        logger.warning("withdrawal %s: query refused too (%s); the poll decides", withdrawal.pk, exc.message)
        return Withdrawal.objects.get(pk=withdrawal.pk)
    logger.warning("withdrawal %s: WeChat answered %s but holds the bill", withdrawal.pk, error.wechat_code)
    return withdrawal_apply_state(
        withdrawal_id=withdrawal.pk,
        state=bill.state,
        transfer_bill_no=bill.transfer_bill_no,
        package_info=bill.package_info,
        fail_reason=bill.fail_reason,
    )


def _schedule_poll(withdrawal_id: int) -> None:
    from ..tasks import poll_withdrawal

    try:
        # Below the broker's visibility timeout (an hour on Redis), or it would be redelivered.
        poll_withdrawal.apply_async((withdrawal_id,), countdown=300)
    except Exception:  # the broker is down: the beat poll finds it by its state
        logger.exception("could not schedule the poll of withdrawal %s", withdrawal_id)


# --- finishing ---------------------------------------------------------------------------------------

_STATE_STATUS = {
    "WAIT_USER_CONFIRM": Withdrawal.Status.WAIT_USER_CONFIRM,
    "ACCEPTED": Withdrawal.Status.PROCESSING,
    "PROCESSING": Withdrawal.Status.PROCESSING,
    "TRANSFERING": Withdrawal.Status.PROCESSING,
    "CANCELING": Withdrawal.Status.CANCELLING,
}


@transaction.atomic
def withdrawal_apply_state(
    *,
    withdrawal_id: int,
    state: str,
    transfer_bill_no: str = "",
    package_info: str = "",
    fail_reason: str = "",
) -> Withdrawal:
    """Apply what WeChat Pay says about a bill (create answer, query answer or notification)."""
    if state == "SUCCESS":
        return withdrawal_succeed(withdrawal_id=withdrawal_id, transfer_bill_no=transfer_bill_no)
    if state in ("FAIL", "CANCELLED"):
        return withdrawal_fail(withdrawal_id=withdrawal_id, reason=fail_reason or state, state=state)
    withdrawal = withdrawal_lock(withdrawal_id=withdrawal_id)
    if withdrawal.status in Withdrawal.FINAL:
        return withdrawal
    if withdrawal.status == Withdrawal.Status.CANCELLING and state == "WAIT_USER_CONFIRM":
        return withdrawal  # a stale answer from before WeChat took our cancel
    status = _STATE_STATUS.get(state)
    if status is None:
        logger.warning("withdrawal %s: unknown transfer state %r", withdrawal_id, state)
        return withdrawal
    withdrawal.status = status
    withdrawal.wechat_state = state
    withdrawal.transfer_bill_no = transfer_bill_no or withdrawal.transfer_bill_no
    withdrawal.package_info = package_info or withdrawal.package_info
    withdrawal.save(
        update_fields=["status", "wechat_state", "transfer_bill_no", "package_info", "updated_at"]
    )
    return withdrawal


def _locked(withdrawal_id: int):
    account_id = Withdrawal.objects.values_list("account_id", flat=True).get(pk=withdrawal_id)
    account = accounts_lock(account_ids=[account_id])[account_id]
    return account, withdrawal_lock(withdrawal_id=withdrawal_id)


@transaction.atomic
def withdrawal_succeed(*, withdrawal_id: int, transfer_bill_no: str = "") -> Withdrawal:
    account, withdrawal = _locked(withdrawal_id)
    if withdrawal.status == Withdrawal.Status.SUCCEEDED:
        return withdrawal
    if withdrawal.status in (Withdrawal.Status.FAILED, Withdrawal.Status.CANCELLED):
        if withdrawal.channel != Withdrawal.Channel.WECHAT:
            return withdrawal
        return _succeed_late(account=account, withdrawal=withdrawal, transfer_bill_no=transfer_bill_no)
    allocations = list(withdrawal.allocations.all())
    by_commission = {a.commission_id: a.amount_fen for a in allocations}
    for commission in commissions_lock(ids=by_commission):
        commission.paid_out_fen += by_commission[commission.pk]
        if commission.status != Commission.Status.REVERSED:
            commission.status = after_available_status(commission)
        commission.save(update_fields=["paid_out_fen", "status"])
    return _paid(
        account=account,
        withdrawal=withdrawal,
        transfer_bill_no=transfer_bill_no,
        source=Bucket.WITHDRAWING,
        keys=("pay", "tax"),
        pay_note=(
            f"提现到账 ¥{yuan(withdrawal.net_fen)}"
            f"（{withdrawal.get_channel_display()} {withdrawal.out_bill_no}）"
        ),
        tax_note=f"代扣个人所得税（劳务报酬）¥{yuan(withdrawal.tax_fen)}",
    )


def _paid(
    *,
    account,
    withdrawal: Withdrawal,
    transfer_bill_no: str,
    source: str,
    keys: tuple[str, str],
    pay_note: str,
    tax_note: str,
) -> Withdrawal:
    """The net leaves `source` for `paid` and the tax for `tax`; the withdrawal ends succeeded.

    A WeChat transfer is income recognised now: the person's tax record of this month (services/tax.py),
    whose "tax to date − withheld" settles any difference from payouts made in between.
    """
    pay_key, tax_key = keys
    move(
        key=f"w:{withdrawal.pk}:{pay_key}",
        account=account,
        kind=LedgerEntry.Kind.PAYOUT,
        from_bucket=source,
        to_bucket=Bucket.PAID,
        amount_fen=withdrawal.net_fen,
        withdrawal=withdrawal,
        explanation=pay_note,
    )
    move(
        key=f"w:{withdrawal.pk}:{tax_key}",
        account=account,
        kind=LedgerEntry.Kind.TAX,
        from_bucket=source,
        to_bucket=Bucket.TAX,
        amount_fen=withdrawal.tax_fen,
        withdrawal=withdrawal,
        explanation=tax_note,
    )
    withdrawal.status = Withdrawal.Status.SUCCEEDED
    withdrawal.wechat_state = "SUCCESS" if withdrawal.channel == Withdrawal.Channel.WECHAT else ""
    withdrawal.transfer_bill_no = transfer_bill_no or withdrawal.transfer_bill_no
    withdrawal.finished_at = timezone.now()
    withdrawal.save()
    if withdrawal.channel == Withdrawal.Channel.WECHAT:
        payee = sources.payee(withdrawal.koc_id)
        tax_services.tax_record_for_payout(
            withdrawal=withdrawal,
            at=withdrawal.finished_at,
            real_name=payee.real_name if payee else "",
            id_number=payee.id_number if payee else "",
        )
    return withdrawal


def _succeed_late(*, account, withdrawal: Withdrawal, transfer_bill_no: str) -> Withdrawal:
    """WeChat paid a transfer we had recorded as failed or cancelled (and whose money we returned).

    The KOC has the money: it leaves `available` again (which may go negative when it was spent
    meanwhile: later earnings repay it, as for any clawback), the tax is withheld again, and the
    withdrawal is flagged for finance. Keyed like every movement, so it happens once.
    """
    was = withdrawal.get_status_display()
    note = f"微信在本系统记为「{was}」后确认转账成功（{withdrawal.out_bill_no}），款项已到账"
    logger.error("withdrawal %s: WeChat reports SUCCESS after %s; applied and flagged", withdrawal.pk, was)
    withdrawal.late_success = True
    return _paid(
        account=account,
        withdrawal=withdrawal,
        transfer_bill_no=transfer_bill_no,
        source=Bucket.AVAILABLE,
        keys=("late-pay", "late-tax"),
        pay_note=f"{note}：¥{yuan(withdrawal.net_fen)} 从可提现余额扣回",
        tax_note=f"{note}：代扣个人所得税 ¥{yuan(withdrawal.tax_fen)}",
    )


@transaction.atomic
def withdrawal_fail(*, withdrawal_id: int, reason: str, state: str = "") -> Withdrawal:
    """The money goes back to `available` (a new entry); no income was recognised, no tax record.

    Only on WeChat's word (FAIL, CANCELLED, or no such bill): CANCELLED ends `cancelled`.
    """
    account, withdrawal = _locked(withdrawal_id)
    if withdrawal.status in Withdrawal.FINAL:
        return withdrawal
    move(
        key=f"w:{withdrawal.pk}:return",
        account=account,
        kind=LedgerEntry.Kind.RETURN,
        from_bucket=Bucket.WITHDRAWING,
        to_bucket=Bucket.AVAILABLE,
        amount_fen=withdrawal.amount_fen,
        withdrawal=withdrawal,
        explanation=f"提现未完成（{reason or state}），¥{yuan(withdrawal.amount_fen)} 退回可提现余额",
    )
    by_commission = {a.commission_id: a.amount_fen for a in withdrawal.allocations.all()}
    for commission in commissions_lock(ids=by_commission):
        commission.allocated_fen -= by_commission[commission.pk]
        if commission.status != Commission.Status.REVERSED:
            commission.status = after_available_status(commission)
        commission.save(update_fields=["allocated_fen", "status"])
    withdrawal.status = Withdrawal.Status.CANCELLED if state == "CANCELLED" else Withdrawal.Status.FAILED
    withdrawal.wechat_state = state or withdrawal.wechat_state
    withdrawal.fail_reason = (reason or state)[:200]
    withdrawal.finished_at = timezone.now()
    withdrawal.save()
    return withdrawal


def withdrawal_poll(*, withdrawal_id: int, now: datetime | None = None) -> Withdrawal:
    """Ask WeChat Pay how a bill stands and apply it (the notification's safety net)."""
    from apps.wechat import pay, transfers

    withdrawal = Withdrawal.objects.get(pk=withdrawal_id)
    if withdrawal.channel != Withdrawal.Channel.WECHAT or withdrawal.status not in Withdrawal.IN_FLIGHT:
        return withdrawal
    now = now or timezone.now()
    try:
        bill = transfers.transfer_query(out_bill_no=withdrawal.out_bill_no)
    except pay.WeChatPayUnavailable:
        return withdrawal
    except pay.WeChatPayError as exc:
        if exc.wechat_code == "NOT_FOUND" and now - withdrawal.created_at > LOST_BILL_AFTER:
            return withdrawal_fail(withdrawal_id=withdrawal.pk, reason="微信未受理该转账")
        return withdrawal
    return withdrawal_apply_state(
        withdrawal_id=withdrawal.pk,
        state=bill.state,
        transfer_bill_no=bill.transfer_bill_no,
        package_info=bill.package_info,
        fail_reason=bill.fail_reason,
    )


CANCELLABLE = (Withdrawal.Status.CREATED, Withdrawal.Status.WAIT_USER_CONFIRM)
# WeChat closes a bill the user has not confirmed after 24 hours; we cancel it a little before, so
# the money comes back on our initiative (and a late confirmation cannot race the expiry).
AUTO_CANCEL_AFTER = timedelta(hours=23)


def withdrawal_cancel(*, withdrawal: Withdrawal, reason: str = "") -> Withdrawal:
    """Cancel a transfer the KOC has not confirmed (撤销转账); outside any transaction (WeChat call).

    WeChat answers CANCELING and finishes by itself; the money returns when WeChat says CANCELLED
    (its notification, or the poll). A bill WeChat no longer lets us cancel (the user confirmed a
    moment ago) is queried and applied, and the cancel answers 409 withdrawal_not_cancellable.
    """
    from apps.wechat import pay, transfers

    from ..errors import WithdrawalNotCancellable

    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    if withdrawal.status == Withdrawal.Status.CANCELLING:
        return withdrawal  # asked already: the same answer again
    if withdrawal.channel != Withdrawal.Channel.WECHAT or withdrawal.status not in CANCELLABLE:
        raise WithdrawalNotCancellable()
    try:
        bill = transfers.transfer_cancel(out_bill_no=withdrawal.out_bill_no)
    except pay.WeChatPayUnavailable:
        raise  # unknown: nothing changes here; the caller (or the sweep) asks again
    except pay.WeChatPayError as exc:
        logger.info("withdrawal %s: cancel refused (%s); asking WeChat", withdrawal.pk, exc.wechat_code)
        withdrawal = withdrawal_poll(withdrawal_id=withdrawal.pk)
        if withdrawal.status in (Withdrawal.Status.CANCELLING, Withdrawal.Status.CANCELLED):
            return withdrawal
        raise WithdrawalNotCancellable() from exc
    logger.info("withdrawal %s: cancel accepted (%s): %s", withdrawal.pk, bill.state, reason or "-")
    return withdrawal_apply_state(
        withdrawal_id=withdrawal.pk, state=bill.state, transfer_bill_no=bill.transfer_bill_no
    )


def withdrawals_cancel_unconfirmed(*, now: datetime | None = None, limit: int = 200) -> int:
    """Cancel every transfer still unconfirmed shortly before WeChat's 24-hour expiry."""
    from apps.wechat import pay

    from ..errors import WithdrawalNotCancellable

    cutoff = (now or timezone.now()) - AUTO_CANCEL_AFTER
    ids = list(
        Withdrawal.objects.filter(
            channel=Withdrawal.Channel.WECHAT,
            status=Withdrawal.Status.WAIT_USER_CONFIRM,
            created_at__lte=cutoff,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for withdrawal_id in ids:
        try:
            withdrawal_cancel(
                withdrawal=Withdrawal(pk=withdrawal_id), reason="用户 24 小时内未确认收款，已撤销"
            )
        except (WithdrawalNotCancellable, pay.WeChatPayUnavailable):
            logger.warning("withdrawal %s: automatic cancel did not go through; next sweep", withdrawal_id)
    return len(ids)


def withdrawals_poll_stale(*, older_than: timedelta = timedelta(minutes=5), limit: int = 200) -> int:
    cutoff = timezone.now() - older_than
    ids = list(
        Withdrawal.objects.filter(
            channel=Withdrawal.Channel.WECHAT,
            status__in=[
                Withdrawal.Status.CREATED,
                Withdrawal.Status.WAIT_USER_CONFIRM,
                Withdrawal.Status.PROCESSING,
                Withdrawal.Status.CANCELLING,
            ],
            updated_at__lte=cutoff,
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for withdrawal_id in ids:
        try:
            withdrawal_poll(withdrawal_id=withdrawal_id)
        except Exception:  # one bad bill must not stop the sweep
            logger.exception("polling withdrawal %s failed", withdrawal_id)
    return len(ids)


def transfer_notification_handle(
    *,
    out_bill_no: str,
    state: str,
    amount_fen: int | None,
    transfer_bill_no: str,
    fail_reason: str,
    mch_id: str,
) -> Withdrawal | None:
    """A verified transfer notification: check it is ours and for the right amount, then apply it."""
    from apps.wechat.pay import NotificationInvalid

    withdrawal = Withdrawal.objects.filter(out_bill_no=out_bill_no).first()
    if withdrawal is None:
        return None  # not ours (or long gone): acknowledge, as WeChat would otherwise retry forever
    if mch_id and mch_id != settings.WECHATPAY_MCHID:
        raise NotificationInvalid("商户号不符")
    if amount_fen is not None and amount_fen != withdrawal.net_fen:
        raise NotificationInvalid("转账金额与提现不符")
    return withdrawal_apply_state(
        withdrawal_id=withdrawal.pk, state=state, transfer_bill_no=transfer_bill_no, fail_reason=fail_reason
    )


# --- B2B settlements (organisations) --------------------------------------------------------------------


def _b2b_locked(withdrawal_id: int) -> Withdrawal:
    withdrawal = withdrawal_lock(withdrawal_id=withdrawal_id)
    if withdrawal.channel != Withdrawal.Channel.B2B or withdrawal.status != Withdrawal.Status.B2B_PENDING:
        raise WithdrawalNotB2B()
    return withdrawal


@transaction.atomic
def withdrawal_invoice_receive(*, withdrawal_id: int, invoice_no: str) -> Withdrawal:
    """The organisation's invoice for a pending B2B settlement arrived: record its number."""
    withdrawal = _b2b_locked(withdrawal_id)
    invoice_no = invoice_no.strip()
    if not invoice_no:
        from apps.core.errors import InvalidInput

        raise InvalidInput(gettext("Please fill in the invoice number."), code="invoice_no_required")
    withdrawal.invoice_status = Withdrawal.InvoiceStatus.RECEIVED
    withdrawal.invoice_no = invoice_no[:32]
    withdrawal.invoice_received_at = timezone.now()
    withdrawal.save(update_fields=["invoice_status", "invoice_no", "invoice_received_at", "updated_at"])
    return withdrawal


def withdrawal_b2b_settle(*, withdrawal_id: int) -> Withdrawal:
    """Finance paid the organisation by bank transfer: refused while an invoice is required and awaited."""
    with transaction.atomic():
        withdrawal = _b2b_locked(withdrawal_id)
        if (
            PayoutSettings.load().b2b_invoice_required
            and withdrawal.invoice_status != Withdrawal.InvoiceStatus.RECEIVED
        ):
            raise InvoiceRequired()
    return withdrawal_succeed(withdrawal_id=withdrawal_id)
