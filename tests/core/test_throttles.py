"""Abuse limits that hold (issue 15): keyed on the real client address, counted per user and per
address, atomically, so a burst admits exactly the limit."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connections
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory
from tests.helpers import error_code

# scope -> (path, body, whether the caller is logged in). Bodies are refused after the throttle (400 or
# 404), so admitted requests cost nothing; what is counted is what the throttle let through.
SCOPES = {
    "login": ("/api/v1/auth/wechat-login", {}, False),
    "phone": ("/api/v1/auth/phone", {}, True),
    "share_link": ("/api/v1/share-links", {}, True),
    "refund": ("/api/v1/orders/999999999/refunds", {"reason": "x"}, True),
    "withdrawal": ("/api/v1/koc/withdrawals", {"amount_fen": 1}, True),  # no Idempotency-Key: 400
}
USER_SCOPES = [scope for scope, (_, _, auth) in SCOPES.items() if auth]


@pytest.fixture(autouse=True)
def _still_clock(monkeypatch):
    """Fixed windows: a minute boundary crossed mid-test would open a fresh window and admit more."""
    monkeypatch.setattr("apps.core.throttles.now", lambda: 1_800_000_030.0)


def _rates(settings, **rates):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **rates}


def _client(user=None, address="198.51.100.1", **extra) -> APIClient:
    client = APIClient(REMOTE_ADDR=address, **extra)
    if user is not None:
        client.force_authenticate(user)
    return client


def _post(scope: str, client: APIClient):
    path, body, _ = SCOPES[scope]
    return client.post(path, body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize("scope", list(SCOPES))
def test_each_costly_endpoint_is_limited(settings, scope):
    # given: 3 a minute for the user (or, for login, the address)
    _rates(settings, **{scope: "3/min", f"{scope}_address": "3/min"})
    user = UserFactory() if SCOPES[scope][2] else None

    # when
    responses = [_post(scope, _client(user)) for _ in range(4)]

    # then: three reach the view, the fourth is 429 in the error shape with Retry-After
    assert [r.status_code == 429 for r in responses] == [False, False, False, True]
    assert error_code(responses[3]) == "throttled"
    assert responses[3]["Retry-After"] == "30"  # the window ends 30 s after the held clock


@pytest.mark.django_db
@pytest.mark.parametrize("scope", USER_SCOPES)
def test_the_user_limit_holds_across_addresses(settings, scope):
    _rates(settings, **{scope: "2/min"})
    user = UserFactory()

    statuses = [_post(scope, _client(user, address=f"203.0.113.{i}")).status_code for i in range(3)]

    assert [s == 429 for s in statuses] == [False, False, True]


@pytest.mark.django_db
@pytest.mark.parametrize("scope", USER_SCOPES)
def test_the_address_limit_holds_across_users(settings, scope):
    _rates(settings, **{f"{scope}_address": "2/min"})

    statuses = [_post(scope, _client(UserFactory(), address="203.0.113.9")).status_code for _ in range(3)]

    assert [s == 429 for s in statuses] == [False, False, True]


@pytest.mark.django_db
def test_a_spoofed_x_forwarded_for_does_not_escape_the_login_limit(settings):
    # given: clients connect directly (no trusted proxy) and the login limit is 5 a minute
    _rates(settings, login_address="5/min")

    # when: one client sends 10 logins, each claiming another address
    statuses = [
        _post("login", _client(address="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")).status_code
        for i in range(10)
    ]

    # then: all 10 count against the one real address
    assert Counter(s == 429 for s in statuses) == Counter({False: 5, True: 5})


@pytest.mark.django_db
def test_behind_one_trusted_proxy_the_address_is_the_one_the_proxy_saw(settings, rf):
    settings.TRUSTED_PROXIES = 1
    _rates(settings, login_address="1/min")
    via_proxy = {"address": "10.0.0.2"}  # the proxy's own address, shared by every client

    # when: two clients behind the proxy; the first also forges an entry of its own
    ann = _post("login", _client(**via_proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.10"))
    ann_again = _post("login", _client(**via_proxy, HTTP_X_FORWARDED_FOR="5.6.7.8, 203.0.113.10"))
    ben = _post("login", _client(**via_proxy, HTTP_X_FORWARDED_FOR="203.0.113.11"))

    # then: counted per real client, whatever the forged part says
    assert [ann.status_code == 429, ann_again.status_code == 429, ben.status_code == 429] == [
        False,
        True,
        False,
    ]
    from apps.core.throttles import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.10", REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == "203.0.113.10"
    settings.TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.2"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_100_concurrent_requests_admit_exactly_the_limit(settings):
    # given: the shared cache is Redis, as in production, and every limit is 10 a minute
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            # fresh counters without flushing the Redis database the Celery broker shares
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
        }
    }
    _rates(settings, **{name: "10/min" for name in settings.THROTTLE_RATES})
    user = UserFactory()

    def burst(scope: str) -> Counter:
        barrier = Barrier(100)

        def attempt(_):
            client = _client(user if SCOPES[scope][2] else None)
            try:
                barrier.wait()
                return _post(scope, client).status_code
            finally:
                connections.close_all()

        with ThreadPoolExecutor(100) as pool:
            return Counter(status == 429 for status in pool.map(attempt, range(100)))

    # when: 100 arrive at once on each limited endpoint
    admitted = {scope: burst(scope) for scope in SCOPES}

    # then: exactly 10 pass each time, 90 are throttled
    assert admitted == {scope: Counter({False: 10, True: 90}) for scope in SCOPES}
