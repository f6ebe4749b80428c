"""Celery tasks: each takes ids, calls a service, and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.wechat import pay as wechatpay

from . import services
from .models import Order

logger = logging.getLogger(__name__)


@shared_task(name="shop.cancel_unpaid_order")
def cancel_unpaid_order(order_id: int) -> bool:
    """One order's deadline; checks the deadline and status itself. Orders no longer schedule it
    (the minute sweeper `cancel_unpaid_orders` owns deadlines); kept so that tasks queued before
    that change, and operators, can still run it."""
    return services.cancel_unpaid_order(order_id=order_id)


@shared_task(name="shop.cancel_unpaid_orders")
def cancel_unpaid_orders() -> int:
    return services.cancel_unpaid_orders()


@shared_task(name="shop.resubmit_stuck_refunds")
def resubmit_stuck_refunds() -> int:
    return services.refunds_resubmit_stuck()


@shared_task(name="shop.auto_confirm_orders")
def auto_confirm_orders() -> int:
    return services.auto_confirm_orders()


# Every countdown stays below the broker's visibility timeout (an hour on Redis): a task whose ETA
# lies beyond it is handed to a second worker while the first still holds it, again and again.
MAX_COUNTDOWN = 1800


def backoff(retries: int) -> int:
    return min(MAX_COUNTDOWN, 30 * 2**retries)


@shared_task(name="shop.submit_refund", bind=True, max_retries=10)
def submit_refund(self, refund_id: int) -> str:
    """Send an approved refund; an untrusted answer is resolved by `resolve_refund` (a query)."""
    try:
        return services.refund_submit(refund_id=refund_id).status
    except wechatpay.WeChatPayUnavailable:
        if self.request.is_eager:
            logger.warning("refund %s: outcome unknown; the sweep will ask WeChat", refund_id)
            return "submitting"
        resolve_refund.apply_async((refund_id,), countdown=backoff(0))
        return "submitting"


@shared_task(name="shop.resolve_refund", bind=True, max_retries=12)
def resolve_refund(self, refund_id: int) -> str:
    """Ask WeChat about a refund whose answer could not be trusted, with backoff; then the sweep."""
    try:
        return services.refund_resolve(refund_id=refund_id).status
    except wechatpay.WeChatPayUnavailable as exc:
        if self.request.is_eager:
            return "submitting"
        raise self.retry(exc=exc, countdown=backoff(self.request.retries + 1)) from exc


@shared_task(name="shop.upload_shipping_info", bind=True, max_retries=8)
def upload_shipping_info(self, order_id: int) -> str:
    """Upload an order's parcels to WeChat; busy or unreachable: retried with backoff (30 s .. 1 h).

    A refused upload is marked failed for the admin's retry action, not retried blindly: sending
    the same content again cannot fix it, and WeChat counts corrections.
    """
    from .services.shipments import UploadRetryable

    try:
        upload = services.upload_shipping_info(order_id=order_id)
    except UploadRetryable as exc:
        if self.request.is_eager:
            logger.warning("shipping info of order %s not uploaded: %s", order_id, exc)
            return "pending"
        raise self.retry(exc=exc, countdown=min(3600, 30 * 2**self.request.retries)) from exc
    return upload.status if upload else "none"


@shared_task(name="shop.upload_pending_shipping_info")
def upload_pending_shipping_info() -> int:
    return services.upload_pending_shipping_info()


@shared_task(name="shop.close_wechat_transaction")
def close_wechat_transaction(order_id: int) -> bool:
    """Close a cancelled order's WeChat transaction; best effort (a late payment is refunded anyway)."""
    order = Order.objects.filter(pk=order_id, status=Order.Status.CANCELLED).exclude(prepay_id="").first()
    if order is None:
        return False
    try:
        wechatpay.close_transaction(out_trade_no=order.no)
    except wechatpay.WeChatPayError as exc:
        logger.info("could not close WeChat transaction of %s: %s", order.no, exc.message)
        return False
    return True
