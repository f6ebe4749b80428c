"""Payment through the real WeChat Pay client and the sandbox; notifications verified and applied once."""

import base64
import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.shop import services
from apps.shop.models import Order, Payment, Product, Refund, Sku
from apps.wechat.sandbox import pay as sandbox
from apps.wechat.sandbox.keys import sandbox_keys
from tests.helpers import error_code
from tests.shop.factories import SkuFactory, make_order
from tests.shop.journey import pay_through_sandbox

NOTIFY = "/api/v1/payments/wechat/notify"


def post_notification(headers: dict, body: bytes, path: str = NOTIFY):
    return Client().generic("POST", path, data=body, content_type="application/json", headers=headers)


def prepay(client, order) -> str:
    response = client.post(f"/api/v1/orders/{order.pk}/pay")
    assert response.status_code == 200, response.content
    return response.json()["package"].removeprefix("prepay_id=")


def sandbox_confirm(prepay_id: str, *, notify: bool = True) -> dict:
    response = Client().post(
        "/wechat-sandbox/pay/confirm",
        {"prepay_id": prepay_id, "notify": notify},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def notification_for(order, **changes) -> tuple[dict, bytes]:
    """A correctly signed notification for the sandbox's paid transaction, with resource changes."""
    tx = sandbox.get_transaction(order.no)
    resource = sandbox.transaction_resource(tx)
    for key, value in changes.items():
        resource[key] = value
    return sandbox.build_notification(
        event_type="TRANSACTION.SUCCESS", summary="支付成功", original_type="transaction", resource=resource
    )


def snapshot(order):
    order.refresh_from_db()
    return (
        order.status,
        order.paid_fen,
        order.paid_at,
        Payment.objects.count(),
        OutboxEvent.objects.filter(type="order_paid").count(),
    )


@pytest.fixture
def order(shopper):
    return make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=2)


@pytest.mark.django_db
def test_pay_answers_signed_request_payment_arguments(shopper_client, order, wechat_sandbox):
    response = shopper_client.post(f"/api/v1/orders/{order.pk}/pay")

    assert response.status_code == 200
    params = response.json()
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    prepay_id = params["package"].removeprefix("prepay_id=")
    order.refresh_from_db()
    assert order.prepay_id == prepay_id
    # the sandbox holds a JSAPI transaction for the order's amount, payer and deadline
    tx = sandbox.get_transaction(order.no)
    assert (tx["total"], tx["openid"], tx["trade_state"]) == (19800, order.buyer.openid, "NOTPAY")
    assert tx["notify_url"] == "http://testserver/api/v1/payments/wechat/notify"
    assert tx["time_expire"] == timezone.localtime(order.pay_deadline).isoformat(timespec="seconds")
    # paySign is the merchant's RSA signature over appId, timeStamp, nonceStr, package
    message = f"{settings.WECHAT_APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    load_pem_public_key(sandbox_keys().merchant_public_key.encode()).verify(
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.django_db
def test_only_unpaid_orders_before_their_deadline_are_payable(shopper_client, order, wechat_sandbox):
    Order.objects.filter(pk=order.pk).update(pay_deadline=timezone.now())
    late = shopper_client.post(f"/api/v1/orders/{order.pk}/pay")
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    cancelled = shopper_client.post(f"/api/v1/orders/{order.pk}/pay")

    assert (late.status_code, error_code(late)) == (409, "order_not_payable")
    assert (cancelled.status_code, error_code(cancelled)) == (409, "order_not_payable")
    assert [c.request.url for c in wechat_sandbox.calls] == []


@pytest.mark.django_db
def test_confirmed_payment_pays_the_order_and_publishes_order_paid(shopper_client, order, wechat_sandbox):
    # when
    _params, confirm = pay_through_sandbox(shopper_client, order.pk)

    # then
    assert confirm["notify_status"] == 204
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.transaction_id) == ("paid", 19800, confirm["transaction_id"])
    payment = Payment.objects.get()
    assert (payment.amount_fen, payment.outcome, payment.payer_openid) == (
        19800,
        "paid_order",
        order.buyer.openid,
    )
    assert Product.objects.get(pk=order.items.get().product_id).sales == 2
    event = OutboxEvent.objects.get(type="order_paid")
    assert event.key == f"order_paid:{order.pk}"
    item = order.items.get()
    assert event.payload == {
        "order_id": order.pk,
        "order_no": order.no,
        "buyer_id": order.buyer_id,
        "paid_fen": 19800,
        "total_fen": 19800,
        "paid_at": timezone.localtime(order.paid_at).isoformat(),
        "kind": "standard",
        "group_id": None,
        "attributed_koc_id": None,
        "share_link_id": None,
        "attribution": {},
        "items": [
            {
                "item_id": item.pk,
                "sku_id": item.sku_id,
                "product_id": item.product_id,
                "brand_id": item.brand_id,
                "category_id": item.category_id,
                "quantity": 2,
                "price_fen": 9900,
                "line_fen": 19800,
                "price_source": "list",
            }
        ],
    }


