"""After-sales refunds: requested, approved once, sent to WeChat once, credited once."""

import time

import pytest
from django.test import Client

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.models import Order, Refund, Sku
from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import pay as sandbox
from tests.helpers import error_code
from tests.shop.factories import SkuFactory, make_order
from tests.shop.journey import pay_through_sandbox

REFUND_NOTIFY = "/api/v1/payments/wechat/refund-notify"


def refund_calls(mock) -> int:
    return len([c for c in mock.calls if c.request.url.endswith("/v3/refund/domestic/refunds")])


@pytest.fixture
def paid_order(shopper, shopper_client, wechat_sandbox):
    """19800 fen paid through the sandbox, so WeChat (the sandbox) knows the transaction."""
    order = make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=2)
    pay_through_sandbox(shopper_client, order.pk)
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def request_refund(client, order, **body):
    return client.post(f"/api/v1/orders/{order.pk}/refunds", {"reason": "不想要了", **body}, format="json")


def deliver_refund_notification(out_refund_no: str, *, timestamp=None):
    """WeChat completes the refund and notifies (what the sandbox's Celery task does later)."""
    refund = sandbox.get_refund(out_refund_no)
    refund.update(status="SUCCESS", success_time=sandbox._now_iso())
    sandbox._save_refund(refund)
    url, headers, body = sandbox.refund_notification(out_refund_no, timestamp=timestamp)
    path = url.removeprefix("http://testserver")
    return Client().generic("POST", path, data=body, content_type="application/json", headers=headers)


def order_state(order):
    order.refresh_from_db()
    return order.status, order.paid_fen, order.refunded_fen


@pytest.mark.django_db
def test_a_full_refund_request_defaults_to_everything_refundable(shopper_client, paid_order):
    response = request_refund(shopper_client, paid_order)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["amount_fen"]) == ("requested", 19800)
    assert {"id", "status", "amount_fen"} <= set(body)


@pytest.mark.django_db
def test_refunds_cannot_exceed_what_is_refundable_counting_those_in_flight(shopper_client, paid_order):
    first = request_refund(shopper_client, paid_order, amount_fen=15000)
    too_much = request_refund(shopper_client, paid_order, amount_fen=4801)
    rest = request_refund(shopper_client, paid_order, amount_fen=4800)
    nothing_left = request_refund(shopper_client, paid_order)

    assert first.status_code == 201
    assert (too_much.status_code, error_code(too_much)) == (409, "refund_not_allowed")
    assert too_much.json()["error"]["message"] == "退款金额须在 0.01 到 48.00 元之间"
    assert rest.status_code == 201
    assert (nothing_left.status_code, error_code(nothing_left)) == (409, "refund_not_allowed")
    assert list(Refund.objects.order_by("id").values_list("amount_fen", flat=True)) == [15000, 4800]


@pytest.mark.django_db
def test_refund_requests_need_a_paid_order_and_a_positive_amount(shopper_client, shopper):
    unpaid = make_order(buyer=shopper)

    not_paid = request_refund(shopper_client, unpaid)
    zero = request_refund(shopper_client, unpaid, amount_fen=0)

    assert (not_paid.status_code, error_code(not_paid)) == (409, "refund_not_allowed")
    assert (zero.status_code, error_code(zero)) == (400, "validation_error")
    assert Refund.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_approving_twice_sends_one_refund_to_wechat(
    shopper_client, ops_client, paid_order, wechat_sandbox, celery_eager
):
    refund_id = request_refund(shopper_client, paid_order, amount_fen=5000).json()["id"]

    first = ops_client.post(f"/api/v1/ops/refunds/{refund_id}/approve", {"note": "同意"}, format="json")
    second = ops_client.post(f"/api/v1/ops/refunds/{refund_id}/approve", {}, format="json")
    services.refund_submit(refund_id=refund_id)  # a retried task changes nothing either

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["status"] == "succeeded"
    assert second.json()["status"] == "succeeded"
    assert refund_calls(wechat_sandbox) == 1
    assert order_state(paid_order) == ("paid", 19800, 5000)
    refund = Refund.objects.get()
    assert refund.wechat_refund_id.startswith("50")
    assert refund.note == "同意"
    event = OutboxEvent.objects.get(type="order_refunded")
    assert event.key == f"order_refunded:{refund.pk}"
    assert event.payload == {
        "order_id": paid_order.pk,
        "order_no": paid_order.no,
        "refund_id": refund.pk,
        "amount_fen": 5000,
        "refunded_fen": 5000,
        "paid_fen": 19800,
        "fully_refunded": False,
        "refunded_at": event.payload["refunded_at"],
        "buyer_id": paid_order.buyer_id,
        "group_id": None,
        "attributed_koc_id": None,
        "items": [],
        "refunded_items": [],
        "refunded_lines_fen": 0,
    }
    assert event.payload["refunded_at"].endswith("+08:00")


