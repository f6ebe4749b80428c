"""WeChat's trade management end to end: parcels shipped through the ops API, uploaded to the
sandbox's wxa/sec/order/upload_shipping_info after commit (Celery eager), checked with get_order,
and the sandbox's trade_manage_* message push applied once."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.core.models import OutboxEvent
from apps.shop.models import Order, ShippingUpload, TradeEvent
from apps.wechat import trade as wechat_trade
from apps.wechat.sandbox import trade as sandbox_trade
from tests.accounts.factories import AddressFactory, UserFactory
from tests.console.roles import brand_operator
from tests.groupbuys.factories import CampaignFactory
from tests.helpers import bearer_client, error_code, token_client
from tests.shop.factories import BrandFactory, SkuFactory
from tests.shop.journey import pay_through_sandbox

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(wechat_sandbox, celery_eager):
    from apps.console.roles import ensure_role_groups

    ensure_role_groups()  # a transactional test's flush removed the role groups
    return wechat_sandbox


def _buy(buyer, lines) -> Order:
    """The shopper orders `lines` [(sku, quantity)] through the API and pays in the sandbox."""
    client = bearer_client(buyer)
    address = AddressFactory(user=buyer, phone="13912342901")
    body = {"items": [{"sku_id": s.pk, "quantity": q} for s, q in lines], "address_id": address.pk}
    created = client.post("/api/v1/orders", body, format="json")
    assert created.status_code == 201, created.content
    _params, confirm = pay_through_sandbox(client, created.json()["id"])
    assert confirm["notify_status"] == 204, confirm
    return Order.objects.get(pk=created.json()["id"])


def _ship(user, order, **body):
    return token_client(user).post(f"/api/v1/ops/orders/{order.no}/ship", body, format="json")


def _wechat_order(order: Order) -> dict:
    order.refresh_from_db()
    return wechat_trade.get_order(transaction_id=order.transaction_id)


def _send(path: str, **body):
    response = Client().post(f"/wechat-sandbox/{path}", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_mixed_order_ships_in_two_parcels_by_two_brand_operators(sandbox):
    # given: one order holding a tea line (brand A) and a wine line (brand B), paid in WeChat
    tea_brand, wine_brand = BrandFactory(name="甲茶"), BrandFactory(name="乙酒")
    tea = SkuFactory(product__brand=tea_brand, product__title="明前龙井", spec="250g", price_fen=9900)
    wine = SkuFactory(product__brand=wine_brand, product__title="绍兴黄酒", spec="500ml", price_fen=5000)
    buyer = UserFactory(openid="sandbox-mixed-buyer")
    order = _buy(buyer, [(tea, 2), (wine, 1)])
    op_a, op_b = brand_operator(tea_brand, username="op-a"), brand_operator(wine_brand, username="op-b")

    # when: A's operator asks to ship B's line, then ships its own lines
    foreign = _ship(
        op_a, order, carrier="顺丰", tracking_no="SF1001", items=[{"sku_id": wine.pk, "quantity": 1}]
    )
    first = _ship(op_a, order, carrier="顺丰", tracking_no="SF1001")

    # then: refused for B's line, nothing shipped by it; A's parcel holds A's lines only, and A sees
    # its own lines' amount, not the mixed order's totals
    assert (foreign.status_code, error_code(foreign)) == (403, "permission_denied")
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["status"], body["total_fen"], body["paid_fen"], body["refunded_fen"]) == (
        "paid",
        19800,
        None,
        None,
    )
    assert [i["sku_id"] for i in body["items"]] == [tea.pk]
    assert [s["items"] for s in body["shipments"]] == [[{"sku_id": tea.pk, "quantity": 2}]]
    halfway = _wechat_order(order)
    assert halfway["order_state"] == wechat_trade.WAITING_SHIPMENT
    assert (halfway["shipping"]["delivery_mode"], halfway["shipping"]["finish_shipping"]) == (2, False)
    assert [(p["express_company"], p["tracking_no"]) for p in halfway["shipping"]["shipping_list"]] == [
        ("SF", "SF1001")
    ]

    # when: B's operator ships its line with another carrier
    second = _ship(op_b, order, carrier="中通快递", tracking_no="ZT2002")

    # then: the order is shipped; WeChat holds both parcels, split, all delivered, paid by the buyer
    assert second.status_code == 200, second.content
    assert (second.json()["status"], second.json()["total_fen"]) == ("shipped", 5000)
    order.refresh_from_db()
    assert order.status == "shipped"
    assert sorted(order.items.values_list("sku_id", "shipped_quantity")) == sorted(
        [(tea.pk, 2), (wine.pk, 1)]
    )
    shipped = _wechat_order(order)
    assert shipped["order_state"] == wechat_trade.SHIPPED
    assert shipped["openid"] == "sandbox-mixed-buyer"
    assert (shipped["shipping"]["delivery_mode"], shipped["shipping"]["finish_shipping"]) == (2, True)
    assert [(p["express_company"], p["tracking_no"]) for p in shipped["shipping"]["shipping_list"]] == [
        ("SF", "SF1001"),
        ("ZTO", "ZT2002"),
    ]
    last = sandbox_trade.trade_state(order.transaction_id)["uploads"][-1]
    assert last["is_all_delivered"] is True
    assert last["payer"] == {"openid": "sandbox-mixed-buyer"}
    assert [p["item_desc"] for p in last["shipping_list"]] == ["明前龙井 250g*2", "绍兴黄酒 500ml*1"]
    assert last["shipping_list"][0]["contact"] == {"receiver_contact": "139****2901"}  # SF needs it, masked
    assert "contact" not in last["shipping_list"][1]
    upload = ShippingUpload.objects.get(order=order)
    assert (upload.status, upload.uploads, upload.version, upload.uploaded_version) == ("uploaded", 2, 2, 2)


def test_a_group_buy_order_uploads_only_after_its_group_succeeds(sandbox, ops_client):
    # given: a 3-person group whose leader paid
    campaign = CampaignFactory()
    leader, friend, other = (UserFactory(openid=f"sandbox-{name}") for name in ("leader", "friend", "other"))
    leader_client = bearer_client(leader)
    opened = leader_client.post(
        f"/api/v1/group-buys/{campaign.pk}/groups",
        {"quantity": 1, "address_id": AddressFactory(user=leader, phone="13800001111").pk},
        format="json",
    ).json()
    group_id, order = opened["group"]["id"], Order.objects.get(pk=opened["order"]["id"])
    pay_through_sandbox(leader_client, order.pk)

    # when: the operator ships while the group is forming
    early = ops_client.post(
        f"/api/v1/ops/orders/{order.no}/ship", {"carrier": "SF", "tracking_no": "SF1"}, format="json"
    )

    # then: refused, and WeChat was told nothing
    assert (early.status_code, error_code(early)) == (409, "order_not_shippable")
    assert not ShippingUpload.objects.filter(order=order).exists()
    assert _wechat_order(order)["order_state"] == wechat_trade.WAITING_SHIPMENT

    # when: the group fills and succeeds, then the order ships
    for buyer in (friend, other):
        client = bearer_client(buyer)
        joined = client.post(
            f"/api/v1/groups/{group_id}/join",
            {"quantity": 1, "address_id": AddressFactory(user=buyer).pk},
            format="json",
        )
        pay_through_sandbox(client, joined.json()["order"]["id"])
    assert Client().get(f"/api/v1/groups/{group_id}").json()["status"] == "succeeded"
    shipped = ops_client.post(
        f"/api/v1/ops/orders/{order.no}/ship", {"carrier": "SF", "tracking_no": "SF1"}, format="json"
    )

    # then: one unified parcel at WeChat, paid by the leader
    assert shipped.status_code == 200, shipped.content
    at_wechat = _wechat_order(order)
    assert (at_wechat["order_state"], at_wechat["openid"], at_wechat["paid_amount"]) == (
        2,
        "sandbox-leader",
        6900,
    )
    assert at_wechat["shipping"]["delivery_mode"] == wechat_trade.UNIFIED_DELIVERY
    assert [p["tracking_no"] for p in at_wechat["shipping"]["shipping_list"]] == ["SF1"]
    assert "is_all_delivered" not in sandbox_trade.trade_state(order.transaction_id)["uploads"][-1]


def test_a_carrier_correction_is_uploaded_again_and_wechat_refuses_a_second(sandbox, ops_user):
    # given: an order shipped with the wrong carrier
    sku = SkuFactory(price_fen=9900, product__title="明前龙井", spec="250g")
    order = _buy(UserFactory(), [(sku, 1)])
    shipped = _ship(ops_user, order, carrier="中通", tracking_no="ZT1")
    assert shipped.status_code == 200, shipped.content
    parcel = shipped.json()["shipments"][0]["id"]
    assert _wechat_order(order)["shipping"]["finish_shipping_count"] == 1
    api = token_client(ops_user)

    # when: the operator corrects the carrier and tracking number
    corrected = api.patch(
        f"/api/v1/ops/orders/{order.no}/shipments/{parcel}",
        {"carrier": "顺丰", "tracking_no": "SF9"},
        format="json",
    )

    # then: WeChat holds the corrected parcel (its one re-shipping), and the order is still shipped
    assert corrected.status_code == 200, corrected.content
    assert (corrected.json()["carrier"], corrected.json()["tracking_no"]) == ("顺丰", "SF9")
    at_wechat = _wechat_order(order)
    assert at_wechat["order_state"] == wechat_trade.SHIPPED
    assert [(p["express_company"], p["tracking_no"]) for p in at_wechat["shipping"]["shipping_list"]] == [
        ("SF", "SF9")
    ]
    assert at_wechat["shipping"]["finish_shipping_count"] == 2
    assert ShippingUpload.objects.get(order=order).uploads == 2

    # when: a second correction
    again = api.patch(
        f"/api/v1/ops/orders/{order.no}/shipments/{parcel}", {"tracking_no": "SF10"}, format="json"
    )

    # then: our parcel says SF10, WeChat refused (10060003) and kept SF9; the failure waits in the admin
    assert again.status_code == 200
    assert [p["tracking_no"] for p in _wechat_order(order)["shipping"]["shipping_list"]] == ["SF9"]
    upload = ShippingUpload.objects.get(order=order)
    assert (upload.status, upload.last_errcode, upload.uploads) == ("failed", 10060003, 2)


def test_an_unknown_carrier_is_refused_before_anything_ships(sandbox, ops_user):
    order = _buy(UserFactory(), [(SkuFactory(price_fen=100), 1)])

    response = _ship(ops_user, order, carrier="某某快递", tracking_no="X1")

    assert (response.status_code, error_code(response)) == (400, "carrier_unknown")
    order.refresh_from_db()
    assert (order.status, order.shipments.count()) == ("paid", 0)
    assert not ShippingUpload.objects.filter(order=order).exists()


# --- the message push --------------------------------------------------------------------------


def _shipped_order(ops_user) -> Order:
    order = _buy(UserFactory(), [(SkuFactory(price_fen=9900), 1)])
    assert _ship(ops_user, order, carrier="SF", tracking_no="SF77").status_code == 200
    order.refresh_from_db()
    return order


def _settlements() -> list[tuple[str, str]]:
    """WeChat's settlement messages as recorded (not its notices that a payment was shipped)."""
    events = TradeEvent.objects.order_by("id")
    return [(e.event, e.outcome) for e in events if "estimated_settlement_time" not in e.payload]


