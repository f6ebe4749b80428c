"""劳务报酬 withholding: the cumulative monthly method, per person, and the monthly statement."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.utils import timezone

from apps.commissions.models import TaxRecord, Withdrawal
from apps.commissions.services.tax import labour_tax_fen, withholding_fen
from tests.helpers import bearer_client


@pytest.mark.parametrize(
    ("gross_yuan", "tax_yuan"),
    [
        (0, 0),
        (800, 0),
        (3000, 440),  # (3000 - 800) x 20%
        (4000, 640),  # (4000 - 800) x 20%
        (5000, 800),  # 5000 x 80% x 20%
        (25000, 4000),  # taxable exactly 20,000: still 20%
        (30000, 5200),  # 24,000 x 30% - 2,000
        (62500, 13000),  # taxable exactly 50,000: 30% - 2,000
        (100000, 25000),  # 80,000 x 40% - 7,000
    ],
)
def test_labour_remuneration_tax(gross_yuan, tax_yuan):
    assert labour_tax_fen(gross_yuan * 100) == tax_yuan * 100


def test_rounding_is_half_up_once_on_the_months_tax():
    assert labour_tax_fen(80_003) == 1  # 0.6 fen -> 1
    assert labour_tax_fen(80_002) == 0  # 0.4 fen -> 0


def test_each_payout_withholds_the_months_tax_minus_what_was_withheld():
    first = withholding_fen(gross_before_fen=0, withheld_before_fen=0, amount_fen=300_000)
    second = withholding_fen(gross_before_fen=300_000, withheld_before_fen=first, amount_fen=200_000)
    assert (first, second) == (44_000, 36_000)
    assert first + second == labour_tax_fen(500_000)
    assert (
        withholding_fen(gross_before_fen=0, withheld_before_fen=10_000, amount_fen=50_000) == 0
    )  # never negative


@pytest.mark.django_db
def test_payouts_in_a_month_are_withheld_cumulatively_and_recorded(team, earn, transfer_sandbox):
    earn(team["mia"], 500_000)
    client = bearer_client(team["mia"].user)

    def withdraw(amount):
        return client.post(
            "/api/v1/koc/withdrawals",
            {"amount_fen": amount},
            format="json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        ).json()

    first, second = withdraw(300_000), withdraw(200_000)

    assert (first["tax_fen"], first["net_fen"]) == (44_000, 256_000)
    assert (second["tax_fen"], second["net_fen"]) == (36_000, 164_000)
    record = TaxRecord.objects.get(koc_id=team["mia"].pk)
    now = timezone.localtime()
    assert (record.month.year, record.month.month) == (now.year, now.month)
    assert (record.gross_fen, record.withheld_fen, record.net_fen, record.payouts) == (
        500_000,
        80_000,
        420_000,
        2,
    )
    assert (record.real_name, record.id_number) == ("米娅", "")


@pytest.mark.django_db
def test_the_tax_is_credited_when_the_payout_succeeds(team, earn, transfer_sandbox, api_client):
    earn(team["mia"], 300_000)
    client = bearer_client(team["mia"].user)
    client.post("/api/v1/koc/withdrawals", {"amount_fen": 300_000}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    withdrawal = Withdrawal.objects.get()

    api_client.post(
        "/wechat-sandbox/transfer/confirm", {"out_bill_no": withdrawal.out_bill_no}, format="json"
    )

    wallet = client.get("/api/v1/koc/wallet").json()
    assert wallet["paid_fen"] == 300_000  # gross: 256,000 to WeChat change + 44,000 withheld
    from apps.commissions.selectors import account_balances, account_for_koc

    balances = account_balances(account=account_for_koc(koc_id=team["mia"].pk))
    assert (balances["paid"], balances["tax"]) == (256_000, 44_000)


@pytest.mark.django_db
def test_the_monthly_statement_is_a_csv_in_the_admin(team, earn, transfer_sandbox, admin_client):
    earn(team["mia"], 300_000)
    bearer_client(team["mia"].user).post(
        "/api/v1/koc/withdrawals", {"amount_fen": 300_000}, format="json", HTTP_IDEMPOTENCY_KEY="t"
    )
    month = timezone.localtime().strftime("%Y-%m")

    response = admin_client.get(f"/admin/commissions/taxrecord/statement/?month={month}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["月份", "KOC ID", "姓名", "身份证号", "所得项目"]
    assert rows[1] == [
        month,
        str(team["mia"].pk),
        "米娅",
        "",
        "劳务报酬",
        "3000.00",
        "440.00",
        "2560.00",
        "1",
    ]
    assert admin_client.get("/admin/commissions/taxrecord/statement/").status_code == 200  # the form
    assert admin_client.get("/admin/commissions/taxrecord/").status_code == 200
