"""The scale demo's bulk path writes what the services write: the same order story, told once
through the shop's services (the clock set back, payment and refund through the WeChat sandbox)
and once through the demo's batched rows and replayed events, leaves the same rows behind."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Address, User
from apps.commissions.models import Commission, LedgerEntry
from apps.demo.scale import catalogue, replay, shop_rows
from apps.demo.scale.clock import back_in_time
from apps.demo.scale.people import People
from apps.demo.scale.plan import CARRIER
from apps.demo.scale.timeline import Line, PlannedOrder, PlannedRefund
from apps.kocs.models import Koc, KocOrderLine, KocSale
from apps.sharing import services as sharing
from apps.shop import services as shop
from apps.shop.models import Order, Refund


def written(order: Order) -> dict:
    """What an order's story left behind, without ids, numbers and the buyer's own details."""
    order.refresh_from_db()
    ledger = LedgerEntry.objects.filter(order_id=order.pk)
    return {
        "order": (
            order.status,
            order.kind,
            order.total_fen,
            order.paid_fen,
            order.refunded_fen,
            order.paid_at,
            order.shipped_at,
            order.completed_at,
            order.carrier,
            order.shipping_hold,
            order.attributed_koc_id,
            order.share_link_id,
            {k: v for k, v in order.attribution.items() if k != "binding_id"},  # each buyer's own binding
            len(order.receiver_phone) == 11 and order.receiver_phone == order.address["phone"],
        ),
        "items": [
            (
                i.sku_id,
                i.product_id,
                i.title,
                i.price_fen,
                i.quantity,
                i.line_fen,
                i.price_source,
                i.shipped_quantity,
            )
            for i in order.items.order_by("id")
        ],
        "payments": [
            (p.amount_fen, p.success_time, p.outcome, p.raw.get("trade_state"), p.raw.get("amount"))
            for p in order.payments.all()
        ],
        "shipments": [
            (s.carrier, s.express_company, s.shipped_at, sorted(s.items.values_list("sku_id", "quantity")))
            for s in order.shipments.all()
        ],
        "refunds": [
            (r.amount_fen, r.kind, r.status, r.reason, r.refunded_at, r.wechat_status)
            for r in Refund.objects.filter(order=order).order_by("id")
        ],
        "commissions": sorted(
            Commission.objects.filter(order_id=order.pk).values_list(
                "koc_id", "kind", "level", "amount_fen", "reversed_fen", "status", "available_at"
            )
        ),
        "ledger": sorted(
            ledger.values_list("koc_id", "kind", "from_bucket", "to_bucket", "amount_fen", "created_at")
        ),
        "sale": list(
            KocSale.objects.filter(order_id=order.pk).values_list(
                "koc_id", "paid_fen", "refunded_fen", "amount_fen", "units", "completed_at"
            )
        ),
        "lines": sorted(
            KocOrderLine.objects.filter(order_id=order.pk).values_list(
                "kind", "koc_id", "product_id", "quantity", "line_fen", "refunded", "completed_at"
            )
        ),
    }


@pytest.mark.django_db(transaction=True)
def test_the_bulk_path_and_the_services_leave_the_same_rows(wechat_sandbox, celery_eager, settings):
    settings.WECHAT_TRADE_MANAGEMENT = False  # the bulk path uploads no shipping information
    call_command("seed_demo", stdout=io.StringIO())  # levels, the rule set in force, Lily and Mia
    skus = catalogue.catalogue()
    mia = Koc.objects.get(invite_code="MIA2026")
    now = timezone.now().replace(microsecond=0)
    created = now - timedelta(days=12)
    paid, shipped = created + timedelta(minutes=4), created + timedelta(days=1)
    completed, refunded = created + timedelta(days=4), created + timedelta(days=5)
    lines = [(skus[0], 2), (skus[3], 1)]
    part = (skus[0].price_fen * 2 + skus[3].price_fen) // 3

    # the bulk path: the story as rows, then its events replayed at their moments
    bulk_buyer = User.objects.create(username="scale-buyer-0000000", openid="scale-buyer-0000000")
    writer = shop_rows.Writer(
        People(koc_user0=bulk_buyer.pk, buyer0=bulk_buyer.pk, buyers=1), register_all=True
    )
    writer.team_user_id = lambda _index: mia.user_id
    story = PlannedOrder(
        no="SC20990101000001",
        buyer=0,
        status=Order.Status.COMPLETED,
        lines=[Line(sku=sku, quantity=n, price_fen=sku.price_fen) for sku, n in lines],
        created_at=created,
        paid_at=paid,
        shipped_at=shipped,
        completed_at=completed,
        refunds=[PlannedRefund(part, refunded, Refund.Kind.AFTER_SALE)],
        seller=0,
        in_window=True,
    )
    writer.write([story])
    writer.finish()
    replay.publish([story], now=now, stdout=io.StringIO())
    code = next(iter(writer.links.values()))

    # the services: a buyer opens Mia's link, orders, pays in WeChat, receives, asks for part back
    buyer = User.objects.create(username="shopper", openid="o-shopper")
    address = Address.objects.create(
        user=buyer,
        name="王芳",
        phone="13800000001",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        detail="1 号",
    )
    with back_in_time(created - timedelta(minutes=5)):
        sharing.binding_touch_by_code(customer_id=buyer.pk, share_code=code, via="landing")
    with back_in_time(created):
        order = shop.order_create(
            buyer=buyer, items=[(sku.pk, n) for sku, n in lines], address=address, share_code=code
        )
    with back_in_time(paid):
        prepay = shop.order_pay(order=order, buyer=buyer)["package"].removeprefix("prepay_id=")
        assert (
            Client()
            .post("/wechat-sandbox/pay/confirm", {"prepay_id": prepay}, content_type="application/json")
            .status_code
            == 200
        )
    with back_in_time(shipped):
        shop.order_ship(order=Order.objects.get(pk=order.pk), carrier=CARRIER, tracking_no="SF1234567890")
    with back_in_time(completed):
        shop.order_confirm_receipt(order=Order.objects.get(pk=order.pk))
    with back_in_time(refunded):
        refund = shop.refund_create(order=Order.objects.get(pk=order.pk), amount_fen=part, reason="不想要了")
        shop.refund_approve(refund=refund)
    with back_in_time(now):
        from apps.commissions.services.settlement import settle_commissions

        settle_commissions(now=now)

    bulk, services = written(Order.objects.get(pk=story.id)), written(Order.objects.get(pk=order.pk))
    assert services["order"][0] == "completed" and services["refunds"][0][2] == "succeeded"
    assert services["commissions"] and services["ledger"] and services["sale"]
    assert bulk == services
