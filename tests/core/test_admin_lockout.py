"""The admin login locks out after repeated failures (django-axes), keyed on the real client address."""

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory


@pytest.fixture
def admin_user(db, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    user = UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None)
    user.set_password("right-password-123")
    user.save()
    return user


def _login(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "boss", "password": password})


def test_five_wrong_passwords_lock_the_admin_login_even_for_the_right_one(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.5")

    failures = [_login(client, f"guess-{i}").status_code for i in range(5)]
    right = _login(client, "right-password-123")

    # the form again with its error, four times; the fifth failure is the lockout itself
    assert failures == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_right_password_after_fewer_failures_logs_in(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.6")

    for i in range(4):
        _login(client, f"guess-{i}")
    right = _login(client, "right-password-123")

    assert (right.status_code, right["Location"]) == (302, "/admin/")


def test_the_lockout_also_holds_for_the_username_from_other_addresses(admin_user):
    for i in range(5):
        _login(Client(REMOTE_ADDR=f"203.0.113.{20 + i}"), f"guess-{i}")

    right = _login(Client(REMOTE_ADDR="203.0.113.99"), "right-password-123")

    assert right.status_code == 429
