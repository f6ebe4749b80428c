import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.models import Order
from tests.helpers import error_code
from tests.shop.factories import make_order, make_paid_order


def ship(client, order, **body):
    return client.post(
        f"/api/v1/ops/orders/{order.no}/ship",
        {"carrier": "顺丰", "tracking_no": "SF100", **body},
        format="json",
    )


@pytest.mark.django_db
def test_operators_ship_paid_orders(ops_client, shopper_client, shopper):
    order = make_paid_order(buyer=shopper)

    by_shopper = ship(shopper_client, order)
    shipped = ship(ops_client, order)
    twice = ship(ops_client, order)

    assert by_shopper.status_code == 403
    assert shipped.status_code == 200
    body = shipped.json()
    assert (body["status"], body["carrier"], body["tracking_no"]) == ("shipped", "顺丰", "SF100")
    assert body["shipped_at"] is not None
    assert (twice.status_code, error_code(twice)) == (409, "order_not_shippable")
    assert ship(ops_client, Order(no="nope")).status_code == 404


@pytest.mark.django_db
def test_unpaid_and_held_orders_are_not_shippable(ops_client):
    unpaid = make_order()
    held = make_paid_order(hold_shipping=True, kind="group_buy", group_id=5)

    responses = [ship(ops_client, unpaid), ship(ops_client, held)]

    assert [(r.status_code, error_code(r)) for r in responses] == [(409, "order_not_shippable")] * 2
    assert responses[1].json()["error"]["message"] == "拼团尚未成功，订单暂不能发货"

    # when: the group succeeded
    services.order_release_hold(order_id=held.pk)
    services.order_release_hold(order_id=held.pk)

    assert ship(ops_client, held).status_code == 200


@pytest.mark.django_db
def test_ship_needs_carrier_and_tracking_number(ops_client):
    order = make_paid_order()

    response = ops_client.post(f"/api/v1/ops/orders/{order.no}/ship", {"carrier": "顺丰"}, format="json")

    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert set(response.json()["error"]["fields"]) == {"tracking_no"}


@pytest.mark.django_db
def test_confirm_receipt_completes_a_shipped_order_and_publishes_order_completed(shopper_client, shopper):
    order = make_paid_order(buyer=shopper)

    too_early = shopper_client.post(f"/api/v1/orders/{order.pk}/confirm-receipt")
    services.order_ship(order=order, carrier="顺丰", tracking_no="SF1")
    confirmed = shopper_client.post(f"/api/v1/orders/{order.pk}/confirm-receipt")
    again = shopper_client.post(f"/api/v1/orders/{order.pk}/confirm-receipt")

    assert (too_early.status_code, error_code(too_early)) == (409, "order_not_shipped")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "completed"
    assert (again.status_code, error_code(again)) == (409, "order_not_shipped")
    order.refresh_from_db()
    event = OutboxEvent.objects.get(type="order_completed")
    assert event.key == f"order_completed:{order.pk}"
    assert event.payload["completed_at"] == timezone.localtime(order.completed_at).isoformat()
    assert (event.payload["refunded_fen"], event.payload["paid_fen"]) == (0, order.paid_fen)
    paid = OutboxEvent.objects.get(type="order_paid").payload
    assert {k: v for k, v in event.payload.items() if k not in ("completed_at", "refunded_fen")} == paid


@pytest.mark.django_db
def test_auto_confirm_completes_orders_shipped_long_enough_ago_once(settings):
    settings.SHOP_AUTO_CONFIRM_DAYS = 10
    old, recent, unshipped = make_paid_order(), make_paid_order(), make_paid_order()
    for order in (old, recent):
        services.order_ship(order=order, carrier="顺丰", tracking_no="SF")
    Order.objects.filter(pk=old.pk).update(shipped_at=timezone.now() - timedelta(days=10, minutes=1))
    Order.objects.filter(pk=recent.pk).update(shipped_at=timezone.now() - timedelta(days=9))

    first, second = io.StringIO(), io.StringIO()
    call_command("auto_confirm_orders", stdout=first)
    call_command("auto_confirm_orders", stdout=second)

    assert first.getvalue().strip() == "completed 1 shipped order(s)"
    assert second.getvalue().strip() == "completed 0 shipped order(s)"
    statuses = {o.pk: o.status for o in Order.objects.all()}
    assert statuses == {old.pk: "completed", recent.pk: "shipped", unshipped.pk: "paid"}
    assert OutboxEvent.objects.filter(type="order_completed").count() == 1

    # when: time moves on
    later = (timezone.now() + timedelta(days=2)).isoformat()
    call_command("auto_confirm_orders", "--now", later, stdout=io.StringIO())

    assert Order.objects.get(pk=recent.pk).status == "completed"


@pytest.mark.django_db
def test_now_must_be_an_iso_datetime_with_offset():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("auto_confirm_orders", "--now", "yesterday")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("cancel_unpaid_orders", "--now", "2026-01-01T00:00:00")


@pytest.mark.django_db
def test_the_beat_tasks_are_registered_under_the_names_the_schedule_uses():
    from django.conf import settings

    import apps.shop.tasks  # noqa: F401  (what the worker's autodiscovery imports)
    from config.celery import app

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {"shop.cancel_unpaid_orders", "shop.auto_confirm_orders"} <= names
    assert {"shop.cancel_unpaid_orders", "shop.auto_confirm_orders", "shop.cancel_unpaid_order"} <= set(
        app.tasks
    )
