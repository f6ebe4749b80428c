import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.shop import attribution, pricing, services
from apps.shop.models import Order, OrderItem, Sku
from apps.shop.services.orders import new_order_no
from tests.accounts.factories import AddressFactory, UserFactory
from tests.helpers import bearer_client, error_code
from tests.shop.factories import SkuFactory, make_order, make_paid_order


@pytest.fixture
def address(shopper):
    return AddressFactory(user=shopper, name="王五", phone="13700001234")


def post_order(client, items, address_id, **extra):
    return client.post("/api/v1/orders", {"items": items, "address_id": address_id, **extra}, format="json")


@pytest.mark.django_db
def test_creating_an_order_reserves_stock_and_snapshots_prices_and_address(
    shopper_client, shopper, address, settings
):
    # given
    settings.SHOP_PAYMENT_TIMEOUT_MINUTES = 15
    tea = SkuFactory(price_fen=9900, stock=5)
    cup = SkuFactory(price_fen=1250, stock=3, spec="白瓷杯")
    before = timezone.now()

    # when
    response = post_order(
        shopper_client, [{"sku_id": tea.pk, "quantity": 2}, {"sku_id": cup.pk, "quantity": 3}], address.pk
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_payment"
    assert body["total_fen"] == 2 * 9900 + 3 * 1250
    assert (body["paid_fen"], body["refunded_fen"], body["group_id"]) == (0, 0, None)
    assert [(i["sku_id"], i["price_fen"], i["quantity"]) for i in body["items"]] == [
        (tea.pk, 9900, 2),
        (cup.pk, 1250, 3),
    ]
    assert body["items"][1]["spec"] == "白瓷杯"
    assert body["address"]["name"] == "王五"
    assert Sku.objects.get(pk=tea.pk).stock == 3
    assert Sku.objects.get(pk=cup.pk).stock == 0
    order = Order.objects.get(pk=body["id"])
    assert re.fullmatch(r"\d{20}", order.no)
    assert order.no.startswith(timezone.localtime().strftime("%Y%m%d"))
    assert before + timedelta(minutes=15) <= order.pay_deadline <= timezone.now() + timedelta(minutes=15)
    assert order.receiver_phone == "13700001234"

    # when: the product and address change later
    Sku.objects.filter(pk=tea.pk).update(price_fen=1)
    address.name = "改名"
    address.save()

    # then: the order does not
    again = shopper_client.get(f"/api/v1/orders/{order.pk}").json()
    assert again["items"][0]["price_fen"] == 9900
    assert again["address"]["name"] == "王五"


@pytest.mark.django_db
@pytest.mark.parametrize("quantity", [0, -1, 100, 10**30])
def test_bad_quantities_are_400_invalid_quantity_and_change_nothing(shopper_client, address, quantity):
    sku = SkuFactory(stock=1000)

    response = post_order(shopper_client, [{"sku_id": sku.pk, "quantity": quantity}], address.pk)

    assert response.status_code == 400
    assert error_code(response) == "invalid_quantity"
    assert response.json()["error"]["fields"] == {"items.0.quantity": ["每件商品购买数量须为 1 到 99"]}
    assert Sku.objects.get(pk=sku.pk).stock == 1000
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_repeated_lines_of_one_sku_are_merged_and_capped(shopper_client, address):
    sku = SkuFactory(stock=1000)

    merged = post_order(
        shopper_client, [{"sku_id": sku.pk, "quantity": 2}, {"sku_id": sku.pk, "quantity": 3}], address.pk
    )
    too_many = post_order(
        shopper_client, [{"sku_id": sku.pk, "quantity": 60}, {"sku_id": sku.pk, "quantity": 40}], address.pk
    )

    assert merged.status_code == 201
    assert [(i["sku_id"], i["quantity"]) for i in merged.json()["items"]] == [(sku.pk, 5)]
    assert (too_many.status_code, error_code(too_many)) == (400, "invalid_quantity")
    assert Sku.objects.get(pk=sku.pk).stock == 995


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"items": [], "address_id": 1},
        {"items": [{"sku_id": 1, "quantity": "2"}], "address_id": 1},
        {"items": [{"sku_id": 1}], "address_id": 1},
        {"address_id": 1},
    ],
    ids=["no-items", "quantity-as-string", "no-quantity", "items-missing"],
)
def test_malformed_order_bodies_are_400(shopper_client, body):
    response = shopper_client.post("/api/v1/orders", body, format="json")

    assert response.status_code == 400
    assert error_code(response) == "validation_error"