def test_wechat_says_when_a_fully_shipped_payment_will_settle_once(sandbox, ops_user):
    # given: a paid order shipped in two parcels, its first parcel first
    tea, wine = SkuFactory(price_fen=9900), SkuFactory(price_fen=5000)
    order = _buy(UserFactory(), [(tea, 1), (wine, 1)])
    half = _ship(ops_user, order, carrier="SF", tracking_no="SF1", items=[{"sku_id": tea.pk, "quantity": 1}])
    assert half.status_code == 200
    assert TradeEvent.objects.count() == 0  # not yet fully shipped: WeChat says nothing

    # when: the second parcel ships, then its tracking number is corrected
    rest = _ship(ops_user, order, carrier="ZTO", tracking_no="ZT2")
    parcel = rest.json()["shipments"][-1]["id"]
    corrected = token_client(ops_user).patch(
        f"/api/v1/ops/orders/{order.no}/shipments/{parcel}", {"tracking_no": "ZT3"}, format="json"
    )

    # then: WeChat pushed its settlement notice once, with the settlement it expects; nothing moved
    assert (rest.status_code, corrected.status_code) == (200, 200)
    notice = TradeEvent.objects.get()
    shipped_time = sandbox_trade.trade_state(order.transaction_id)["shipped_time"]
    assert (notice.event, notice.outcome, notice.order_id) == (
        "trade_manage_order_settlement",
        "no_change",
        order.pk,
    )
    assert (notice.payload["shipped_time"], notice.payload["estimated_settlement_time"]) == (
        shipped_time,
        shipped_time + sandbox_trade.AUTO_CONFIRM_SECONDS,
    )
    assert "settlement_time" not in notice.payload and "confirm_receive_time" not in notice.payload
    order.refresh_from_db()
    assert (order.status, order.settled_at) == ("shipped", None)


