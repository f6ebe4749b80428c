"""A group-buy refusal is in the caller's language: Chinese by default, English for en; same code."""

import pytest

from apps.groupbuys.models import Group
from tests.groupbuys.factories import shopper_with_address
from tests.helpers import bearer_client

pytestmark = pytest.mark.django_db


def test_over_the_per_user_limit_is_refused_in_the_callers_language(campaign):
    buyer, address = shopper_with_address()
    client = bearer_client(buyer)
    url = f"/api/v1/group-buys/{campaign.pk}/groups"
    body = {"quantity": 3, "address_id": address.pk}  # the demo campaign sells 2 per person

    zh = client.post(url, body, format="json")
    en = client.post(url, body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (409, 409)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "limit_exceeded"
    assert zh.json()["error"]["message"] == "该活动每人限购 2 件"
    assert en.json()["error"]["message"] == "This campaign sells at most 2 per person."
    assert Group.objects.count() == 0
