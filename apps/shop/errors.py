"""The shop's error codes (docs/api.md names the ones clients switch on)."""

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class OutOfStock(ApplicationError):
    code = "out_of_stock"
    default_message = "库存不足"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
    default_message = "购买数量无效"


class OrderNotPayable(ApplicationError):
    code = "order_not_payable"
    default_message = "订单无法支付"


class OrderNotCancellable(ApplicationError):
    code = "order_not_cancellable"
    default_message = "订单无法取消"


class OrderNotShipped(ApplicationError):
    code = "order_not_shipped"
    default_message = "订单尚未发货"


class OrderNotShippable(ApplicationError):
    code = "order_not_shippable"
    default_message = "订单无法发货"


class RefundNotAllowed(ApplicationError):
    code = "refund_not_allowed"
    default_message = "无法申请退款"


class InvalidRefundItems(InvalidInput):
    code = "invalid_refund_items"
    default_message = "退货商品无效"


class RefundNotPending(ApplicationError):
    code = "refund_not_pending"
    default_message = "退款申请已处理"


class RefundNotRetryable(ApplicationError):
    status_code = 409
    code = "refund_not_retryable"
    default_message = "该退款不能重试"


class InvalidImage(InvalidInput):
    code = "invalid_image"
    default_message = "图片无效"


class PaymentMismatch(InvalidInput):
    """A verified notification whose appid, mchid or amount does not match the order: refused."""

    code = "payment_mismatch"
    default_message = "支付通知与订单不符"


class AddressNotFound(NotFound):
    default_message = "收货地址不存在"


class SkuNotFound(NotFound):
    default_message = "商品不存在或已下架"


class ShippingForbidden(ApplicationError):
    """A line the operator may not ship (another brand's)."""

    status_code = 403
    code = "permission_denied"
    default_message = "无权发货"


class OperatorForbidden(ApplicationError):
    """An operator whose role lacks the permission the admin would ask for, or a refund not wholly
    inside the operator's brand."""

    status_code = 403
    code = "permission_denied"
    default_message = "您的角色没有此权限"
