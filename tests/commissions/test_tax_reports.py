"""Finance's reports (the monthly withholding list, the quarterly 810号 platform report) and B2B invoices."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.commissions import reports
from apps.commissions.models import PayoutSettings, Withdrawal
from apps.commissions.services import withdrawals as withdrawal_services
from apps.wechat import transfers
from tests.accounts.factories import UserFactory
from tests.commissions.factories import earn_available, make_product, order_payload, paid, refunded
from tests.helpers import bearer_client
from tests.kocs.factories import make_individual

pytestmark = pytest.mark.django_db


def at(month: int, day: int = 10) -> datetime:
    return timezone.make_aware(datetime(2031, month, day, 12, 0))


def _fake_transfer(**kwargs):
    return transfers.TransferBill(
        out_bill_no=kwargs["out_bill_no"],
        transfer_bill_no="1330" + kwargs["out_bill_no"],
        state="WAIT_USER_CONFIRM",
        package_info="pkg",
    )


def paid_out(koc, amount_fen: int, when: datetime) -> Withdrawal:
    with (
        mock.patch("django.utils.timezone.now", return_value=when),
        mock.patch.object(transfers, "transfer_create", _fake_transfer),
    ):
        answer = withdrawal_services.withdrawal_create(
            koc_id=koc.pk, user_id=koc.user_id, amount_fen=amount_fen, idempotency_key=uuid.uuid4().hex
        )
        assert answer.status == 201, answer.body
        return withdrawal_services.withdrawal_succeed(withdrawal_id=answer.withdrawal.pk)


def read_csv(path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.reader(f))


@pytest.fixture(autouse=True)
def no_daily_cap(db):
    PayoutSettings.objects.update_or_create(pk=1, defaults={"daily_max_fen": 10**12})


def test_the_withholding_list_command_writes_every_person_of_the_month_with_a_progress_bar(tmp_path):
    mia = make_individual(real_name="米娅")
    ava = make_individual(real_name="艾娃")
    earn_available(mia, 5_000_000, when=at(1, 1))
    earn_available(ava, 5_000_000, when=at(1, 1))
    paid_out(mia, 3_000_000, at(3))  # 30,000: 19,000 taxable × 3% = 570
    paid_out(mia, 500_000, at(3))  # 35,000: 23,000 × 3% = 690 − 570 = 120
    paid_out(ava, 300_000, at(3))  # 3,000: nothing
    paid_out(ava, 300_000, at(4))  # another month: not in March's list
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "tax_withholding_list", "--month", "2031-03", "--output", tmp_path / "m.csv", stdout=out, stderr=err
    )

    rows = read_csv(tmp_path / "m.csv")
    assert rows[0] == reports.WITHHOLDING_HEADER
    by_koc = {r[1]: r for r in rows[1:]}
    assert set(by_koc) == {str(mia.pk), str(ava.pk)}
    m = by_koc[str(mia.pk)]
    assert (m[2], m[4], m[6], m[8], m[12], m[15], m[16], m[17]) == (
        "米娅",
        mia.id_number,
        "35000.00",  # this month's income
        "35000.00",  # cumulative income
        "23000.00",  # 35,000 × 80% − 5,000
        "690.00",  # tax to date
        "0.00",  # withheld before this month
        "690.00",  # withheld this month (570 + 120)
    )
    assert by_koc[str(ava.pk)][17] == "0.00"
    assert out.getvalue().strip().endswith("m.csv") and out.getvalue().startswith("2 people")
    assert "2/2" in err.getvalue()  # the progress bar reached the end


def test_the_platform_report_lists_individuals_and_organisations_paid_in_the_quarter(tmp_path, team):
    mia = team["mia"]
    agency = team["agency"]
    from apps.kocs.models import Koc

    Koc.objects.filter(pk=agency.pk).update(user=UserFactory())
    agency.refresh_from_db()
    product = make_product()
    with mock.patch("django.utils.timezone.now", return_value=at(1, 5)):
        earn_available(mia, 100_000, when=at(1, 5))  # 1,000 accrued
        earn_available(agency, 200_000, when=at(1, 5))
        outside = make_individual()
        earn_available(outside, 50_000, when=at(1, 5))
    # an order of 10,000 earns Mia 10% = 1,000; a refund of half of it takes 500 back
    order = order_payload(koc=mia, lines=[(product, 1, 1_000_000)], paid_at=at(2))
    with mock.patch("django.utils.timezone.now", return_value=at(2)):
        paid(order)
    with mock.patch("django.utils.timezone.now", return_value=at(2, 20)):
        refunded(order, refund_id=991, amount_fen=500_000, refunded_fen=500_000, refunded_at=at(2, 20))
    paid_out(mia, 100_000, at(3))
    with mock.patch("django.utils.timezone.now", return_value=at(3, 20)):
        b2b = withdrawal_services.withdrawal_create(
            koc_id=agency.pk, user_id=agency.user_id, amount_fen=200_000, idempotency_key="b2b"
        ).withdrawal
        withdrawal_services.withdrawal_b2b_settle(withdrawal_id=b2b.pk)
    paid_out(outside, 50_000, at(4, 2))  # paid in Q2: not in Q1's report

    call_command(
        "tax_platform_report", "--quarter", "2031Q1", "--format", "csv", "--output", tmp_path / "q.csv",
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip

    rows = read_csv(tmp_path / "q.csv")
    assert rows[0] == reports.PLATFORM_HEADER
    by_koc = {r[1]: r for r in rows[1:]}
    assert set(by_koc) == {str(mia.pk), str(agency.pk)}
    assert by_koc[str(mia.pk)][2:] == [
        "个人",
        "米娅",
        "居民身份证",
        mia.id_number,
        "2000.00",  # accrued in the quarter: 1,000 + 1,000
        "500.00",  # half the order refunded: half its 1,000 commission reversed
        "1500.00",
        "1000.00",  # paid out in the quarter
        "0.00",
        "1",
    ]
    assert by_koc[str(agency.pk)][2:6] == [
        "机构",
        agency.legal_name,
        "统一社会信用代码",
        agency.registration_number,
    ]
    assert by_koc[str(agency.pk)][9:] == ["2000.00", "0.00", "1"]


def test_the_reports_stream_in_a_constant_number_of_queries(django_assert_max_num_queries):
    people = [make_individual() for _ in range(12)]
    for koc in people:
        earn_available(koc, 10_000, when=at(1, 1))
        paid_out(koc, 10_000, at(2))

    with mock.patch.object(reports, "CHUNK", 5), django_assert_max_num_queries(1 + 3):
        report = reports.withholding_list(at(2).date().replace(day=1))
        rows = list(report.rows())  # 12 people in chunks of 5: the grouped query + 3 chunks
    assert (report.total, len(rows)) == (12, 12)
    with mock.patch.object(reports, "CHUNK", 5), django_assert_max_num_queries(1 + 1 + 3 * 2):
        report = reports.platform_report(2031, 1)
        rows = list(report.rows())
    assert (report.total, len(rows)) == (12, 12)


def test_the_admin_serves_both_reports_as_csv_and_excel(admin_client):
    koc = make_individual(real_name="米娅")
    earn_available(koc, 10_000, when=at(1, 1))
    paid_out(koc, 10_000, at(2))

    quarterly = admin_client.get("/admin/commissions/taxrecord/platform-report/?quarter=2031Q1&format=csv")
    excel = admin_client.get("/admin/commissions/taxrecord/platform-report/?quarter=2031q1&format=xlsx")
    bad = admin_client.get("/admin/commissions/taxrecord/platform-report/?quarter=2031Q5")

    assert quarterly.streaming
    text = b"".join(quarterly.streaming_content).decode("utf-8-sig")
    assert koc.id_number in text and text.count("\n") == 2
    assert excel["Content-Type"].startswith("application/vnd.openxmlformats")
    assert bad.status_code == 200 and "格式为 YYYYQn" in bad.content.decode()
    listing = admin_client.get("/admin/commissions/taxrecord/").content.decode()
    assert "季度平台报送" in listing and "月度扣缴明细" in listing


# --- B2B settlements and their invoices ------------------------------------------------------------------


def test_an_organisations_payout_waits_for_its_invoice_when_the_admin_requires_it(team, admin_client):
    from apps.kocs.models import Koc

    agency = team["agency"]
    user = UserFactory()
    Koc.objects.filter(pk=agency.pk).update(user=user)
    earn_available(agency, 500_000)
    PayoutSettings.objects.filter(pk=1).update(b2b_invoice_required=True)
    body = (
        bearer_client(user)
        .post("/api/v1/koc/withdrawals", {"amount_fen": 500_000}, format="json", HTTP_IDEMPOTENCY_KEY="b")
        .json()
    )
    assert (body["status"], body["tax_fen"], body["net_fen"]) == ("b2b_pending", 0, 500_000)  # gross
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.invoice_status == "awaited"

    # when: finance marks it paid before the invoice arrived
    admin_client.post(
        "/admin/commissions/withdrawal/", {"action": "mark_b2b_paid", "_selected_action": [withdrawal.pk]}
    )

    # then: refused, nothing moved
    withdrawal.refresh_from_db()
    assert withdrawal.status == "b2b_pending"

    # when: the invoice is recorded, then the payment
    admin_client.post(
        "/admin/commissions/withdrawal/",
        {
            "action": "record_invoice",
            "_selected_action": [withdrawal.pk],
            "confirm": "1",
            "invoice_no": "044001",
        },
    )
    admin_client.post(
        "/admin/commissions/withdrawal/", {"action": "mark_b2b_paid", "_selected_action": [withdrawal.pk]}
    )

    withdrawal.refresh_from_db()
    assert (withdrawal.invoice_status, withdrawal.invoice_no, withdrawal.status) == (
        "received",
        "044001",
        "succeeded",
    )
    assert withdrawal.invoice_received_at is not None


def test_without_the_requirement_the_invoice_status_is_recorded_but_does_not_block(team):
    from apps.kocs.models import Koc

    agency = team["agency"]
    Koc.objects.filter(pk=agency.pk).update(user=UserFactory())
    agency.refresh_from_db()
    earn_available(agency, 1_000)
    w = withdrawal_services.withdrawal_create(
        koc_id=agency.pk, user_id=agency.user_id, amount_fen=1_000, idempotency_key="x"
    ).withdrawal

    done = withdrawal_services.withdrawal_b2b_settle(withdrawal_id=w.pk)

    assert (done.status, done.invoice_status) == ("succeeded", "awaited")
