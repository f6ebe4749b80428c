"""Orders: creation with atomic stock reservation, cancellation, and the payment deadline."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts.models import Address, User
from apps.core import rawsql
from apps.core.deferred import send_on_commit
from apps.core.errors import ApplicationError, InvalidInput

from .. import attribution, events, pricing, read_cache
from ..errors import AddressNotFound, InvalidQuantity, OrderNotCancellable, OutOfStock, SkuNotFound
from ..lock_objects import order_lock
from ..models import Order, OrderItem, Sku

logger = logging.getLogger(__name__)

MAX_QUANTITY = 99  # per SKU in one order
MAX_LINES = 50


@dataclass(frozen=True)
class OrderLine:
    sku: Sku | int
    quantity: int


def new_order_no(now: datetime | None = None) -> str:
    """20 digits: the local date, then 12 random digits from `secrets` (10^12 per day: not guessable)."""
    day = timezone.localtime(now or timezone.now()).strftime("%Y%m%d")
    return f"{day}{secrets.randbelow(10**12):012d}"


def _valid_quantity(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_QUANTITY


def _lines(items) -> OrderedDict[int, int]:
    """sku_id -> quantity, in the caller's order, with repeated SKUs merged; quantities checked."""
    if not items:
        raise InvalidInput(
            gettext("An order needs at least one item."),
            code="validation_error",
            fields={"items": [gettext("A value is required here.")]},
        )
    if len(items) > MAX_LINES:
        raise InvalidInput(
            gettext("An order has at most %(max)s lines.") % {"max": MAX_LINES},
            code="validation_error",
            fields={"items": [gettext("Too many lines.")]},
        )
    merged: OrderedDict[int, int] = OrderedDict()
    for index, item in enumerate(items):
        if isinstance(item, tuple | list):
            sku, quantity = item
        else:
            sku, quantity = item.sku, item.quantity
        sku_id = sku.pk if isinstance(sku, Sku) else sku
        message = gettext("The quantity of each item must be 1 to %(max)s.") % {"max": MAX_QUANTITY}
        if not _valid_quantity(quantity):
            raise InvalidQuantity(message, fields={f"items.{index}.quantity": [message]})
        merged[sku_id] = merged.get(sku_id, 0) + quantity
        if merged[sku_id] > MAX_QUANTITY:
            raise InvalidQuantity(message, fields={f"items.{index}.quantity": [message]})
    return merged


def stock_take(*, sku_id: int, product_id: int, quantity: int) -> bool:
    """Take `quantity` units of an active SKU off the shelf: one conditional UPDATE, checked under
    the row lock it takes (two buyers never both take the last unit). False when there are not enough.

    The one place SKU stock goes down (orders, a group buy's held seats): SKUs are locked in pk order.
    The product's cached detail (it shows the stock) goes at commit.
    """
    taken = (
        Sku.objects.filter(pk=sku_id, is_active=True, stock__gte=quantity).update(stock=F("stock") - quantity)
        == 1
    )
    if taken:
        read_cache.stock_changed([product_id])
    return taken


def stock_return(*, sku_id: int, product_id: int, quantity: int) -> None:
    """Put `quantity` units back on the shelf (a cancelled order, a group's unused seats)."""
    if quantity > 0:
        Sku.objects.filter(pk=sku_id).update(stock=F("stock") + quantity)
        read_cache.stock_changed([product_id])


def _reserve_stock(lines: list[OrderItem]) -> None:
    """Take the stock SKU by SKU in pk order (the lock order); a miss rolls back every earlier line."""
    for line in sorted(lines, key=lambda line: line.sku_id):
        sku = line.sku
        if not stock_take(sku_id=sku.pk, product_id=sku.product_id, quantity=line.quantity):
            raise OutOfStock(
                gettext("Not enough stock of %(product)s %(spec)s.")
                % {"product": sku.product.title, "spec": sku.spec}
            )


