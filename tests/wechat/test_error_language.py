"""A WeChat refusal is in the caller's language: Chinese by default, English for en; same code.
Through the in-process sandbox, which must leave the caller's language as it found it."""

import pytest

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/wechat-login"


def test_a_refused_login_code_answers_in_the_callers_language(api_client, wechat_sandbox):
    zh = api_client.post(LOGIN, {"code": "bad-code"}, format="json")
    en = api_client.post(LOGIN, {"code": "bad-code"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (400, 400)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "wechat_code_invalid"
    assert zh.json()["error"]["message"] == "微信登录凭证无效或已使用，请重新登录"
    english = "The WeChat login code is invalid or already used, please log in again."
    assert en.json()["error"]["message"] == english
