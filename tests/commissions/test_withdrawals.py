"""koc/wallet, koc/commissions and koc/withdrawals over HTTP, paid out through the WeChat sandbox."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.db import connection

from apps.commissions.models import Commission, LedgerEntry, PayoutSettings, TaxRecord, Withdrawal
from apps.commissions.services import withdrawals as withdrawal_services
from apps.wechat import transfers
from apps.wechat.sandbox import transfers as sandbox_transfers
from tests.accounts.factories import UserFactory
from tests.commissions.factories import earn_available
from tests.helpers import bearer_client, error_code


def withdraw(client, amount_fen, key=None):
    return client.post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def wallet(client) -> dict:
    response = client.get("/api/v1/koc/wallet")
    assert response.status_code == 200
    return response.json()


def confirm(api_client, out_bill_no, state=None):
    body = {"out_bill_no": out_bill_no, **({"state": state} if state else {})}
    return api_client.post("/wechat-sandbox/transfer/confirm", body, format="json")


@pytest.fixture
def mia(team):
    return team["mia"]


@pytest.fixture
def mia_client(mia):
    return bearer_client(mia.user)


# --- reading ---------------------------------------------------------------------------------------------


def test_non_kocs_get_not_a_koc(db, shopper_client):
    for path in ("/api/v1/koc/commissions", "/api/v1/koc/wallet", "/api/v1/koc/withdrawals"):
        response = shopper_client.get(path)
        assert (response.status_code, error_code(response)) == (404, "not_a_koc"), path
    assert error_code(withdraw(shopper_client, 100)) == "not_a_koc"


def test_commissions_list_by_status_with_their_explanation(
    team, mia_client, earn, django_assert_max_num_queries
):
    earn(team["mia"], 990)
    earn(team["ava"], 1000)  # mia earns 3% as ava's parent

    with django_assert_max_num_queries(8):
        response = mia_client.get("/api/v1/koc/commissions?status=available")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2
    upline, direct = body["results"]
    assert (direct["amount_fen"], direct["kind"], direct["level"], direct["status"]) == (
        990,
        "direct",
        0,
        "available",
    )
    assert (upline["amount_fen"], upline["kind"], upline["level"]) == (300, "upline", 1)
    assert direct["explanation"].endswith("规则集「测试方案」v1）")
    assert mia_client.get("/api/v1/koc/commissions?status=pending").json()["count"] == 0
    assert mia_client.get("/api/v1/koc/commissions?status=nonsense").status_code == 400
    assert wallet(mia_client) == {
        "pending_fen": 0,
        "frozen_fen": 0,
        "available_fen": 1290,
        "withdrawing_fen": 0,
        "paid_fen": 0,
    }


# --- withdrawing -------------------------------------------------------------------------------------------


def test_a_withdrawal_needs_an_idempotency_key(team, mia_client, earn):
    earn(team["mia"], 990)
    response = mia_client.post("/api/v1/koc/withdrawals", {"amount_fen": 500}, format="json")
    assert (response.status_code, error_code(response)) == (400, "idempotency_key_required")


def test_a_withdrawal_is_paid_by_merchant_transfer_once_the_user_confirms(
    team, mia_client, earn, transfer_sandbox, api_client
):
    # given
    earn(team["mia"], 990)

    # when
    response = withdraw(mia_client, 990, key="first")

    # then: debited at once, waiting for the user's confirmation in WeChat
    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["amount_fen"], body["tax_fen"], body["net_fen"]) == (
        "wait_user_confirm",
        990,
        0,
        990,
    )
    assert body["package_info"]
    assert wallet(mia_client)["available_fen"] == 0
    assert wallet(mia_client)["withdrawing_fen"] == 990
    assert Commission.objects.get(koc_id=team["mia"].pk).status == "withdrawing"
    request = json.loads(
        next(c.request.body for c in transfer_sandbox.calls if c.request.url.endswith("/transfer-bills"))
    )
    assert request["transfer_scene_id"] == "1005"
    assert request["user_recv_perception"] == "劳务报酬"
    assert request["transfer_scene_report_infos"] == [
        {"info_type": "岗位类型", "info_content": "推广员"},
        {"info_type": "报酬说明", "info_content": "佣金"},
    ]
    assert request["openid"] == team["mia"].user.openid
    assert "user_name" not in request  # below 2,000 yuan
    assert body["out_bill_no"] == request["out_bill_no"]  # what support quotes to WeChat Pay

    # when: the user confirms; WeChat notifies
    withdrawal = Withdrawal.objects.get()
    answer = confirm(api_client, withdrawal.out_bill_no)

    # then
    assert answer.json()["notify_status"] == 204
    withdrawal.refresh_from_db()
    assert withdrawal.status == "succeeded"
    assert wallet(mia_client) == {
        "pending_fen": 0,
        "frozen_fen": 0,
        "available_fen": 0,
        "withdrawing_fen": 0,
        "paid_fen": 990,
    }
    assert Commission.objects.get(koc_id=team["mia"].pk).status == "paid"
    listed = mia_client.get("/api/v1/koc/withdrawals").json()
    assert (listed["count"], listed["results"][0]["status"]) == (1, "succeeded")


def test_the_same_key_answers_the_first_answer_and_a_different_body_is_refused(
    team, mia_client, earn, transfer_sandbox, api_client
):
    earn(team["mia"], 990)
    first = withdraw(mia_client, 500, key="k1")
    confirm(api_client, Withdrawal.objects.get().out_bill_no)  # the state moves on meanwhile

    again = withdraw(mia_client, 500, key="k1")
    other = withdraw(mia_client, 400, key="k1")

    assert (again.status_code, again.json()) == (201, first.json())
    assert (other.status_code, error_code(other)) == (409, "idempotency_key_reused")
    assert Withdrawal.objects.count() == 1
    assert wallet(mia_client)["available_fen"] == 490


def test_limits_from_the_admin_and_the_balance_are_enforced(
    team, mia_client, earn, transfer_sandbox, api_client
):
    earn(team["mia"], 5000)
    PayoutSettings.objects.update_or_create(pk=1, defaults={"min_withdrawal_fen": 200, "daily_max_fen": 3000})

    too_small = withdraw(mia_client, 199)
    too_much = withdraw(mia_client, 5001)
    assert (too_small.status_code, error_code(too_small)) == (400, "withdrawal_below_minimum")
    assert (too_much.status_code, error_code(too_much)) == (409, "insufficient_balance")
    first = withdraw(mia_client, 2000)
    assert first.status_code == 201
    pending = withdraw(mia_client, 1000)  # one transfer in flight at a time
    assert (pending.status_code, error_code(pending)) == (409, "withdrawal_pending")
    confirm(api_client, first.json()["out_bill_no"])
    over_daily = withdraw(mia_client, 1001)
    assert (over_daily.status_code, error_code(over_daily)) == (409, "daily_limit_exceeded")
    assert withdraw(mia_client, 1000).status_code == 201
    assert wallet(mia_client)["available_fen"] == 2000


def test_the_daily_maximum_is_not_reached_by_splitting(team, mia_client, earn, transfer_sandbox, api_client):
    # given: a balance of 50 yuan and a daily maximum of 30 yuan
    earn(team["mia"], 5000)
    PayoutSettings.objects.update_or_create(pk=1, defaults={"min_withdrawal_fen": 100, "daily_max_fen": 3000})

    # when: the KOC takes it out 10 yuan at a time, each confirmed before the next
    answers = []
    for _ in range(5):
        response = withdraw(mia_client, 1000)
        answers.append((response.status_code, response.json().get("error", {}).get("code")))
        if response.status_code == 201:
            confirm(api_client, response.json()["out_bill_no"])

    # then: three transfers (30 yuan), then the day is full: small requests add up like one large one
    assert answers == [(201, None)] * 3 + [(409, "daily_limit_exceeded")] * 2
    assert Withdrawal.objects.filter(status="succeeded").count() == 3
    assert wallet(mia_client)["available_fen"] == 2000


@pytest.mark.parametrize("state", ["FAIL", "CANCELLED"])
def test_a_failed_or_expired_transfer_returns_the_money(
    team, mia_client, earn, transfer_sandbox, api_client, state
):
    earn(team["mia"], 990)
    withdraw(mia_client, 990)
    withdrawal = Withdrawal.objects.get()

    confirm(api_client, withdrawal.out_bill_no, state=state)

    withdrawal.refresh_from_db()
    expected = "cancelled" if state == "CANCELLED" else "failed"
    assert (withdrawal.status, withdrawal.wechat_state) == (expected, state)
    assert wallet(mia_client)["available_fen"] == 990
    assert wallet(mia_client)["withdrawing_fen"] == 0
    assert Commission.objects.get(koc_id=team["mia"].pk).status == "available"
    assert LedgerEntry.objects.filter(kind="return").count() == 1
    assert not TaxRecord.objects.filter(koc_id=team["mia"].pk).exists()  # no income recognised
    assert withdraw(mia_client, 990).status_code == 201  # the money can be withdrawn again


def test_the_poll_finishes_a_transfer_whose_notification_was_lost(team, mia_client, earn, transfer_sandbox):
    earn(team["mia"], 990)
    withdraw(mia_client, 990)
    withdrawal = Withdrawal.objects.get()
    sandbox_transfers._finish(withdrawal.out_bill_no, "SUCCESS")  # the user confirmed; no notification came

    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal.pk)
    withdrawal_services.withdrawal_poll(withdrawal_id=withdrawal.pk)

    withdrawal.refresh_from_db()
    assert withdrawal.status == "succeeded"
    assert wallet(mia_client)["paid_fen"] == 990
    assert LedgerEntry.objects.filter(kind="payout").count() == 1


def test_a_duplicate_notification_changes_nothing(team, mia_client, earn, transfer_sandbox, api_client):
    earn(team["mia"], 990)
    withdraw(mia_client, 990)
    withdrawal = Withdrawal.objects.get()
    confirm(api_client, withdrawal.out_bill_no)
    _url, headers, body = sandbox_transfers.transfer_notification(withdrawal.out_bill_no)

    response = api_client.generic(
        "POST",
        "/api/v1/payments/wechat/transfer-notify",
        body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 204
    assert LedgerEntry.objects.filter(withdrawal=withdrawal).count() == 2  # debit and payout (no tax)


def test_a_forged_or_tampered_notification_is_refused(team, mia_client, earn, transfer_sandbox, api_client):
    earn(team["mia"], 990)
    withdraw(mia_client, 990)
    withdrawal = Withdrawal.objects.get()
    sandbox_transfers._finish(withdrawal.out_bill_no, "SUCCESS")
    _url, headers, body = sandbox_transfers.transfer_notification(withdrawal.out_bill_no)

    tampered = body.replace(b'"id": "', b'"id": "x')
    forged = api_client.generic(
        "POST",
        "/api/v1/payments/wechat/transfer-notify",
        tampered,
        content_type="application/json",
        headers=headers,
    )
    unsigned = api_client.post("/api/v1/payments/wechat/transfer-notify", json.loads(body), format="json")

    assert (forged.status_code, error_code(forged)) == (401, "notification_rejected")
    assert unsigned.status_code == 401
    withdrawal.refresh_from_db()
    assert withdrawal.status == "wait_user_confirm"


def test_a_notification_for_another_amount_is_refused(team, mia_client, earn, transfer_sandbox, api_client):
    earn(team["mia"], 990)
    withdraw(mia_client, 990)
    withdrawal = Withdrawal.objects.get()
    bill = sandbox_transfers.get_bill(withdrawal.out_bill_no)
    sandbox_transfers._save({**bill, "transfer_amount": 1, "state": "SUCCESS"})
    _url, headers, body = sandbox_transfers.transfer_notification(withdrawal.out_bill_no)

    response = api_client.generic(
        "POST",
        "/api/v1/payments/wechat/transfer-notify",
        body,
        content_type="application/json",
        headers=headers,
    )

    assert (response.status_code, error_code(response)) == (400, "notification_invalid")
    withdrawal.refresh_from_db()
    assert withdrawal.status == "wait_user_confirm"


def test_from_two_thousand_yuan_the_real_name_is_sent_encrypted(team, mia_client, earn, transfer_sandbox):
    earn(team["mia"], 300_000)

    response = withdraw(mia_client, 300_000)

    body = response.json()
    assert response.status_code == 201
    # 3,000 yuan is the year's first payout: 3,000 x 80% - 5,000 < 0, nothing withheld
    assert (body["tax_fen"], body["net_fen"]) == (0, 300_000)
    request = json.loads(
        next(c.request.body for c in transfer_sandbox.calls if c.request.url.endswith("/transfer-bills"))
    )
    assert request["user_name"] != "米娅"  # encrypted with the platform public key
    bill = sandbox_transfers.get_bill(Withdrawal.objects.get().out_bill_no)
    assert (bill["user_name"], bill["transfer_amount"]) == ("米娅", 300_000)


def test_without_an_identity_an_individual_cannot_withdraw(team, mia_client, earn, transfer_sandbox):
    from apps.kocs.models import Koc

    # given: Mia has a balance but no ID number on file
    earn(team["mia"], 990)
    Koc.objects.filter(pk=team["mia"].pk).update(id_number="", id_number_digest="")

    # when
    response = withdraw(mia_client, 100)

    # then: refused before any money moves, for any amount
    assert (response.status_code, error_code(response)) == (409, "identity_required")
    assert wallet(mia_client)["available_fen"] == 990
    assert not Withdrawal.objects.exists()
    quote = mia_client.get("/api/v1/koc/withdrawals/quote?amount_fen=100")
    assert (quote.status_code, error_code(quote)) == (409, "identity_required")
    # once she gives it, she can
    identity = mia_client.post(
        "/api/v1/koc/identity", {"real_name": "米娅", "id_number": "330102199001011234"}, format="json"
    )
    assert identity.status_code == 200
    assert withdraw(mia_client, 100).status_code == 201


def test_an_organisation_withdraws_gross_for_a_b2b_settlement(team, earn, admin_client):
    from apps.kocs.models import Koc

    agency = team["agency"]
    user = UserFactory()
    Koc.objects.filter(pk=agency.pk).update(user=user)
    earn(agency, 500_000)

    response = withdraw(bearer_client(user), 500_000)

    body = response.json()
    assert (response.status_code, body["status"], body["tax_fen"], body["package_info"]) == (
        201,
        "b2b_pending",
        0,
        None,
    )
    withdrawal = Withdrawal.objects.get()
    admin_client.post(
        "/admin/commissions/withdrawal/",
        {"action": "mark_b2b_paid", "_selected_action": [withdrawal.pk]},
    )
    withdrawal.refresh_from_db()
    assert withdrawal.status == "succeeded"
    assert not TaxRecord.objects.exists()
    from apps.core import audit

    entry = audit.history(withdrawal).get()
    assert (entry.user.username, entry.change_message) == ("admin", "对公打款已完成，标记到账")
    assert (
        "对公打款已完成"
        in admin_client.get(f"/admin/commissions/withdrawal/{withdrawal.pk}/history/").content.decode()
    )


def test_the_wechat_client_sends_a_commission_transfer(transfer_sandbox):
    bill = transfers.transfer_create(
        out_bill_no="W1TEST",
        openid="o-1",
        amount_fen=1000,
        remark="推广佣金",
        notify_url="http://testserver/n",
    )
    assert (bill.state, bill.out_bill_no) == ("WAIT_USER_CONFIRM", "W1TEST")
    assert transfers.transfer_query(out_bill_no="W1TEST").state == "WAIT_USER_CONFIRM"
    with pytest.raises(Exception) as caught:
        transfers.transfer_query(out_bill_no="NOPE")
    assert caught.value.wechat_code == "NOT_FOUND"


def test_a_bill_wechat_never_received_is_failed_by_the_poll_after_a_while(
    team, mia_client, earn, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from apps.wechat import pay

    earn(team["mia"], 990)

    def unreachable(**kwargs):
        raise pay.WeChatPayUnavailable()

    monkeypatch.setattr(transfers, "transfer_create", unreachable)
    response = withdraw(mia_client, 990, key="k")
    assert (response.status_code, error_code(response)) == (503, "wechatpay_unavailable")
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == "created"

    def not_found(**kwargs):
        raise pay.WeChatPayError(wechat_code="NOT_FOUND")

    monkeypatch.setattr(transfers, "transfer_query", not_found)
    withdrawal_services.withdrawal_poll(
        withdrawal_id=withdrawal.pk, now=timezone.now() + timedelta(minutes=1)
    )
    assert Withdrawal.objects.get().status == "created"  # maybe still on its way
    withdrawal_services.withdrawal_poll(
        withdrawal_id=withdrawal.pk, now=timezone.now() + timedelta(minutes=11)
    )
    assert Withdrawal.objects.get().status == "failed"
    assert wallet(mia_client)["available_fen"] == 990


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------


def _fake_transfer(**kwargs):
    return transfers.TransferBill(
        out_bill_no=kwargs["out_bill_no"],
        transfer_bill_no="1330" + kwargs["out_bill_no"],
        state="WAIT_USER_CONFIRM",
        package_info="pkg-" + kwargs["out_bill_no"],
    )


def _in_threads(count: int, target) -> list:
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_full_balance_withdrawals_exactly_one_succeeds(settings, monkeypatch):
    from tests.commissions.factories import make_team

    monkeypatch.setattr(transfers, "transfer_create", _fake_transfer)
    monkeypatch.setattr(withdrawal_services, "_schedule_poll", lambda withdrawal_id: None)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"withdrawal": "1000/min"},
    }
    team = make_team()
    earn_available(team["mia"], 990)
    user = team["mia"].user

    def attempt(i):
        response = withdraw(bearer_client(user), 990, key=f"key-{i}")
        return response.status_code, response.json()

    results = _in_threads(50, attempt)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 49
    assert {body["error"]["code"] for status, body in results if status == 409} == {"insufficient_balance"}
    assert Withdrawal.objects.count() == 1
    from apps.commissions.selectors import wallet as wallet_of

    assert wallet_of(koc_id=team["mia"].pk)["available_fen"] == 0
    assert wallet_of(koc_id=team["mia"].pk)["withdrawing_fen"] == 990


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_debit_once_and_answer_alike(settings, monkeypatch):
    from tests.commissions.factories import make_team

    monkeypatch.setattr(transfers, "transfer_create", _fake_transfer)
    monkeypatch.setattr(withdrawal_services, "_schedule_poll", lambda withdrawal_id: None)
    team = make_team()
    earn_available(team["mia"], 990)
    user = team["mia"].user

    results = _in_threads(
        10, lambda i: (lambda r: (r.status_code, r.json()))(withdraw(bearer_client(user), 500, key="same"))
    )

    ok = [body for status, body in results if status == 201]
    assert len({json.dumps(b, sort_keys=True) for b in ok}) == 1
    assert all(status in (201, 409) for status, _ in results)
    assert {b["error"]["code"] for s, b in results if s == 409} <= {"withdrawal_in_progress"}
    assert Withdrawal.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="withdrawal").count() == 1


def test_a_transfer_wechat_refuses_answers_failed_and_a_retry_replays_it(
    mia_client, mia, earn, monkeypatch, transfer_sandbox
):
    # given: WeChat Pay refuses the transfer outright (e.g. the merchant's balance is short), and
    # a query by out_bill_no confirms it holds no such bill
    from apps.wechat import pay

    earn(mia, 990)
    calls = []

    def refuse(**kwargs):
        calls.append(kwargs["out_bill_no"])
        raise pay.WeChatPayError("商户运营账户资金不足", wechat_code="NOT_ENOUGH")

    monkeypatch.setattr(transfers, "transfer_create", refuse)

    # when
    first = withdraw(mia_client, 990, key="refused")
    again = withdraw(mia_client, 990, key="refused")

    # then: the withdrawal failed, the money is back, and the retry answers exactly the first result
    assert first.status_code == 201
    body = first.json()
    assert (body["status"], body["amount_fen"], body["fail_reason"]) == (
        "failed",
        990,
        "商户运营账户资金不足",
    )
    assert (again.status_code, again.json()) == (201, body)
    assert calls == [body["out_bill_no"]]
    assert wallet(mia_client)["available_fen"] == 990
    assert wallet(mia_client)["withdrawing_fen"] == 0


def test_idempotency_key_replays_first_error_answer(team, mia_client, earn, transfer_sandbox):
    # given: the first request with a key is refused for want of balance
    first = withdraw(mia_client, 990, key="broke")
    assert (first.status_code, error_code(first)) == (409, "insufficient_balance")

    # when: money arrives, and the client retries the same request with the same key
    earn(team["mia"], 990)
    again = withdraw(mia_client, 990, key="broke")

    # then: the retry answers the first answer (status and body), and nothing moved
    assert (again.status_code, again.json()) == (409, first.json())
    assert Withdrawal.objects.count() == 0
    assert wallet(mia_client)["available_fen"] == 990
    # a different body under the same key is still a misuse of the key
    other = withdraw(mia_client, 500, key="broke")
    assert (other.status_code, error_code(other)) == (409, "idempotency_key_reused")
    # a new key is a new request
    assert withdraw(mia_client, 990, key="fresh").status_code == 201
