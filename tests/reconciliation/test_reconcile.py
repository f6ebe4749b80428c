"""Daily reconciliation: the sandbox's bills (what it really did) against our payments, refunds, transfers."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.commissions.services import withdrawals as withdrawal_services
from apps.reconciliation.models import Difference, ReconciliationRun
from apps.reconciliation.services import reconcile
from apps.shop import services as shop
from apps.shop.models import Refund
from apps.wechat import bills
from apps.wechat.sandbox import pay as sandbox
from tests.commissions.factories import earn_available, make_team
from tests.helpers import bearer_client
from tests.shop.factories import SkuFactory, make_order, payment_notice

pytestmark = pytest.mark.django_db


def fault(api, kind):
    response = Client().post(
        "/wechat-sandbox/faults", {"api": api, "fault": kind}, content_type="application/json"
    )
    assert response.status_code == 201


def pay(client, order):
    params = client.post(f"/api/v1/orders/{order.pk}/pay").json()
    prepay_id = params["package"].removeprefix("prepay_id=")
    Client().post("/wechat-sandbox/pay/confirm", {"prepay_id": prepay_id}, content_type="application/json")


def refund_fully(order):
    order.refresh_from_db()
    refund = shop.refund_create(order=order, amount_fen=None, reason="退", auto_approve=True)
    shop.refund_submit(refund_id=refund.pk)
    sandbox.send_refund_notification.apply(args=(refund.out_refund_no,))
    return Refund.objects.get(pk=refund.pk)


def withdraw(koc, amount_fen):
    client = bearer_client(koc.user)
    body = client.post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    ).json()
    return body


def confirm(out_bill_no):
    Client().post(
        "/wechat-sandbox/transfer/confirm", {"out_bill_no": out_bill_no}, content_type="application/json"
    )


def differences(run):
    return sorted(
        (d.kind, d.problem, d.wechat_amount_fen, d.our_amount_fen, d.wechat_state, d.our_state)
        for d in run.differences.all()
    )


def test_the_sandbox_bills_follow_wechats_layout_and_parse_to_fen(shopper, shopper_client, wechat_sandbox):
    order = make_order(buyer=shopper, sku=SkuFactory(price_fen=9950, stock=5), quantity=1)
    pay(shopper_client, order)
    refund = refund_fully(order)

    trade = bills.trade_bill(bill_date=timezone.localdate())
    fund = bills.fundflow_bill(bill_date=timezone.localdate())

    order.refresh_from_db()
    assert [(r.trade_state, r.out_trade_no, r.amount_fen, r.out_refund_no, r.refund_fen) for r in trade] == [
        ("SUCCESS", order.no, 9950, "", 0),
        ("REFUND", order.no, 0, refund.out_refund_no, 9950),
    ]
    assert [(f.kind, f.direction, f.amount_fen, f.voucher) for f in fund] == [
        ("交易", "收入", 9950, order.no),
        ("退款", "支出", 9950, refund.out_refund_no),
    ]


def test_a_clean_day_has_no_difference(shopper, shopper_client, wechat_sandbox):
    team = make_team()
    mia = team["mia"]
    earn_available(mia, 990)
    first = make_order(buyer=shopper, sku=SkuFactory(price_fen=9900, stock=5), quantity=1)
    second = make_order(buyer=shopper, sku=SkuFactory(price_fen=6900, stock=5), quantity=1)
    pay(shopper_client, first)
    pay(shopper_client, second)
    refund_fully(second)
    confirm(withdraw(mia, 990)["out_bill_no"])

    run = reconcile(bill_date=timezone.localdate())

    assert (run.status, run.payments, run.refunds, run.transfers, run.differences_count) == (
        "clean",
        2,
        1,
        1,
        0,
    )


def test_every_difference_is_shown_to_finance(shopper, shopper_client, wechat_sandbox, admin_client):
    team = make_team()
    mia = team["mia"]
    earn_available(mia, 1990)
    # a payment WeChat took whose notification never came (and nobody asked yet)
    lost = make_order(buyer=shopper, sku=SkuFactory(price_fen=5000, stock=5), quantity=1)
    fault("pay_notify", "drop")
    pay(shopper_client, lost)
    # a refund WeChat completed whose notification was lost: ours still processing
    refunded = make_order(buyer=shopper, sku=SkuFactory(price_fen=3000, stock=5), quantity=1)
    pay(shopper_client, refunded)
    fault("refund_notify", "drop")
    refund = refund_fully(refunded)
    # a payment recorded on our side that WeChat never saw
    forged = make_order(buyer=shopper, sku=SkuFactory(price_fen=1200, stock=5), quantity=1)
    shop.payment_notification_handle(notice=payment_notice(forged))
    # a transfer WeChat paid while we had recorded it failed (the late SUCCESS is not heard of)
    body = withdraw(mia, 990)
    withdrawal_services.withdrawal_fail(withdrawal_id=body["id"], reason="INVALID_REQUEST")
    fault("transfer_notify", "drop")
    confirm(body["out_bill_no"])

    out = StringIO()
    call_command("reconcile", date=timezone.localdate().isoformat(), stdout=out)
    run = ReconciliationRun.objects.get()

    assert refund.status == "processing"
    assert run.status == "differences"
    assert differences(run) == [
        ("payment", "missing_ours", 5000, None, "SUCCESS", ""),
        ("payment", "missing_wechat", None, 1200, "", "paid_order"),
        ("refund", "state", 3000, 3000, "SUCCESS", "processing"),
        ("transfer", "state", 990, 990, "SUCCESS", "failed"),
    ]
    assert "4 difference(s)" in out.getvalue()
    listed = admin_client.get("/admin/reconciliation/difference/").content.decode()
    assert lost.no in listed and body["out_bill_no"] in listed

    # finance resolves one; a second run keeps that and changes nothing else
    admin_client.post(
        "/admin/reconciliation/difference/",
        {"action": "resolve", "_selected_action": [run.differences.get(kind="transfer").pk]},
    )
    again = reconcile(bill_date=timezone.localdate())
    assert differences(again) == differences(run)
    assert Difference.objects.filter(resolved_at__isnull=False).count() == 1


def test_a_bad_date_is_refused():
    with pytest.raises(CommandError):
        call_command("reconcile", date="2026-13-40")