@pytest.mark.django_db
def test_the_answer_first_then_the_notification_credits_once(paid_order, wechat_sandbox):
    # given: an approved refund (the on_commit submission does not run in this test's transaction)
    refund = services.refund_create(order=paid_order, amount_fen=19800, reason="整单退")
    services.refund_approve(refund=refund)

    # when: we submit; WeChat answers PROCESSING (its notification is still queued)
    submitted = services.refund_submit(refund_id=refund.pk)

    # then
    assert submitted.status == "processing"
    assert order_state(paid_order) == ("paid", 19800, 0)

    # when: the notification arrives, then again
    first = deliver_refund_notification(refund.out_refund_no)
    second = deliver_refund_notification(refund.out_refund_no)

    # then: the order is fully refunded once; nothing was shipped, so the stock is back
    assert (first.status_code, second.status_code) == (204, 204)
    assert order_state(paid_order) == ("refunded", 19800, 19800)
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1
    assert Sku.objects.get(pk=paid_order.items.get().sku_id).stock == 10
    assert refund_calls(wechat_sandbox) == 1


@pytest.mark.django_db
def test_the_notification_before_the_answer_credits_once(paid_order, wechat_sandbox, monkeypatch):
    # given: WeChat's notification overtakes its own answer to our refund request
    refund = services.refund_create(order=paid_order, amount_fen=8000, reason="少发", auto_approve=True)
    real_refund_create = wechatpay.refund_create

    def answer_after_notifying(**kwargs):
        answer = real_refund_create(**kwargs)
        assert deliver_refund_notification(kwargs["out_refund_no"]).status_code == 204
        assert Refund.objects.get(pk=refund.pk).status == "succeeded"
        return answer  # status PROCESSING: now stale

    monkeypatch.setattr(wechatpay, "refund_create", answer_after_notifying)

    # when
    result = services.refund_submit(refund_id=refund.pk)

    # then: the stale PROCESSING answer did not move it back
    assert result.status == "succeeded"
    assert order_state(paid_order) == ("paid", 19800, 8000)
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1


