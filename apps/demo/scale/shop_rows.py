"""The shop's and group buys' rows of planned orders, written in batches as the services leave them.

What `order_create`, `payment_notification_handle`, `order_ship`, `order_confirm_receipt`, the
refund flow and the group lifecycle would have written by the end of each order's story: the order
(with its receiver phone, dated fields and created_at), its lines, its payment (with the WeChat
resource it was notified with), its parcel, its succeeded refunds; for group buys the group, its
members and the buyers' campaign usage. Ids are chosen here, so each batch is forgotten once written.

The same payments and refunds are stored in the WeChat Pay sandbox (`sandbox_history`), so that a
refund of a seeded order is accepted there as it would be of a real one.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.groupbuys.models import CampaignUsage, Group, GroupMember
from apps.groupbuys.services.lifecycle import FAILED_REASON, refund_key
from apps.sharing import services as sharing
from apps.shop.models import Order, OrderItem, Payment, Product, Refund, Shipment, ShipmentItem, Sku
from apps.shop.services.common import notify_url
from apps.wechat import trade as wechat_trade
from apps.wechat.sandbox.pay import paid_transaction, record_history, succeeded_refund, transaction_resource

from .clock import back_in_time
from .people import People, next_id, reset_sequences
from .plan import BATCH, CARRIER, CITIES, GROUP_SIZE, person, phone
from .rows import insert
from .timeline import PlannedGroup, PlannedOrder

MODELS = (Order, OrderItem, Payment, Shipment, Refund, Group)


@dataclass
class Ids:
    order: int
    item: int
    payment: int
    shipment: int
    refund: int
    group: int

    @classmethod
    def next(cls) -> Ids:
        return cls(*(next_id(model) for model in MODELS))

    def take(self, name: str) -> int:
        value = getattr(self, name)
        setattr(self, name, value + 1)
        return value


def iso(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


def transaction_id(order: PlannedOrder) -> str:
    return f"4200{zlib.crc32(order.no.encode()) % 10**8:08d}{order.id:016d}"


def description(order: PlannedOrder) -> str:
    first = f"{order.lines[0].sku.product.title} {order.lines[0].sku.spec}".strip()
    return first if len(order.lines) <= 1 else f"{first} 等{len(order.lines)}件商品"


class Writer:
    """Writes batches of planned orders; counts stock and sales to apply once at the end."""

    def __init__(self, people: People, *, register_all: bool):
        self.people = people
        self.ids = Ids.next()
        self.units: dict[int, int] = defaultdict(int)  # sku id -> units sold
        self.register_all = register_all
        self.sandbox = settings.WECHAT_SANDBOX
        self.express_company = wechat_trade.carrier_code(CARRIER)
        self.pay_notify_url = notify_url("shop-payment-notify")
        self.usage: dict[tuple[int, int], int] = defaultdict(int)
        self.links: dict[tuple[int, int], str] = {}  # (seller, product id) -> share code

    def buyer_openid(self, order: PlannedOrder) -> str:
        return f"scale-buyer-{order.buyer:07d}"

    def write(self, orders: list[PlannedOrder]) -> None:
        rows, items, payments, shipments, parcels, refunds = [], [], [], [], [], []
        transactions, wechat_refunds = [], []
        for o in orders:
            o.id = self.ids.take("order")
            buyer_index = self.people.buyer0 - self.people.koc_user0 + o.buyer
            province, city, district = CITIES[zlib.crc32(o.no.encode()) % len(CITIES)]
            receiver_phone = phone(buyer_index)
            last = max(
                t for t in (o.created_at, o.paid_at, o.shipped_at, o.completed_at, o.cancelled_at) if t
            )
            if o.refunds:
                last = max(last, *(r.at for r in o.refunds))
            attribution = self.attribute(o) if o.seller is not None else {}
            seller = attribution.get("koc_id")
            o.transaction_id = transaction_id(o) if o.paid_at else ""
            rows.append(
                dict(
                    id=o.id,
                    no=o.no,
                    buyer_id=self.people.buyer_id(o.buyer),
                    status=o.status,
                    kind=o.kind,
                    group_id=o.group.id if o.group else None,
                    total_fen=o.total_fen,
                    paid_fen=o.total_fen if o.paid_at else 0,
                    refunded_fen=o.refunded_fen,
                    address={
                        "name": person(buyer_index),
                        "phone": receiver_phone,
                        "province": province,
                        "city": city,
                        "district": district,
                        "detail": f"规模测试路 {zlib.crc32(o.no.encode()) % 300 + 1} 号",
                    },
                    receiver_phone=receiver_phone,
                    pay_deadline=o.created_at + timedelta(minutes=settings.SHOP_PAYMENT_TIMEOUT_MINUTES),
                    prepay_id=f"wx{o.id:030d}" if o.paid_at else "",
                    paid_at=o.paid_at,
                    shipped_at=o.shipped_at,
                    completed_at=o.completed_at,
                    cancelled_at=o.cancelled_at,
                    cancel_reason="timeout" if o.cancelled_at else "",
                    carrier=CARRIER if o.shipped_at else "",
                    tracking_no=self.tracking_no(o) if o.shipped_at else "",
                    shipping_hold=bool(o.group and not o.group.succeeded),
                    attributed_koc_id=seller,
                    share_link_id=attribution.get("share_link_id"),
                    attribution=attribution,
                    transaction_id=o.transaction_id,
                    created_at=o.created_at,
                    updated_at=last,
                )
            )
            o.item_ids = []
            for line in o.lines:
                product = line.sku.product
                item_id = self.ids.take("item")
                o.item_ids.append(item_id)
                items.append(
                    dict(
                        id=item_id,
                        order_id=o.id,
                        sku_id=line.sku.pk,
                        product_id=product.pk,
                        brand_id=product.brand_id,
                        category_id=product.category_id,
                        title=product.title,
                        spec=line.sku.spec,
                        price_fen=line.price_fen,
                        quantity=line.quantity,
                        line_fen=line.line_fen,
                        price_source=line.source,
                        shipped_quantity=line.quantity if o.shipped_at else 0,
                    )
                )
                if o.paid_at:
                    self.units[line.sku.pk] += line.quantity
            if not o.paid_at:
                continue
            tx = self.transaction(o)
            o.payment_id = self.ids.take("payment")
            payments.append(
                dict(
                    id=o.payment_id,
                    order_id=o.id,
                    transaction_id=o.transaction_id,
                    amount_fen=o.total_fen,
                    payer_openid=self.buyer_openid(o),
                    success_time=o.paid_at,
                    outcome=Payment.Outcome.PAID_ORDER,
                    raw=self.resource(tx),
                    created_at=o.paid_at,
                )
            )
            if o.shipped_at:
                shipment_id = self.ids.take("shipment")
                brands = {line.sku.product.brand_id for line in o.lines}
                shipments.append(
                    dict(
                        id=shipment_id,
                        order_id=o.id,
                        brand_id=next(iter(brands)) if len(brands) == 1 else None,
                        carrier=CARRIER,
                        express_company=self.express_company,
                        tracking_no=self.tracking_no(o),
                        shipped_at=o.shipped_at,
                        updated_at=o.shipped_at,
                    )
                )
                for line, item_id in zip(o.lines, o.item_ids, strict=True):
                    parcels.append(
                        dict(
                            shipment_id=shipment_id,
                            order_item_id=item_id,
                            sku_id=line.sku.pk,
                            quantity=line.quantity,
                        )
                    )
            refunded = 0
            for n, r in enumerate(o.refunds):
                r.id = self.ids.take("refund")
                r.out_refund_no = f"R{o.no}{n}"
                system = r.kind == Refund.Kind.SYSTEM
                approved = r.at - timedelta(minutes=3 if system else 10)
                refunds.append(
                    dict(
                        id=r.id,
                        order_id=o.id,
                        payment_id=o.payment_id,
                        out_refund_no=r.out_refund_no,
                        amount_fen=r.amount_fen,
                        reason=FAILED_REASON if system else "不想要了",
                        kind=r.kind,
                        idempotency_key=refund_key(o.id) if system and o.group else None,
                        requested_by_id=None if system else self.people.buyer_id(o.buyer),
                        status=Refund.Status.SUCCEEDED,
                        wechat_refund_id=f"50{r.id:027d}",
                        wechat_status="SUCCESS",
                        attempts=1,
                        created_at=approved if system else approved - timedelta(hours=2),
                        approved_at=approved,
                        submitted_at=approved + timedelta(seconds=5),
                        refunded_at=r.at,
                        updated_at=r.at,
                    )
                )
                refunded += r.amount_fen
                if tx is not None:
                    wechat_refunds.append(
                        succeeded_refund(
                            tx,
                            out_refund_no=r.out_refund_no,
                            refund_id=f"50{r.id:027d}",
                            refund=r.amount_fen,
                            create_time=iso(approved + timedelta(seconds=5)),
                            success_time=iso(r.at),
                        )
                    )
            if tx is not None:
                tx["refunded"] = refunded
                transactions.append(tx)
        insert(Order, rows)
        insert(OrderItem, items)
        insert(Payment, payments)
        insert(Shipment, shipments)
        insert(ShipmentItem, parcels)
        insert(Refund, refunds)
        if transactions or wechat_refunds:
            record_history(transactions, wechat_refunds)

    team_user_id = None  # set by the seeder: team index -> the KOC's user id

    def attribute(self, o: PlannedOrder) -> dict:
        """The seller's share link, opened by the buyer a few minutes before ordering (the binding
        policy applies), then the order's attribution as order_create asks it: the sharing app's
        own answer - which may name another KOC, if the buyer is protected as hers."""
        from apps.shop.attribution import resolve_attribution

        product_id = o.lines[0].sku.product_id
        key = (o.seller, product_id)
        opened = o.created_at - timedelta(minutes=5)
        if key not in self.links:
            with back_in_time(opened - timedelta(minutes=5), eager=False):
                link, _info, _created = sharing.share_link_get_or_create(
                    sharer=User.objects.get(pk=self.team_user_id(o.seller)),
                    target="product",
                    target_id=product_id,
                )
            self.links[key] = link.code
        buyer = User.objects.get(pk=self.people.buyer_id(o.buyer))
        with back_in_time(opened, eager=False):
            sharing.binding_touch_by_code(customer_id=buyer.pk, share_code=self.links[key], via="landing")
        with back_in_time(o.created_at, eager=False):
            return resolve_attribution(buyer=buyer, share_code=self.links[key]) or {}

    def tracking_no(self, o: PlannedOrder) -> str:
        return f"SF{zlib.crc32(o.no.encode()) * 7919 % 10**12:012d}"

    def transaction(self, o: PlannedOrder) -> dict | None:
        """The sandbox's record of this payment, or None when the sandbox does not keep it."""
        keep = (
            self.register_all
            or o.in_window
            or o.refunds
            or o.status in (Order.Status.PAID, Order.Status.SHIPPED)
        )
        if not (self.sandbox and keep):
            return None
        return paid_transaction(
            out_trade_no=o.no,
            description=description(o),
            total=o.total_fen,
            openid=self.buyer_openid(o),
            notify_url=self.pay_notify_url,
            transaction_id=o.transaction_id,
            success_time=iso(o.paid_at),
            time_expire=iso(o.created_at + timedelta(minutes=settings.SHOP_PAYMENT_TIMEOUT_MINUTES)),
        )

    def resource(self, tx: dict | None) -> dict:
        if tx is None:
            return {}
        return transaction_resource(tx)

    # --- group buys ---------------------------------------------------------------------------------

    def write_groups(self, groups: list[PlannedGroup], campaign) -> None:
        """Groups first (orders point at them), then their orders, then the members."""
        rows = []
        for g in groups:
            g.id = self.ids.take("group")
            paid = len(g.orders)
            rows.append(
                dict(
                    id=g.id,
                    campaign_id=campaign.pk,
                    leader_id=self.people.buyer_id(g.leader),
                    status=Group.Status.SUCCEEDED if g.succeeded else Group.Status.FAILED,
                    size=GROUP_SIZE,
                    # a failed group's refunded members have left their seats (leave_seat)
                    joined=paid if g.succeeded else 0,
                    paid_count=paid if g.succeeded else 0,
                    expires_at=g.expires,
                    succeeded_at=g.closed_at if g.succeeded else None,
                    failed_at=None if g.succeeded else g.expires,
                    created_at=g.opened,
                )
            )
        insert(Group, rows)
        self.write([o for g in groups for o in g.orders])
        members = []
        for g in groups:
            for m, o in enumerate(g.orders):
                refund = o.refunds[0] if o.refunds else None
                members.append(
                    dict(
                        group_id=g.id,
                        user_id=self.people.buyer_id(o.buyer),
                        order_id=o.id,
                        is_leader=m == 0,
                        quantity=1,
                        unit_price_fen=campaign.group_price_fen,
                        status=GroupMember.Status.REFUNDED if refund else GroupMember.Status.PAID,
                        refund_id=refund.id if refund else None,
                        joined_at=o.created_at,
                        paid_at=o.paid_at,
                        refunded_at=g.expires if refund else None,
                    )
                )
                if refund is None:  # a refunded member's units went back (give_back_units)
                    self.usage[(campaign.pk, self.people.buyer_id(o.buyer))] += 1
        insert(GroupMember, members)

    def finish(self) -> None:
        """Stock, product sales and campaign usage as the payments left them; sequences past our ids."""
        for sku_id, n in self.units.items():
            Sku.objects.filter(pk=sku_id).update(stock=F("stock") - n)
            Product.objects.filter(skus__pk=sku_id).update(sales=F("sales") + n)
        # The buyers are the seed's own new users: none has a usage row yet.
        rows = [{"campaign_id": c, "user_id": u, "units": n} for (c, u), n in self.usage.items()]
        for start in range(0, len(rows), BATCH):
            insert(CampaignUsage, rows[start : start + BATCH])
        reset_sequences(*MODELS)
