"""koc/identity: the GB 11643 check digit, encryption at rest, one number one KOC, masked everywhere."""

from __future__ import annotations

import io
import logging
import re
import uuid

import pytest
from django.db import connection
from openpyxl import load_workbook

from apps.commissions.models import TaxRecord, Withdrawal
from apps.commissions.services import withdrawals as withdrawal_services
from apps.core import crypto
from apps.core.logging import RedactIdNumbers
from apps.kocs import identity
from apps.kocs.models import Koc
from tests.accounts.factories import UserFactory
from tests.commissions.factories import earn_available
from tests.helpers import bearer_client, error_code
from tests.kocs.factories import make_individual

pytestmark = pytest.mark.django_db

NUMBER = "330102199001011234"  # a valid check digit (see the first test)


def post_identity(client, **body):
    return client.post(
        "/api/v1/koc/identity", {"real_name": "米娅", "id_number": NUMBER, **body}, format="json"
    )


def raw_id_number(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id_number FROM {connection.ops.quote_name(table)} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_check_digit_follows_gb_11643():
    # weighted sum of 33010219900101123 = 3*7+3*9+0+1*5+0+2*4+1*2+9*1+9*6+0+0+1*9+0+1*5+1*8+2*4+3*2 = 162;
    # 162 mod 11 = 8 -> "10X98765432"[8] = "4"
    assert identity.check_character("33010219900101123") == "4"
    assert identity.is_valid(NUMBER)
    assert identity.is_valid("33010219900101008x")  # a lower-case x is the same X
    assert not identity.is_valid("330102199001011235")  # wrong check digit
    assert not identity.is_valid("330102199002301231")  # 30 February
    assert not identity.is_valid("33010219900101123")  # 17 characters
    assert not identity.is_valid("030102199001011234")  # no region starts with 0


def test_an_identity_is_stored_encrypted_and_answered_masked(db):
    koc = make_individual(id_number="")
    client = bearer_client(koc.user)

    response = post_identity(client)

    assert response.status_code == 200
    assert response.json() == {"real_name": "米娅", "id_number_masked": "3301**********1234"}
    stored = raw_id_number("kocs_koc", koc.pk)
    assert stored.startswith("fernet:") and NUMBER not in stored
    assert Koc.objects.get(pk=koc.pk).id_number == NUMBER
    assert client.get("/api/v1/koc/me").json()["id_number_masked"] == "3301**********1234"


def test_a_bad_check_digit_is_400_and_changes_nothing(db):
    koc = make_individual(id_number="")
    client = bearer_client(koc.user)

    response = post_identity(client, id_number="330102199001011235")

    assert (response.status_code, error_code(response)) == (400, "invalid_id_number")
    assert "330102199001011235" not in response.content.decode()
    assert Koc.objects.get(pk=koc.pk).id_number == ""
    assert error_code(post_identity(client, real_name="  ")) in ("validation_error", "invalid_real_name")


def test_one_number_is_one_koc(db):
    make_individual(id_number=NUMBER)
    other = make_individual(id_number="")

    response = post_identity(bearer_client(other.user))

    assert (response.status_code, error_code(response)) == (409, "id_number_taken")
    assert error_code(post_identity(bearer_client(UserFactory()))) == "not_a_koc"


def test_rotating_the_key_re_encrypts_every_stored_number(db, settings, wechat_sandbox):
    from django.core.management import call_command

    koc = make_individual(id_number=NUMBER)
    earn_available(koc, 990)
    answer = withdrawal_services.withdrawal_create(
        koc_id=koc.pk, user_id=koc.user_id, amount_fen=990, idempotency_key="r"
    )
    withdrawal_services.withdrawal_succeed(withdrawal_id=answer.withdrawal.pk)
    record = TaxRecord.objects.get()
    old_key = settings.IDENTITY_ENCRYPTION_KEYS[0]
    new_key = crypto.Fernet.generate_key().decode()

    # step 1: the new key first, the old one still there to read; step 2: the command
    settings.IDENTITY_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_identity_keys", stdout=io.StringIO(), stderr=io.StringIO())

    # step 3: the old key gone, everything still reads
    settings.IDENTITY_ENCRYPTION_KEYS = [new_key]
    assert Koc.objects.get(pk=koc.pk).id_number == NUMBER
    assert TaxRecord.objects.get(pk=record.pk).id_number == NUMBER
    assert (
        crypto.Fernet(new_key.encode()).decrypt(raw_id_number("kocs_koc", koc.pk)[7:].encode())
        == NUMBER.encode()
    )


def test_the_log_filter_masks_an_id_number_that_reaches_a_log_line():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "payee %s failed", (NUMBER,), None)

    RedactIdNumbers().filter(record)

    assert record.getMessage() == "payee 3301**********1234 failed"


