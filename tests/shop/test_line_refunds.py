"""Refunds of returned lines (`items`): priced as the lines' share of what was paid, bounded by the
units left to return, and published with the lines so commissions of those lines are taken back."""

import pytest

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.models import Refund, RefundItem
from tests.helpers import error_code
from tests.shop.factories import AddressFactory, SkuFactory
from tests.shop.journey import pay_through_sandbox


@pytest.fixture
def two_line_order(shopper, shopper_client, wechat_sandbox):
    """Tea 2 x 9900 and a cup 1 x 3000: 22800 fen paid through the sandbox."""
    tea = SkuFactory(price_fen=9900, stock=10)
    cup = SkuFactory(price_fen=3000, stock=10)
    order = services.order_create(
        buyer=shopper, items=[(tea, 2), (cup, 1)], address=AddressFactory(user=shopper)
    )
    pay_through_sandbox(shopper_client, order.pk)
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", 22800)
    return order, tea, cup


def request(client, order, **body):
    return client.post(f"/api/v1/orders/{order.pk}/refunds", {"reason": "退货", **body}, format="json")


@pytest.mark.django_db
def test_a_refund_of_returned_lines_is_priced_as_their_share_of_what_was_paid(shopper_client, two_line_order):
    order, tea, _cup = two_line_order

    response = request(shopper_client, order, items=[{"sku_id": tea.pk, "quantity": 1}])

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["amount_fen"]) == ("requested", 9900)
    assert body["items"] == [{"sku_id": tea.pk, "quantity": 1, "amount_fen": 9900}]


@pytest.mark.django_db
def test_units_already_returned_or_on_their_way_cannot_be_returned_again(shopper_client, two_line_order):
    order, tea, _cup = two_line_order
    assert request(shopper_client, order, items=[{"sku_id": tea.pk, "quantity": 2}]).status_code == 201

    again = request(shopper_client, order, items=[{"sku_id": tea.pk, "quantity": 1}])

    assert (again.status_code, error_code(again)) == (409, "refund_not_allowed")
    assert again.json()["error"]["message"] == f"「{order.items.get(sku=tea).title}」最多还能退 0 件"
    assert Refund.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "items",
    [
        [{"sku_id": 999_999, "quantity": 1}],
        [{"sku_id": "tea", "quantity": 1}],
        [{"sku_id": 1, "quantity": 0}],
        [],
    ],
)
def test_bad_lines_are_a_400_and_change_nothing(shopper_client, two_line_order, items):
    order, _tea, _cup = two_line_order

    response = request(shopper_client, order, items=items)

    assert response.status_code == 400
    assert error_code(response) in ("invalid_refund_items", "validation_error", "invalid_input")
    assert (Refund.objects.count(), RefundItem.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_an_amount_that_disagrees_with_the_lines_is_refused(shopper_client, two_line_order):
    order, _tea, cup = two_line_order

    response = request(shopper_client, order, items=[{"sku_id": cup.pk, "quantity": 1}], amount_fen=2000)

    assert (response.status_code, error_code(response)) == (400, "invalid_refund_items")
    assert response.json()["error"]["fields"] == {
        "amount_fen": ["退货商品的退款金额为 30.00 元，与 amount_fen 不符"]
    }
    assert Refund.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_refunded_event_carries_the_lines_and_the_orders_cumulative_returns(
    shopper_client, ops_client, two_line_order, celery_eager
):
    order, tea, cup = two_line_order
    first = request(shopper_client, order, items=[{"sku_id": tea.pk, "quantity": 1}]).json()["id"]
    decided = ops_client.post(f"/api/v1/ops/refunds/{first}/approve", {}, format="json")
    assert decided.json()["status"] == "succeeded", decided.content
    second = request(shopper_client, order, items=[{"sku_id": cup.pk, "quantity": 1}]).json()["id"]
    decided = ops_client.post(f"/api/v1/ops/refunds/{second}/approve", {}, format="json")
    assert decided.json()["status"] == "succeeded", decided.content

    event = OutboxEvent.objects.get(type="order_refunded", key=f"order_refunded:{second}")
    tea_item, cup_item = order.items.get(sku=tea).pk, order.items.get(sku=cup).pk
    assert event.payload["items"] == [
        {"item_id": cup_item, "sku_id": cup.pk, "quantity": 1, "amount_fen": 3000}
    ]
    assert event.payload["refunded_items"] == sorted(
        [{"item_id": tea_item, "quantity": 1}, {"item_id": cup_item, "quantity": 1}],
        key=lambda r: r["item_id"],
    )
    assert (event.payload["refunded_fen"], event.payload["refunded_lines_fen"]) == (12900, 12900)


@pytest.mark.django_db
def test_a_refund_on_its_way_to_wechat_reads_as_processing_in_the_api(shopper_client, two_line_order):
    # the internal `submitting` status is not one of the API's refund statuses
    order, tea, _cup = two_line_order
    refund_id = request(shopper_client, order, items=[{"sku_id": tea.pk, "quantity": 1}]).json()["id"]
    Refund.objects.filter(pk=refund_id).update(status=Refund.Status.SUBMITTING)

    listed = shopper_client.get(f"/api/v1/orders/{order.pk}/refunds").json()

    assert [r["status"] for r in listed] == ["processing"]