def test_the_push_url_is_verified_by_signature(sandbox, settings):
    ts, nonce = "1700000000", "123456"
    good = sandbox_trade._signature(settings.WECHAT_MESSAGE_TOKEN, ts, nonce)
    settings.WECHAT_MESSAGE_MAX_AGE_SECONDS = 10**10

    ok = Client().get(
        "/api/v1/wechat/message-push", {"signature": good, "timestamp": ts, "nonce": nonce, "echostr": "e42"}
    )
    forged = Client().get(
        "/api/v1/wechat/message-push",
        {"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e42"},
    )

    assert (ok.status_code, ok.content) == (200, b"e42")
    assert (forged.status_code, error_code(forged)) == (403, "push_rejected")


def test_a_forged_push_is_refused_and_changes_nothing(sandbox, ops_user, settings):
    # given: a shipped order and a settlement message for it, signed with another token
    order = _shipped_order(ops_user)
    message = sandbox_trade.settlement_message(
        {**sandbox_trade.trade_state(order.transaction_id), "confirm_receive_time": 1, "settlement_time": 1}
    )
    real_token = settings.WECHAT_MESSAGE_TOKEN
    settings.WECHAT_MESSAGE_TOKEN = "an-attackers-guess"
    query, body = sandbox_trade.signed_push(message)
    settings.WECHAT_MESSAGE_TOKEN = real_token

    # when: it is posted, and a plaintext copy too
    recorded = TradeEvent.objects.count()  # WeChat's notice that the payment shipped
    forged = Client().post(f"/api/v1/wechat/message-push?{query}", body, content_type="application/json")
    plain_query = query.replace("encrypt_type=aes", "encrypt_type=raw")
    plain = Client().post(
        f"/api/v1/wechat/message-push?{plain_query}", json.dumps(message), content_type="application/json"
    )

    # then: both refused; the order is as it was
    assert (forged.status_code, error_code(forged)) == (403, "push_rejected")
    assert plain.status_code == 403
    order.refresh_from_db()
    assert (order.status, order.completed_at, order.settled_at) == ("shipped", None, None)
    assert TradeEvent.objects.count() == recorded == 1