@pytest.mark.django_db
def test_replayed_notifications_change_nothing(shopper_client, order, wechat_sandbox):
    pay_through_sandbox(shopper_client, order.pk)
    before = snapshot(order)

    replays = [
        Client().post(
            "/wechat-sandbox/pay/renotify", {"out_trade_no": order.no}, content_type="application/json"
        )
        for _ in range(3)
    ]

    assert [r.json()["notify_status"] for r in replays] == [204, 204, 204]
    assert snapshot(order) == before
    assert before[3:] == (1, 1)


@pytest.mark.django_db
def test_a_tampered_signature_is_401_and_changes_nothing(shopper_client, order, wechat_sandbox):
    sandbox_confirm(prepay(shopper_client, order), notify=False)
    headers, body = notification_for(order)
    before = snapshot(order)

    forged = {**headers, "Wechatpay-Signature": base64.b64encode(b"x" * 256).decode()}
    altered_body = body.replace('"summary": "支付成功"'.encode(), b'"summary": "paid!!"')
    wrong_serial = {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000"}
    no_signature = {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}

    responses = [
        post_notification(forged, body),
        post_notification(headers, altered_body),
        post_notification(wrong_serial, body),
        post_notification(no_signature, body),
    ]

    assert altered_body != body
    assert [r.status_code for r in responses] == [401, 401, 401, 401]
    assert {error_code(r) for r in responses} == {"notification_rejected"}
    assert snapshot(order) == before
    assert before[0] == "pending_payment"
    # the genuine one still works afterwards
    assert post_notification(headers, body).status_code == 204
    assert snapshot(order)[0] == "paid"


@pytest.mark.django_db
def test_a_stale_timestamp_is_401_and_changes_nothing(shopper_client, order, wechat_sandbox):
    sandbox_confirm(prepay(shopper_client, order), notify=False)
    tx = sandbox.get_transaction(order.no)
    before = snapshot(order)

    def signed_at(timestamp):
        return sandbox.build_notification(
            event_type="TRANSACTION.SUCCESS",
            summary="支付成功",
            original_type="transaction",
            resource=sandbox.transaction_resource(tx),
            timestamp=timestamp,
        )

    stale = post_notification(*signed_at(int(time.time()) - 301))
    future = post_notification(*signed_at(int(time.time()) + 400))

    assert (stale.status_code, future.status_code) == (401, 401)
    assert stale.json()["error"]["message"] == "通知已过期"
    assert snapshot(order) == before
    assert post_notification(*signed_at(int(time.time()) - 240)).status_code == 204
    assert snapshot(order)[0] == "paid"


@pytest.mark.django_db
def test_amount_appid_or_mchid_mismatch_is_400_and_changes_nothing(shopper_client, order, wechat_sandbox):
    sandbox_confirm(prepay(shopper_client, order), notify=False)
    before = snapshot(order)

    wrong_amount = post_notification(
        *notification_for(order, amount={"total": 1, "payer_total": 1, "currency": "CNY"})
    )
    wrong_appid = post_notification(*notification_for(order, appid="wx-someone-else"))
    wrong_mchid = post_notification(*notification_for(order, mchid="1234567890"))
    unknown_order = post_notification(*notification_for(order, out_trade_no="20990101000000000000"))

    for response in (wrong_amount, wrong_appid, wrong_mchid, unknown_order):
        assert response.status_code == 400
        assert error_code(response) == "payment_mismatch"
    assert wrong_amount.json()["error"]["message"] == "支付金额与订单金额不符"
    assert snapshot(order) == before


@pytest.mark.django_db
def test_a_notification_not_encrypted_with_our_key_is_400(shopper_client, order, wechat_sandbox):
    sandbox_confirm(prepay(shopper_client, order), notify=False)
    _headers, body = notification_for(order)
    envelope = json.loads(body)
    envelope["resource"]["ciphertext"] = base64.b64encode(b"\x00" * 64).decode()
    forged_body = json.dumps(envelope, ensure_ascii=False)
    headers = {"Content-Type": "application/json", **sandbox.signed_headers(forged_body)}

    response = post_notification(headers, forged_body.encode())

    assert (response.status_code, error_code(response)) == (400, "notification_invalid")
    assert Payment.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_payment_after_cancellation_is_refunded_automatically(
    shopper_client, shopper, wechat_sandbox, celery_eager
):
    # given: the shopper paid at WeChat, but the notification is late and the order gets cancelled
    sku = SkuFactory(price_fen=9900, stock=5)
    order = make_order(buyer=shopper, sku=sku, quantity=2)
    confirm = sandbox_confirm(prepay(shopper_client, order), notify=False)
    assert shopper_client.post(f"/api/v1/orders/{order.pk}/cancel").status_code == 200
    assert Sku.objects.get(pk=sku.pk).stock == 5

    # when: the notification arrives, and is replayed
    first = Client().post(
        "/wechat-sandbox/pay/renotify", {"out_trade_no": order.no}, content_type="application/json"
    )
    again = Client().post(
        "/wechat-sandbox/pay/renotify", {"out_trade_no": order.no}, content_type="application/json"
    )

    # then: the money went back once, through one WeChat refund; the order stays cancelled
    assert (first.json()["notify_status"], again.json()["notify_status"]) == (204, 204)
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.refunded_fen) == ("cancelled", 19800, 19800)
    payment = Payment.objects.get()
    assert (payment.transaction_id, payment.outcome) == (confirm["transaction_id"], "refunded_late")
    refund = Refund.objects.get()
    assert (refund.kind, refund.status, refund.amount_fen, refund.payment_id) == (
        "late_payment",
        "succeeded",
        19800,
        payment.pk,
    )
    refund_calls = [c for c in wechat_sandbox.calls if c.request.url.endswith("/v3/refund/domestic/refunds")]
    assert len(refund_calls) == 1
    assert sandbox.get_refund(refund.out_refund_no)["status"] == "SUCCESS"
    assert Sku.objects.get(pk=sku.pk).stock == 5
    assert not OutboxEvent.objects.filter(type="order_paid").exists()
    assert OutboxEvent.objects.filter(type="order_refunded").count() == 1


