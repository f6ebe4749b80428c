"""The KOC app's refusals are in the caller's language: Chinese by default (unchanged texts), English for
en. The code clients switch on is the same in both."""

from __future__ import annotations

import pytest
from django.utils import translation

from apps.core.errors import ApplicationError
from apps.kocs import services
from apps.kocs.models import Koc
from tests.helpers import error_code

pytestmark = pytest.mark.django_db


def _apply(client, **extra):
    return client.post(
        "/api/v1/koc/apply", {"real_name": "李小花", "invite_code": "NOPE99"}, format="json", **extra
    )


def test_a_bad_invite_code_is_refused_in_the_callers_language(shopper_client):
    zh = _apply(shopper_client)
    en = _apply(shopper_client, HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (400, 400)
    assert error_code(zh) == error_code(en) == "invite_code_invalid"
    assert zh.json()["error"]["message"] == "邀请码无效"
    assert en.json()["error"]["message"] == "Invalid invite code."
    assert Koc.objects.count() == 0


def test_not_a_koc_is_said_in_the_callers_language(shopper_client):
    zh = shopper_client.get("/api/v1/koc/me")
    en = shopper_client.get("/api/v1/koc/me", HTTP_ACCEPT_LANGUAGE="en")

    assert error_code(zh) == error_code(en) == "not_a_koc"
    assert zh.json()["error"]["message"] == "您还不是 KOC"
    assert en.json()["error"]["message"] == "You are not a KOC yet."


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-hans", "{role} 必须有上级"), ("en", "{role} needs a parent")],
)
def test_a_message_with_details_fills_them_in_either_language(language, expected):
    with translation.override(language):
        with pytest.raises(ApplicationError) as caught:
            services.koc_create(role=Koc.Role.AGENCY, parent=None, legal_name="某机构")
        assert caught.value.code == "invalid_parent"
        assert caught.value.message == expected.format(role=Koc.Role.AGENCY.label)
