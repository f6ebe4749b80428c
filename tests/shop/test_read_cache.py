"""The catalogue's cached answers: the same bytes as before, no query when warm, and every write
that changes what they show makes the next answer fresh (apps.core.readcache, apps.shop.read_cache).

These tests commit (transaction=True): the cache is used outside transactions only, and the
generations are bumped when a write commits, as in production.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.core import readcache
from apps.shop import read_cache, selectors, services
from apps.shop.apis import ProductDetailOutputSerializer, ProductOutputSerializer
from tests.accounts.factories import UserFactory
from tests.groupbuys.factories import CampaignFactory
from tests.helpers import bearer_client
from tests.shop.factories import BrandFactory, SkuFactory, make_order, png_bytes
from tests.shop.journey import pay_through_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


def detail(client, product) -> dict:
    response = client.get(f"/api/v1/products/{product.pk}")
    assert response.status_code == 200, response.content
    return response.json()


def listing(client, query: str = "") -> dict:
    response = client.get(f"/api/v1/products{query}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def sku():
    sku = SkuFactory(price_fen=9900, stock=10, spec="250g")
    services.product_image_add(
        product=sku.product, upload=SimpleUploadedFile("a.png", png_bytes(), "image/png")
    )
    return sku


def test_answers_are_the_bytes_drf_renders_and_a_warm_answer_runs_no_query(
    api_client, sku, django_assert_num_queries
):
    product = sku.product
    CampaignFactory(sku=sku)
    url = f"/api/v1/products/{product.pk}"

    with django_assert_num_queries(4):  # product+brand+price, pictures, SKUs, campaigns
        cold = api_client.get(url)
    with django_assert_num_queries(0):
        warm = api_client.get(url)

    # then: what DRF's Response rendered before the cache, byte for byte, and the same headers
    loaded = selectors.product_get(product_id=product.pk)
    group_buys = selectors.group_buy_summaries([loaded])
    expected = JSONRenderer().render(
        ProductDetailOutputSerializer(loaded, context={"group_buys": group_buys}).data
    )
    assert cold.content == warm.content == expected
    assert cold["Content-Type"] == warm["Content-Type"] == "application/json"


def test_list_pages_are_the_bytes_drf_renders_and_warm_pages_run_no_query(
    api_client, sku, django_assert_num_queries
):
    for _ in range(4):
        SkuFactory()
    url = "/api/v1/products?page_size=2&page=2"

    with django_assert_num_queries(4):  # count, page, pictures, campaigns
        cold = api_client.get(url)
    with django_assert_num_queries(0):
        warm = api_client.get(url)

    page = list(selectors.product_list())[2:4]
    results = ProductOutputSerializer(page, many=True, context={"group_buys": {}}).data
    assert cold.json()["results"] == list(results)
    assert cold.content == warm.content
    assert cold.json()["next"] == "http://testserver/api/v1/products?page=3&page_size=2"
    # another URL is another answer (its links differ), and errors are never stored
    assert api_client.get("/api/v1/products?page_size=2").json()["next"].endswith("page=2&page_size=2")
    assert api_client.get("/api/v1/products?page=9").status_code == 404
    assert api_client.get("/api/v1/products?ordering=nope").status_code == 400
    assert api_client.get("/api/v1/products?ordering=nope").status_code == 400


def test_editing_the_product_shows_in_its_detail_and_the_lists(api_client, sku):
    product = sku.product
    assert detail(api_client, product)["title"] == product.title
    listing(api_client)

    product.title = "新标题"
    product.description = "新描述"
    product.save()

    assert (detail(api_client, product)["title"], detail(api_client, product)["description"]) == (
        "新标题",
        "新描述",
    )
    assert listing(api_client)["results"][0]["title"] == "新标题"


def test_a_sku_price_change_shows_in_the_detail_and_the_lists(api_client, sku):
    assert detail(api_client, sku.product)["price_fen"] == 9900
    assert listing(api_client)["results"][0]["price_fen"] == 9900

    sku.price_fen = 8800
    sku.save()

    answer = detail(api_client, sku.product)
    assert (answer["price_fen"], answer["skus"][0]["price_fen"]) == (8800, 8800)
    assert listing(api_client)["results"][0]["price_fen"] == 8800


def test_stock_taken_by_an_order_and_given_back_by_its_cancellation(api_client, sku):
    assert detail(api_client, sku.product)["skus"][0]["stock"] == 10

    order = make_order(sku=sku, quantity=3)
    assert detail(api_client, sku.product)["skus"][0]["stock"] == 7

    services.order_cancel(order=order, reason="buyer")
    assert detail(api_client, sku.product)["skus"][0]["stock"] == 10


def test_a_payment_shows_in_sales_and_a_full_refund_of_unshipped_goods_gives_the_stock_back(
    api_client, sku, wechat_sandbox
):
    shopper = UserFactory()
    order = make_order(buyer=shopper, sku=sku, quantity=2)
    assert (
        detail(api_client, sku.product)["sales"],
        detail(api_client, sku.product)["skus"][0]["stock"],
    ) == (0, 8)
    assert listing(api_client, "?ordering=-sales")["results"][0]["sales"] == 0

    pay_through_sandbox(bearer_client(shopper), order.pk)

    assert detail(api_client, sku.product)["sales"] == 2
    assert listing(api_client, "?ordering=-sales")["results"][0]["sales"] == 2

    refund = services.refund_create(order=order, amount_fen=None, reason="整单退", auto_approve=True)
    services.refund_submit(refund_id=refund.pk)
    _deliver_refund_notification(refund.out_refund_no)
    order.refresh_from_db()
    assert order.status == "refunded"
    assert detail(api_client, sku.product)["skus"][0]["stock"] == 10


def _deliver_refund_notification(out_refund_no: str) -> None:
    from django.test import Client

    from apps.wechat.sandbox import pay as sandbox

    refund = sandbox.get_refund(out_refund_no)
    refund.update(status="SUCCESS", success_time=sandbox._now_iso())
    sandbox._save_refund(refund)
    url, headers, body = sandbox.refund_notification(out_refund_no)
    response = Client().generic(
        "POST",
        url.removeprefix("http://testserver"),
        data=body,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 204, response.content


def test_unpublishing_the_product_or_its_last_sku_takes_it_off(api_client, sku):
    other = SkuFactory().product
    product = sku.product
    detail(api_client, product)
    assert len(listing(api_client)["results"]) == 2

    product.is_active = False
    product.save()

    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404
    assert [p["id"] for p in listing(api_client)["results"]] == [other.pk]

    product.is_active = True
    product.save()
    detail(api_client, product)
    sku.is_active = False
    sku.save()
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404


def test_a_brand_change_shows_on_its_products_and_a_brand_switched_off_hides_them(api_client, sku):
    product = sku.product
    assert detail(api_client, product)["brand"]["name"] == product.brand.name
    listing(api_client)

    brand = product.brand
    brand.name = "新品牌名"
    brand.save()
    assert detail(api_client, product)["brand"]["name"] == "新品牌名"
    assert listing(api_client)["results"][0]["brand"]["name"] == "新品牌名"

    brand.is_active = False
    brand.save()
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404
    assert listing(api_client)["results"] == []


def test_a_new_picture_and_a_new_campaign_show(api_client, sku):
    product = sku.product
    before = detail(api_client, product)
    assert (len(before["images"]), before["group_buy"]) == (1, None)

    services.product_image_add(product=product, upload=SimpleUploadedFile("b.png", png_bytes(), "image/png"))
    assert len(detail(api_client, product)["images"]) == 2

    campaign = CampaignFactory(sku=sku, group_price_fen=6900)
    expected = {"campaign_id": campaign.pk, "group_price_fen": 6900, "group_size": 3}
    assert detail(api_client, product)["group_buy"] == expected
    assert listing(api_client)["results"][0]["group_buy"] == expected

    campaign.is_active = False
    campaign.save()
    assert detail(api_client, product)["group_buy"] is None


def test_a_campaign_starting_later_shows_from_its_start_without_any_write(api_client, sku):
    # given: a campaign that starts in five minutes, and the product's answer cached now
    now = timezone.now()
    starts = now + timedelta(minutes=5)
    campaign = CampaignFactory(sku=sku, starts_at=starts, ends_at=starts + timedelta(days=1))
    assert detail(api_client, sku.product)["group_buy"] is None
    cached_for = _seconds_stored(read_cache.product_detail_key(sku.product.pk))
    assert 290 <= cached_for <= 300  # kept no longer than the campaign's start

    # when: the clock passes the start (the cache's clock and the application's)
    later = starts + timedelta(seconds=1)
    with _clock(later):
        answer = detail(api_client, sku.product)

    # then: it shows, though nothing was written
    assert answer["group_buy"]["campaign_id"] == campaign.pk


def _seconds_stored(key: str) -> float:
    """How long the answer stored under `key` (in whichever language) has left to live."""
    import time

    from django.core.cache import cache

    prefix = cache.make_key(f"{key}:")
    [expiry] = [at for name, at in cache._expire_info.items() if name.startswith(prefix)]
    return expiry - time.time()


class _clock:
    def __init__(self, moment):
        self.moment = moment
        self.patches = []

    def __enter__(self):
        import time

        offset = (self.moment - timezone.now()).total_seconds()
        fake_time = mock.Mock(time=lambda: time.time() + offset)
        self.patches = [
            mock.patch("django.core.cache.backends.locmem.time", fake_time),
            mock.patch("django.utils.timezone.now", lambda: self.moment),
        ]
        for patch in self.patches:
            patch.start()

    def __exit__(self, *exc):
        for patch in self.patches:
            patch.stop()


def test_a_category_change_reaches_the_filtered_lists(api_client, sku):
    from tests.shop.factories import CategoryFactory

    product = sku.product
    other = CategoryFactory()
    assert listing(api_client, f"?category={other.pk}")["results"] == []

    product.category = other
    product.save()

    assert [p["id"] for p in listing(api_client, f"?category={other.pk}")["results"]] == [product.pk]


def test_nothing_is_cached_inside_a_transaction(api_client, sku):
    from django.db import transaction

    with transaction.atomic():
        assert readcache.cached("rc:body:test", [], lambda: ("built", None)) == "built"
    assert readcache.cached("rc:body:test", [], lambda: ("again", None)) == "again"
    assert readcache.cached("rc:body:test", [], lambda: ("third", None)) == "again"


def test_a_generation_the_cache_lost_never_matches_an_old_answer(sku):
    from django.core.cache import cache

    gen = read_cache.product_gen(sku.product.pk)
    assert readcache.cached("rc:body:test", [gen], lambda: ("old", None)) == "old"
    cache.delete(gen)  # evicted

    assert readcache.cached("rc:body:test", [gen], lambda: ("new", None)) == "new"


def test_the_cache_off_answers_from_the_database(api_client, sku, settings):
    settings.READ_CACHE = False
    detail(api_client, sku.product)
    with CaptureQueriesContext(connection) as queries:
        detail(api_client, sku.product)
    assert len(queries) == 4


def test_a_brand_list_of_another_brand_is_its_own_answer(api_client, sku):
    other = SkuFactory(product__brand=BrandFactory()).product
    assert [p["id"] for p in listing(api_client, f"?brand={other.brand_id}")["results"]] == [other.pk]
    assert [p["id"] for p in listing(api_client, f"?brand={sku.product.brand_id}")["results"]] == [
        sku.product.pk
    ]


def test_a_list_url_with_other_parameters_is_answered_but_not_kept(
    api_client, sku, django_assert_num_queries
):
    url = "/api/v1/products?utm_source=wechat"
    first = api_client.get(url)
    with django_assert_num_queries(4):
        again = api_client.get(url)
    assert first.content == again.content
    assert first.json()["results"][0]["id"] == sku.product.pk


def test_asking_for_missing_products_leaves_nothing_for_good(api_client):
    import time

    from django.core.cache import cache

    assert api_client.get("/api/v1/products/987654321").status_code == 404

    # the answer is not stored; the generation a reader drew for it lapses within a day
    stored = {name: at for name, at in cache._expire_info.items() if "987654321" in name}
    assert [name.split(":")[-1] for name in stored] == ["987654321"]
    assert all(at is not None and at - time.time() <= readcache.GENERATION_SECONDS for at in stored.values())