@pytest.mark.django_db
def test_cancelling_a_prepaid_order_closes_its_wechat_transaction(
    shopper_client, order, wechat_sandbox, django_capture_on_commit_callbacks, celery_eager
):
    prepay_id = prepay(shopper_client, order)

    with django_capture_on_commit_callbacks(execute=True):
        shopper_client.post(f"/api/v1/orders/{order.pk}/cancel")

    assert sandbox.get_transaction(order.no)["trade_state"] == "CLOSED"
    late = Client().post(
        "/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json"
    )
    assert late.status_code == 400
    assert late.json()["code"] == "ORDER_CLOSED"


@pytest.mark.django_db
def test_the_deadline_applies_a_payment_whose_notification_is_late(shopper_client, order, wechat_sandbox):
    # given: paid at WeChat just before the deadline; the notification has not arrived
    confirm = sandbox_confirm(prepay(shopper_client, order), notify=False)
    after_deadline = order.pay_deadline + timedelta(seconds=1)

    # when: the deadline task asks WeChat before cancelling
    cancelled = services.cancel_unpaid_order(order_id=order.pk, now=after_deadline)
    swept = services.cancel_unpaid_orders(now=after_deadline)

    # then: paid, not cancelled-then-refunded; the notification, when it comes, is a duplicate
    assert (cancelled, swept) == (False, 0)
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.transaction_id) == ("paid", 19800, confirm["transaction_id"])
    assert Refund.objects.count() == 0
    renotified = Client().post(
        "/wechat-sandbox/pay/renotify", {"out_trade_no": order.no}, content_type="application/json"
    )
    assert renotified.json()["notify_status"] == 204
    assert snapshot(order)[3:] == (1, 1)


@pytest.mark.django_db
def test_the_deadline_cancels_a_prepaid_order_never_paid(shopper_client, order, wechat_sandbox):
    prepay(shopper_client, order)

    assert services.cancel_unpaid_order(order_id=order.pk, now=order.pay_deadline + timedelta(seconds=1))
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "timeout")


@pytest.mark.django_db
def test_the_deadline_keeps_the_order_while_wechat_cannot_be_asked(
    shopper_client, order, wechat_sandbox, settings
):
    prepay(shopper_client, order)
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"  # WeChat unreachable

    result = services.cancel_unpaid_order(order_id=order.pk, now=order.pay_deadline + timedelta(seconds=1))

    assert result is False
    order.refresh_from_db()
    assert order.status == "pending_payment"
