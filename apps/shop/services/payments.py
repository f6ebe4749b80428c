"""Payment: JSAPI prepay for an order, and WeChat Pay's payment notification, processed exactly once."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import User
from apps.wechat import pay as wechatpay

from .. import events, read_cache
from ..errors import OrderNotPayable, PaymentMismatch
from ..lock_objects import order_lock_by_no
from ..models import Order, Payment, Product, Refund
from .common import notify_url
from .refunds import refund_create

logger = logging.getLogger(__name__)


def _description(order: Order) -> str:
    items = list(order.items.all())
    first = f"{items[0].title} {items[0].spec}".strip() if items else order.no
    return first if len(items) <= 1 else f"{first} 等{len(items)}件商品"


def order_pay(*, order: Order, buyer: User) -> dict[str, str]:
    """Create the order's WeChat Pay transaction and answer the `wx.requestPayment` arguments.

    No transaction is held while WeChat is called; the prepay_id is then stored only if the order
    is still unpaid. WeChat is given the deadline as time_expire, so it refuses late payments itself.
    """
    now = timezone.now()
    if order.status != Order.Status.PENDING_PAYMENT or order.pay_deadline <= now:
        raise OrderNotPayable()
    if not buyer.openid:
        raise OrderNotPayable(gettext("Log in with WeChat to pay."))
    try:
        prepay_id = wechatpay.jsapi_prepay(
            out_trade_no=order.no,
            description=_description(order),
            amount_fen=order.total_fen,
            openid=buyer.openid,
            notify_url=notify_url("shop-payment-notify"),
            time_expire=order.pay_deadline,
        )
    except wechatpay.WeChatPayError as exc:
        if exc.wechat_code in {"ORDERPAID", "ORDER_CLOSED", "ORDERCLOSED"}:
            raise OrderNotPayable() from exc
        raise
    updated = Order.objects.filter(pk=order.pk, status=Order.Status.PENDING_PAYMENT).update(
        prepay_id=prepay_id, updated_at=timezone.now()
    )
    if not updated:
        raise OrderNotPayable()
    return wechatpay.jsapi_payment_params(prepay_id=prepay_id)


def payment_notification_handle(*, notice: wechatpay.PaymentNotice) -> str:
    """Apply one verified payment notification; answers what happened.

    "paid": the order is paid now; "duplicate": this transaction was already handled (nothing
    changes); "refunding": the order was no longer payable (cancelled, closed, or already paid by
    another transaction), so the money goes back automatically; "ignored": not a success.
    The order row is locked and the transaction id is unique, so 20 concurrent copies pay once.
    """
    config = wechatpay.pay_config()
    if notice.appid != config.appid or notice.mchid != config.mchid:
        raise PaymentMismatch(gettext("The appid or merchant id does not match the order."))
    if notice.trade_state != "SUCCESS":
        return "ignored"
    with transaction.atomic():
        order = order_lock_by_no(no=notice.out_trade_no)
        if order is None:
            raise PaymentMismatch(gettext("The order of this payment does not exist."))
        if notice.amount_total != order.total_fen:
            raise PaymentMismatch(gettext("The amount paid does not match the order's amount."))
        if Payment.objects.filter(transaction_id=notice.transaction_id).exists():
            return "duplicate"
        now = timezone.now()
        payable = order.status == Order.Status.PENDING_PAYMENT
        payment = Payment.objects.create(
            order=order,
            transaction_id=notice.transaction_id,
            amount_fen=notice.amount_total,
            payer_openid=notice.payer_openid,
            success_time=notice.success_time,
            outcome=Payment.Outcome.PAID_ORDER if payable else Payment.Outcome.REFUNDED_LATE,
            raw=notice.raw,
        )
        if payable:
            order.status = Order.Status.PAID
            order.paid_fen = notice.amount_total
            order.paid_at = notice.success_time or now
            order.transaction_id = notice.transaction_id
            order.save(update_fields=["status", "paid_fen", "paid_at", "transaction_id", "updated_at"])
            sold: dict[int, int] = defaultdict(int)
            for item in order.items.all():
                sold[item.product_id] += item.quantity
            for product_id in sorted(sold):
                Product.objects.filter(pk=product_id).update(sales=F("sales") + sold[product_id])
            read_cache.sales_changed(sold)
            events.publish_order_paid(order)
            return "paid"
        # The money arrived for an order that can no longer take it: record it, send it back.
        logger.warning("payment %s for %s order %s: refunding", notice.transaction_id, order.status, order.no)
        Order.objects.filter(pk=order.pk).update(paid_fen=F("paid_fen") + notice.amount_total)
        order.refresh_from_db()
        refund_create(
            order=order,
            amount_fen=notice.amount_total,
            reason="订单已关闭，支付自动退回",
            auto_approve=True,
            idempotency_key=f"late_payment:{notice.transaction_id}",
            kind=Refund.Kind.LATE_PAYMENT,
            payment=payment,
        )
        return "refunding"
