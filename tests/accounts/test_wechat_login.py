import re

import pytest
import responses

from apps.accounts.models import User
from apps.wechat.sandbox import miniprogram
from tests.helpers import bearer_client, error_code

LOGIN = "/api/v1/auth/wechat-login"


@pytest.mark.django_db
def test_login_through_the_sandbox_creates_the_user_once_and_answers_tokens(api_client, wechat_sandbox):
    # when
    first = api_client.post(LOGIN, {"code": "koc-mia", "invite_code": "LILY2026"}, format="json")
    second = api_client.post(LOGIN, {"code": "koc-mia"}, format="json")

    # then
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access", "refresh", "user"}
    user = User.objects.get(openid="sandbox-koc-mia")
    assert body["user"] == {"id": user.pk, "nickname": "", "avatar_url": "", "is_koc": False}
    assert second.json()["user"]["id"] == user.pk
    assert User.objects.filter(openid="sandbox-koc-mia").count() == 1
    assert user.unionid == "sandbox-union-koc-mia"
    assert user.signup_invite_code == "LILY2026"
    me = bearer_client(user).get("/api/v1/me")
    assert me.json()["id"] == user.pk


@pytest.mark.django_db
def test_the_sandbox_refuses_codes_starting_with_bad(api_client, wechat_sandbox):
    response = api_client.post(LOGIN, {"code": "bad-code"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "wechat_code_invalid", "message": "微信登录凭证无效或已使用，请重新登录"}
    }
    assert User.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_login_over_real_http_against_a_live_sandbox(api_client, live_server, settings):
    # given: wechatpy really sends its requests, over TCP, to the sandbox of a live server
    settings.WECHAT_SANDBOX_BASE_URL = f"{live_server.url}/wechat-sandbox"

    # when
    response = api_client.post(LOGIN, {"code": "koc-lily"}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert User.objects.get(pk=response.json()["user"]["id"]).openid == "sandbox-koc-lily"


WECHAT = "https://api.weixin.qq.com"


@pytest.fixture
def real_wechat(settings):
    """The production path: no sandbox, WeChat itself (faked here with `responses`)."""
    settings.WECHAT_SANDBOX = False
    settings.WECHAT_API_BASE_URL = WECHAT
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.POST, f"{WECHAT}/cgi-bin/stable_token", json={"access_token": "T1", "expires_in": 7200}
        )
        yield mock


def _session(errcode=None, errmsg="x"):
    if errcode is None:
        return {"json": {"openid": "o-real", "session_key": "k"}}
    return {"json": {"errcode": errcode, "errmsg": errmsg}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 400, "wechat_code_invalid"),
        (40163, 400, "wechat_code_invalid"),
        (45011, 429, "wechat_rate_limited"),
        (-1, 503, "wechat_busy"),
        (40013, 502, "wechat_error"),
    ],
)
def test_wechat_errors_become_clear_api_errors(api_client, real_wechat, errcode, status, code):
    real_wechat.add(responses.GET, re.compile(f"{WECHAT}/sns/jscode2session.*"), **_session(errcode))

    response = api_client.post(LOGIN, {"code": "abc"}, format="json")

    assert response.status_code == status
    assert error_code(response) == code
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_system_busy_is_retried_before_it_is_reported(api_client, real_wechat):
    url = re.compile(f"{WECHAT}/sns/jscode2session.*")
    real_wechat.add(responses.GET, url, **_session(-1))
    real_wechat.add(responses.GET, url, **_session())

    response = api_client.post(LOGIN, {"code": "abc"}, format="json")

    assert response.status_code == 200
    assert User.objects.get().openid == "o-real"


@pytest.mark.django_db
def test_network_failure_is_a_503_not_a_500(api_client, real_wechat):
    import requests

    real_wechat.add(
        responses.GET, re.compile(f"{WECHAT}/sns/jscode2session.*"), body=requests.ConnectionError()
    )

    response = api_client.post(LOGIN, {"code": "abc"}, format="json")

    assert response.status_code == 503
    assert error_code(response) == "wechat_busy"


