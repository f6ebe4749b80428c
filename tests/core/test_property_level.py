"""OWASP API3 (broken object property level authorization): a client cannot write properties it does
not own, and answers carry no property the caller should not read."""

import pytest

from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client


@pytest.mark.django_db
def test_me_ignores_privileged_properties_and_shows_no_private_ones():
    user = UserFactory(phone="13912345678", openid="sandbox-private")
    client = bearer_client(user)

    response = client.patch(
        "/api/v1/me",
        {"nickname": "新名字", "is_staff": True, "is_superuser": True, "openid": "x", "phone": "13000000000"},
        format="json",
    )

    user.refresh_from_db()
    assert response.status_code == 200
    assert set(response.json()) == {"id", "nickname", "avatar_url", "is_koc"}
    assert (user.nickname, user.is_staff, user.is_superuser, user.openid, user.phone) == (
        "新名字",
        False,
        False,
        "sandbox-private",
        "13912345678",
    )
