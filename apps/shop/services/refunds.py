"""Refunds: requested, approved, sent to WeChat exactly once, credited to the order exactly once.

The call to WeChat never runs inside a transaction: `refund_submit` first moves the refund from
`approved` to `submitting` with a conditional UPDATE and commits (so a second approval, a retried
task or a concurrent worker finds it taken), then calls WeChat, then records the answer. WeChat's
refund notification may arrive at any moment, even before the call has returned; whichever of the
answer and the notification first moves the refund to `succeeded` (again a conditional UPDATE,
under the order's row lock) credits the order and publishes `order_refunded`; the other does nothing.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.deferred import send_on_commit
from apps.core.money import allocate_fen, pro_rata, yuan
from apps.wechat import pay as wechatpay

from .. import events
from ..errors import (
    InvalidRefundItems,
    PaymentMismatch,
    RefundNotAllowed,
    RefundNotPending,
    RefundNotRetryable,
)
from ..lock_objects import order_lock, refund_lock
from ..models import Order, OrderItem, Payment, Refund, RefundItem
from .common import notify_url
from .orders import _release_stock

logger = logging.getLogger(__name__)

REFUNDABLE_STATUSES = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED)


def new_out_refund_no(now: datetime | None = None) -> str:
    day = timezone.localtime(now or timezone.now()).strftime("%Y%m%d")
    return f"R{day}{secrets.randbelow(10**12):012d}"


def _in_flight_fen(order: Order) -> int:
    total = Refund.objects.filter(order=order, status__in=Refund.IN_FLIGHT).aggregate(s=Sum("amount_fen"))[
        "s"
    ]
    return int(total or 0)


def refundable_fen(order: Order) -> int:
    """Paid, minus refunded, minus refunds still on their way."""
    return max(0, order.paid_fen - order.refunded_fen - _in_flight_fen(order))


def _line_bases(order: Order) -> list[tuple[OrderItem, int]]:
    """Each line with its share of what was paid (largest remainder by line amount, in line order):
    the same split the commission engine pays on, so a line refund takes back what the line earned."""
    items = list(order.items.order_by("id"))
    return list(zip(items, allocate_fen(order.paid_fen, [i.line_fen for i in items]), strict=True))


def _returned_units(order: Order) -> dict[int, int]:
    """Units of each line already returned, or on their way back (refunds in flight or succeeded)."""
    rows = RefundItem.objects.filter(
        refund__order=order, refund__status__in=[*Refund.IN_FLIGHT, Refund.Status.SUCCEEDED]
    ).values_list("order_item_id", "quantity")
    out: dict[int, int] = {}
    for item_id, quantity in rows:
        out[item_id] = out.get(item_id, 0) + quantity
    return out


def line_refund_fen(*, base_fen: int, quantity: int, returned_before: int, returning: int) -> int:
    """What `returning` more units of a line refund: the shares of its paid base telescope, so
    returning a line unit by unit refunds exactly its base, whatever the steps."""
    return pro_rata(base_fen, returned_before + returning, quantity) - pro_rata(
        base_fen, returned_before, quantity
    )


def _refund_lines(order: Order, items: list[dict]) -> list[RefundItem]:
    """The returned lines asked for ({"sku_id", "quantity"}), priced; bad input is a 400, more units
    than are left to return a 409."""
    wanted: dict[int, int] = {}
    for row in items:
        sku_id, quantity = row.get("sku_id"), row.get("quantity")
        if sku_id in wanted:
            message = gettext("SKU %(sku)s is listed twice.") % {"sku": sku_id}
            raise InvalidRefundItems(message, fields={"items": [message]})
        wanted[sku_id] = quantity
    lines = {item.sku_id: (item, base) for item, base in _line_bases(order)}
    unknown = sorted(k for k in wanted if k not in lines)
    if unknown:
        message = gettext("The order has no SKU %(skus)s.") % {"skus": unknown}
        raise InvalidRefundItems(message, fields={"items": [message]})
    returned = _returned_units(order)
    out = []
    for sku_id, quantity in wanted.items():
        item, base = lines[sku_id]
        left = item.quantity - returned.get(item.pk, 0)
        if quantity > left:
            raise RefundNotAllowed(
                gettext("At most %(left)s of “%(title)s” can still be returned.")
                % {"title": item.title, "left": left}
            )
        amount = line_refund_fen(
            base_fen=base,
            quantity=item.quantity,
            returned_before=returned.get(item.pk, 0),
            returning=quantity,
        )
        out.append(RefundItem(order_item=item, quantity=quantity, amount_fen=amount))
    return out


def refunded_lines(order: Order) -> tuple[dict[int, int], int]:
    """The order's succeeded line refunds: units returned per item id, and the fen they refunded."""
    units: dict[int, int] = {}
    fen = 0
    for item_id, quantity, amount in RefundItem.objects.filter(
        refund__order=order, refund__status=Refund.Status.SUCCEEDED
    ).values_list("order_item_id", "quantity", "amount_fen"):
        units[item_id] = units.get(item_id, 0) + quantity
        fen += amount
    return units, fen


