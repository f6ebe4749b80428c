"""The shop's error codes (docs/api.md names the ones clients switch on)."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError, InvalidInput, NotFound


class OutOfStock(ApplicationError):
    code = "out_of_stock"
    default_message = _("Not enough stock.")


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
    default_message = _("The quantity to buy is not valid.")


class OrderNotPayable(ApplicationError):
    code = "order_not_payable"
    default_message = _("The order cannot be paid.")


class OrderNotCancellable(ApplicationError):
    code = "order_not_cancellable"
    default_message = _("The order cannot be cancelled.")


class OrderNotShipped(ApplicationError):
    code = "order_not_shipped"
    default_message = _("The order has not been shipped yet.")


class OrderNotShippable(ApplicationError):
    code = "order_not_shippable"
    default_message = _("The order cannot be shipped.")


class RefundNotAllowed(ApplicationError):
    code = "refund_not_allowed"
    default_message = _("A refund cannot be requested.")


class InvalidRefundItems(InvalidInput):
    code = "invalid_refund_items"
    default_message = _("The items to return are not valid.")


class RefundNotPending(ApplicationError):
    code = "refund_not_pending"
    default_message = _("The refund request has already been handled.")


class RefundNotRetryable(ApplicationError):
    status_code = 409
    code = "refund_not_retryable"
    default_message = _("This refund cannot be retried.")


class InvalidImage(InvalidInput):
    code = "invalid_image"
    default_message = _("The image is not valid.")


class PaymentMismatch(InvalidInput):
    """A verified notification whose appid, mchid or amount does not match the order: refused."""

    code = "payment_mismatch"
    default_message = _("The payment notification does not match the order.")


class AddressNotFound(NotFound):
    default_message = _("The shipping address does not exist.")


class SkuNotFound(NotFound):
    default_message = _("The product does not exist or is no longer on sale.")


class ShippingForbidden(ApplicationError):
    """A line the operator may not ship (another brand's)."""

    status_code = 403
    code = "permission_denied"
    default_message = _("You may not ship this.")


class OperatorForbidden(ApplicationError):
    """An operator whose role lacks the permission the admin would ask for, or a refund not wholly
    inside the operator's brand."""

    status_code = 403
    code = "permission_denied"
    default_message = _("Your role does not have this permission.")
