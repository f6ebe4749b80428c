"""A sharing refusal is in the caller's language: Chinese by default, English for en; same code."""

import pytest
from django.utils import translation

from apps.core.errors import InvalidInput
from apps.sharing import services
from apps.sharing.models import ShareLink
from tests.helpers import bearer_client
from tests.sharing.factories import make_koc_user

pytestmark = pytest.mark.django_db


def test_a_missing_share_link_answers_in_the_callers_language():
    client = bearer_client(make_koc_user())

    zh = client.get("/api/v1/share-links/nosuchcode")
    en = client.get("/api/v1/share-links/nosuchcode", HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (404, 404)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "not_found"
    assert zh.json()["error"]["message"] == "分享链接不存在"
    assert en.json()["error"]["message"] == "The share link does not exist."


def test_an_unknown_share_target_is_refused_in_the_callers_language():
    koc = make_koc_user()
    with translation.override("zh-hans"), pytest.raises(InvalidInput) as zh:
        services.share_link_get_or_create(sharer=koc, target="spaceship", target_id=1)
    with translation.override("en"), pytest.raises(InvalidInput) as en:
        services.share_link_get_or_create(sharer=koc, target="spaceship", target_id=1)

    assert zh.value.message == "分享对象无效"
    assert zh.value.fields["target"][0].startswith("“spaceship”不可分享。")
    assert en.value.message == "The share target is not valid."
    assert en.value.fields["target"][0].startswith("“spaceship” cannot be shared. ")
    assert ShareLink.objects.count() == 0
