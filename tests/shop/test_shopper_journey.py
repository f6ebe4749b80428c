"""The whole shopper path over HTTP, with the real WeChat Pay client against the sandbox."""

import pytest
import requests

from apps.accounts.models import User
from apps.core.models import OutboxEvent
from apps.shop.models import Order, Payment, Refund, Sku
from tests.accounts.factories import AddressFactory
from tests.helpers import bearer_client
from tests.shop.factories import ProductFactory, SkuFactory, make_order
from tests.shop.journey import pay_through_sandbox

ADDRESS = {
    "name": "李四",
    "phone": "13900001111",
    "province": "浙江省",
    "city": "杭州市",
    "district": "余杭区",
    "detail": "五常街道 8 号",
}


@pytest.mark.django_db(transaction=True)
def test_browse_order_pay_ship_confirm_refund(api_client, ops_client, wechat_sandbox, celery_eager):
    # given: a product, and a shopper who logs in through the sandbox
    sku = SkuFactory(product=ProductFactory(title="明前龙井 250g"), price_fen=9900, stock=10)
    login = api_client.post("/api/v1/auth/wechat-login", {"code": "journey"}, format="json")
    assert login.status_code == 200
    shopper = User.objects.get(pk=login.json()["user"]["id"])
    client = bearer_client(shopper)
    address = client.post("/api/v1/me/addresses", ADDRESS, format="json").json()

    # when: browse
    listing = client.get("/api/v1/products?q=龙井").json()
    detail = client.get(f"/api/v1/products/{listing['results'][0]['id']}").json()

    # then
    assert [p["title"] for p in listing["results"]] == ["明前龙井 250g"]
    assert detail["skus"] == [{"id": sku.pk, "spec": "250g", "price_fen": 9900, "stock": 10}]

    # when: order two units
    created = client.post(
        "/api/v1/orders",
        {"items": [{"sku_id": sku.pk, "quantity": 2}], "address_id": address["id"]},
        format="json",
    )

    # then
    assert created.status_code == 201, created.content
    order = created.json()
    assert order["status"] == "pending_payment"
    assert order["total_fen"] == 19800
    assert order["items"][0]["price_fen"] == 9900
    assert Sku.objects.get(pk=sku.pk).stock == 8

    # when: pay (prepay through wechatpayv3, then the shopper "pays" in the sandbox)
    params, confirm = pay_through_sandbox(client, order["id"])

    # then
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["signType"] == "RSA"
    assert confirm["notify_status"] == 204
    paid = client.get(f"/api/v1/orders/{order['id']}").json()
    assert (paid["status"], paid["paid_fen"]) == ("paid", 19800)
    assert Payment.objects.get().transaction_id == confirm["transaction_id"]

    # when: the operator ships, the shopper confirms receipt
    shipped = ops_client.post(
        f"/api/v1/ops/orders/{order['no']}/ship",
        {"carrier": "顺丰", "tracking_no": "SF1234567890"},
        format="json",
    )
    completed = client.post(f"/api/v1/orders/{order['id']}/confirm-receipt")

    # then
    assert shipped.status_code == 200
    assert (shipped.json()["status"], shipped.json()["tracking_no"]) == ("shipped", "SF1234567890")
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"

    # when: the shopper asks for part of the money back, the operator approves
    requested = client.post(
        f"/api/v1/orders/{order['id']}/refunds", {"reason": "少了一罐", "amount_fen": 9900}, format="json"
    )
    approved = ops_client.post(
        f"/api/v1/ops/refunds/{requested.json()['id']}/approve", {"note": "ok"}, format="json"
    )

    # then: WeChat refunded it and told us; the order carries the refund
    assert requested.status_code == 201
    assert requested.json()["status"] == "requested"
    assert requested.json()["amount_fen"] == 9900
    assert approved.status_code == 200
    assert approved.json()["status"] == "succeeded"
    final = client.get(f"/api/v1/orders/{order['id']}").json()
    assert (final["status"], final["paid_fen"], final["refunded_fen"]) == ("completed", 19800, 9900)

    # when: the rest
    rest = client.post(f"/api/v1/orders/{order['id']}/refunds", {"reason": "都退了"}, format="json")
    ops_client.post(f"/api/v1/ops/refunds/{rest.json()['id']}/approve", {}, format="json")

    # then
    assert rest.json()["amount_fen"] == 9900
    final = client.get(f"/api/v1/orders/{order['id']}").json()
    assert (final["status"], final["refunded_fen"]) == ("refunded", 19800)
    assert list(Refund.objects.order_by("id").values_list("status", flat=True)) == ["succeeded", "succeeded"]
    types = list(OutboxEvent.objects.order_by("id").values_list("type", flat=True))
    assert types == ["order_paid", "order_completed", "order_refunded", "order_refunded"]
    refunded = OutboxEvent.objects.filter(type="order_refunded").order_by("id")
    assert [
        (e.payload["amount_fen"], e.payload["refunded_fen"], e.payload["fully_refunded"]) for e in refunded
    ] == [
        (9900, 9900, False),
        (9900, 19800, True),
    ]
    assert Order.objects.get(pk=order["id"]).status == "refunded"


@pytest.mark.django_db(transaction=True)
def test_payment_over_real_http_against_a_live_sandbox(live_server, settings, shopper):
    # given: wechatpayv3 and the sandbox's notification really travel over TCP to a live server
    settings.PUBLIC_BASE_URL = live_server.url
    settings.WECHAT_SANDBOX_BASE_URL = f"{live_server.url}/wechat-sandbox"
    order = make_order(
        buyer=shopper, sku=SkuFactory(price_fen=4200, stock=3), address=AddressFactory(user=shopper)
    )
    client = bearer_client(shopper)

    # when
    params = client.post(f"/api/v1/orders/{order.pk}/pay").json()
    confirm = requests.post(
        f"{live_server.url}/wechat-sandbox/pay/confirm",
        json={"prepay_id": params["package"].removeprefix("prepay_id=")},
        timeout=30,
    )

    # then
    assert confirm.status_code == 200, confirm.text
    assert confirm.json()["notify_status"] == 204
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.transaction_id) == (
        "paid",
        4200,
        confirm.json()["transaction_id"],
    )
