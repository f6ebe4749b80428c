"""The demo over HTTP: Mia shares, a shopper buys 明前龙井 for ¥99.00, it ships and completes, settlement
runs with no freeze: Mia has ¥9.90 available and Lily ¥2.97; a refunded order's commissions are reversed.

Everything goes through the real paths: seed_demo, the sandbox login, the sharing app's share link
and attribution, the shop's order and WeChat Pay sandbox, the outbox delivering the shop's events to
the engine (Celery eager), settle_commissions, and the KOC endpoints.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.commissions.models import Commission
from apps.shop.models import Product
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client
from tests.shop.journey import pay_through_sandbox

ADDRESS = {
    "name": "王五",
    "phone": "13900002222",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "龙井路 1 号",
}


def login(api_client, code: str, **extra):
    response = api_client.post("/api/v1/auth/wechat-login", {"code": code, **extra}, format="json")
    assert response.status_code == 200, response.content
    client = api_client.__class__()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def buy(shopper, sku_id: int, share_code: str) -> dict:
    address = shopper.post("/api/v1/me/addresses", ADDRESS, format="json").json()
    created = shopper.post(
        "/api/v1/orders",
        {"items": [{"sku_id": sku_id, "quantity": 1}], "address_id": address["id"], "share_code": share_code},
        format="json",
    )
    assert created.status_code == 201, created.content
    order = created.json()
    _params, confirm = pay_through_sandbox(shopper, order["id"])
    assert confirm["notify_status"] == 204
    return order


@pytest.mark.django_db(transaction=True)
def test_mias_share_pays_her_ten_percent_and_lily_three(api_client, wechat_sandbox, celery_eager, settings):
    # given: the demo data, and Mia's share link to the tea
    settings.COMMISSION_FREEZE_DAYS = 0
    call_command("seed_demo")
    ops = bearer_client(UserFactory(is_staff=True, is_superuser=True, username="demo-ops", openid=None))
    mia = login(api_client, "koc-mia")
    lily = login(api_client, "koc-lily")
    product = Product.objects.get(title="明前龙井 250g")
    sku = product.skus.get()
    share = mia.post("/api/v1/share-links", {"target": "product", "target_id": product.pk}, format="json")
    assert share.status_code == 201, share.content
    code = share.json()["code"]

    # when: a shopper opens the share, buys one tin (9900), it ships and the shopper confirms receipt
    shopper = login(api_client, "demo-shopper", share_code=code)
    assert shopper.get(f"/api/v1/share-links/{code}").status_code == 200
    order = buy(shopper, sku.pk, code)
    shipped = ops.post(
        f"/api/v1/ops/orders/{order['no']}/ship", {"carrier": "顺丰", "tracking_no": "SF1"}, format="json"
    )
    assert shipped.status_code == 200, shipped.content
    assert shopper.post(f"/api/v1/orders/{order['id']}/confirm-receipt").json()["status"] == "completed"

    # then: frozen until settlement runs
    assert mia.get("/api/v1/koc/wallet").json()["frozen_fen"] == 990

    # when
    call_command("settle_commissions")

    # then
    assert mia.get("/api/v1/koc/wallet").json() == {
        "pending_fen": 0,
        "frozen_fen": 0,
        "available_fen": 990,
        "withdrawing_fen": 0,
        "paid_fen": 0,
    }
    assert lily.get("/api/v1/koc/wallet").json()["available_fen"] == 297
    listed = mia.get("/api/v1/koc/commissions?status=available").json()
    assert listed["count"] == 1
    line = listed["results"][0]
    assert (line["order_no"], line["amount_fen"], line["kind"], line["level"]) == (
        order["no"],
        990,
        "direct",
        0,
    )
    assert "实付 ¥99.00 × 10% = ¥9.90（直推奖励" in line["explanation"]

    # when: another order through Mia's share is paid, then refunded in full before it ships
    second = buy(shopper, sku.pk, code)
    assert mia.get("/api/v1/koc/wallet").json()["pending_fen"] == 990
    refund = shopper.post(f"/api/v1/orders/{second['id']}/refunds", {"reason": "不想要了"}, format="json")
    assert refund.status_code == 201, refund.content
    approved = ops.post(f"/api/v1/ops/refunds/{refund.json()['id']}/approve", {}, format="json")
    assert approved.json()["status"] == "succeeded", approved.content

    # then: its commissions are reversed; the first order's stay
    reversed_ = Commission.objects.filter(order_no=second["no"])
    assert sorted((c.amount_fen, c.reversed_fen, c.status) for c in reversed_) == [
        (297, 297, "reversed"),
        (990, 990, "reversed"),
    ]
    assert mia.get("/api/v1/koc/commissions?status=reversed").json()["count"] == 1
    assert mia.get("/api/v1/koc/wallet").json() == {
        "pending_fen": 0,
        "frozen_fen": 0,
        "available_fen": 990,
        "withdrawing_fen": 0,
        "paid_fen": 0,
    }
    assert lily.get("/api/v1/koc/wallet").json()["available_fen"] == 297
