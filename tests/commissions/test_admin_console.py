"""The commission console in the admin: CSV / Excel exports of the filtered changelists, the monthly
tax statement as Excel, and the failed withdrawals on one page."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from apps.commissions.models import Commission, Withdrawal
from apps.commissions.services import withdrawals as withdrawal_services
from tests.accounts.factories import UserFactory
from tests.commissions.factories import earn_available, make_team
from tests.helpers import bearer_client


@pytest.fixture
def root(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True, openid=None))
    return client


def streamed_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def streamed_xlsx(response) -> list[tuple]:
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(workbook.active.iter_rows(values_only=True))


def withdraw(koc, amount_fen):
    response = bearer_client(koc.user).post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": amount_fen},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_the_commission_export_is_exactly_the_filtered_changelist(root):
    team = make_team()
    earn_available(team["mia"], 500)
    earn_available(team["ava"], 700)
    mia_rows = Commission.objects.filter(koc_id=team["mia"].pk, status="available").order_by("id")
    assert Commission.objects.exclude(koc_id=team["mia"].pk).exists()  # other rows the filter leaves out

    query = f"q={team['mia'].pk}&status__exact=available"
    table = streamed_csv(root.get(f"/admin/commissions/commission/export.csv?{query}"))

    assert table[0] == [
        "佣金ID",
        "订单号",
        "KOC ID",
        "KOC 姓名",
        "类型",
        "层级",
        "金额(元)",
        "已冲回(元)",
        "状态",
        "可提现时间",
        "计算说明",
    ]
    body = sorted(table[1:], key=lambda r: int(r[0]))
    assert [int(r[0]) for r in body] == [c.pk for c in mia_rows]
    first, commission = body[0], mia_rows[0]
    assert first[1:4] == [commission.order_no, str(team["mia"].pk), team["mia"].display_name]
    assert first[4] == commission.get_kind_display()
    assert first[6:9] == [f"{commission.amount_fen / 100:.2f}", "0.00", "可提现"]  # yuan, as numbers
    assert first[10] == commission.explanation

    rows = streamed_xlsx(root.get(f"/admin/commissions/commission/export.xlsx?{query}"))
    assert rows[0] == tuple(table[0])
    assert sorted(r[0] for r in rows[1:]) == [c.pk for c in mia_rows]


@pytest.mark.django_db
def test_the_changelists_show_the_export_buttons_and_the_failed_filter(root):
    page = root.get("/admin/commissions/commission/?status__exact=available").content.decode()
    assert 'href="export.csv?status__exact=available"' in page
    assert 'href="export.xlsx?status__exact=available"' in page

    page = root.get("/admin/commissions/withdrawal/").content.decode()
    assert 'href="export.csv?' in page
    assert "需要处理" in page
    assert "?attention=failed" in page
    assert "失败的提现" in page


@pytest.fixture
def two_withdrawals(db, transfer_sandbox):
    """mia's withdrawal failed (with a reason), ava's is still in flight."""
    team = make_team()
    earn_available(team["mia"], 990)
    earn_available(team["ava"], 1200)
    withdraw(team["mia"], 990)
    withdraw(team["ava"], 1200)
    failed = Withdrawal.objects.get(koc_id=team["mia"].pk)
    withdrawal_services.withdrawal_fail(withdrawal_id=failed.pk, reason="收款用户姓名不一致")
    in_flight = Withdrawal.objects.get(koc_id=team["ava"].pk)
    assert in_flight.status != "failed"
    failed.refresh_from_db()
    return team, failed, in_flight


def test_the_failed_withdrawals_page_lists_only_failed_ones_with_the_reason(root, two_withdrawals):
    _, failed, in_flight = two_withdrawals

    response = root.get("/admin/commissions/withdrawal/?attention=failed")

    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert listed == [failed]
    page = response.content.decode()
    assert "收款用户姓名不一致" in page
    assert in_flight.out_bill_no not in page
    everything = root.get("/admin/commissions/withdrawal/")
    assert set(everything.context["cl"].result_list) == {failed, in_flight}


def test_the_withdrawal_export_follows_the_failed_filter(root, two_withdrawals):
    team, failed, _ = two_withdrawals

    table = streamed_csv(root.get("/admin/commissions/withdrawal/export.csv?attention=failed"))

    assert table[0] == [
        "提现ID",
        "KOC ID",
        "KOC 姓名",
        "金额(元)",
        "代扣个税(元)",
        "实发(元)",
        "状态",
        "商户转账单号",
        "失败原因",
        "申请时间",
        "完成时间",
    ]
    assert len(table) == 2
    row = table[1]
    assert row[:9] == [
        str(failed.pk),
        str(team["mia"].pk),
        team["mia"].display_name,
        "9.90",
        f"{failed.tax_fen / 100:.2f}",
        f"{failed.net_fen / 100:.2f}",
        "失败已退回",
        failed.out_bill_no,
        "收款用户姓名不一致",
    ]
    assert row[10]  # finished

    all_rows = streamed_xlsx(root.get("/admin/commissions/withdrawal/export.xlsx"))
    assert len(all_rows) == 3


def test_the_withholding_list_excel_has_the_rows_of_the_csv(root, db, transfer_sandbox):
    team = make_team()
    earn_available(team["mia"], 3_000_000)
    earn_available(team["ava"], 250_000)
    withdraw(team["mia"], 3_000_000)
    withdraw(team["ava"], 250_000)
    for w in Withdrawal.objects.all():
        withdrawal_services.withdrawal_succeed(withdrawal_id=w.pk)
    month = timezone.localtime().strftime("%Y-%m")

    csv_rows = streamed_csv(root.get(f"/admin/commissions/taxrecord/statement/?month={month}&format=csv"))
    xlsx_response = root.get(f"/admin/commissions/taxrecord/statement/?month={month}&format=xlsx")

    assert len(csv_rows) == 3  # header and two people
    mia = next(r for r in csv_rows if r[1] == str(team["mia"].pk))
    # 30,000 yuan in the first month: 30,000 x 80% - 5,000 = 19,000 taxable x 3% = 570
    assert mia == [
        month,
        str(team["mia"].pk),
        "米娅",
        "居民身份证",
        team["mia"].id_number,  # the tax authority's report: the full number
        "劳务报酬所得",
        "30000.00",
        "6000.00",
        "30000.00",
        "6000.00",
        "5000.00",
        "0.00",
        "19000.00",
        "3",
        "0.00",
        "570.00",
        "0.00",
        "570.00",
    ]
    assert xlsx_response["Content-Type"].startswith("application/vnd.openxmlformats")
    xlsx_rows = streamed_xlsx(xlsx_response)
    money = {6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17}  # "3000.00" in the CSV, the number 3000 in Excel

    def as_csv(row):
        return [
            "" if v is None else f"{v:.2f}" if i in money and not isinstance(v, str) else str(v)
            for i, v in enumerate(row)
        ]

    assert [as_csv(r) for r in xlsx_rows] == csv_rows
    other = root.get("/admin/commissions/taxrecord/statement/?month=2001-01&format=xlsx")
    assert streamed_xlsx(other) == [xlsx_rows[0]]  # the month is honoured


def test_activating_and_retiring_a_rule_set_in_the_admin_is_audited(admin_client):
    # given: a draft rule set

    from apps.commissions.models import RuleSet
    from apps.commissions.services import rules as rule_services
    from apps.core import audit

    draft = rule_services.ruleset_create(name="新方案")  # activated from now
    rule_services.rule_add(rule_set=draft, name="直推", kind="sales", level=0, rate_percent="10.00")

    # when: activated, then retired, through the admin's actions
    for action in ("activate", "retire"):
        admin_client.post(
            "/admin/commissions/ruleset/",
            {"action": action, "_selected_action": [draft.pk], "confirm": "yes"},
        )

    # then: who did what is on the rule set's history page
    draft.refresh_from_db()
    assert draft.status == RuleSet.Status.RETIRED
    messages = sorted(e.change_message for e in audit.history(draft))
    assert messages == [f"停用规则集 v{draft.version}", f"启用规则集 v{draft.version}（通过合规检查）"]
    assert {e.user.username for e in audit.history(draft)} == {"admin"}
    page = admin_client.get(f"/admin/commissions/ruleset/{draft.pk}/history/").content.decode()
    assert "启用规则集" in page


def test_finance_reads_a_withdrawal_without_its_transfer_internals(two_withdrawals):
    from tests.console.roles import finance, logged_in

    team, failed, _ = two_withdrawals
    failed.request_hash, failed.response_body = "d" * 64, {"internal": "answer"}
    failed.save(update_fields=["request_hash", "response_body"])

    page = logged_in(finance()).get(f"/admin/commissions/withdrawal/{failed.pk}/change/").content.decode()

    assert "d" * 64 not in page and "internal" not in page
    assert "收款用户姓名不一致" in page and "¥9.90" in page
    assert team["mia"].display_name in page  # the KOC by name, not an id


def test_a_payouts_history_reads_its_ledger(root, two_withdrawals):
    _, failed, _ = two_withdrawals

    page = root.get(f"/admin/commissions/withdrawal/{failed.pk}/history/").content.decode()

    assert "申请提现 ¥9.90" in page
    assert "提现失败退回 ¥9.90" in page
