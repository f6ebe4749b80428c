"""The sandbox's faults: queued ones strike the next calls exactly; chaos is seeded; the ledger."""

import pytest
import requests
from django.test import Client

from apps.wechat import pay as wechatpay
from apps.wechat.sandbox import faults
from apps.wechat.sandbox import pay as sandbox_pay
from tests.shop.factories import SkuFactory, make_order
from tests.shop.journey import pay_through_sandbox

FAULTS = "/wechat-sandbox/faults"


def queue(api, fault, **extra):
    response = Client().post(FAULTS, {"api": api, "fault": fault, **extra}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_a_queued_fault_is_listed_taken_in_order_and_cleared(wechat_sandbox):
    queue("refund", "not_enough", times=2)
    queue("refund", "http_500")

    listed = Client().get(FAULTS).json()
    first, second, third, fourth = (faults.take("refund") for _ in range(4))
    cleared = Client().delete(FAULTS).json()

    assert [f["fault"] for f in listed["queued"]["refund"]] == ["not_enough", "not_enough", "http_500"]
    assert [first.kind, second.kind, third.kind, fourth] == ["not_enough", "not_enough", "http_500", None]
    assert cleared == {"queued": {}, "chaos": None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ({"api": "nope", "fault": "http_500"}, "api must be one of"),
        ({"api": "refund", "fault": "ambiguous_4xx"}, "refund can suffer only"),
        ({"api": "refund", "fault": "http_500", "times": 0}, "times must be"),
        ({"api": "pay_notify", "fault": "delay"}, "a delay needs seconds"),
        ({"chaos": {"rate": 2, "seed": 1}}, "chaos.rate"),
    ],
)
def test_a_fault_wechat_could_not_produce_is_refused(wechat_sandbox, body, message_part):
    response = Client().post(FAULTS, body, content_type="application/json")

    assert response.status_code == 400
    assert message_part in response.json()["errmsg"]
    assert Client().get(FAULTS).json()["queued"] == {}


@pytest.mark.django_db
def test_chaos_with_the_same_seed_strikes_the_same_calls():
    def run():
        faults.clear()
        faults.set_chaos(rate=0.3, seed=7)
        return [(f.kind if f else None) for f in (faults.take("refund") for _ in range(40))]

    first, second = run(), run()

    assert first == second
    assert 0 < sum(1 for kind in first if kind) < 40


@pytest.mark.django_db
def test_pay_query_faults_answer_as_wechat_pay_fails(shopper, shopper_client, wechat_sandbox):
    order = make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=1)
    pay_through_sandbox(shopper_client, order.pk)
    queue("pay_query", "http_500")
    queue("pay_query", "timeout")
    queue("pay_query", "bad_signature")
    queue("pay_query", "rate_limited")

    outcomes = []
    for _ in range(5):
        try:
            outcomes.append(wechatpay.query_payment(out_trade_no=order.no).trade_state)
        except wechatpay.WeChatPayError as exc:
            outcomes.append(type(exc).__name__)

    assert outcomes == [
        "WeChatPayUnavailable",
        "WeChatPayUnavailable",
        "AnswerNotVerified",
        "WeChatPayUnavailable",
        "SUCCESS",
    ]


@pytest.mark.django_db
def test_a_timeout_is_a_read_timeout_for_work_wechat_did(wechat_sandbox):
    queue("pay_jsapi", "timeout")

    with pytest.raises(requests.exceptions.ReadTimeout):
        wechatpay.client().pay(
            description="茶",
            out_trade_no="TIMEOUT000001",
            amount={"total": 100},
            payer={"openid": "sandbox-a"},
            notify_url="http://testserver/api/v1/payments/wechat/notify",
        )

    assert sandbox_pay.get_transaction("TIMEOUT000001")["trade_state"] == "NOTPAY"


@pytest.mark.django_db
def test_the_ledger_lists_payments_as_wechat_holds_them(shopper, shopper_client, wechat_sandbox):
    order = make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=10), quantity=2)
    pay_through_sandbox(shopper_client, order.pk)

    ledger = Client().get("/wechat-sandbox/ledger").json()

    assert [(p["out_trade_no"], p["amount"], p["state"]) for p in ledger["payments"]] == [
        (order.no, 19800, "SUCCESS")
    ]
    assert ledger["refunds"] == [] and ledger["transfers"] == []