def _release_stock(order: Order) -> None:
    """Put the unshipped units back on the shelf (a parcel already sent is not in the warehouse)."""
    for item in sorted(order.items.all(), key=lambda i: i.sku_id):
        stock_return(
            sku_id=item.sku_id, product_id=item.product_id, quantity=item.quantity - item.shipped_quantity
        )


def _offer_for(*, buyer: User, sku: Sku, overrides: dict[int, Any] | None, kind: str) -> pricing.PriceOffer:
    if overrides and sku.pk in overrides:
        value = overrides[sku.pk]
        if isinstance(value, pricing.PriceOffer):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError(f"unit price override for SKU {sku.pk} must be a non-negative int, not {value!r}")
        return pricing.PriceOffer(
            unit_price_fen=value, source=kind if kind != Order.Kind.STANDARD else "override"
        )
    return pricing.unit_price_for(buyer=buyer, sku=sku)


def order_create(
    *,
    buyer: User,
    items,
    address: Address | None,
    share_code: str | None = None,
    kind: str = Order.Kind.STANDARD,
    group_id: int | None = None,
    unit_price_overrides: dict[int, int] | None = None,
    hold_shipping: bool = False,
) -> Order:
    """Create an unpaid order: stock reserved, prices and address snapshotted, deadline set.

    `items` is a list of (sku or sku_id, quantity) or OrderLine. `unit_price_overrides` maps
    sku_id -> unit price in fen (a group price; it bypasses the pricing policies). An order with
    `hold_shipping` cannot ship until `order_release_hold()`.

    `order_draft`, then the stock taken SKU by SKU, then `order_insert`, in one transaction. A
    caller that holds stock itself (a group buy's seats) drafts and inserts the order itself.
    """
    with transaction.atomic():
        order, lines = order_draft(
            buyer=buyer,
            items=items,
            address=address,
            share_code=share_code,
            kind=kind,
            group_id=group_id,
            unit_price_overrides=unit_price_overrides,
            hold_shipping=hold_shipping,
        )
        _reserve_stock(lines)
        order_insert(order, lines)
        return order


def _on_sale(sku: Sku) -> bool:
    return sku.is_active and sku.product.is_active and sku.product.brand.is_active


def order_draft(
    *,
    buyer: User,
    items,
    address: Address | None,
    share_code: str | None = None,
    kind: str = Order.Kind.STANDARD,
    group_id: int | None = None,
    unit_price_overrides: dict[int, int] | None = None,
    hold_shipping: bool = False,
    skus: dict[int, Sku] | None = None,
) -> tuple[Order, list[OrderItem]]:
    """The order and its lines as `order_create` would store them, unsaved: reads only.

    Checks the lines, the address and that every SKU is on sale (`skus`: the order's SKUs with
    their product and brand, when the caller has read them; otherwise they are read here), prices
    each line and resolves the attribution. A caller that writes the order later in its own
    transaction (a group join) drafts it before that transaction opens, so none of these reads
    holds a lock or needs a savepoint; `order_insert` then stores it.
    """
    quantities = _lines(items)
    if address is None or address.user_id != buyer.pk:
        raise AddressNotFound()
    if skus is not None:
        skus = {sku_id: sku for sku_id, sku in skus.items() if sku_id in quantities and _on_sale(sku)}
    else:
        skus = {
            s.pk: s
            for s in Sku.objects.select_related("product").filter(
                pk__in=list(quantities),
                is_active=True,
                product__is_active=True,
                product__brand__is_active=True,
            )
        }
    missing = [sku_id for sku_id in quantities if sku_id not in skus]
    if missing:
        raise SkuNotFound(
            gettext("The product does not exist or is no longer on sale (SKU %(sku)s).") % {"sku": missing[0]}
        )

    priced = []
    for sku_id, quantity in quantities.items():
        sku = skus[sku_id]
        offer = _offer_for(buyer=buyer, sku=sku, overrides=unit_price_overrides, kind=kind)
        priced.append((sku, quantity, offer))
    total_fen = sum(offer.unit_price_fen * quantity for _sku, quantity, offer in priced)
    if total_fen < 1:
        raise InvalidInput(gettext("The order total must be more than 0."), code="order_total_invalid")

    resolved = attribution.resolve_attribution(buyer=buyer, share_code=share_code)
    snapshot = address.as_snapshot()
    order = Order(
        buyer=buyer,
        kind=kind,
        group_id=group_id,
        total_fen=total_fen,
        address=snapshot,
        receiver_phone=snapshot.get("phone", ""),
        shipping_hold=hold_shipping,
        attributed_koc_id=(resolved or {}).get("koc_id"),
        share_link_id=(resolved or {}).get("share_link_id"),
        attribution=resolved or {},
    )
    lines = [
        OrderItem(
            order=order,
            sku=sku,
            product_id=sku.product_id,
            brand_id=sku.product.brand_id,
            category_id=sku.product.category_id,
            title=sku.product.title,
            spec=sku.spec,
            price_fen=offer.unit_price_fen,
            quantity=quantity,
            line_fen=offer.unit_price_fen * quantity,
            price_source=offer.source,
        )
        for sku, quantity, offer in priced
    ]
    return order, lines