def test_settlement_completes_the_order_once_however_often_wechat_sends_it(sandbox, ops_user):
    # given: a shipped order
    order = _shipped_order(ops_user)

    # when: WeChat settles it (the buyer's receipt confirmed automatically) and sends the message 3 times
    answer = _send("trade/settle", transaction_id=order.transaction_id, times=3)

    # then: every delivery answered, the order completed and settled once, one completion event
    assert answer["push_status"] == [200, 200, 200]
    order.refresh_from_db()
    assert order.status == "completed"
    assert int(order.settled_at.timestamp()) == answer["message"]["settlement_time"]
    assert OutboxEvent.objects.filter(type="order_completed", key=f"order_completed:{order.pk}").count() == 1
    assert _settlements() == [("trade_manage_order_settlement", "completed+settled")]
    assert _wechat_order(order)["order_state"] == wechat_trade.SETTLED
    completed_at, settled_at = order.completed_at, order.settled_at

    # when: WeChat pushes the same settlement again as a new message
    again = _send(
        "message-push/send", Event="trade_manage_order_settlement", transaction_id=order.transaction_id
    )

    # then: kept, but nothing moves twice
    assert again["push_status"] == [200]
    order.refresh_from_db()
    assert (order.status, order.completed_at, order.settled_at) == ("completed", completed_at, settled_at)
    assert OutboxEvent.objects.filter(type="order_completed", key=f"order_completed:{order.pk}").count() == 1
    assert sorted(outcome for _, outcome in _settlements()) == ["completed+settled", "no_change"]