@pytest.mark.django_db
def test_refund_notifications_are_verified(paid_order, wechat_sandbox):
    refund = services.refund_create(order=paid_order, amount_fen=1000, reason="x", auto_approve=True)
    services.refund_submit(refund_id=refund.pk)
    sandbox_refund = sandbox.get_refund(refund.out_refund_no)
    sandbox_refund.update(status="SUCCESS", success_time=sandbox._now_iso())
    sandbox._save_refund(sandbox_refund)

    def notification(**changes):
        resource = {**sandbox.refund_resource(sandbox_refund), **changes}
        return sandbox.build_notification(
            event_type="REFUND.SUCCESS", summary="退款成功", original_type="refund", resource=resource
        )

    def post(headers, body):
        return Client().generic(
            "POST", REFUND_NOTIFY, data=body, content_type="application/json", headers=headers
        )

    headers, body = notification()
    forged = post({**headers, "Wechatpay-Signature": headers["Wechatpay-Signature"][::-1]}, body)
    stale = post(
        *sandbox.build_notification(
            event_type="REFUND.SUCCESS",
            summary="退款成功",
            original_type="refund",
            resource=sandbox.refund_resource(sandbox_refund),
            timestamp=int(time.time()) - 600,
        )
    )
    wrong_amount = post(
        *notification(amount={"total": 19800, "refund": 1001, "payer_total": 19800, "payer_refund": 1001})
    )
    wrong_mchid = post(*notification(mchid="999"))

    assert (forged.status_code, stale.status_code) == (401, 401)
    assert (wrong_amount.status_code, error_code(wrong_amount)) == (400, "payment_mismatch")
    assert (wrong_mchid.status_code, error_code(wrong_mchid)) == (400, "payment_mismatch")
    assert order_state(paid_order) == ("paid", 19800, 0)
    assert Refund.objects.get().status == "processing"
    assert post(headers, body).status_code == 204
    assert order_state(paid_order) == ("paid", 19800, 1000)


@pytest.mark.django_db
def test_reject_and_the_rules_between_approve_and_reject(shopper_client, ops_client, paid_order):
    refund_id = request_refund(shopper_client, paid_order, amount_fen=100).json()["id"]

    rejected = ops_client.post(f"/api/v1/ops/refunds/{refund_id}/reject", {"note": "已发货"}, format="json")
    rejected_again = ops_client.post(f"/api/v1/ops/refunds/{refund_id}/reject", {}, format="json")
    approve_rejected = ops_client.post(f"/api/v1/ops/refunds/{refund_id}/approve", {}, format="json")

    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["note"]) == ("rejected", "已发货")
    assert rejected_again.status_code == 200
    assert (approve_rejected.status_code, error_code(approve_rejected)) == (409, "refund_not_pending")
    # a rejected request frees its amount
    assert request_refund(shopper_client, paid_order).json()["amount_fen"] == 19800


@pytest.mark.django_db
def test_only_operators_decide_refunds(shopper_client, paid_order):
    refund_id = request_refund(shopper_client, paid_order).json()["id"]

    response = shopper_client.post(f"/api/v1/ops/refunds/{refund_id}/approve", {}, format="json")

    assert response.status_code == 403
    assert Refund.objects.get().status == "requested"


@pytest.mark.django_db
def test_rejecting_an_approved_refund_is_409(ops_client, paid_order):
    refund = services.refund_create(order=paid_order, amount_fen=100, reason="x", auto_approve=True)

    response = ops_client.post(f"/api/v1/ops/refunds/{refund.pk}/reject", {}, format="json")

    assert (response.status_code, error_code(response)) == (409, "refund_not_pending")


@pytest.mark.django_db
def test_refund_create_with_an_idempotency_key_answers_the_first_refund(paid_order, wechat_sandbox):
    # a failed group refunds each paid member in full, exactly once
    first = services.refund_create(
        order=paid_order,
        amount_fen=None,
        reason="拼团失败",
        auto_approve=True,
        idempotency_key=f"group_failed:{paid_order.pk}",
    )
    second = services.refund_create(
        order=paid_order,
        amount_fen=None,
        reason="拼团失败",
        auto_approve=True,
        idempotency_key=f"group_failed:{paid_order.pk}",
    )
    services.refund_submit(refund_id=first.pk)
    services.refund_submit(refund_id=second.pk)

    assert first.pk == second.pk
    assert (first.amount_fen, first.kind) == (19800, "after_sale")
    assert Refund.objects.count() == 1
    assert refund_calls(wechat_sandbox) == 1


