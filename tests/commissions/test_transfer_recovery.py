"""Merchant transfers when WeChat misbehaves (issue 13), driven through the sandbox's faults.

An error answer may still mean the bill exists: it is queried by out_bill_no, never re-created; the
money returns only when WeChat says FAIL or CANCELLED; a late SUCCESS is applied and flagged.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.commissions.models import LedgerEntry, TaxRecord, Withdrawal
from apps.commissions.services import withdrawals as withdrawal_services
from tests.helpers import bearer_client, error_code


def fault(api, kind, **extra):
    response = Client().post(
        "/wechat-sandbox/faults", {"api": api, "fault": kind, **extra}, content_type="application/json"
    )
    assert response.status_code == 201, response.content


def withdraw(client, amount_fen):
    return client.post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def wallet(client) -> tuple[int, int, int]:
    body = client.get("/api/v1/koc/wallet").json()
    return body["available_fen"], body["withdrawing_fen"], body["paid_fen"]


def confirm(out_bill_no, state=None):
    body = {"out_bill_no": out_bill_no, **({"state": state} if state else {})}
    return Client().post("/wechat-sandbox/transfer/confirm", body, content_type="application/json")


def cancel(client, withdrawal_id):
    return client.post(f"/api/v1/koc/withdrawals/{withdrawal_id}/cancel", format="json")


def transfer_creates(mock) -> int:
    return len([c for c in mock.calls if c.request.url.endswith("/v3/fund-app/mch-transfer/transfer-bills")])


@pytest.fixture
def mia(team):
    return team["mia"]


@pytest.fixture
def mia_client(mia):
    return bearer_client(mia.user)


def test_an_ambiguous_4xx_on_create_is_queried_and_the_bill_kept(mia, mia_client, earn, transfer_sandbox):
    # given: WeChat creates the bill but answers 400
    earn(mia, 990)
    fault("transfer", "ambiguous_4xx")

    # when
    response = withdraw(mia_client, 990)

    # then: the query found the bill; nothing was returned, nothing re-created
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "wait_user_confirm"
    assert body["package_info"]
    assert wallet(mia_client) == (0, 990, 0)
    assert transfer_creates(transfer_sandbox) == 1

    # and the KOC confirms: paid once
    confirm(body["out_bill_no"])
    assert Withdrawal.objects.get().status == "succeeded"
    assert wallet(mia_client) == (0, 0, 990)


def test_a_probe_signed_transfer_answer_leaves_it_unknown_until_the_poll(
    mia, mia_client, earn, transfer_sandbox
):
    earn(mia, 990)
    fault("transfer", "bad_signature")

    response = withdraw(mia_client, 990)
    unknown = (Withdrawal.objects.get().status, wallet(mia_client))
    withdrawal_services.withdrawal_poll(withdrawal_id=Withdrawal.objects.get().pk)

    assert (response.status_code, error_code(response)) == (503, "wechatpay_unavailable")
    assert unknown == ("created", (0, 990, 0))
    assert Withdrawal.objects.get().status == "wait_user_confirm"
    assert LedgerEntry.objects.filter(kind="return").count() == 0


def test_a_koc_cancels_an_unconfirmed_transfer_and_the_money_returns(mia, mia_client, earn, transfer_sandbox):
    earn(mia, 990)
    withdrawal_id = withdraw(mia_client, 990).json()["id"]

    first = cancel(mia_client, withdrawal_id)
    again = cancel(mia_client, withdrawal_id)
    strangers = cancel(bearer_client(mia.parent.user) if mia.parent else Client(), withdrawal_id)

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "cancelled"
    assert (again.status_code, error_code(again)) == (409, "withdrawal_not_cancellable")
    assert strangers.status_code == 404
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.status, withdrawal.wechat_state, withdrawal.fail_reason) == (
        "cancelled",
        "CANCELLED",
        "MCH_CANCEL",
    )
    assert wallet(mia_client) == (990, 0, 0)
    assert LedgerEntry.objects.filter(kind="return").count() == 1
    assert not TaxRecord.objects.filter(koc_id=mia.pk).exists()  # no income recognised


def test_the_money_returns_only_when_wechat_says_cancelled(mia, mia_client, earn, transfer_sandbox):
    # given: WeChat takes the cancel, but its CANCELLED notification is lost
    earn(mia, 990)
    withdrawal_id = withdraw(mia_client, 990).json()["id"]
    fault("transfer_notify", "drop")

    # when
    response = cancel(mia_client, withdrawal_id)

    # then: cancelling, the money still held, until the poll hears CANCELLED
    assert response.json()["status"] == "cancelling"
    assert wallet(mia_client) == (0, 990, 0)
    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal_id)
    assert Withdrawal.objects.get().status == "cancelled"
    assert wallet(mia_client) == (990, 0, 0)


def test_a_confirmed_transfer_cannot_be_cancelled(mia, mia_client, earn, transfer_sandbox):
    earn(mia, 990)
    body = withdraw(mia_client, 990).json()
    fault("transfer_notify", "drop")
    confirm(body["out_bill_no"])  # the KOC confirmed; we have not heard yet

    response = cancel(mia_client, body["id"])

    assert (response.status_code, error_code(response)) == (409, "withdrawal_not_cancellable")
    assert Withdrawal.objects.get().status == "succeeded"  # the refused cancel asked WeChat
    assert wallet(mia_client) == (0, 0, 990)


def test_an_unconfirmed_transfer_is_cancelled_before_wechat_expires_it(
    mia, mia_client, earn, transfer_sandbox
):
    earn(mia, 990)
    withdrawal_id = withdraw(mia_client, 990).json()["id"]
    created = Withdrawal.objects.get().created_at

    early = withdrawal_services.withdrawals_cancel_unconfirmed(now=created + timedelta(hours=22))
    due = withdrawal_services.withdrawals_cancel_unconfirmed(now=created + timedelta(hours=23, seconds=1))

    assert (early, due) == (0, 1)
    withdrawal = Withdrawal.objects.get(pk=withdrawal_id)
    assert (withdrawal.status, withdrawal.fail_reason) == ("cancelled", "MCH_CANCEL")
    assert wallet(mia_client) == (990, 0, 0)


def test_a_transfer_wechat_expires_fails_and_returns_the_money(mia, mia_client, earn, transfer_sandbox):
    earn(mia, 990)
    fault("transfer", "expire")
    withdrawal_id = withdraw(mia_client, 990).json()["id"]

    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal_id)

    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.status, withdrawal.wechat_state, withdrawal.fail_reason) == (
        "failed",
        "FAIL",
        "OVERDUE_CLOSE",
    )
    assert wallet(mia_client) == (990, 0, 0)


def test_a_success_after_we_decided_failed_is_applied_flagged_and_explained(
    mia, mia_client, earn, transfer_sandbox
):
    # given: the project recorded the withdrawal failed (as its old 4xx mapping did) and returned
    # the money, while WeChat still held the bill
    earn(mia, 990)
    body = withdraw(mia_client, 990).json()
    withdrawal_services.withdrawal_fail(withdrawal_id=body["id"], reason="INVALID_REQUEST")
    assert wallet(mia_client) == (990, 0, 0)

    # when: the KOC confirms in WeChat; WeChat pays and notifies SUCCESS
    confirm(body["out_bill_no"])
    confirm(body["out_bill_no"])  # WeChat's retry of the same news changes nothing

    # then: paid after all, flagged, the ledger says why
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.status, withdrawal.late_success) == ("succeeded", True)
    assert wallet(mia_client) == (0, 0, 990)
    late = LedgerEntry.objects.filter(key=f"w:{withdrawal.pk}:late-pay").get()
    assert (late.from_bucket, late.to_bucket, late.amount_fen) == ("available", "paid", 990)
    assert "确认转账成功" in late.explanation
    record = TaxRecord.objects.get(koc_id=mia.pk)  # the income recognised once, when it succeeded
    assert (record.withdrawal_id, record.income_fen, record.withheld_fen) == (withdrawal.pk, 990, 0)
    assert timezone.now() - withdrawal.finished_at < timedelta(minutes=1)


def test_probe_signed_transfer_query_cancel_and_notification_decide_nothing(
    mia, mia_client, earn, transfer_sandbox
):
    earn(mia, 990)
    withdrawal_id = withdraw(mia_client, 990).json()["id"]

    # a probe-signed query answer: nothing changes
    fault("transfer_query", "bad_signature")
    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal_id)
    after_query = Withdrawal.objects.get().status

    # a probe-signed cancel answer: 503, and nothing is returned before WeChat says CANCELLED
    fault("transfer_cancel", "bad_signature")
    fault("transfer_notify", "bad_signature")
    cancelled = cancel(mia_client, withdrawal_id)
    after_cancel = (Withdrawal.objects.get().status, wallet(mia_client))

    # the poll asks with a verified answer: CANCELLED
    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal_id)

    assert after_query == "wait_user_confirm"
    assert (cancelled.status_code, error_code(cancelled)) == (503, "wechatpay_unavailable")
    assert after_cancel == ("wait_user_confirm", (0, 990, 0))
    assert Withdrawal.objects.get().status == "cancelled"
    assert wallet(mia_client) == (990, 0, 0)