def test_a_settlement_after_the_buyer_confirmed_in_the_mini_program_only_records_it(sandbox, ops_user):
    order = _shipped_order(ops_user)
    confirmed = bearer_client(order.buyer).post(f"/api/v1/orders/{order.pk}/confirm-receipt")
    assert confirmed.json()["status"] == "completed"

    _send("trade/settle", transaction_id=order.transaction_id, confirm_receive_method=2)

    order.refresh_from_db()
    assert (order.status, order.settled_at is not None) == ("completed", True)
    assert OutboxEvent.objects.filter(type="order_completed", key=f"order_completed:{order.pk}").count() == 1
    assert [outcome for _, outcome in _settlements()] == ["settled"]


def test_a_reminder_waits_in_the_admins_work_queue_once(sandbox, ops_user):
    from django.utils import timezone

    from apps.console import dashboard

    order = _buy(UserFactory(), [(SkuFactory(price_fen=100), 1)])

    answer = _send(
        "message-push/send",
        Event="trade_manage_remind_shipping",
        transaction_id=order.transaction_id,
        msg="订单已超过48小时未发货",
        times=2,
    )

    assert answer["push_status"] == [200, 200]
    event = TradeEvent.objects.get()
    assert (event.event, event.order_id, event.needs_attention, event.outcome) == (
        "trade_manage_remind_shipping",
        order.pk,
        True,
        "reminder",
    )
    queues = {q["title"]: q["count"] for q in dashboard.build(now=timezone.now(), user=ops_user)["queues"]}
    assert queues["微信交易管理提醒"] == 1


# --- uploads that fail, and the operators' command -----------------------------------------------


def test_a_busy_wechat_is_retried_and_a_refused_upload_waits_for_the_admins_retry(
    sandbox, ops_user, monkeypatch
):
    from apps.shop import services
    from apps.wechat.errors import WeChatBusy, WeChatError
    from tests.console.roles import logged_in

    # given: WeChat is busy when the order ships
    order = _buy(UserFactory(), [(SkuFactory(price_fen=100), 1)])
    real = wechat_trade.upload_shipping_info
    monkeypatch.setattr(
        wechat_trade, "upload_shipping_info", lambda payload: (_ for _ in ()).throw(WeChatBusy(errcode=-1))
    )

    # when
    assert _ship(ops_user, order, carrier="SF", tracking_no="SF5").status_code == 200

    # then: still pending (the task retries with backoff), WeChat holds nothing yet
    upload = ShippingUpload.objects.get(order=order)
    assert (upload.status, upload.attempts, upload.uploads, upload.last_errcode) == ("pending", 1, 0, -1)
    assert _wechat_order(order)["order_state"] == wechat_trade.WAITING_SHIPMENT

    # when: WeChat refuses the content instead (a permanent error)
    monkeypatch.setattr(
        wechat_trade,
        "upload_shipping_info",
        lambda payload: (_ for _ in ()).throw(WeChatError("x", errcode=47001)),
    )
    services.upload_shipping_info(order_id=order.pk)

    # then: failed, kept for a person
    upload.refresh_from_db()
    assert (upload.status, upload.attempts, upload.last_errcode) == ("failed", 2, 47001)
    assert services.upload_pending_shipping_info() == 0  # the sweeper leaves refused uploads alone

    # when: the admin retries once WeChat accepts again
    monkeypatch.setattr(wechat_trade, "upload_shipping_info", real)
    page = logged_in(ops_user).post(
        "/admin/shop/shippingupload/",
        {"action": "retry_uploads", "_selected_action": [upload.pk]},
    )

    # then: uploaded, and WeChat holds the parcel
    assert page.status_code == 302
    upload.refresh_from_db()
    assert (upload.status, upload.uploads, upload.last_errcode) == ("uploaded", 1, None)
    assert _wechat_order(order)["order_state"] == wechat_trade.SHIPPED


def test_the_operators_command_checks_trade_management_and_sets_the_jump_path(sandbox, settings):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("check_trade_management", "--apply", stdout=out)

    assert "is_trade_managed: True" in out.getvalue()
    assert "message jump path set: pages/order/detail" in out.getvalue()
    assert sandbox_trade.msg_jump_path() == "pages/order/detail"

    # when: uploads are off although WeChat manages the trades
    settings.WECHAT_TRADE_MANAGEMENT = False
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command("check_trade_management", stdout=io.StringIO(), stderr=err)

    assert exit_code.value.code == 1
    assert "uploads are off" in err.getvalue()