@pytest.mark.django_db
def test_expired_token_40001_is_refetched_and_the_call_retried(shopper_client, shopper, real_wechat):
    # given: the cached token was invalidated elsewhere; stable_token now gives T2
    real_wechat.replace(
        responses.POST, f"{WECHAT}/cgi-bin/stable_token", json={"access_token": "T2", "expires_in": 7200}
    )
    from django.core.cache import cache

    cache.set("wechatpy:wx-sandbox-appid_access_token", "T1", 3600)
    url = f"{WECHAT}/wxa/business/getuserphonenumber"
    real_wechat.add(
        responses.POST,
        url,
        json={"errcode": 40001, "errmsg": "invalid credential"},
        match=[responses.matchers.query_param_matcher({"access_token": "T1"})],
    )
    real_wechat.add(
        responses.POST,
        url,
        json={"errcode": 0, "phone_info": {"purePhoneNumber": "13912345678"}},
        match=[responses.matchers.query_param_matcher({"access_token": "T2"})],
    )

    # when
    response = shopper_client.post("/api/v1/auth/phone", {"code": "c"}, format="json")

    # then: a normal-mode stable_token fetch (no forced refresh: T2 differs from the rejected T1)
    assert response.status_code == 200
    assert response.json() == {"phone_masked": "139****5678"}
    token_calls = [c for c in real_wechat.calls if c.request.url.endswith("stable_token")]
    assert len(token_calls) == 1
    assert b'"force_refresh": false' in token_calls[0].request.body
    assert cache.get("wechatpy:wx-sandbox-appid_access_token") == "T2"


@pytest.mark.django_db
def test_token_is_forced_only_when_wechat_returns_the_rejected_one(shopper_client, real_wechat):
    from django.core.cache import cache

    cache.set("wechatpy:wx-sandbox-appid_access_token", "T1", 3600)
    real_wechat.replace(
        responses.POST, f"{WECHAT}/cgi-bin/stable_token", json={"access_token": "T1", "expires_in": 7200}
    )
    real_wechat.add(
        responses.POST, f"{WECHAT}/cgi-bin/stable_token", json={"access_token": "T3", "expires_in": 7200}
    )
    url = f"{WECHAT}/wxa/business/getuserphonenumber"
    real_wechat.add(
        responses.POST,
        url,
        json={"errcode": 40001, "errmsg": "x"},
        match=[responses.matchers.query_param_matcher({"access_token": "T1"})],
    )
    real_wechat.add(
        responses.POST,
        url,
        json={"errcode": 0, "phone_info": {"purePhoneNumber": "13900000001"}},
        match=[responses.matchers.query_param_matcher({"access_token": "T3"})],
    )

    response = shopper_client.post("/api/v1/auth/phone", {"code": "c"}, format="json")

    assert response.status_code == 200
    bodies = [c.request.body for c in real_wechat.calls if c.request.url.endswith("stable_token")]
    assert [b'"force_refresh": true' in b for b in bodies] == [False, True]


@pytest.mark.django_db
def test_the_access_token_is_shared_through_the_cache(shopper_client, real_wechat):
    url = f"{WECHAT}/wxa/business/getuserphonenumber"
    real_wechat.add(
        responses.POST, url, json={"errcode": 0, "phone_info": {"purePhoneNumber": "13900000001"}}
    )

    for _ in range(3):
        assert shopper_client.post("/api/v1/auth/phone", {"code": "c"}, format="json").status_code == 200

    assert len([c for c in real_wechat.calls if c.request.url.endswith("stable_token")]) == 1


@pytest.mark.django_db
def test_phone_binding_through_the_sandbox(shopper_client, shopper, wechat_sandbox):
    response = shopper_client.post("/api/v1/auth/phone", {"code": "13812345678"}, format="json")

    assert response.status_code == 200
    assert response.json() == {"phone_masked": "138****5678"}
    shopper.refresh_from_db()
    assert shopper.phone == "13812345678"


@pytest.mark.django_db
def test_phone_with_a_bad_code_changes_nothing(shopper_client, shopper, wechat_sandbox):
    response = shopper_client.post("/api/v1/auth/phone", {"code": "bad"}, format="json")

    assert response.status_code == 400
    assert error_code(response) == "wechat_code_invalid"
    shopper.refresh_from_db()
    assert shopper.phone == ""


def test_sandbox_scene_rule_matches_wechat():
    assert miniprogram.SCENE_RE.match("a" * 32)
    assert not miniprogram.SCENE_RE.match("a" * 33)
    assert not miniprogram.SCENE_RE.match("空格 not allowed")
