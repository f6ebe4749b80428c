"""stable_token: a forced refresh only when the rejected token is still the current one, once per 30 s."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from apps.wechat.client import miniprogram_client
from apps.wechat.sandbox import miniprogram as sandbox_mp
from apps.wechat.subscribe import send_subscribe_message

TOKEN_KEY = "wechatpy:wx-sandbox-appid_access_token"


def forced_refreshes(mock) -> int:
    return len(
        [
            c
            for c in mock.calls
            if c.request.url.endswith("/cgi-bin/stable_token") and json.loads(c.request.body)["force_refresh"]
        ]
    )


def send():
    return send_subscribe_message(openid="sandbox-a", template_id="T", data={"thing1": "x"})


@pytest.mark.django_db
def test_a_request_rejected_on_an_old_token_takes_the_one_another_process_cached(wechat_sandbox):
    # given: this process sent T1; meanwhile another process refreshed and cached T2
    client = miniprogram_client()
    old = client.access_token
    sandbox_mp.invalidate_tokens()
    current = miniprogram_client()._stable_token(force_refresh=False)["access_token"]
    cache.set(TOKEN_KEY, current, 3600)

    # when: WeChat rejects T1 (40001) and wechatpy fetches a token and retries
    result = client.post(
        "https://api.weixin.qq.com/cgi-bin/message/subscribe/send",
        params={"access_token": old},
        data={"touser": "sandbox-a", "template_id": "T", "data": {"thing1": {"value": "x"}}},
    )

    # then: it used T2; nothing was forced, so T2 is still valid for everyone
    assert result["errcode"] == 0
    assert forced_refreshes(wechat_sandbox) == 0
    assert cache.get(TOKEN_KEY) == current
    assert cache.get(sandbox_mp._TOKEN_KEY.format(current)) is not None


@pytest.mark.django_db
def test_a_current_token_rejected_twice_is_force_refreshed_once_per_30_seconds(wechat_sandbox):
    # given: WeChat rejects the current token on the next two calls (it still answers it in
    # normal mode), as after an invalidation this process cannot see
    for _ in range(2):
        response = Client().post(
            "/wechat-sandbox/faults",
            {"api": "subscribe", "fault": "token_expired"},
            content_type="application/json",
        )
        assert response.status_code == 201

    # when: two sends within 30 seconds
    first, second = send(), send()

    # then: both went through, with one forced refresh between them
    assert (first["errcode"], second["errcode"]) == (0, 0)
    assert forced_refreshes(wechat_sandbox) == 1