@pytest.mark.django_db
def test_a_foreign_or_missing_address_is_404_not_found(shopper_client):
    sku = SkuFactory(stock=10)
    foreign = AddressFactory(user=UserFactory())

    responses = [
        post_order(shopper_client, [{"sku_id": sku.pk, "quantity": 1}], foreign.pk),
        post_order(shopper_client, [{"sku_id": sku.pk, "quantity": 1}], 999999),
    ]

    assert [r.status_code for r in responses] == [404, 404]
    assert {error_code(r) for r in responses} == {"not_found"}
    assert responses[0].json()["error"]["message"] == "收货地址不存在"
    assert Sku.objects.get(pk=sku.pk).stock == 10
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_unknown_or_inactive_skus_are_404(shopper_client, address):
    hidden = SkuFactory(is_active=False)

    unknown = post_order(shopper_client, [{"sku_id": 999999, "quantity": 1}], address.pk)
    inactive = post_order(shopper_client, [{"sku_id": hidden.pk, "quantity": 1}], address.pk)

    assert (unknown.status_code, inactive.status_code) == (404, 404)
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_out_of_stock_is_409_and_no_line_keeps_its_reservation(shopper_client, address):
    plenty = SkuFactory(stock=10)
    scarce = SkuFactory(stock=1)

    response = post_order(
        shopper_client,
        [{"sku_id": plenty.pk, "quantity": 3}, {"sku_id": scarce.pk, "quantity": 2}],
        address.pk,
    )

    assert response.status_code == 409
    assert error_code(response) == "out_of_stock"
    assert Sku.objects.get(pk=plenty.pk).stock == 10
    assert Sku.objects.get(pk=scarce.pk).stock == 1
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_another_users_order_answers_404_everywhere(shopper_client):
    other = make_order(buyer=UserFactory(), sku=SkuFactory(stock=5))
    base = f"/api/v1/orders/{other.pk}"

    responses = [
        shopper_client.get(base),
        shopper_client.post(f"{base}/pay"),
        shopper_client.post(f"{base}/cancel"),
        shopper_client.post(f"{base}/confirm-receipt"),
        shopper_client.post(f"{base}/refunds", {"reason": "x"}, format="json"),
        shopper_client.get(f"{base}/refunds"),
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert {error_code(r) for r in responses} == {"not_found"}
    other.refresh_from_db()
    assert other.status == "pending_payment"
    assert shopper_client.get("/api/v1/orders").json()["count"] == 0


@pytest.mark.django_db
def test_orders_list_filters_by_status(shopper_client, shopper):
    sku = SkuFactory(stock=10)
    unpaid = make_order(buyer=shopper, sku=sku)
    paid = make_paid_order(buyer=shopper, sku=sku)

    everything = shopper_client.get("/api/v1/orders").json()
    only_paid = shopper_client.get("/api/v1/orders?status=paid").json()

    assert [o["id"] for o in everything["results"]] == [paid.pk, unpaid.pk]
    assert [o["id"] for o in only_paid["results"]] == [paid.pk]
    assert shopper_client.get("/api/v1/orders?status=nonsense").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 20])
def test_orders_list_runs_a_fixed_number_of_queries(shopper, django_assert_num_queries, page_size):
    client = bearer_client(shopper)
    address = AddressFactory(user=shopper)
    skus = [SkuFactory(stock=100) for _ in range(3)]
    for _ in range(25):
        services.order_create(buyer=shopper, items=[(s, 1) for s in skus], address=address)

    # then: the user (token), count, page, items, parcels — whatever the page size
    with django_assert_num_queries(5):
        response = client.get(f"/api/v1/orders?page_size={page_size}")

    assert len(response.json()["results"]) == page_size
    assert all(len(o["items"]) == 3 for o in response.json()["results"])


