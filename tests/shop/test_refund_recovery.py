"""Refunds when WeChat misbehaves (the reproductions of issue 13), driven through the sandbox's faults.

An answer that cannot be trusted leaves the outcome unknown until a query or a verified
notification says it; a retryable refusal (NOT_ENOUGH) is sent again under the same
out_refund_no; PROCESSING is settled by query; ABNORMAL is shown to finance.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.models import Refund
from apps.shop.services.refunds import AUTO_RETRY_LIMIT, refundable_fen
from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import pay as sandbox
from tests.helpers import error_code
from tests.shop.factories import SkuFactory, make_order
from tests.shop.journey import pay_through_sandbox


def fault(api, kind, **extra):
    response = Client().post(
        "/wechat-sandbox/faults", {"api": api, "fault": kind, **extra}, content_type="application/json"
    )
    assert response.status_code == 201, response.content


def refund_requests(mock) -> list[str]:
    """The out_refund_no of every refund request the project sent to WeChat."""
    import json

    return [
        json.loads(c.request.body)["out_refund_no"]
        for c in mock.calls
        if c.request.url.endswith("/v3/refund/domestic/refunds")
    ]


def wechat_completes(out_refund_no: str) -> None:
    """WeChat finishes the refund and notifies (the sandbox's task, run now), faults included."""
    sandbox.send_refund_notification.apply(args=(out_refund_no,))


def order_state(order):
    order.refresh_from_db()
    return order.status, order.paid_fen, order.refunded_fen


def sweep(minutes: float) -> int:
    return services.refunds_resubmit_stuck(now=timezone.now() + timedelta(minutes=minutes))


@pytest.fixture
def paid_order(shopper, shopper_client, wechat_sandbox):
    order = make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=2)
    pay_through_sandbox(shopper_client, order.pk)
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == ("paid", 19800)
    return order


@pytest.mark.django_db
def test_a_refund_whose_answer_fails_verification_is_credited_when_wechat_notifies(
    paid_order, wechat_sandbox
):
    # given: WeChat accepts the refund but signs its answer wrongly (a probe)
    fault("refund", "bad_signature")
    refund = services.refund_create(order=paid_order, amount_fen=19800, reason="整单退", auto_approve=True)

    # when: we submit; the answer cannot be trusted
    with pytest.raises(wechatpay.AnswerNotVerified):
        services.refund_submit(refund_id=refund.pk)
    refund.refresh_from_db()
    unknown = (refund.status, refund.wechat_status)
    # and WeChat's REFUND.SUCCESS arrives
    wechat_completes(refund.out_refund_no)

    # then: nothing was decided from the probe; the notification credits the order once
    assert unknown == ("submitting", "UNKNOWN")
    refund.refresh_from_db()
    assert (refund.status, refund.wechat_status) == ("succeeded", "SUCCESS")
    assert order_state(paid_order) == ("refunded", 19800, 19800)
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1  # commissions reverse on it
    assert refund_requests(wechat_sandbox) == [refund.out_refund_no]


@pytest.mark.django_db
def test_a_probe_signed_refund_with_its_notification_lost_is_resolved_by_query(paid_order, wechat_sandbox):
    # given: the answer is a probe and WeChat's notification never comes
    fault("refund", "bad_signature")
    fault("refund_notify", "drop")
    refund = services.refund_create(order=paid_order, amount_fen=5000, reason="少发", auto_approve=True)
    with pytest.raises(wechatpay.AnswerNotVerified):
        services.refund_submit(refund_id=refund.pk)
    wechat_completes(refund.out_refund_no)  # WeChat refunded; the notification was dropped

    # when: the sweeper runs before and after the outcome is due to be asked about
    early = sweep(minutes=1)
    asked = sweep(minutes=3)

    # then: the query found SUCCESS and credited it, once
    assert (early, asked) == (0, 1)
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert order_state(paid_order) == ("paid", 19800, 5000)
    assert sweep(minutes=30) == 0
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1


@pytest.mark.django_db
def test_not_enough_is_retried_automatically_with_the_same_out_refund_no(paid_order, wechat_sandbox):
    # given: the merchant's balance cannot cover the refund the first time
    fault("refund", "not_enough")
    refund = services.refund_create(order=paid_order, amount_fen=19800, reason="退货", auto_approve=True)

    # when
    first = services.refund_submit(refund_id=refund.pk)

    # then: waiting for a retry, its money still reserved (nothing else can refund it meanwhile)
    assert (first.status, first.wechat_status, first.attempts) == ("approved", "NOT_ENOUGH", 1)
    assert first.next_attempt_at is not None
    assert refundable_fen(paid_order) == 0

    # when: the sweeper runs before the retry is due, then after
    assert sweep(minutes=0) == 0
    due_in = (first.next_attempt_at - timezone.now()).total_seconds() / 60
    sweep(minutes=due_in + 0.1)

    # then: sent again under the same out_refund_no and accepted
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == ("processing", 2)
    assert refund_requests(wechat_sandbox) == [refund.out_refund_no, refund.out_refund_no]
    wechat_completes(refund.out_refund_no)
    assert order_state(paid_order) == ("refunded", 19800, 19800)


