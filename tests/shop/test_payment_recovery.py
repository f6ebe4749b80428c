"""Payments when WeChat misbehaves (issue 13): a probe-signed answer or notification decides nothing."""

from datetime import timedelta

import pytest
from django.test import Client

from apps.shop import services
from apps.shop.models import Order, Payment
from apps.wechat.sandbox import pay as sandbox
from tests.helpers import error_code
from tests.shop.factories import SkuFactory, make_order


def fault(api, kind, **extra):
    response = Client().post(
        "/wechat-sandbox/faults", {"api": api, "fault": kind, **extra}, content_type="application/json"
    )
    assert response.status_code == 201, response.content


def shopper_pays(shopper_client, order):
    params = shopper_client.post(f"/api/v1/orders/{order.pk}/pay").json()
    prepay_id = params["package"].removeprefix("prepay_id=")
    response = Client().post(
        "/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json"
    )
    return response.json()


@pytest.fixture
def order(shopper):
    return make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=1)


@pytest.mark.django_db
def test_a_paid_order_is_not_cancelled_when_the_query_answer_fails_verification(
    shopper_client, order, wechat_sandbox
):
    # given: the shopper paid, WeChat's notification was lost, and the deadline passed
    fault("pay_notify", "drop")
    shopper_pays(shopper_client, order)
    after_deadline = order.pay_deadline + timedelta(seconds=1)
    # and the sweeper's query is answered with a probe signature
    fault("pay_query", "bad_signature")

    # when
    cancelled = services.cancel_unpaid_orders(now=after_deadline)

    # then: nothing decided from the probe: the order is kept, and the next sweep finds it paid
    assert cancelled == 0
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
    assert services.cancel_unpaid_orders(now=after_deadline) == 0
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", 9900)
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_a_probe_signed_payment_notification_is_refused_and_the_query_resolves_it(
    shopper_client, order, wechat_sandbox
):
    fault("pay_notify", "bad_signature")

    confirm = shopper_pays(shopper_client, order)

    assert confirm["notify_status"] == 401  # refused: not provably WeChat's
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
    services.cancel_unpaid_orders(now=order.pay_deadline + timedelta(seconds=1))
    assert Order.objects.get(pk=order.pk).status == "paid"


@pytest.mark.django_db
def test_a_probe_signed_prepay_answer_is_unavailable_and_a_retry_pays(shopper_client, order, wechat_sandbox):
    fault("pay_jsapi", "bad_signature")

    refused = shopper_client.post(f"/api/v1/orders/{order.pk}/pay")
    confirm = shopper_pays(shopper_client, order)

    assert (refused.status_code, error_code(refused)) == (503, "wechatpay_unavailable")
    assert confirm["notify_status"] == 204
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert sandbox.get_transaction(order.no)["trade_state"] == "SUCCESS"
