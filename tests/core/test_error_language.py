"""An API error's message is in the caller's language: Chinese by default and for zh, English for en.
The code clients switch on is the same in both."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_missing_product_answers_in_the_callers_language(api_client):
    zh = api_client.get("/api/v1/products/999999")
    en = api_client.get("/api/v1/products/999999", HTTP_ACCEPT_LANGUAGE="en")
    default = api_client.get("/api/v1/products/999999", HTTP_ACCEPT_LANGUAGE="")

    assert (zh.status_code, en.status_code) == (404, 404)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "not_found"
    assert default.json()["error"]["message"] == zh.json()["error"]["message"] == "未找到"
    assert en.json()["error"]["message"] == "Nothing was found."