def _submit_on_commit(refund_id: int) -> None:
    from ..tasks import submit_refund

    send_on_commit(submit_refund, refund_id)


@transaction.atomic
def refund_create(
    *,
    order: Order,
    amount_fen: int | None,
    reason: str,
    auto_approve: bool = False,
    idempotency_key: str | None = None,
    requested_by=None,
    kind: str = Refund.Kind.AFTER_SALE,
    payment: Payment | None = None,
    items: list[dict] | None = None,
) -> Refund:
    """Ask for a refund of `amount_fen` (None: everything still refundable), or of returned lines.

    `items` ([{"sku_id", "quantity"}]) refunds those units: the amount is their lines' share of what
    was paid (an `amount_fen` given with them must equal it), and the commission engine takes back
    what those lines earned. Without items a refund is an amount, taken back pro rata.

    A shopper's after-sale request needs a paid, shipped or completed order; system refunds
    (kind != after_sale, e.g. a failed group or a late payment) need only refundable money.
    `auto_approve` sends it to WeChat after commit without an operator. With `idempotency_key`,
    a second call answers the first refund and changes nothing (a failed group refunds each member
    once: key "group_failed:<order id>").
    """
    if idempotency_key:
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    order = order_lock(order_id=order.pk)
    if idempotency_key:  # a concurrent call with the same key may have committed while we waited
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if kind == Refund.Kind.AFTER_SALE and order.status not in REFUNDABLE_STATUSES:
        raise RefundNotAllowed(gettext("A refund cannot be requested in the order's current state."))
    available = refundable_fen(order)
    lines = _refund_lines(order, items) if items else []
    if lines:
        lines_fen = sum(line.amount_fen for line in lines)
        if amount_fen is not None and amount_fen != lines_fen:
            message = gettext(
                "The returned items come to %(amount)s yuan, which does not match amount_fen."
            ) % {"amount": yuan(lines_fen)}
            raise InvalidRefundItems(message, fields={"amount_fen": [message]})
        amount_fen = lines_fen
    amount = available if amount_fen is None else amount_fen
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1 or amount > available:
        raise RefundNotAllowed(
            gettext("Refund amount must be between 0.01 and %(max)s yuan.") % {"max": yuan(available)}
            if available
            else gettext("There is no amount left to refund.")
        )
    now = timezone.now()
    refund = Refund(
        order=order,
        payment=payment,
        out_refund_no=new_out_refund_no(now),
        amount_fen=amount,
        reason=(reason or "")[:200],
        kind=kind,
        idempotency_key=idempotency_key or None,
        requested_by=requested_by,
        status=Refund.Status.APPROVED if auto_approve else Refund.Status.REQUESTED,
        approved_at=now if auto_approve else None,
    )
    try:
        with transaction.atomic():
            refund.save()
    except IntegrityError:
        if idempotency_key and (existing := Refund.objects.filter(idempotency_key=idempotency_key).first()):
            return existing
        raise
    for line in lines:
        line.refund = refund
    RefundItem.objects.bulk_create(lines)
    if auto_approve:
        _submit_on_commit(refund.pk)
    return refund


@transaction.atomic
def refund_approve(*, refund: Refund, note: str = "") -> Refund:
    """Approve a requested refund; it is sent to WeChat after commit, once however often approved."""
    order_lock(order_id=refund.order_id)
    refund = refund_lock(refund_id=refund.pk)
    if refund.status in (Refund.Status.REJECTED, Refund.Status.FAILED, Refund.Status.CLOSED):
        raise RefundNotPending()
    if refund.status != Refund.Status.REQUESTED:
        return refund  # already approved: approving again sends nothing more
    refund.status = Refund.Status.APPROVED
    refund.approved_at = timezone.now()
    refund.note = (note or refund.note)[:200]
    refund.save(update_fields=["status", "approved_at", "note", "updated_at"])
    _submit_on_commit(refund.pk)
    return refund