@pytest.mark.django_db
def test_a_refund_wechat_refuses_fails_and_frees_its_amount(paid_order, wechat_sandbox):
    refund = services.refund_create(order=paid_order, amount_fen=500, reason="x", auto_approve=True)
    tx = sandbox.get_transaction(paid_order.no)
    tx["refunded"] = tx["total"]  # WeChat already refunded everything (e.g. from its merchant console)
    sandbox._save_transaction(tx)

    result = services.refund_submit(refund_id=refund.pk)

    assert (result.status, result.wechat_status) == ("failed", "INVALID_REQUEST")
    assert order_state(paid_order) == ("paid", 19800, 0)
    assert services.refund_create(order=paid_order, amount_fen=None, reason="y").amount_fen == 19800


@pytest.mark.django_db
def test_wechat_unavailable_leaves_the_outcome_unknown_until_a_query_says(
    paid_order, wechat_sandbox, monkeypatch
):
    refund = services.refund_create(order=paid_order, amount_fen=700, reason="x", auto_approve=True)
    real = wechatpay.refund_create
    monkeypatch.setattr(
        wechatpay, "refund_create", lambda **kw: (_ for _ in ()).throw(wechatpay.WeChatPayUnavailable())
    )

    with pytest.raises(wechatpay.WeChatPayUnavailable):
        services.refund_submit(refund_id=refund.pk)
    refund.refresh_from_db()
    assert (refund.status, refund.wechat_status) == ("submitting", "UNKNOWN")

    # the query finds no such refund at WeChat: it is sent again under the same out_refund_no
    monkeypatch.setattr(wechatpay, "refund_create", real)
    assert services.refund_resolve(refund_id=refund.pk).status == "processing"
    assert refund_calls(wechat_sandbox) == 1
    assert Refund.objects.get(pk=refund.pk).out_refund_no == refund.out_refund_no


@pytest.mark.django_db
def test_a_shipped_order_fully_refunded_keeps_its_stock_out(paid_order, wechat_sandbox):
    services.order_ship(order=paid_order, carrier="顺丰", tracking_no="SF1")
    sku_id = paid_order.items.get().sku_id
    stock = Sku.objects.get(pk=sku_id).stock
    refund = services.refund_create(order=paid_order, amount_fen=None, reason="退货", auto_approve=True)
    services.refund_submit(refund_id=refund.pk)

    deliver_refund_notification(refund.out_refund_no)

    assert order_state(paid_order) == ("refunded", 19800, 19800)
    assert Sku.objects.get(pk=sku_id).stock == stock
    assert Order.objects.get(pk=paid_order.pk).shipped_at is not None


@pytest.mark.django_db
def test_the_sweep_resends_refunds_stuck_before_wechat_and_leaves_fresh_ones(
    shopper_client, paid_order, wechat_sandbox, celery_eager
):
    # given: three approved refunds whose submission never happened (the task was lost: Celery
    # was not eager when they were approved); one of them was claimed by a worker that then died
    from datetime import timedelta

    from django.utils import timezone

    celery_eager.conf.task_always_eager = False
    ids = [request_refund(shopper_client, paid_order, amount_fen=1000).json()["id"] for _ in range(3)]
    Refund.objects.filter(pk__in=ids).update(status=Refund.Status.APPROVED)
    celery_eager.conf.task_always_eager = True
    long_ago = timezone.now() - timedelta(minutes=30)
    Refund.objects.filter(pk=ids[0]).update(updated_at=long_ago)
    Refund.objects.filter(pk=ids[1]).update(status=Refund.Status.SUBMITTING, updated_at=long_ago)

    # when
    swept = services.refunds_resubmit_stuck()
    again = services.refunds_resubmit_stuck()

    # then: the two stale ones reached WeChat once each; the fresh one is left to its own task
    assert (swept, again) == (2, 0)
    assert refund_calls(wechat_sandbox) == 2
    statuses = dict(Refund.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses[ids[2]] == Refund.Status.APPROVED
    assert {statuses[ids[0]], statuses[ids[1]]} <= {Refund.Status.PROCESSING, Refund.Status.SUCCEEDED}
