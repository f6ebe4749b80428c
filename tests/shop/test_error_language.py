"""A shop refusal is in the caller's language: Chinese by default, English for en; same code and fields."""

import pytest

from apps.shop.models import Order
from tests.accounts.factories import AddressFactory
from tests.shop.factories import SkuFactory

pytestmark = pytest.mark.django_db


def test_a_bad_quantity_is_refused_in_the_callers_language(shopper_client, shopper):
    address = AddressFactory(user=shopper)
    sku = SkuFactory(stock=1000)
    body = {"items": [{"sku_id": sku.pk, "quantity": 0}], "address_id": address.pk}

    zh = shopper_client.post("/api/v1/orders", body, format="json")
    en = shopper_client.post("/api/v1/orders", body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert (zh.status_code, en.status_code) == (400, 400)
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "invalid_quantity"
    assert zh.json()["error"]["message"] == "每件商品购买数量须为 1 到 99"
    english = "The quantity of each item must be 1 to 99."
    assert en.json()["error"]["message"] == english
    assert en.json()["error"]["fields"] == {"items.0.quantity": [english]}
    assert Order.objects.count() == 0