def test_an_upload_in_flight_is_not_sent_twice(sandbox, ops_user, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from apps.shop import services

    # given: an order whose parcel is being uploaded by another worker right now
    order = _buy(UserFactory(), [(SkuFactory(price_fen=100), 1)])
    calls = []
    monkeypatch.setattr(wechat_trade, "upload_shipping_info", lambda payload: calls.append(payload))
    monkeypatch.setattr("apps.shop.tasks.upload_shipping_info.delay", lambda order_id: None)
    assert _ship(ops_user, order, carrier="SF", tracking_no="SF8").status_code == 200
    ShippingUpload.objects.filter(order=order).update(claimed_at=timezone.now())

    # when: a second worker runs the same task
    services.upload_shipping_info(order_id=order.pk)

    # then: it sends nothing (WeChat would count a second upload as the order's one correction)
    assert calls == []

    # when: the first worker died: its claim expires
    ShippingUpload.objects.filter(order=order).update(claimed_at=timezone.now() - timedelta(minutes=6))
    services.upload_shipping_info(order_id=order.pk)
    services.upload_shipping_info(order_id=order.pk)

    # then: sent exactly once
    assert len(calls) == 1
    upload = ShippingUpload.objects.get(order=order)
    assert (upload.status, upload.uploads, upload.claimed_at) == ("uploaded", 1, None)


def test_the_sandboxs_shipping_fault_leaves_the_upload_pending_for_the_sweeper(sandbox, ops_user):
    from apps.shop import services

    # given: WeChat limits the next upload (45011)
    order = _buy(UserFactory(), [(SkuFactory(price_fen=100), 1)])
    queued = Client().post(
        "/wechat-sandbox/faults",
        {"api": "shipping", "fault": "rate_limited"},
        content_type="application/json",
    )
    assert queued.status_code == 201

    # when
    assert _ship(ops_user, order, carrier="SF", tracking_no="SF6").status_code == 200

    # then: pending, WeChat holds nothing; the sweeper's next round uploads it
    upload = ShippingUpload.objects.get(order=order)
    assert (upload.status, upload.last_errcode, upload.uploads) == ("pending", 45011, 0)
    assert services.upload_pending_shipping_info() == 1
    upload.refresh_from_db()
    assert (upload.status, upload.uploads) == ("uploaded", 1)
    assert _wechat_order(order)["order_state"] == wechat_trade.SHIPPED


# --- WeChat's side: refunds (order_state 5) and settlement pushed by itself --------------------------


def _refund(order: Order, amount_fen: int | None):
    from apps.shop import services
    from apps.shop.models import Refund

    refund = services.refund_create(order=order, amount_fen=amount_fen, reason="退货", auto_approve=True)
    return Refund.objects.get(pk=refund.pk)


def test_wechat_reports_a_payment_refunded_in_full_as_refunded_and_a_partial_one_as_it_was(sandbox, ops_user):
    # given: two shipped orders of 99.00 and one waiting for shipment
    part, whole = _shipped_order(ops_user), _shipped_order(ops_user)
    unshipped = _buy(UserFactory(), [(SkuFactory(price_fen=5000), 1)])

    # when: 30.00 of the first goes back to its buyer, all of the second and of the third
    refunds = [_refund(part, 3000), _refund(whole, None), _refund(unshipped, None)]

    # then: WeChat paid every refund; get_order says 5 (已退款) only where the whole payment went back
    assert [r.status for r in refunds] == ["succeeded"] * 3
    states = [_wechat_order(o)["order_state"] for o in (part, whole, unshipped)]
    assert states == [wechat_trade.SHIPPED, wechat_trade.REFUNDED, wechat_trade.REFUNDED]

    # and: a refunded payment can be neither confirmed nor settled; the partly refunded one can
    refused = _send("trade/confirm-receive", transaction_id=whole.transaction_id)
    settled = _send("trade/settle", transaction_id=part.transaction_id)
    assert refused["errcode"] == 10060004
    assert settled["errcode"] == 0
    assert _wechat_order(part)["order_state"] == wechat_trade.SETTLED


def test_a_refund_counts_at_wechat_only_once_it_succeeded(sandbox, ops_user):
    from apps.wechat.sandbox import pay as sandbox_pay

    # given: WeChat holds the next refund in PROCESSING (no notification; SUCCESS at the second query)
    order = _buy(UserFactory(), [(SkuFactory(price_fen=9900), 1)])
    queued = Client().post(
        "/wechat-sandbox/faults", {"api": "refund", "fault": "processing"}, content_type="application/json"
    )
    assert queued.status_code == 201

    # when: the whole amount is refunded
    refund = _refund(order, None)

    # then: still waiting for shipment at WeChat while the refund is in flight
    assert refund.status == "processing"
    assert _wechat_order(order)["order_state"] == wechat_trade.WAITING_SHIPMENT

    # when: WeChat completes it
    held = sandbox_pay.get_refund(refund.out_refund_no)
    sandbox_pay._save_refund({**held, "status": "SUCCESS", "success_time": sandbox_pay._now_iso()})

    # then
    assert _wechat_order(order)["order_state"] == wechat_trade.REFUNDED


def test_the_buyers_confirmation_in_wechat_settles_and_pushes_the_settlement_by_itself(sandbox, ops_user):
    # given: a shipped order
    order = _shipped_order(ops_user)

    # when: the buyer confirms receipt in WeChat; WeChat delivers its push twice (a retry)
    answer = _send("trade/confirm-receive", transaction_id=order.transaction_id, times=2)

    # then: WeChat completed the trade and told the project, which completed the order once
    message = answer["message"]
    assert answer["push_status"] == [200, 200]
    assert (message["Event"], message["transaction_id"], message["confirm_receive_method"]) == (
        "trade_manage_order_settlement",
        order.transaction_id,
        2,
    )
    assert message["confirm_receive_time"] > 0 and message["settlement_time"] > 0
    assert message["shipped_time"] > 0 and message["merchant_trade_no"] == order.no
    assert _wechat_order(order)["order_state"] == wechat_trade.SETTLED
    order.refresh_from_db()
    assert order.status == "completed"
    assert int(order.settled_at.timestamp()) == message["settlement_time"]
    assert OutboxEvent.objects.filter(type="order_completed", key=f"order_completed:{order.pk}").count() == 1
    assert _settlements() == [("trade_manage_order_settlement", "completed+settled")]

    # when: the same message arrives once more
    assert sandbox_trade.push(message) == 200

    # then: recorded once
    assert _settlements() == [("trade_manage_order_settlement", "completed+settled")]


def test_a_confirmation_whose_settlement_lags_pushes_when_wechat_settles(sandbox, ops_user):
    order = _shipped_order(ops_user)

    confirmed = _send("trade/confirm-receive", transaction_id=order.transaction_id, settle=False)

    assert "push_status" not in confirmed
    assert _wechat_order(order)["order_state"] == wechat_trade.CONFIRMED
    assert (Order.objects.get(pk=order.pk).status, _settlements()) == ("shipped", [])

    settled = _send("trade/settle", transaction_id=order.transaction_id)

    message = settled["message"]
    assert message["confirm_receive_method"] == 2  # the buyer's own confirmation, not an automatic one
    assert 0 < message["confirm_receive_time"] <= message["settlement_time"]
    assert Order.objects.get(pk=order.pk).status == "completed"
    assert [outcome for _, outcome in _settlements()] == ["completed+settled"]


def test_wechats_automatic_confirmation_settles_and_pushes_once_the_window_passed(sandbox, ops_user):
    # given: two shipped orders; the buyer of neither confirmed
    first, second = _shipped_order(ops_user), _shipped_order(ops_user)
    shipped_time = sandbox_trade.trade_state(first.transaction_id)["shipped_time"]
    window = sandbox_trade.AUTO_CONFIRM_SECONDS

    # when: time passes, not yet the whole window
    early = _send("trade/auto-confirm", now=shipped_time + window - 3600)

    # then: nothing confirmed
    assert (early["confirmed"], _settlements()) == ([], [])

    # when: the window passed (and WeChat's clock ticks twice)
    due = _send("trade/auto-confirm", now=shipped_time + window + 60)
    again = _send("trade/auto-confirm", now=shipped_time + window + 120)

    # then: both confirmed automatically, settled and pushed once; the orders completed
    assert sorted(due["confirmed"]) == sorted([first.transaction_id, second.transaction_id])
    assert (due["push_status"], again["confirmed"]) == ([200, 200], [])
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, int(order.settled_at.timestamp())) == ("completed", shipped_time + window + 60)
        at_wechat = sandbox_trade.trade_state(order.transaction_id)
        assert (at_wechat["order_state"], at_wechat["confirm_receive_method"]) == (4, 1)
    assert [outcome for _, outcome in _settlements()] == ["completed+settled"] * 2
