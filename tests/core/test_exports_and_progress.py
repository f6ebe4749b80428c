import csv
import io

import pytest
from openpyxl import load_workbook

from apps.core.progress import Progress, progress
from tests.accounts.factories import UserFactory


@pytest.fixture
def admin_client_logged_in(client, db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, openid=None)
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_csv_export_streams_exactly_the_filtered_changelist(admin_client_logged_in):
    # given
    UserFactory(username="sandbox-tea-1", nickname="茶友一", phone="13800001111")
    UserFactory(username="sandbox-tea-2", nickname="茶友二", phone="")
    UserFactory(username="sandbox-other", nickname="路人")

    # when: the admin searched for "tea"
    response = admin_client_logged_in.get("/admin/accounts/user/export.csv?q=tea")

    # then
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0] == ["ID", "openid", "昵称", "手机号", "加入日期"]
    assert sorted((r[1], r[2], r[3]) for r in table[1:]) == [
        ("sandbox-tea-1", "茶友一", "138****1111"),
        ("sandbox-tea-2", "茶友二", ""),
    ]


@pytest.mark.django_db
def test_xlsx_export_has_the_same_rows(admin_client_logged_in):
    UserFactory(username="sandbox-tea-1", nickname="茶友一")

    response = admin_client_logged_in.get("/admin/accounts/user/export.xlsx?q=tea")

    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0] == ("ID", "openid", "昵称", "手机号", "加入日期")
    assert [(r[1], r[2]) for r in rows[1:]] == [("sandbox-tea-1", "茶友一")]


@pytest.mark.django_db
def test_export_needs_an_admin(client):
    response = client.get("/admin/accounts/user/export.csv")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_changelist_shows_the_export_buttons(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/accounts/user/?q=tea").content.decode()

    assert 'href="export.csv?q=tea"' in page
    assert 'href="export.xlsx?q=tea"' in page


def test_progress_prints_every_tenth_in_a_log():
    out = io.StringIO()

    items = list(progress(range(20), label="seed", stream=out))

    assert items == list(range(20))
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # one line per tenth, 0% to 100%, the 100% line not repeated on close
    assert lines[-1].startswith("seed ")
    assert "20/20 100%" in lines[-1]


def test_progress_redraws_one_line_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    with Progress(3, label="x", stream=out) as bar:
        for _ in range(3):
            bar.advance()

    assert out.getvalue().count("\r") == 4
    assert out.getvalue().endswith("\n")


@pytest.mark.django_db
def test_the_orders_excel_has_numeric_money_date_cells_a_frozen_filtered_header_and_widths(
    admin_client_logged_in,
):
    # given a paid order of 2 × 99.00 yuan
    from django.utils import timezone

    from tests.shop.factories import SkuFactory, make_paid_order

    order = make_paid_order(sku=SkuFactory(price_fen=9900, stock=10), quantity=2)
    order.refresh_from_db()

    # when
    response = admin_client_logged_in.get("/admin/shop/order/export.xlsx")

    # then money is a number in yuan with a money format, times are date cells in local time
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [cell.value for cell in sheet[1]]
    row = {title: cell for title, cell in zip(header, sheet[2], strict=True)}
    assert row["订单号"].value == order.no
    assert row["金额（元）"].value == 198
    assert row["金额（元）"].data_type == "n"
    assert row["金额（元）"].number_format == "#,##0.00"
    assert row["已付（元）"].value == 198 and row["已退（元）"].value == 0
    assert row["下单时间"].is_date
    assert row["下单时间"].value == timezone.localtime(order.created_at).replace(tzinfo=None, microsecond=0)
    assert row["支付时间"].number_format == "yyyy-mm-dd hh:mm:ss"
    # and the header is bold, frozen, filtered over every row, and every column wide enough for it
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}2"
    for cell in sheet[1]:
        width = sheet.column_dimensions[cell.column_letter].width
        drawn = sum(2 if ord(character) > 0x2E80 else 1 for character in cell.value)
        assert width >= drawn, cell.value
    assert sheet.column_dimensions[row["下单时间"].column_letter].width >= 19


def test_money_and_times_read_as_text_in_the_csv_and_as_typed_cells_in_excel():
    from datetime import UTC, datetime

    from apps.core.exports import Moment, Yuan, csv_stream, money, xlsx_response

    # given
    noon_utc = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    rows = [[money(123456789), Moment(noon_utc), "=HYPERLINK(1)", 7], [money(-1250), money(None), "", None]]

    # when
    text = "".join(csv_stream(["金额", "时间", "备注", "数"], rows))
    sheet = load_workbook(
        io.BytesIO(b"".join(xlsx_response("t", ["金额", "时间", "备注", "数"], rows)))
    ).active

    # then
    assert text.splitlines()[1].startswith("1234567.89,2026-03-01T12:00:00+08:00,")
    assert isinstance(rows[0][0], Yuan) and rows[1][0] == "-12.50"
    assert [c.value for c in sheet[2]][:2] == [pytest.approx(1234567.89), datetime(2026, 3, 1, 12, 0)]
    assert sheet["A3"].value == -12.5
    assert sheet["C2"].value == "=HYPERLINK(1)" and sheet["C2"].data_type == "s"
    assert sheet["D2"].value == 7