@transaction.atomic
def refund_reject(*, refund: Refund, note: str = "") -> Refund:
    order_lock(order_id=refund.order_id)
    refund = refund_lock(refund_id=refund.pk)
    if refund.status == Refund.Status.REJECTED:
        return refund
    if refund.status != Refund.Status.REQUESTED:
        raise RefundNotPending()
    refund.status = Refund.Status.REJECTED
    refund.note = (note or refund.note)[:200]
    refund.save(update_fields=["status", "note", "updated_at"])
    return refund


UNKNOWN = "UNKNOWN"  # wechat_status of a refund whose answer could not be trusted
AUTO_RETRY_LIMIT = 12  # NOT_ENOUGH: about eight hours of automatic retries, then finance decides
RETRY_BACKOFF_CAP = timedelta(minutes=30)  # below the broker's visibility timeout (see tasks)
QUERY_AFTER = timedelta(minutes=2)  # an unknown outcome is asked about from then on
PROCESSING_QUERY_AFTER = timedelta(minutes=10)  # WeChat notifies within seconds to minutes


def retry_backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes, capped: WeChat asks for a retry "after a while" for NOT_ENOUGH."""
    return min(RETRY_BACKOFF_CAP, timedelta(minutes=2 ** max(0, attempts - 1)))


@transaction.atomic
def refund_requests_close(*, order: Order, reason: str) -> list[Refund]:
    """Close the order's after-sales requests still awaiting a decision, with the reason.

    A failed group refunds the whole order; a pending request would otherwise hold its amount
    back (and then nothing refunds it if the operator rejects the request). Closed is final: a
    later approve or reject answers 409 refund_not_pending.
    """
    order_lock(order_id=order.pk)
    closed = []
    pending = Refund.objects.filter(order=order, status=Refund.Status.REQUESTED).order_by("pk")
    for refund in pending.select_for_update(of=("self",)):
        refund.status = Refund.Status.CLOSED
        refund.note = (reason or refund.note)[:200]
        refund.save(update_fields=["status", "note", "updated_at"])
        closed.append(refund)
    return closed


def refund_submit(*, refund_id: int) -> Refund:
    """Send an approved refund to WeChat (outside any transaction); a no-op unless it is `approved`.

    What WeChat answers decides the next state. An answer that cannot be trusted (no answer, 5xx,
    a probe signature) leaves it `submitting` with wechat_status UNKNOWN: `refund_resolve` asks
    WeChat later; nothing is failed blind, because WeChat may be refunding. A refusal WeChat
    documents as retryable (NOT_ENOUGH) sends it back to `approved` with a due time; after
    AUTO_RETRY_LIMIT attempts it is `failed` and an operator retries it (same out_refund_no).
    """
    now = timezone.now()
    claimed = Refund.objects.filter(pk=refund_id, status=Refund.Status.APPROVED).update(
        status=Refund.Status.SUBMITTING,
        submitted_at=now,
        attempts=F("attempts") + 1,
        next_attempt_at=None,
        updated_at=now,
    )
    refund = Refund.objects.select_related("order", "payment").get(pk=refund_id)
    if not claimed:
        return refund
    order = refund.order
    try:
        answer = wechatpay.refund_create(
            out_refund_no=refund.out_refund_no,
            out_trade_no=order.no,
            amount_fen=refund.amount_fen,
            total_fen=refund.payment.amount_fen if refund.payment_id else order.total_fen,
            reason=refund.reason,
            notify_url=notify_url("shop-refund-notify"),
        )
    except wechatpay.WeChatPayUnavailable as exc:
        Refund.objects.filter(pk=refund_id, status=Refund.Status.SUBMITTING).update(
            wechat_status=UNKNOWN, last_error=str(exc.message)[:2000], updated_at=timezone.now()
        )
        raise
    except wechatpay.WeChatPayError as exc:
        if exc.wechat_code in wechatpay.RETRYABLE_REFUND_CODES and refund.attempts < AUTO_RETRY_LIMIT:
            _refund_retry_later(refund=refund, wechat_status=exc.wechat_code, error=exc.message)
        else:
            _refund_failed(refund_id=refund_id, wechat_status=exc.wechat_code or "ERROR", error=exc.message)
        return Refund.objects.get(pk=refund_id)
    _apply_answer(refund_id=refund_id, answer=answer)
    return Refund.objects.get(pk=refund_id)


def _refund_retry_later(*, refund: Refund, wechat_status: str, error: str) -> None:
    due = timezone.now() + retry_backoff(refund.attempts)
    moved = Refund.objects.filter(pk=refund.pk, status=Refund.Status.SUBMITTING).update(
        status=Refund.Status.APPROVED,
        wechat_status=wechat_status[:20],
        last_error=error[:2000],
        next_attempt_at=due,
        updated_at=timezone.now(),
    )
    if moved:
        logger.warning("refund %s refused (%s): retrying at %s", refund.pk, wechat_status, due.isoformat())
        from ..tasks import submit_refund

        send_on_commit(submit_refund, refund.pk, eta=due)


def _apply_answer(*, refund_id: int, answer: wechatpay.RefundAnswer) -> None:
    """Apply a trusted refund state from WeChat (create answer or query)."""
    if answer.status == "SUCCESS":
        _refund_succeeded(refund_id=refund_id, wechat_refund_id=answer.refund_id, refunded_at=None)
    elif answer.status in ("CLOSED", "ABNORMAL"):
        _refund_failed(refund_id=refund_id, wechat_status=answer.status, error="")
    else:
        Refund.objects.filter(
            pk=refund_id, status__in=[Refund.Status.SUBMITTING, Refund.Status.PROCESSING]
        ).update(
            status=Refund.Status.PROCESSING,
            wechat_refund_id=answer.refund_id,
            wechat_status=answer.status or "PROCESSING",
            updated_at=timezone.now(),
        )


def refund_resolve(*, refund_id: int) -> Refund:
    """Ask WeChat how a refund stands and apply it: an unknown outcome, or one still PROCESSING.

    RESOURCE_NOT_EXISTS for an unknown one means WeChat never took it: it goes back to `approved`
    and is sent again under the same out_refund_no. WeChat unavailable: raises, the caller retries.
    """
    refund = Refund.objects.get(pk=refund_id)
    if refund.status not in (Refund.Status.SUBMITTING, Refund.Status.PROCESSING):
        return refund
    try:
        answer = wechatpay.refund_query(out_refund_no=refund.out_refund_no)
    except wechatpay.WeChatPayUnavailable:
        raise
    except wechatpay.WeChatPayError as exc:
        if exc.wechat_code == "RESOURCE_NOT_EXISTS" and refund.status == Refund.Status.SUBMITTING:
            moved = Refund.objects.filter(pk=refund_id, status=Refund.Status.SUBMITTING).update(
                status=Refund.Status.APPROVED, wechat_status="", updated_at=timezone.now()
            )
            if moved:
                return refund_submit(refund_id=refund_id)
        logger.warning("refund %s: query refused: %s", refund_id, exc.message)
        return Refund.objects.get(pk=refund_id)
    _apply_answer(refund_id=refund_id, answer=answer)
    return Refund.objects.get(pk=refund_id)


@transaction.atomic
def refund_retry(*, refund: Refund, note: str = "") -> Refund:
    """An operator sends a failed refund again under the same out_refund_no (WeChat's rule).

    Only a refund WeChat refused outright can be retried: an ABNORMAL or CLOSED one exists at
    WeChat and the same out_refund_no would only answer it again. The order must still have the
    money to refund (another refund may have taken it meanwhile).
    """
    order = order_lock(order_id=refund.order_id)
    refund = refund_lock(refund_id=refund.pk)
    if refund.status != Refund.Status.FAILED or refund.wechat_status in NOT_RETRYABLE_STATES:
        raise RefundNotRetryable()
    if refund.amount_fen > refundable_fen(order):
        raise RefundNotRetryable(gettext("The order no longer has enough refundable amount."))
    refund.status = Refund.Status.APPROVED
    refund.next_attempt_at = None
    refund.attempts = 0
    refund.note = (note or refund.note)[:200]
    refund.save(update_fields=["status", "next_attempt_at", "attempts", "note", "updated_at"])
    _submit_on_commit(refund.pk)
    return refund


NOT_RETRYABLE_STATES = frozenset({"ABNORMAL", "CLOSED", "SUCCESS"})


def refunds_resubmit_stuck(
    *, now: datetime | None = None, older_than: timedelta = timedelta(minutes=10)
) -> int:
    """The refunds' sweeper (beat): whatever a lost task or a silent WeChat left behind.

    - `approved` whose retry is due, or whose submission task was lost: sent (same out_refund_no);
    - `submitting` for a while (an untrusted answer, or a worker that died mid-call): queried;
    - `processing` for a while: queried, as WeChat stops retrying its notification after a day.
    Safe to run at any time: every move is conditional on the state, WeChat dedupes out_refund_no.
    """
    now = now or timezone.now()
    due = Refund.objects.filter(status=Refund.Status.APPROVED).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, updated_at__lt=now - older_than)
    )
    ask = Refund.objects.filter(
        Q(status=Refund.Status.SUBMITTING, updated_at__lt=now - QUERY_AFTER)
        | Q(status=Refund.Status.PROCESSING, updated_at__lt=now - PROCESSING_QUERY_AFTER)
    )
    count = 0
    for refund_id in due.order_by("pk").values_list("pk", flat=True)[:500]:
        count += 1
        try:
            refund_submit(refund_id=refund_id)
        except wechatpay.WeChatPayUnavailable:
            logger.warning("refund %s: WeChat Pay unavailable during the sweep", refund_id)
    for refund_id in ask.order_by("pk").values_list("pk", flat=True)[:500]:
        count += 1
        try:
            refund_resolve(refund_id=refund_id)
        except wechatpay.WeChatPayUnavailable:
            Refund.objects.filter(pk=refund_id).update(updated_at=timezone.now())  # ask again later
            logger.warning("refund %s: WeChat Pay unavailable during the sweep", refund_id)
    return count


_CREDITABLE = (Refund.Status.APPROVED, Refund.Status.SUBMITTING, Refund.Status.PROCESSING)
# WeChat saying SUCCESS is final, even for a refund recorded as failed (an ABNORMAL one that
# finance had WeChat re-route, or one failed before this project trusted only verified answers).
_SUCCEEDABLE = (*_CREDITABLE, Refund.Status.FAILED)


@transaction.atomic
def _refund_succeeded(*, refund_id: int, wechat_refund_id: str, refunded_at: datetime | None) -> bool:
    """Credit a refund to its order, once. False when it was already credited (or cannot be)."""
    order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = order_lock(order_id=order_id)
    refund = refund_lock(refund_id=refund_id)
    now = timezone.now()
    moved = Refund.objects.filter(pk=refund_id, status__in=_SUCCEEDABLE).update(
        status=Refund.Status.SUCCEEDED,
        refunded_at=refunded_at or now,
        wechat_refund_id=wechat_refund_id or refund.wechat_refund_id,
        wechat_status="SUCCESS",
        updated_at=now,
    )
    if moved != 1:
        return False
    refund.refresh_from_db()
    Order.objects.filter(pk=order.pk).update(
        refunded_fen=F("refunded_fen") + refund.amount_fen, updated_at=now
    )
    order.refresh_from_db()
    if order.refunded_fen >= order.paid_fen and order.status in REFUNDABLE_STATUSES:
        if order.status == Order.Status.PAID:
            _release_stock(order)  # nothing was shipped: the goods are back on the shelf
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status", "updated_at"])
    events.publish_order_refunded(order, refund)
    return True


def _refund_failed(*, refund_id: int, wechat_status: str, error: str) -> bool:
    moved = Refund.objects.filter(pk=refund_id, status__in=_CREDITABLE).update(
        status=Refund.Status.FAILED,
        next_attempt_at=None,
        wechat_status=wechat_status[:20],
        last_error=error[:2000],
        updated_at=timezone.now(),
    )
    if moved:
        logger.error("refund %s failed at WeChat: %s %s", refund_id, wechat_status, error)
    return bool(moved)


def refund_notification_handle(*, notice: wechatpay.RefundNotice) -> str:
    """Apply one verified refund notification: "refunded", "failed" or "duplicate"."""
    if notice.mchid != wechatpay.pay_config().mchid:
        raise PaymentMismatch(gettext("The merchant id does not match."))
    refund = Refund.objects.select_related("order").filter(out_refund_no=notice.out_refund_no).first()
    if refund is None or (notice.out_trade_no and notice.out_trade_no != refund.order.no):
        raise PaymentMismatch(gettext("The refund of this notification does not exist."))
    if notice.amount_refund != refund.amount_fen:
        raise PaymentMismatch(gettext("The refunded amount does not match."))
    if notice.refund_status == "SUCCESS":
        done = _refund_succeeded(
            refund_id=refund.pk, wechat_refund_id=notice.refund_id, refunded_at=notice.success_time
        )
        return "refunded" if done else "duplicate"
    if notice.refund_status in ("CLOSED", "ABNORMAL"):
        return (
            "failed"
            if _refund_failed(refund_id=refund.pk, wechat_status=notice.refund_status, error="")
            else "duplicate"
        )
    return "duplicate"