ORDER_NUMBER_DRAWS = 5


def order_insert(order: Order, lines: list[OrderItem]) -> Order:
    """Store a drafted order and its lines in the caller's transaction, numbered and with its
    payment deadline from now. No task is scheduled for the deadline: the minute sweeper
    (`cancel_unpaid_orders`) cancels every unpaid order past it with one indexed query, and WeChat
    refuses a payment after it (time_expire). A delayed task per order would keep every order of
    the last half hour in the workers' memory (Celery holds ETA tasks there) and run once each.

    The number is random (`new_order_no`); a draw that collides with an existing order is skipped
    by the insert itself (ON CONFLICT DO NOTHING, no savepoint, compiled once by `apps.core.rawsql`:
    no model signals, the shop's orders have none) and drawn again; the lines in one statement.
    """
    for _draw in range(ORDER_NUMBER_DRAWS):
        _number(order)
        if rawsql.insert(order, conflict=("no",)):
            break
    else:
        raise IntegrityError(f"no free order number in {ORDER_NUMBER_DRAWS} draws")
    for line in lines:
        line.order = order
    OrderItem.objects.bulk_create(lines)
    return order


def _number(order: Order) -> None:
    now = timezone.now()
    order.pay_deadline = now + timedelta(minutes=settings.SHOP_PAYMENT_TIMEOUT_MINUTES)
    order.no = new_order_no(now)


class OrderNumberTaken(Exception):
    """The number drawn for an order written by `order_insert_parts` was taken: roll back, draw again."""


NEW_ORDER = "new_order"


def order_insert_parts(order: Order, lines: list[OrderItem], *, after: str) -> tuple[list[str], list]:
    """A drafted order and its lines as parts of a caller's single statement (PostgreSQL's
    data-modifying WITH), for a caller that writes its own rows in the same statement: the order
    as the WITH query `new_order` (its `id` for the caller's rows), inserted once for each row the
    caller's WITH query `after` yields, then its lines. Numbered, with its deadline, as
    `order_insert` does. Returns the WITH queries ("name AS (...)") and their parameters.

    A number already taken inserts no order (ON CONFLICT DO NOTHING): the caller finds no
    `new_order` row, raises OrderNumberTaken to roll back, and asks again (a new draw). After the
    statement the caller calls `order_stored` with the new id.
    """
    _number(order)
    sql, params = rawsql.insert_from(order, source=after, conflict=("no",))
    parts = [f"{NEW_ORDER} AS ({sql})"]
    for index, line in enumerate(lines):  # each line's order_id is the new order's, in the SQL
        sql, line_params = rawsql.insert_from(line, source=NEW_ORDER, taken={"order_id": f"{NEW_ORDER}.id"})
        parts.append(f"{NEW_ORDER}_line_{index} AS ({sql})")
        params += line_params
    return parts, params