@pytest.mark.django_db
def test_an_orders_lines_are_inserted_in_one_statement_whatever_their_number(shopper):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    address = AddressFactory(user=shopper)
    skus = [SkuFactory(stock=10) for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        order = services.order_create(buyer=shopper, items=[(s, 1) for s in skus], address=address)

    line_inserts = [
        q
        for q in queries.captured_queries
        if q["sql"].startswith(f'INSERT INTO "{OrderItem._meta.db_table}"')
    ]
    assert len(line_inserts) == 1
    assert sorted(order.items.values_list("sku_id", flat=True)) == sorted(s.pk for s in skus)


@pytest.mark.django_db
def test_a_taken_order_number_is_drawn_again_and_five_taken_draws_refuse(shopper, monkeypatch):
    from apps.shop.services import orders

    taken = make_order().no
    address = AddressFactory(user=shopper)
    sku = SkuFactory(stock=10)
    draws = iter([taken, taken, "20991231000000000007"])
    monkeypatch.setattr(orders, "new_order_no", lambda now=None: next(draws))

    order = services.order_create(buyer=shopper, items=[(sku, 1)], address=address)

    assert order.no == "20991231000000000007"
    assert Order.objects.filter(no=taken).count() == 1
    monkeypatch.setattr(orders, "new_order_no", lambda now=None: taken)
    with pytest.raises(IntegrityError, match="no free order number in 5 draws"):
        services.order_create(buyer=shopper, items=[(sku, 1)], address=address)
    assert Order.objects.filter(buyer=shopper).count() == 1
    assert Sku.objects.get(pk=sku.pk).stock == 9  # the refused order's unit went back (rolled back)


@pytest.mark.django_db
def test_cancel_releases_the_stock_and_publishes_order_cancelled(shopper_client, shopper):
    sku = SkuFactory(stock=5)
    order = make_order(buyer=shopper, sku=sku, quantity=2)
    assert Sku.objects.get(pk=sku.pk).stock == 3

    response = shopper_client.post(f"/api/v1/orders/{order.pk}/cancel")
    again = shopper_client.post(f"/api/v1/orders/{order.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Sku.objects.get(pk=sku.pk).stock == 5
    assert (again.status_code, error_code(again)) == (409, "order_not_cancellable")
    event = OutboxEvent.objects.get(type="order_cancelled")
    assert event.payload == {
        "order_id": order.pk,
        "order_no": order.no,
        "buyer_id": shopper.pk,
        "group_id": None,
        "reason": "buyer",
    }


@pytest.mark.django_db
def test_a_paid_order_cannot_be_cancelled(shopper_client, shopper):
    order = make_paid_order(buyer=shopper)

    response = shopper_client.post(f"/api/v1/orders/{order.pk}/cancel")

    assert (response.status_code, error_code(response)) == (409, "order_not_cancellable")
    order.refresh_from_db()
    assert order.status == "paid"


@pytest.mark.django_db
def test_the_deadline_task_cancels_only_after_the_deadline_and_only_once():
    sku = SkuFactory(stock=5)
    order = make_order(sku=sku, quantity=2)

    early = services.cancel_unpaid_order(order_id=order.pk)
    late = services.cancel_unpaid_order(order_id=order.pk, now=order.pay_deadline + timedelta(seconds=1))
    again = services.cancel_unpaid_order(order_id=order.pk, now=order.pay_deadline + timedelta(minutes=5))

    assert (early, late, again) == (False, True, False)
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "timeout")
    assert Sku.objects.get(pk=sku.pk).stock == 5
    assert OutboxEvent.objects.filter(type="order_cancelled").count() == 1


@pytest.mark.django_db
def test_the_deadline_task_leaves_a_paid_order_alone():
    order = make_paid_order()

    assert (
        services.cancel_unpaid_order(order_id=order.pk, now=order.pay_deadline + timedelta(hours=1)) is False
    )
    order.refresh_from_db()
    assert order.status == "paid"


@pytest.mark.django_db
def test_cancel_unpaid_orders_command_sweeps_once():
    sku = SkuFactory(stock=10)
    due = [make_order(sku=sku) for _ in range(2)]
    paid = make_paid_order(sku=sku)
    later = make_order(sku=sku)
    Order.objects.filter(pk=later.pk).update(pay_deadline=F("pay_deadline") + timedelta(hours=2))
    now = (timezone.now() + timedelta(hours=1)).isoformat()

    first, second = io.StringIO(), io.StringIO()
    call_command("cancel_unpaid_orders", "--now", now, stdout=first)
    call_command("cancel_unpaid_orders", "--now", now, stdout=second)

    assert first.getvalue().strip() == "cancelled 2 unpaid order(s)"
    assert second.getvalue().strip() == "cancelled 0 unpaid order(s)"
    assert sorted(Order.objects.filter(status="cancelled").values_list("pk", flat=True)) == [
        o.pk for o in due
    ]
    assert Order.objects.get(pk=paid.pk).status == "paid"
    assert Order.objects.get(pk=later.pk).status == "pending_payment"
    assert Sku.objects.get(pk=sku.pk).stock == 8


@pytest.mark.django_db(transaction=True)
def test_an_order_schedules_no_task_of_its_own_and_the_minute_sweeper_cancels_it_past_its_deadline(
    monkeypatch, settings
):
    from apps.core import deferred
    from apps.shop import tasks

    sent = []
    monkeypatch.setattr(deferred, "send", lambda task, *args, **kwargs: sent.append(task.name))
    order = make_order()

    assert sent == []  # the deadline belongs to the sweeper: no ETA task held by a worker per order
    assert settings.CELERY_BEAT_SCHEDULE["cancel-unpaid-orders"] == {
        "task": "shop.cancel_unpaid_orders",
        "schedule": 60.0,
    }
    assert services.cancel_unpaid_orders(now=order.pay_deadline - timedelta(seconds=1)) == 0
    assert services.cancel_unpaid_orders(now=order.pay_deadline + timedelta(seconds=1)) == 1
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert tasks.cancel_unpaid_orders.name == "shop.cancel_unpaid_orders"


@pytest.mark.django_db
def test_pricing_policies_offer_lower_prices_and_are_snapshotted(shopper, address):
    sku = SkuFactory(price_fen=10000, stock=10)

    def koc_price(buyer, candidate):
        return pricing.PriceOffer(unit_price_fen=8500, source="koc_tier") if buyer == shopper else None

    def worse(buyer, candidate):
        return pricing.PriceOffer(unit_price_fen=12000, source="worse")

    pricing.register_price_policy(koc_price)
    pricing.register_price_policy(worse)
    try:
        mine = services.order_create(buyer=shopper, items=[(sku, 2)], address=address)
        someone = make_order(sku=sku)
    finally:
        pricing.unregister_price_policy(koc_price)
        pricing.unregister_price_policy(worse)

    item = OrderItem.objects.get(order=mine)
    assert (item.price_fen, item.price_source, item.line_fen, mine.total_fen) == (
        8500,
        "koc_tier",
        17000,
        17000,
    )
    other = OrderItem.objects.get(order=someone)
    assert (other.price_fen, other.price_source) == (10000, "list")


def test_unit_price_is_never_below_zero():
    class FakeSku:
        price_fen = 500

    def negative(buyer, sku):
        return pricing.PriceOffer(unit_price_fen=-100, source="bug")

    pricing.register_price_policy(negative)
    try:
        offer = pricing.unit_price_for(buyer=None, sku=FakeSku())
    finally:
        pricing.unregister_price_policy(negative)

    assert offer == pricing.PriceOffer(unit_price_fen=0, source="bug")


@pytest.mark.django_db
def test_group_buy_orders_take_overrides_group_id_and_a_shipping_hold(shopper, address):
    sku = SkuFactory(price_fen=9900, stock=10)

    order = services.order_create(
        buyer=shopper,
        items=[services.OrderLine(sku=sku, quantity=2)],
        address=address,
        kind="group_buy",
        group_id=42,
        unit_price_overrides={sku.pk: 6900},
        hold_shipping=True,
    )

    item = order.items.get()
    assert (item.price_fen, item.price_source, order.total_fen) == (6900, "group_buy", 13800)
    assert (order.kind, order.group_id, order.shipping_hold) == ("group_buy", 42, True)


@pytest.mark.django_db
def test_attribution_is_resolved_stored_and_never_fails_an_order(shopper_client, shopper, address):
    sku = SkuFactory(stock=10)
    seen = []

    def resolver(*, buyer, share_code):
        seen.append((buyer.pk, share_code))
        if share_code == "GOOD":
            return {
                "koc_id": 7,
                "share_link_id": 70,
                "source": "share_link",
                "policy": {"ttl_days": 7},
                "self_purchase": False,
            }
        if share_code == "BOOM":
            raise RuntimeError("resolver bug")
        return None

    previous = attribution.get_attribution_resolver()
    attribution.set_attribution_resolver(resolver)
    try:
        good = post_order(shopper_client, [{"sku_id": sku.pk, "quantity": 1}], address.pk, share_code="GOOD")
        junk = post_order(
            shopper_client, [{"sku_id": sku.pk, "quantity": 1}], address.pk, share_code="??junk"
        )
        boom = post_order(shopper_client, [{"sku_id": sku.pk, "quantity": 1}], address.pk, share_code="BOOM")
        none = post_order(shopper_client, [{"sku_id": sku.pk, "quantity": 1}], address.pk)
    finally:
        attribution.set_attribution_resolver(previous)

    assert [r.status_code for r in (good, junk, boom, none)] == [201, 201, 201, 201]
    attributed = Order.objects.get(pk=good.json()["id"])
    assert (attributed.attributed_koc_id, attributed.share_link_id) == (7, 70)
    assert attributed.attribution["policy"] == {"ttl_days": 7}
    for response in (junk, boom, none):
        order = Order.objects.get(pk=response.json()["id"])
        assert (order.attributed_koc_id, order.share_link_id, order.attribution) == (None, None, {})
    assert seen == [(shopper.pk, "GOOD"), (shopper.pk, "??junk"), (shopper.pk, "BOOM"), (shopper.pk, None)]


@pytest.mark.django_db
def test_the_database_refuses_negative_stock_and_amounts():
    sku = SkuFactory(stock=1)
    order = make_paid_order(sku=sku)

    with pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.filter(pk=sku.pk).update(stock=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(refunded_fen=order.paid_fen + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(total_fen=-1)


def test_order_numbers_are_dated_and_random():
    numbers = {new_order_no() for _ in range(1000)}

    assert len(numbers) == 1000
    assert all(re.fullmatch(r"\d{20}", n) for n in numbers)
    # 12 random digits: no two consecutive numbers share their random part's leading half
    assert len({n[8:14] for n in numbers}) > 900
