import io

import pytest
from django.core.management import CommandError, call_command

from apps.core.permissions import IsOperator
from tests.accounts.factories import UserFactory


@pytest.mark.django_db
def test_create_ops_token_prints_a_key_that_authenticates(api_client):
    staff = UserFactory(username="brand-ops", is_staff=True)
    out = io.StringIO()

    call_command("create_ops_token", "brand-ops", stdout=out)
    again = io.StringIO()
    call_command("create_ops_token", "brand-ops", stdout=again)

    key = out.getvalue().strip()
    assert len(key) == 40
    assert again.getvalue().strip() == key
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/me").json()["id"] == staff.pk


@pytest.mark.django_db
def test_create_ops_token_refuses_non_staff_and_unknown_users():
    UserFactory(username="shopper-1")

    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("create_ops_token", "shopper-1")
    with pytest.raises(CommandError, match="no user named"):
        call_command("create_ops_token", "nobody")


@pytest.mark.django_db
def test_is_operator_permission(rf):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    checks = []
    for user in (
        AnonymousUser(),
        UserFactory(),
        UserFactory(is_staff=True),
        UserFactory(is_staff=True, is_active=False),
    ):
        request.user = user
        checks.append(IsOperator().has_permission(request, None))

    assert checks == [False, False, True, False]
