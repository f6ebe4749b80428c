"""Parcels (包裹) and WeChat's trade management (发货信息录入).

An order ships as one or more parcels. A brand operator's parcel holds only its brand's lines; the
order is `shipped` when every line is. Every change to the parcels (a new parcel, a corrected
carrier) is uploaded to WeChat after commit by `upload_shipping_info`, which sends the order's
whole current shipping state: one parcel holding everything is WeChat's unified delivery, anything
else split delivery with `is_all_delivered` once every line shipped. A group-buy order cannot ship
(so uploads nothing) until its group succeeded.

The upload runs outside any transaction (a WeChat call never holds a row lock); its version
counter makes a change made meanwhile upload again, and a retried task never sends stale parcels.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.errors import ApplicationError, InvalidInput
from apps.wechat import trade as wechat_trade
from apps.wechat.errors import WeChatError

from ..errors import OrderNotShippable, ShippingForbidden
from ..lock_objects import order_lock
from ..models import Order, OrderItem, Payment, Shipment, ShipmentItem, ShippingUpload

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=5)  # longer than a WeChat call with its retries can take


def _carrier(carrier: str) -> tuple[str, str]:
    name = (carrier or "").strip()[:32]
    code = wechat_trade.carrier_code(name)
    if not name or code is None:
        known = "、".join(names[0] for names in wechat_trade.CARRIERS.values())
        message = gettext("Unknown carrier (known: %(known)s, or a WeChat carrier code).") % {"known": known}
        raise InvalidInput(message, code="carrier_unknown", fields={"carrier": [message]})
    return name, code


def _tracking_no(tracking_no: str) -> str:
    value = (tracking_no or "").strip()
    if not value or len(value) > 64:
        message = gettext("A tracking number has 1 to 64 characters.")
        raise InvalidInput(message, code="validation_error", fields={"tracking_no": [message]})
    return value


def _wanted(items, lines: dict[int, OrderItem], brand_ids: list[int] | None) -> OrderedDict[int, int]:
    """sku_id -> quantity to put in the parcel; every line checked against the order and the scope."""
    in_scope = {
        sku_id: line for sku_id, line in lines.items() if brand_ids is None or line.brand_id in brand_ids
    }
    if items is None:
        wanted = OrderedDict(
            (sku_id, line.quantity - line.shipped_quantity)
            for sku_id, line in in_scope.items()
            if line.quantity > line.shipped_quantity
        )
        if not wanted:
            raise OrderNotShippable(gettext("There is nothing left to ship in this order."))
        return wanted
    if not items:
        message = gettext("Ship at least one item.")
        raise InvalidInput(message, code="validation_error", fields={"items": [message]})
    wanted: OrderedDict[int, int] = OrderedDict()
    for index, item in enumerate(items):
        sku_id, quantity = item
        line = lines.get(sku_id)
        if line is None:
            message = gettext("This item is not in the order.")
            raise InvalidInput(message, code="validation_error", fields={f"items.{index}.sku_id": [message]})
        if sku_id not in in_scope:
            raise ShippingForbidden(gettext("You may not ship another brand's items."))
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            message = gettext("The quantity to ship must be a positive whole number.")
            raise InvalidInput(
                message, code="validation_error", fields={f"items.{index}.quantity": [message]}
            )
        wanted[sku_id] = wanted.get(sku_id, 0) + quantity
        if wanted[sku_id] > line.quantity - line.shipped_quantity:
            raise OrderNotShippable(
                gettext("Only %(left)s of %(title)s are left to ship.")
                % {"title": line.title, "left": line.quantity - line.shipped_quantity}
            )
    return wanted


@transaction.atomic
def order_ship(
    *,
    order: Order,
    carrier: str,
    tracking_no: str,
    items: list[tuple[int, int]] | None = None,
    brand_ids: list[int] | None = None,
    user=None,
) -> Order:
    """Ship lines of a paid order as one parcel.

    `items` is [(sku_id, quantity)] (None: every unshipped line the caller may ship); `brand_ids`
    limits the caller to its brands' lines (None: any line). Held (group-buy), unpaid, refunded or
    fully shipped orders: 409 order_not_shippable; another brand's line: 403 permission_denied.
    """
    carrier_name, express_company = _carrier(carrier)
    tracking = _tracking_no(tracking_no)
    order = order_lock(order_id=order.pk)
    if order.status != Order.Status.PAID:
        raise OrderNotShippable()
    if order.shipping_hold:
        raise OrderNotShippable(
            gettext("The group buy has not succeeded yet, so the order cannot be shipped.")
        )
    lines = {line.sku_id: line for line in order.items.order_by("id")}
    wanted = _wanted(items, lines, brand_ids)
    if order.shipments.count() >= wechat_trade.MAX_PARCELS:
        raise OrderNotShippable(
            gettext("An order has at most %(max)s parcels (WeChat's limit).")
            % {"max": wechat_trade.MAX_PARCELS}
        )
    now = timezone.now()
    brands = {lines[sku_id].brand_id for sku_id in wanted}
    shipment = Shipment.objects.create(
        order=order,
        brand_id=next(iter(brands)) if len(brands) == 1 else None,
        carrier=carrier_name,
        express_company=express_company,
        tracking_no=tracking,
        shipped_by=user if getattr(user, "pk", None) else None,
        shipped_at=now,
    )
    for sku_id, quantity in wanted.items():
        line = lines[sku_id]
        moved = OrderItem.objects.filter(pk=line.pk, shipped_quantity__lte=line.quantity - quantity).update(
            shipped_quantity=F("shipped_quantity") + quantity
        )
        if moved != 1:  # the order's lock makes this impossible; the CHECK constraint backs it up
            raise OrderNotShippable()
        ShipmentItem.objects.create(shipment=shipment, order_item=line, sku_id=sku_id, quantity=quantity)
    order.carrier, order.tracking_no = carrier_name, tracking
    fields = ["carrier", "tracking_no", "updated_at"]
    if not order.items.filter(shipped_quantity__lt=F("quantity")).exists():
        order.status = Order.Status.SHIPPED
        order.shipped_at = now
        fields += ["status", "shipped_at"]
    order.save(update_fields=fields)
    _request_upload(order)
    return order


@transaction.atomic
def shipment_correct(
    *, shipment: Shipment, carrier: str | None = None, tracking_no: str | None = None
) -> Shipment:
    """Correct a parcel's carrier or tracking number; WeChat is sent the corrected information.

    Only before the buyer confirmed (WeChat refuses changes after), and WeChat accepts one
    correction of a fully shipped order: a second answers 10060003, shown in the admin.
    """
    order = order_lock(order_id=shipment.order_id)
    if order.status not in (Order.Status.PAID, Order.Status.SHIPPED):
        raise OrderNotShippable(
            gettext("The order is completed or refunded; its shipping details can no longer change.")
        )
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    fields = []
    if carrier is not None:
        shipment.carrier, shipment.express_company = _carrier(carrier)
        fields += ["carrier", "express_company"]
    if tracking_no is not None:
        shipment.tracking_no = _tracking_no(tracking_no)
        fields.append("tracking_no")
    if not fields:
        return shipment
    shipment.save(update_fields=[*fields, "updated_at"])
    last = order.shipments.order_by("-id").first()
    if last is not None and last.pk == shipment.pk:
        Order.objects.filter(pk=order.pk).update(carrier=shipment.carrier, tracking_no=shipment.tracking_no)
    _request_upload(order)
    return shipment


# --- the upload ----------------------------------------------------------------------------------


def _request_upload(order: Order) -> None:
    """Mark the order's shipping state changed (inside the caller's transaction); upload after commit."""
    if not settings.WECHAT_TRADE_MANAGEMENT:
        return
    upload, _ = ShippingUpload.objects.get_or_create(order=order)
    ShippingUpload.objects.filter(pk=upload.pk).update(
        version=F("version") + 1, status=ShippingUpload.Status.PENDING, updated_at=timezone.now()
    )
    order_id = order.pk

    def enqueue() -> None:
        from ..tasks import upload_shipping_info

        upload_shipping_info.delay(order_id)

    transaction.on_commit(enqueue)


def _payer_openid(order: Order) -> str:
    payment = Payment.objects.filter(order=order, outcome=Payment.Outcome.PAID_ORDER).order_by("id").first()
    return (payment.payer_openid if payment else "") or (order.buyer.openid or "")


def _item_desc(shipment: Shipment) -> str:
    text = ";".join(
        f"{item.order_item.title} {item.order_item.spec}*{item.quantity}"
        for item in shipment.items.select_related("order_item").order_by("id")
    )
    limit = wechat_trade.ITEM_DESC_MAX
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shipping_payload(order: Order) -> dict[str, Any]:
    """upload_shipping_info's body for the order's parcels as they are now."""
    shipments = list(order.shipments.order_by("id"))
    all_shipped = not order.items.filter(shipped_quantity__lt=F("quantity")).exists()
    unified = all_shipped and len(shipments) == 1
    parcels = []
    for shipment in shipments:
        parcel: dict[str, Any] = {
            "tracking_no": shipment.tracking_no,
            "express_company": shipment.express_company,
            "item_desc": _item_desc(shipment),
        }
        contact = wechat_trade.mask_phone(order.receiver_phone)
        if shipment.express_company in wechat_trade.CONTACT_REQUIRED and contact:
            parcel["contact"] = {"receiver_contact": contact}
        parcels.append(parcel)
    order_key = (
        {
            "order_number_type": wechat_trade.ORDER_NUMBER_TRANSACTION_ID,
            "transaction_id": order.transaction_id,
        }
        if order.transaction_id
        else {
            "order_number_type": wechat_trade.ORDER_NUMBER_OUT_TRADE_NO,
            "mchid": settings.WECHATPAY_MCHID,
            "out_trade_no": order.no,
        }
    )
    payload: dict[str, Any] = {
        "order_key": order_key,
        "logistics_type": wechat_trade.LOGISTICS_EXPRESS,
        "delivery_mode": wechat_trade.UNIFIED_DELIVERY if unified else wechat_trade.SPLIT_DELIVERY,
        "shipping_list": parcels,
        "upload_time": wechat_trade.upload_time(),
        "payer": {"openid": _payer_openid(order)},
    }
    if not unified:
        payload["is_all_delivered"] = all_shipped
    return payload


class UploadRetryable(Exception):
    """WeChat was busy, limited us or could not be reached: the task retries with backoff."""


def upload_shipping_info(*, order_id: int) -> ShippingUpload | None:
    """Send the order's current parcels to WeChat, once per change; safe to run any number of times."""
    upload = ShippingUpload.objects.select_related("order", "order__buyer").filter(order_id=order_id).first()
    if upload is None or upload.version == upload.uploaded_version:
        return upload
    order = upload.order
    if order.shipping_hold:
        return upload  # a group-buy order before its group succeeded never reaches WeChat
    now = timezone.now()
    # One upload at a time per order: WeChat counts a second upload of a fully shipped order as
    # its one correction, so two workers must never send the same parcels twice. A worker that
    # died mid-call leaves a claim that expires.
    claimed = (
        ShippingUpload.objects.filter(pk=upload.pk)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .exclude(version=F("uploaded_version"))
        .update(claimed_at=now)
    )
    if not claimed:
        return upload  # another worker is uploading; it uploads again if the parcels changed
    upload.refresh_from_db()
    version = upload.version
    payload = shipping_payload(order)
    try:
        wechat_trade.upload_shipping_info(payload)
    except WeChatError as exc:
        permanent = exc.errcode in wechat_trade.PERMANENT_ERRCODES
        ShippingUpload.objects.filter(pk=upload.pk).update(
            claimed_at=None,
            attempts=F("attempts") + 1,
            last_errcode=exc.errcode,
            last_error=str(exc.message)[:2000],
            last_payload=payload,
            status=ShippingUpload.Status.FAILED if permanent else ShippingUpload.Status.PENDING,
            updated_at=now,
        )
        if permanent:
            logger.error("WeChat refused the shipping information of order %s: %s", order.no, exc.message)
            upload.refresh_from_db()
            if upload.version != version:  # corrected meanwhile: the correction deserves its own try
                ShippingUpload.objects.filter(pk=upload.pk).update(status=ShippingUpload.Status.PENDING)
                _enqueue(order_id)
            return upload
        raise UploadRetryable(exc.message) from exc
    # Conditional on the version: a change made during the call stays pending and uploads again.
    ShippingUpload.objects.filter(pk=upload.pk).update(
        claimed_at=None,
        attempts=F("attempts") + 1,
        uploads=F("uploads") + 1,
        uploaded_version=version,
        uploaded_at=now,
        last_errcode=None,
        last_error="",
        last_payload=payload,
        updated_at=now,
    )
    ShippingUpload.objects.filter(pk=upload.pk, version=version).update(status=ShippingUpload.Status.UPLOADED)
    upload.refresh_from_db()
    if upload.version != upload.uploaded_version:
        _enqueue(order_id)
    return upload


