"""The shop's writes. Other apps import these (group buys: order_create, order_draft and
order_insert, order_cancel, refund_create, order_release_hold); each is keyword-only and typed,
and runs in its own transaction (order_draft only reads; order_insert writes in the caller's)."""

from .catalogue import product_image_add, product_image_delete
from .fulfilment import auto_confirm_orders, order_confirm_receipt
from .orders import (
    NEW_ORDER,
    ORDER_NUMBER_DRAWS,
    OrderLine,
    OrderNumberTaken,
    cancel_unpaid_order,
    cancel_unpaid_orders,
    order_cancel,
    order_create,
    order_draft,
    order_insert,
    order_insert_parts,
    order_release_hold,
    order_stored,
    stock_return,
    stock_take,
)
from .payments import order_pay, payment_notification_handle
from .refunds import (
    refund_approve,
    refund_create,
    refund_notification_handle,
    refund_reject,
    refund_requests_close,
    refund_resolve,
    refund_retry,
    refund_submit,
    refunds_resubmit_stuck,
)
from .shipments import (
    order_ship,
    shipment_correct,
    shipping_upload_retry,
    upload_pending_shipping_info,
    upload_shipping_info,
)
from .trade_events import trade_event_handle, trade_event_resolve

__all__ = [
    "NEW_ORDER",
    "ORDER_NUMBER_DRAWS",
    "OrderLine",
    "OrderNumberTaken",
    "auto_confirm_orders",
    "cancel_unpaid_order",
    "cancel_unpaid_orders",
    "order_cancel",
    "order_confirm_receipt",
    "order_create",
    "order_draft",
    "order_insert",
    "order_insert_parts",
    "order_pay",
    "order_release_hold",
    "order_ship",
    "order_stored",
    "payment_notification_handle",
    "product_image_add",
    "product_image_delete",
    "refund_approve",
    "refund_create",
    "refund_notification_handle",
    "refund_reject",
    "refund_requests_close",
    "refund_resolve",
    "refund_retry",
    "refund_submit",
    "refunds_resubmit_stuck",
    "shipment_correct",
    "shipping_upload_retry",
    "stock_return",
    "stock_take",
    "trade_event_handle",
    "trade_event_resolve",
    "upload_pending_shipping_info",
    "upload_shipping_info",
]