def order_stored(order: Order, lines: list[OrderItem], order_id: int) -> Order:
    """The statement of `order_insert_parts` stored the order as `order_id`."""
    rawsql.stored(order, order_id)
    for line in lines:
        line.order = order
    return order


def _cancel_locked(order: Order, *, reason: str, now: datetime) -> None:
    order.status = Order.Status.CANCELLED
    order.cancelled_at = now
    order.cancel_reason = reason[:32]
    order.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
    _release_stock(order)
    events.publish_order_cancelled(order, reason=reason)
    if order.prepay_id:
        from ..tasks import close_wechat_transaction

        send_on_commit(close_wechat_transaction, order.pk)


@transaction.atomic
def order_cancel(*, order: Order, reason: str) -> Order:
    """Cancel an unpaid order and give its stock back. Anything else: 409 order_not_cancellable."""
    order = order_lock(order_id=order.pk)
    if order.status != Order.Status.PENDING_PAYMENT:
        raise OrderNotCancellable()
    _cancel_locked(order, reason=reason, now=timezone.now())
    return order


def cancel_unpaid_order(*, order_id: int, now: datetime | None = None) -> bool:
    """Cancel one order whose payment deadline has passed; False when there is nothing to do.

    Safe to run any number of times, early (it checks the deadline) or late (it checks the status).
    An order that reached WeChat is first asked about there (outside any transaction): a payment
    whose notification is late is applied instead of being cancelled and then refunded.
    """
    now = now or timezone.now()
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != Order.Status.PENDING_PAYMENT or order.pay_deadline > now:
        return False
    if order.prepay_id and _paid_at_wechat(order):
        return False
    return _cancel_if_due(order_id=order_id, now=now)


def _paid_at_wechat(order: Order) -> bool:
    from apps.wechat import pay as wechatpay

    from .payments import payment_notification_handle

    try:
        payment = wechatpay.query_payment(out_trade_no=order.no)
    except wechatpay.WeChatPayUnavailable:
        logger.warning("WeChat Pay unreachable: order %s stays until the next sweep", order.no)
        return True  # unknown: keep the order (and its stock) for now; the sweeper asks again
    except (wechatpay.WeChatPayError, wechatpay.NotificationInvalid):
        return False  # e.g. ORDER_NOT_EXIST: never paid
    if payment.trade_state != "SUCCESS":
        return False
    try:
        payment_notification_handle(notice=payment)
    except ApplicationError:
        logger.exception(
            "order %s: WeChat says paid but the payment does not match; left for a person", order.no
        )
    return True


@transaction.atomic
def _cancel_if_due(*, order_id: int, now: datetime) -> bool:
    order = order_lock(order_id=order_id)
    if order.status != Order.Status.PENDING_PAYMENT or order.pay_deadline > now:
        return False
    _cancel_locked(order, reason="timeout", now=now)
    return True


def cancel_unpaid_orders(*, now: datetime | None = None) -> int:
    """The sweeper: cancel every unpaid order past its deadline, each in its own transaction."""
    now = now or timezone.now()
    ids = list(
        Order.objects.filter(status=Order.Status.PENDING_PAYMENT, pay_deadline__lte=now)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return sum(1 for order_id in ids if cancel_unpaid_order(order_id=order_id, now=now))


def order_release_hold(*, order_id: int) -> Order:
    """Let a held (group-buy) order ship. Idempotent."""
    Order.objects.filter(pk=order_id, shipping_hold=True).update(
        shipping_hold=False, updated_at=timezone.now()
    )
    return Order.objects.get(pk=order_id)