def _enqueue(order_id: int) -> None:
    from ..tasks import upload_shipping_info as task

    task.delay(order_id)


def shipping_upload_retry(*, upload: ShippingUpload) -> ShippingUpload:
    """An operator's retry of a failed upload (after fixing what WeChat refused): sends it again."""
    if upload.status == ShippingUpload.Status.UPLOADED and upload.version == upload.uploaded_version:
        raise ApplicationError(gettext("Already uploaded, no retry needed."), code="upload_not_retryable")
    ShippingUpload.objects.filter(pk=upload.pk).update(
        status=ShippingUpload.Status.PENDING,
        uploaded_version=F("version") - 1,
        updated_at=timezone.now(),
    )
    order_id = upload.order_id

    def enqueue() -> None:
        from ..tasks import upload_shipping_info as task

        task.delay(order_id)

    transaction.on_commit(enqueue)
    upload.refresh_from_db()
    return upload


def upload_pending_shipping_info() -> int:
    """The sweeper: enqueue every upload still pending (a lost task, a worker that died mid-call)."""
    from ..tasks import upload_shipping_info as task

    ids = list(
        ShippingUpload.objects.filter(status=ShippingUpload.Status.PENDING).values_list("order_id", flat=True)
    )
    for order_id in ids:
        task.delay(order_id)
    return len(ids)
