"""Every refund of the scale demo works: the seeded payments exist in the WeChat Pay sandbox."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.demo.scale import ORDER_PREFIX
from apps.shop import services
from apps.shop.models import Order, Refund
from apps.wechat.sandbox import pay as sandbox


def refund_calls(mock) -> int:
    return len([c for c in mock.calls if c.request.url.endswith("/v3/refund/domestic/refunds")])


@pytest.mark.django_db(transaction=True)
def test_every_seeded_refund_request_approved_succeeds(ops_client, wechat_sandbox, celery_eager):
    call_command("seed_demo", "--scale", "0.02", stdout=io.StringIO())
    waiting = list(Refund.objects.filter(order__no__startswith=ORDER_PREFIX, status="requested"))
    assert len(waiting) == 2

    for refund in waiting:
        answer = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/approve", {"note": "同意"}, format="json")
        # WeChat (the sandbox) knows the payment, accepts the refund and notifies its success
        assert (answer.status_code, answer.json()["status"]) == (200, "succeeded"), answer.json()
        order = Order.objects.get(pk=refund.order_id)
        assert (order.status, order.refunded_fen) == ("refunded", order.paid_fen)
        assert sandbox.get_refund(Refund.objects.get(pk=refund.pk).out_refund_no)["status"] == "SUCCESS"
    assert refund_calls(wechat_sandbox) == 2


@pytest.mark.django_db(transaction=True)
def test_a_new_refund_of_old_seeded_orders_succeeds(wechat_sandbox, celery_eager):
    call_command("seed_demo", "--scale", "0.02", stdout=io.StringIO())
    month_ago = timezone.now() - timedelta(days=30)
    completed = Order.objects.filter(no__startswith=ORDER_PREFIX, status="completed", paid_at__lt=month_ago)
    partly = Order.objects.filter(no__startswith=ORDER_PREFIX, refunded_fen__gt=0, status="completed")
    for order in [completed.filter(refunded_fen=0).first(), partly.first()]:
        if order is None:
            continue
        left = order.paid_fen - order.refunded_fen
        refund = services.refund_create(order=order, amount_fen=None, reason="售后", kind="after_sale")
        services.refund_approve(refund=refund)
        refund.refresh_from_db()
        # the sandbox accepts exactly what is left of the payment: earlier refunds are known there
        assert (refund.status, refund.amount_fen) == ("succeeded", left)
        order.refresh_from_db()
        assert order.refunded_fen == order.paid_fen
    assert refund_calls(wechat_sandbox) >= 1