def _xlsx_text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = load_workbook(io.BytesIO(body)).active
    return " ".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None)


def _text(response) -> str:
    assert response.status_code == 200, (response.status_code, getattr(response, "url", ""))
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def test_the_full_id_number_is_nowhere_but_in_the_tax_authoritys_reports(
    db, admin_client, wechat_sandbox, api_client, caplog
):
    """API answers, admin pages, exports and logs: masked; only the two reports for the tax
    authority carry the number (which also proves this search would find it)."""
    caplog.set_level(logging.DEBUG)
    koc = make_individual(id_number="", real_name="米娅")
    client = bearer_client(koc.user)
    earn_available(koc, 3_000_000)

    # the KOC gives her identity, withdraws, the transfer succeeds
    seen: list[str] = [post_identity(client).content.decode()]
    seen.append(post_identity(client, id_number=NUMBER[:-1] + "5").content.decode())  # a typo: 400
    quote = client.get("/api/v1/koc/withdrawals/quote?amount_fen=3000000")
    created = client.post(
        "/api/v1/koc/withdrawals",
        {"amount_fen": 3_000_000},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    api_client.post(
        "/wechat-sandbox/transfer/confirm", {"out_bill_no": created.json()["out_bill_no"]}, format="json"
    )
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == "succeeded"
    record = TaxRecord.objects.get()
    for response in (quote, created):
        seen.append(response.content.decode())
    for path in (
        "/api/v1/koc/me",
        "/api/v1/koc/withdrawals",
        "/api/v1/koc/commissions",
        "/api/v1/koc/wallet",
        "/api/v1/koc/tax?year=2026",
    ):
        seen.append(_text(client.get(path)))

    # the admin: lists, change pages, search, history; the exports other than the tax authority's
    for path in (
        "/admin/kocs/koc/",
        f"/admin/kocs/koc/{koc.pk}/change/",
        f"/admin/kocs/koc/{koc.pk}/history/",
        "/admin/commissions/taxrecord/",
        f"/admin/commissions/taxrecord/{record.pk}/change/",
        "/admin/commissions/withdrawal/",
        f"/admin/commissions/withdrawal/{withdrawal.pk}/change/",
        "/admin/kocs/koc/export.csv",
        "/admin/commissions/withdrawal/export.csv",
        "/admin/commissions/commission/export.csv",
        "/admin/commissions/taxrecord/statement/",
        "/admin/commissions/taxrecord/platform-report/",
    ):
        seen.append(_text(admin_client.get(path)))
    for path in ("/admin/kocs/koc/export.xlsx", "/admin/commissions/withdrawal/export.xlsx"):
        seen.append(_xlsx_text(admin_client.get(path)))
    # an operator changes the number in the admin: the form never echoes it, the history masks it
    other = identity.with_check("11010519491231002")
    page = admin_client.get(f"/admin/kocs/koc/{koc.pk}/change/").content.decode()
    management = dict(
        re.findall(r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)" value="(\d+)"', page)
    )
    saved = admin_client.post(
        f"/admin/kocs/koc/{koc.pk}/change/",
        {
            **management,
            "real_name": "米娅",
            "new_id_number": other,
            "bio": "",
            "legal_name": "",
            "registration_number": "",
        },
    )
    assert saved.status_code == 302
    assert Koc.objects.get(pk=koc.pk).id_number == other
    seen.append(_text(admin_client.get(f"/admin/kocs/koc/{koc.pk}/change/")))
    seen.append(_text(admin_client.get(f"/admin/kocs/koc/{koc.pk}/history/")))
    seen.append(caplog.text)

    for text in seen:
        assert NUMBER not in text
        assert other not in text
    assert "3301**********1234" in seen[0]

    # the control: the tax authority's reports do carry the full number
    month = record.month.strftime("%Y-%m")
    quarter = f"{record.month.year}Q{(record.month.month - 1) // 3 + 1}"
    assert NUMBER in _text(
        admin_client.get(f"/admin/commissions/taxrecord/statement/?month={month}&format=csv")
    )
    assert other in _text(
        admin_client.get(f"/admin/commissions/taxrecord/platform-report/?quarter={quarter}&format=csv")
    )