@pytest.mark.django_db(transaction=True)
def test_an_operator_retries_a_failed_refund_with_the_same_out_refund_no(
    paid_order, wechat_sandbox, ops_client, celery_eager
):
    # given: a refund still refused for NOT_ENOUGH after the automatic attempts
    fault("refund", "not_enough")
    refund = services.refund_create(order=paid_order, amount_fen=3000, reason="退货")
    Refund.objects.filter(pk=refund.pk).update(status="approved", attempts=AUTO_RETRY_LIMIT - 1)
    failed = services.refund_submit(refund_id=refund.pk)
    assert (failed.status, failed.wechat_status) == ("failed", "NOT_ENOUGH")
    approve_again = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/approve", {}, format="json")

    # when: the operator retries it, then retries again
    retried = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/retry", {"note": "已充值"}, format="json")
    again = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/retry", {}, format="json")

    # then
    assert (approve_again.status_code, error_code(approve_again)) == (409, "refund_not_pending")
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "succeeded"  # Celery is eager: WeChat's notification came too
    assert order_state(paid_order) == ("paid", 19800, 3000)
    assert (again.status_code, error_code(again)) == (409, "refund_not_retryable")
    assert refund_requests(wechat_sandbox) == [refund.out_refund_no, refund.out_refund_no]


@pytest.mark.django_db
def test_abnormal_is_failed_shown_to_finance_and_not_retried(
    paid_order, wechat_sandbox, ops_client, admin_client
):
    fault("refund", "abnormal")
    refund = services.refund_create(order=paid_order, amount_fen=2000, reason="退货", auto_approve=True)
    assert services.refund_submit(refund_id=refund.pk).status == "processing"

    wechat_completes(refund.out_refund_no)  # REFUND.ABNORMAL
    retry = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/retry", {}, format="json")
    listed = admin_client.get("/admin/shop/refund/", {"wechat_status": "ABNORMAL"})

    refund.refresh_from_db()
    assert (refund.status, refund.wechat_status) == ("failed", "ABNORMAL")
    assert order_state(paid_order) == ("paid", 19800, 0)
    assert (retry.status_code, error_code(retry)) == (409, "refund_not_retryable")
    assert listed.status_code == 200
    assert refund.out_refund_no in listed.content.decode()


@pytest.mark.django_db
def test_a_refund_left_processing_is_settled_by_query(paid_order, wechat_sandbox):
    # given: WeChat keeps the refund PROCESSING and never notifies
    fault("refund", "processing")
    refund = services.refund_create(order=paid_order, amount_fen=19800, reason="整单退", auto_approve=True)
    assert services.refund_submit(refund_id=refund.pk).status == "processing"

    # when: the sweeper asks, twice (the sandbox answers SUCCESS at the second query)
    first = sweep(minutes=11)
    after_first = Refund.objects.get(pk=refund.pk).status
    second = sweep(minutes=11)

    # then
    assert (first, after_first, second) == (1, "processing", 1)
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert order_state(paid_order) == ("refunded", 19800, 19800)
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1


@pytest.mark.django_db
def test_a_probe_signed_refund_query_decides_nothing(paid_order, wechat_sandbox):
    # given: an unknown outcome, and WeChat answers the first query with a probe signature
    fault("refund", "timeout")
    refund = services.refund_create(order=paid_order, amount_fen=4000, reason="少发", auto_approve=True)
    with pytest.raises(wechatpay.WeChatPayUnavailable):
        services.refund_submit(refund_id=refund.pk)
    fault("refund_query", "bad_signature")

    # when: the sweep asks twice
    sweep(minutes=3)
    after_probe = Refund.objects.get(pk=refund.pk)
    sweep(minutes=6)

    # then: the probe changed nothing; the verified answer (PROCESSING at WeChat) did
    assert (after_probe.status, after_probe.wechat_status) == ("submitting", "UNKNOWN")
    refund.refresh_from_db()
    assert (refund.status, refund.wechat_status) == ("processing", "PROCESSING")
    assert refund_requests(wechat_sandbox) == [refund.out_refund_no]


@pytest.mark.django_db
def test_a_probe_signed_refund_notification_is_refused_and_the_query_resolves_it(paid_order, wechat_sandbox):
    fault("refund_notify", "bad_signature")
    refund = services.refund_create(order=paid_order, amount_fen=19800, reason="整单退", auto_approve=True)
    services.refund_submit(refund_id=refund.pk)

    wechat_completes(refund.out_refund_no)  # REFUND.SUCCESS, signed wrongly: refused with 401
    refused = Refund.objects.get(pk=refund.pk).status
    sweep(minutes=11)

    assert refused == "processing"
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert order_state(paid_order) == ("refunded", 19800, 19800)
