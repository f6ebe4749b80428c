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
    assert table[0] == ["ID", "openid", "昵称", "手机", "注册时间"]
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
    assert rows[0] == ("ID", "openid", "昵称", "手机", "注册时间")
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
