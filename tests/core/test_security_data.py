"""Exports neutralise formulas; personal data is masked in logs and admin lists (issue 15)."""

import csv
import io
import logging

import pytest
from openpyxl import load_workbook

from apps.core.masking import MaskPersonalData, mask_id_number, mask_text
from tests.accounts.factories import AddressFactory, UserFactory
from tests.shop.factories import make_order

FORMULA = '=HYPERLINK("http://e.cn","领券")'  # fits the address name's 32 characters


@pytest.fixture
def root_client(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True, openid=None))
    return client


@pytest.mark.django_db
def test_an_address_name_formula_is_text_in_the_orders_excel_export(root_client):
    # given: a shopper whose address name is a formula
    buyer = UserFactory()
    make_order(buyer=buyer, address=AddressFactory(user=buyer, name=FORMULA))

    # when
    response = root_client.get("/admin/shop/order/export.xlsx")

    # then: the cell is a string cell showing exactly what was typed, not a formula
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [c.value for c in sheet[1]]
    cell = sheet[2][header.index("收货人")]
    assert (cell.value, cell.data_type) == (FORMULA, "s")


@pytest.mark.django_db
def test_an_address_name_formula_is_inert_in_the_orders_csv_export(root_client):
    buyer = UserFactory()
    make_order(buyer=buyer, address=AddressFactory(user=buyer, name="+cmd|' /C calc'!A0"))

    response = root_client.get("/admin/shop/order/export.csv")

    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert table[1][table[0].index("收货人")] == "'+cmd|' /C calc'!A0"


def test_numbers_stay_numbers_in_exports():
    from apps.core.exports import safe_row

    assert safe_row([-12, "-12.50", "@sum(1)", "-x", "普通文字", None]) == [
        -12,
        "-12.50",
        "'@sum(1)",
        "'-x",
        "普通文字",
        None,
    ]


def test_the_log_filter_masks_phones_and_id_numbers_in_messages_and_arguments():
    record = logging.LogRecord(
        "apps.shop",
        logging.ERROR,
        __file__,
        1,
        "address %s failed for %s (order 202612010000123456)",
        ("13912345678", "33010219900307123X"),
        None,
    )

    MaskPersonalData().filter(record)

    assert (
        record.getMessage() == "address 139****5678 failed for 3301**********123X (order 202612010000123456)"
    )


def test_the_logging_configuration_masks_what_reaches_the_console(capsys):
    from django.conf import settings

    assert settings.LOGGING["handlers"]["console"]["filters"] == ["mask_personal_data", "redact_id_numbers"]
    assert (
        mask_text("电话 13800001111，身份证 110101199003077777")
        == "电话 138****1111，身份证 1101**********7777"
    )
    assert mask_id_number("110101199003077777") == "1101**********7777"


@pytest.mark.django_db
def test_admin_lists_show_phones_masked(root_client):
    buyer = UserFactory(phone="13912345678")
    make_order(buyer=buyer, address=AddressFactory(user=buyer, phone="13687654321"))

    users = root_client.get("/admin/accounts/user/").content.decode()
    orders = root_client.get("/admin/shop/order/").content.decode()

    assert "139****5678" in users and "13912345678" not in users
    assert "136****4321" in orders and "13687654321" not in orders


@pytest.mark.django_db
def test_error_messages_that_echo_input_mask_phones(shopper_client):
    response = shopper_client.post(
        "/api/v1/share-links", {"target": "13912345678", "target_id": 1}, format="json"
    )

    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["target"]
    assert "139****5678" in message and "13912345678" not in message
