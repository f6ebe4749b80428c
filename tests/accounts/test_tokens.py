"""Refresh tokens rotate and can be revoked; gone or inactive users' refreshes are 401 token_invalid."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.accounts.factories import UserFactory
from tests.helpers import error_code

REFRESH = "/api/v1/auth/refresh"


def _refresh(client, token: str):
    return client.post(REFRESH, {"refresh": token}, format="json")


@pytest.mark.django_db
def test_a_refresh_token_works_once_and_the_rotated_one_works_next(api_client, shopper):
    first = str(RefreshToken.for_user(shopper))

    rotated = _refresh(api_client, first)
    reused = _refresh(api_client, first)
    next_one = _refresh(api_client, rotated.json()["refresh"])

    assert rotated.status_code == 200
    assert (reused.status_code, error_code(reused)) == (401, "token_invalid")
    assert next_one.status_code == 200


@pytest.mark.django_db
def test_logout_revokes_the_refresh_token(api_client, shopper):
    token = str(RefreshToken.for_user(shopper))

    logout = api_client.post("/api/v1/auth/logout", {"refresh": token}, format="json")
    after = _refresh(api_client, token)
    again = api_client.post("/api/v1/auth/logout", {"refresh": token}, format="json")

    assert logout.status_code == 204
    assert (after.status_code, error_code(after)) == (401, "token_invalid")
    assert (again.status_code, error_code(again)) == (401, "token_invalid")


@pytest.mark.django_db
def test_a_login_gives_a_refresh_token_logout_can_revoke(api_client, wechat_sandbox):
    tokens = api_client.post("/api/v1/auth/wechat-login", {"code": "logout-me"}, format="json").json()

    logout = api_client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")

    assert logout.status_code == 204
    assert _refresh(api_client, tokens["refresh"]).status_code == 401


@pytest.mark.django_db
def test_a_deleted_users_refresh_is_401_token_invalid(api_client):
    user = UserFactory()
    token = str(RefreshToken.for_user(user))
    user.delete()

    response = _refresh(api_client, token)

    assert (response.status_code, error_code(response)) == (401, "token_invalid")


@pytest.mark.django_db
def test_an_inactive_users_refresh_is_401_token_invalid(api_client):
    user = UserFactory()
    token = str(RefreshToken.for_user(user))
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = _refresh(api_client, token)

    assert (response.status_code, error_code(response)) == (401, "token_invalid")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_refreshes_of_one_token_rotate_it_exactly_once():
    token = str(RefreshToken.for_user(UserFactory()))
    barrier = Barrier(20)

    def attempt(_):
        try:
            barrier.wait()
            return _refresh(APIClient(), token).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(attempt, range(20)))

    assert statuses == [200] + [401] * 19
