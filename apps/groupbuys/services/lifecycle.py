"""A group's outcome: payments count seats, `size` paid seats succeed it, its deadline fails it.

Every function here locks the group row first (lock_objects), then changes members and counters,
so a payment, a cancellation, a refund and the expiry of one group run one at a time. Each is
idempotent: members move only from the states they are expected in, and the group's status moves
with a conditional UPDATE from `forming`, so a second run (a retried task, a redelivered event, the
sweeper after the per-group task) finds nothing to do.

The deadline: a group is open on [opened, expires_at). A payment counts when WeChat's success time
(the order's `paid_at`) is before `expires_at` and the group is still forming when we learn of it;
a payment at or after the deadline, or for a group that already failed, is refunded in full. Before
failing a group, the expiry asks WeChat Pay about its unpaid seats, so a group whose last seat was
paid at 23:59:59 succeeds even when the notification arrives after midnight; a group is never
succeeded by a payment made after its deadline. (A payment made between that query and the
cancellation of its order reaches a cancelled order, and the shop refunds it.)
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.shop import services as shop
from apps.shop.errors import OrderNotCancellable, RefundNotAllowed
from apps.shop.models import Order, Refund
from apps.wechat import pay as wechatpay

from ..lock_objects import group_lock
from ..models import Group, GroupMember, GroupNotification
from .groups import _member_group_id, leave_seat, return_held_stock
from .notifications import queue_group_notifications

logger = logging.getLogger(__name__)

FAILED_REASON = "拼团失败，全额退款"
LATE_REASON = "拼团已结束，支付自动退回"


def refund_key(order_id: int) -> str:
    """One refund per group order, whichever path (failure, late payment) asks first."""
    return f"group_failed:{order_id}"


def _refund_member(*, group: Group, member: GroupMember, reason: str, now: datetime) -> Refund | None:
    """Refund everything the member paid, once (the shop's idempotency key), and free the seat.

    A pending after-sales request would hold its amount back from this refund, and nothing would
    refund it if the operator then rejected it: it is closed with the reason first.
    """
    refund = None
    shop.refund_requests_close(order=member.order, reason=reason)
    try:
        refund = shop.refund_create(
            order=member.order,
            amount_fen=None,
            reason=reason,
            auto_approve=True,
            idempotency_key=refund_key(member.order_id),
            kind=Refund.Kind.SYSTEM,
        )
    except RefundNotAllowed:
        # Nothing left to refund: an after-sales refund already took (or is taking) it all.
        logger.info("group member %s: order %s has nothing left to refund", member.pk, member.order_id)
    member.refund_id = refund.pk if refund else None
    leave_seat(group=group, member=member, status=GroupMember.Status.REFUNDED, now=now)
    return refund


def _succeed_locked(*, group: Group, now: datetime) -> bool:
    moved = Group.objects.filter(pk=group.pk, status=Group.Status.FORMING, paid_count__gte=F("size")).update(
        status=Group.Status.SUCCEEDED, succeeded_at=now
    )
    if not moved:
        return False
    group.status, group.succeeded_at = Group.Status.SUCCEEDED, now
    return_held_stock(group=group)  # none: every seat is paid
    paid = list(group.members.filter(status=GroupMember.Status.PAID).order_by("order_id"))
    for member in paid:
        shop.order_release_hold(order_id=member.order_id)
    queue_group_notifications(
        group=group, kind=GroupNotification.Kind.SUCCEEDED, user_ids=[m.user_id for m in paid]
    )
    return True


@transaction.atomic
def member_paid(*, order_id: int, paid_at: datetime | None = None, now: datetime | None = None) -> str:
    """The shop says a group order was paid. Answers what it did:

    "paid" (the seat is paid; "succeeded" when it was the last one), "late_refunded" (the group is
    closed or the payment came at/after its deadline: refunded in full), "duplicate" (already
    handled), "unknown" (no member has this order).
    """
    now = now or timezone.now()
    paid_at = paid_at or now
    group_id = _member_group_id(order_id)
    if group_id is None:
        logger.warning("order_paid for order %s: no group member has it", order_id)
        return "unknown"
    group = group_lock(group_id=group_id)
    member = GroupMember.objects.select_related("order", "group").get(order_id=order_id)
    if member.status != GroupMember.Status.HELD:
        # paid or refunded: this payment was handled; released: the order was cancelled before it
        # was paid, and the shop refunds a payment for a cancelled order itself.
        return "duplicate"
    if group.status == Group.Status.FORMING and paid_at < group.expires_at:
        member.status = GroupMember.Status.PAID
        member.paid_at = paid_at
        member.save(update_fields=["status", "paid_at"])
        Group.objects.filter(pk=group.pk).update(paid_count=F("paid_count") + 1)
        group.refresh_from_db()
        if group.paid_count >= group.size and _succeed_locked(group=group, now=now):
            return "succeeded"
        return "paid"
    _refund_member(group=group, member=member, reason=LATE_REASON, now=now)
    return "late_refunded"


@transaction.atomic
def member_refunded(*, order_id: int, fully_refunded: bool, now: datetime | None = None) -> bool:
    """A paid member's order was refunded in full (after-sales): the member leaves the group.

    The group's status does not change: a refund after success does not undo the success, and the
    group then shows (and counts) its paid members only. A partial refund changes nothing.
    """
    if not fully_refunded:
        return False
    group_id = _member_group_id(order_id)
    if group_id is None:
        return False
    group = group_lock(group_id=group_id)
    member = GroupMember.objects.get(order_id=order_id)
    if member.status != GroupMember.Status.PAID:
        return False
    leave_seat(group=group, member=member, status=GroupMember.Status.REFUNDED, now=now or timezone.now())
    return True


def group_expire(*, group_id: int, now: datetime | None = None) -> bool:
    """Fail a forming group whose deadline has passed: refund every paid member in full, cancel
    every unpaid order, free every seat, tell the members. False when there is nothing to do.

    First, outside any transaction, the payments made in time are counted even when WeChat's
    notification is late (see `_count_payments_made_in_time`): such a group may succeed instead.
    If WeChat Pay cannot be asked, the group is left for the next sweep rather than failed blind.
    """
    now = now or timezone.now()
    group = Group.objects.filter(pk=group_id).only("status", "expires_at").first()
    if group is None or group.status != Group.Status.FORMING or group.expires_at > now:
        return False
    if not _count_payments_made_in_time(group_id=group_id, now=now):
        return False
    return _fail_if_due(group_id=group_id, now=now)


def _count_payments_made_in_time(*, group_id: int, now: datetime) -> bool:
    """Apply what the deadline must not overlook: held seats whose order is paid but whose
    order_paid event has not reached us yet, and orders paid at WeChat whose notification is late
    (asked with a query, applied through the shop's once-only notification path). Each is then
    judged by its paid_at like any payment. False when WeChat Pay could not be asked."""
    held = list(
        GroupMember.objects.filter(group_id=group_id, status=GroupMember.Status.HELD)
        .select_related("order")
        .order_by("order_id")
    )
    for member in held:
        order = member.order
        if order.status == Order.Status.PENDING_PAYMENT and order.prepay_id:
            try:
                payment = wechatpay.query_payment(out_trade_no=order.no)
            except wechatpay.WeChatPayUnavailable:
                logger.warning("group %s: WeChat Pay unreachable; expiry waits for the next sweep", group_id)
                return False
            except (wechatpay.WeChatPayError, wechatpay.NotificationInvalid):
                continue  # WeChat knows no payment (e.g. ORDER_NOT_EXIST)
            if payment.trade_state != "SUCCESS":
                continue
            try:
                shop.payment_notification_handle(notice=payment)
            except ApplicationError:
                logger.exception("group %s: order %s paid at WeChat but not applicable", group_id, order.no)
                continue
            order.refresh_from_db()
        if order.status == Order.Status.PAID:
            member_paid(order_id=order.pk, paid_at=order.paid_at, now=now)
    return True


@transaction.atomic
def _fail_if_due(*, group_id: int, now: datetime) -> bool:
    group = group_lock(group_id=group_id)
    if group.status != Group.Status.FORMING or group.expires_at > now:
        return False
    Group.objects.filter(pk=group.pk, status=Group.Status.FORMING).update(
        status=Group.Status.FAILED, failed_at=now
    )
    group.status, group.failed_at = Group.Status.FAILED, now
    members = list(
        group.members.select_related("order", "group")
        .filter(status__in=GroupMember.ACTIVE)
        .order_by("order_id")
    )
    for member in members:
        if member.status == GroupMember.Status.PAID:
            _refund_member(group=group, member=member, reason=FAILED_REASON, now=now)
            continue
        try:
            shop.order_cancel(order=member.order, reason="group_failed")
        except OrderNotCancellable:
            # Paid a moment ago (its order_paid event is on its way) or cancelled meanwhile.
            status = Order.objects.values_list("status", flat=True).get(pk=member.order_id)
            if status in (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED):
                _refund_member(group=group, member=member, reason=FAILED_REASON, now=now)
                continue
        leave_seat(group=group, member=member, status=GroupMember.Status.RELEASED, now=now)
    # The seats nobody took: their units back on the shelf, after the members' orders (which lock
    # each order before the SKU, as the shop's cancellation does).
    return_held_stock(group=group)
    queue_group_notifications(
        group=group, kind=GroupNotification.Kind.FAILED, user_ids=[m.user_id for m in members]
    )
    return True


def groups_expire(*, now: datetime | None = None) -> int:
    """The sweeper (beat, `expire_groups`): fail every forming group past its deadline, each in its
    own transaction. Returns how many it failed; a second run fails none."""
    now = now or timezone.now()
    ids = list(
        Group.objects.filter(status=Group.Status.FORMING, expires_at__lte=now)
        .order_by("expires_at", "id")
        .values_list("id", flat=True)
    )
    return sum(1 for group_id in ids if group_expire(group_id=group_id, now=now))
