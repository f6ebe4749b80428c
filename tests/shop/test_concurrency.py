"""What must hold under real concurrency, on PostgreSQL: threads, each with its own connection."""

import threading

import pytest
from django.db import connection
from django.test import Client

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.errors import OutOfStock, RefundNotAllowed
from apps.shop.models import Order, Payment, Refund, Sku
from apps.wechat.sandbox import pay as sandbox
from tests.accounts.factories import AddressFactory, UserFactory
from tests.helpers import bearer_client
from tests.shop.factories import SkuFactory, make_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work) -> list:
    """Run work(i) in `count` threads released at once; answers each result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_buyers_for_the_last_ten_units_make_exactly_ten_orders():
    # given
    sku = SkuFactory(stock=10, price_fen=9900)
    buyers = [UserFactory() for _ in range(50)]
    addresses = [AddressFactory(user=b) for b in buyers]

    # when
    results = run_together(
        50, lambda i: services.order_create(buyer=buyers[i], items=[(sku.pk, 1)], address=addresses[i])
    )

    # then
    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    assert (len(orders), len(refused)) == (10, 40), [
        r for r in results if not isinstance(r, Order | OutOfStock)
    ]
    assert Sku.objects.get(pk=sku.pk).stock == 0
    assert Order.objects.count() == 10
    assert len({o.buyer_id for o in orders}) == 10


def test_fifty_buyers_over_http_for_ten_units_in_two_sizes():
    # given: two lines per order, taken in pk order whatever the request's order
    small, large = SkuFactory(stock=10), SkuFactory(stock=1000)
    buyers = [UserFactory() for _ in range(50)]
    addresses = [AddressFactory(user=b) for b in buyers]
    clients = [bearer_client(b) for b in buyers]

    def order(i):
        items = [{"sku_id": small.pk, "quantity": 1}, {"sku_id": large.pk, "quantity": 2}]
        if i % 2:
            items.reverse()
        return (
            clients[i]
            .post("/api/v1/orders", {"items": items, "address_id": addresses[i].pk}, format="json")
            .status_code
        )

    # when
    statuses = run_together(50, order)

    # then
    assert sorted(statuses) == [201] * 10 + [409] * 40
    assert Sku.objects.get(pk=small.pk).stock == 0
    assert Sku.objects.get(pk=large.pk).stock == 1000 - 20


def test_twenty_copies_of_one_notification_pay_once(wechat_sandbox):
    # given: the order was paid at WeChat; its notification is about to arrive 20 times at once
    shopper = UserFactory()
    order = make_order(buyer=shopper, sku=SkuFactory(stock=5), quantity=1)
    prepay_id = bearer_client(shopper).post(f"/api/v1/orders/{order.pk}/pay").json()["package"][10:]
    Client().post(
        "/wechat-sandbox/pay/confirm",
        {"prepay_id": prepay_id, "notify": False},
        content_type="application/json",
    )
    _url, headers, body = sandbox.payment_notification(order.no)

    def deliver(_i):
        return (
            Client()
            .generic(
                "POST",
                "/api/v1/payments/wechat/notify",
                data=body,
                content_type="application/json",
                headers=headers,
            )
            .status_code
        )

    # when
    statuses = run_together(20, deliver)
    replays = [deliver(0) for _ in range(3)]

    # then
    assert statuses == [204] * 20
    assert replays == [204] * 3
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", order.total_fen)
    assert Payment.objects.count() == 1
    assert OutboxEvent.objects.filter(type="order_paid").count() == 1


def test_ten_concurrent_approvals_send_one_refund(wechat_sandbox, celery_eager):
    # given: a paid order and its refund request
    shopper = UserFactory()
    order = make_order(buyer=shopper, sku=SkuFactory(stock=5), quantity=1)
    client = bearer_client(shopper)
    prepay_id = client.post(f"/api/v1/orders/{order.pk}/pay").json()["package"][10:]
    Client().post("/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json")
    refund = services.refund_create(order=Order.objects.get(pk=order.pk), amount_fen=None, reason="x")

    # when
    run_together(10, lambda _i: services.refund_approve(refund=Refund.objects.get(pk=refund.pk)))

    # then
    calls = [c for c in wechat_sandbox.calls if c.request.url.endswith("/v3/refund/domestic/refunds")]
    assert len(calls) == 1
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == ("refunded", order.paid_fen)
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1


def test_two_brand_operators_shipping_one_mixed_order_at_once_make_two_parcels(settings):
    # given: a paid order with a line of each of two brands (uploads off: this is about parcels)
    from tests.shop.factories import BrandFactory, payment_notice

    settings.WECHAT_TRADE_MANAGEMENT = False
    tea = SkuFactory(product__brand=BrandFactory(), price_fen=9900)
    wine = SkuFactory(product__brand=BrandFactory(), price_fen=5000)
    buyer = UserFactory()
    order = services.order_create(
        buyer=buyer, items=[(tea, 1), (wine, 2)], address=AddressFactory(user=buyer)
    )
    services.payment_notification_handle(notice=payment_notice(order))
    brands = [[tea.product.brand_id], [wine.product.brand_id]]

    # when: each brand's operator ships its lines at the same moment, twice over
    results = run_together(
        4,
        lambda i: services.order_ship(
            order=order, carrier="顺丰", tracking_no=f"SF{i}", brand_ids=brands[i % 2]
        ),
    )

    # then: one parcel per brand, each line shipped once, the order shipped
    shipped = [r for r in results if isinstance(r, Order)]
    assert len(shipped) == 2, results
    order.refresh_from_db()
    assert order.status == "shipped"
    assert sorted(order.items.values_list("quantity", "shipped_quantity")) == [(1, 1), (2, 2)]
    assert order.shipments.count() == 2


def _paid_order(quantity: int, price_fen: int = 9900) -> Order:
    shopper = UserFactory()
    order = make_order(buyer=shopper, sku=SkuFactory(stock=10, price_fen=price_fen), quantity=quantity)
    prepay_id = bearer_client(shopper).post(f"/api/v1/orders/{order.pk}/pay").json()["package"][10:]
    Client().post("/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json")
    return Order.objects.get(pk=order.pk)


@pytest.mark.parametrize(
    ("returned_units", "amount_fen", "created"),
    [
        (2, 10000, 1),  # the return takes everything paid: only one of the two can be made
        (1, 9900, 2),  # together they take exactly what was paid: both are made
    ],
)
def test_a_line_refund_and_an_amount_refund_at_once_never_refund_more_than_was_paid(
    wechat_sandbox, returned_units, amount_fen, created
):
    # given: two units of 99.00 paid (198.00)
    order = _paid_order(quantity=2)
    sku_id = order.items.get().sku_id

    def ask(i):
        fresh = Order.objects.get(pk=order.pk)
        if i == 0:
            items = [{"sku_id": sku_id, "quantity": returned_units}]
            return services.refund_create(order=fresh, amount_fen=None, reason="退货", items=items)
        return services.refund_create(order=fresh, amount_fen=amount_fen, reason="少发")

    # when
    results = run_together(2, ask)

    # then
    made = [r for r in results if isinstance(r, Refund)]
    refused = [r for r in results if isinstance(r, RefundNotAllowed)]
    assert (len(made), len(refused)) == (created, 2 - created), results
    assert sum(r.amount_fen for r in made) <= order.paid_fen == 19800
    assert Refund.objects.filter(order=order).count() == created
