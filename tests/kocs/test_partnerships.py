"""Storefront picks (选品), the public storefront, brand affinity and invitations."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.kocs import selectors, services
from apps.kocs.models import BrandInvitation, Koc, KocOrderLine, KocProductPick
from apps.shop import services as shop_services
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client, error_code
from tests.kocs.factories import (
    BrandFactory,
    CategoryFactory,
    ProductFactory,
    SkuFactory,
    make_individual,
    make_leader,
    png_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def koc():
    return make_individual(parent=make_leader())


@pytest.fixture
def koc_client(koc):
    return bearer_client(koc.user)


def product_with_sku(price_fen: int = 9_900, **kwargs):
    return SkuFactory(price_fen=price_fen, product=ProductFactory(**kwargs)).product


# --- storefront picks ------------------------------------------------------------------------------


def test_a_koc_picks_lists_and_removes_storefront_products(koc, koc_client):
    # given
    tea = product_with_sku(price_fen=9_900, title="明前龙井 250g")
    SkuFactory(product=tea, spec="500g", price_fen=18_000)
    cup = product_with_sku(price_fen=2_500)

    # when
    first = koc_client.post("/api/v1/koc/storefront/products", {"product_id": tea.pk}, format="json")
    koc_client.post("/api/v1/koc/storefront/products", {"product_id": cup.pk}, format="json")
    again = koc_client.post("/api/v1/koc/storefront/products", {"product_id": tea.pk}, format="json")

    # then
    assert first.status_code == 201
    assert first.json()["price_fen"] == 9_900 and first.json()["title"] == "明前龙井 250g"
    assert again.status_code == 200
    listing = koc_client.get("/api/v1/koc/storefront/products").json()
    assert listing["count"] == 2
    assert [(p["product_id"], p["position"], p["available"]) for p in listing["results"]] == [
        (tea.pk, 1, True),
        (cup.pk, 2, True),
    ]

    # when: removing
    assert koc_client.delete(f"/api/v1/koc/storefront/products/{tea.pk}").status_code == 204
    resp = koc_client.delete(f"/api/v1/koc/storefront/products/{tea.pk}")

    # then
    assert resp.status_code == 404
    assert list(KocProductPick.objects.values_list("product_id", flat=True)) == [cup.pk]


def test_only_products_on_sale_can_be_picked(koc_client):
    hidden = product_with_sku(is_active=False)
    for product_id in (hidden.pk, 999_999):
        resp = koc_client.post("/api/v1/koc/storefront/products", {"product_id": product_id}, format="json")
        assert resp.status_code == 400
        assert error_code(resp) == "product_not_available"


def test_a_storefront_holds_at_most_50_products(koc, koc_client):
    for _ in range(services.MAX_PICKS):
        services.storefront_pick_add(koc=koc, product_id=product_with_sku().pk)
    resp = koc_client.post(
        "/api/v1/koc/storefront/products", {"product_id": product_with_sku().pk}, format="json"
    )
    assert resp.status_code == 409
    assert error_code(resp) == "storefront_full"


def test_picks_are_for_approved_kocs_only(shopper, shopper_client):
    product = product_with_sku()
    resp = shopper_client.post("/api/v1/koc/storefront/products", {"product_id": product.pk}, format="json")
    assert resp.status_code == 404 and error_code(resp) == "not_a_koc"
    services.koc_apply(user=shopper, real_name="李小花")
    resp = shopper_client.get("/api/v1/koc/storefront/products")
    assert resp.status_code == 404 and error_code(resp) == "not_a_koc"


def test_the_public_storefront_shows_picked_products_in_a_fixed_number_of_queries(
    koc, api_client, django_assert_num_queries, settings
):
    # given: three picks, one with a picture, one later taken off sale
    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    products = [product_with_sku(price_fen=1_000 * (i + 1)) for i in range(3)]
    shop_services.product_image_add(
        product=products[1], upload=SimpleUploadedFile("p.png", png_bytes(), content_type="image/png")
    )
    for product in products:
        services.storefront_pick_add(koc=koc, product_id=product.pk)
    type(products[2]).objects.filter(pk=products[2].pk).update(is_active=False)

    # when: koc, products, images
    with django_assert_num_queries(3):
        resp = api_client.get(f"/api/v1/storefronts/{koc.invite_code.lower()}")

    # then
    assert resp.status_code == 200
    body = resp.json()
    assert body["koc"]["nickname"] == koc.user.nickname
    assert body["koc"]["invite_code"] == koc.invite_code
    assert [(p["id"], p["price_fen"]) for p in body["products"]] == [
        (products[0].pk, 1_000),
        (products[1].pk, 2_000),
    ]
    assert body["products"][0]["cover_url"] is None
    assert body["products"][1]["cover_url"].startswith("https://shop.example.com/")
    assert body["products"][0]["brand"] == {"id": products[0].brand_id, "name": products[0].brand.name}

    # and the query count does not grow with the picks
    for _ in range(10):
        services.storefront_pick_add(koc=koc, product_id=product_with_sku().pk)
    with django_assert_num_queries(3):
        assert len(api_client.get(f"/api/v1/storefronts/{koc.invite_code}").json()["products"]) == 12


def test_a_storefront_needs_an_approved_individual(api_client):
    pending = services.koc_apply(user=UserFactory(), real_name="王五")
    agency = Koc.objects.get(pk=make_leader().parent_id)
    for code in ("NOSUCH", pending.invite_code, agency.invite_code):
        resp = api_client.get(f"/api/v1/storefronts/{code}")
        assert resp.status_code == 404
        assert error_code(resp) == "not_found"


# --- favourite categories --------------------------------------------------------------------------


def test_apply_keeps_favourite_categories_and_refuses_unknown_ones(shopper, shopper_client):
    tea, snacks = CategoryFactory(name="茶饮"), CategoryFactory(name="零食")
    resp = shopper_client.post(
        "/api/v1/koc/apply",
        {"real_name": "李小花", "favorite_category_ids": [tea.pk, 999_999]},
        format="json",
    )
    assert resp.status_code == 400
    assert "favorite_category_ids" in resp.json()["error"]["fields"]
    assert not Koc.objects.filter(user=shopper).exists()

    resp = shopper_client.post(
        "/api/v1/koc/apply",
        {"real_name": "李小花", "favorite_category_ids": [snacks.pk, tea.pk]},
        format="json",
    )
    assert resp.status_code == 201
    assert shopper_client.get("/api/v1/koc/me").json()["favorite_category_ids"] == sorted([tea.pk, snacks.pk])

    resp = shopper_client.patch(
        "/api/v1/koc/me", {"favorite_category_ids": [tea.pk], "bio": "爱喝茶"}, format="json"
    )
    assert resp.status_code == 200
    assert resp.json()["favorite_category_ids"] == [tea.pk] and resp.json()["bio"] == "爱喝茶"


# --- brand affinity --------------------------------------------------------------------------------


def line(*, koc, kind, brand, amount, refunded=False):
    n = KocOrderLine.objects.count() + 1
    return KocOrderLine.objects.create(
        kind=kind,
        koc=koc,
        order_id=n,
        item_id=n,
        brand_id=brand.pk,
        product_id=1,
        category_id=1,
        quantity=1,
        line_fen=amount,
        refunded=refunded,
        completed_at=timezone.now(),
    )


def test_brand_affinity_ranks_kocs_by_a_transparent_score(django_assert_num_queries):
    # given: the brand sells green tea; 茶饮 is green tea's parent category
    tea = CategoryFactory(name="茶饮")
    green = CategoryFactory(name="绿茶", parent=tea)
    snacks = CategoryFactory(name="零食")
    brand, other = BrandFactory(), BrandFactory()
    product_with_sku(brand=brand, category=green)
    product_with_sku(brand=other, category=snacks)

    likes_tea = make_individual()
    likes_tea.favorite_categories.set([tea])  # 20 points
    buyer = make_individual()
    line(koc=buyer, kind="purchase", brand=brand, amount=5_000)  # 50 yuan: 15 points
    line(koc=buyer, kind="purchase", brand=brand, amount=999)  # 9.99 yuan more: still 15 (whole 10s)
    seller = make_individual()
    line(koc=seller, kind="sale", brand=brand, amount=30_000)  # 300 yuan: 30 points
    other_fan = make_individual()
    other_fan.favorite_categories.set([snacks])
    line(koc=other_fan, kind="purchase", brand=other, amount=100_000)
    refunder = make_individual()
    line(koc=refunder, kind="purchase", brand=brand, amount=100_000, refunded=True)
    BrandInvitation.objects.create(brand=brand, koc=likes_tea, message="hi")

    # when
    with django_assert_num_queries(1):
        ranked = selectors.brand_affinity(brand_id=brand.pk)

    # then
    assert [(k.pk, k.affinity_score, k.bought_fen, k.matched_categories, k.sold_fen) for k in ranked] == [
        (seller.pk, 30, 0, 0, 30_000),
        (likes_tea.pk, 20, 0, 1, 0),
        (buyer.pk, 15, 5_999, 0, 0),
    ]
    assert [k.open_invitation for k in ranked] == [False, True, False]


# --- invitations -----------------------------------------------------------------------------------


def test_an_invited_koc_accepts_or_declines_once(koc, koc_client):
    # given
    brand_a, brand_b = BrandFactory(name="山野茶"), BrandFactory(name="溪谷")
    a = services.brand_invitation_create(brand=brand_a, koc=koc, message="一起推广明前龙井？")
    b = services.brand_invitation_create(brand=brand_b, koc=koc)

    # when
    listing = koc_client.get("/api/v1/koc/partnerships").json()
    accepted = koc_client.post(f"/api/v1/koc/partnerships/{a.pk}/accept")
    declined = koc_client.post(f"/api/v1/koc/partnerships/{b.pk}/decline")
    again = koc_client.post(f"/api/v1/koc/partnerships/{a.pk}/decline")

    # then
    assert listing["count"] == 2
    assert {i["brand"]["name"] for i in listing["results"]} == {"山野茶", "溪谷"}
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert accepted.json()["message"] == "一起推广明前龙井？" and accepted.json()["responded_at"]
    assert declined.json()["status"] == "declined"
    assert again.status_code == 409 and error_code(again) == "invitation_not_pending"
    assert BrandInvitation.objects.get(pk=a.pk).status == "accepted"
    pending = koc_client.get("/api/v1/koc/partnerships?status=invited").json()
    assert pending["count"] == 0
    assert koc_client.get("/api/v1/koc/partnerships?status=accepted").json()["count"] == 1


def test_another_kocs_invitation_is_not_found(koc_client):
    invitation = services.brand_invitation_create(brand=BrandFactory(), koc=make_individual())
    resp = koc_client.post(f"/api/v1/koc/partnerships/{invitation.pk}/accept")
    assert resp.status_code == 404
    assert BrandInvitation.objects.get(pk=invitation.pk).status == "invited"


def test_one_open_invitation_per_brand_and_koc_and_only_for_approved_individuals(koc):
    brand = BrandFactory()
    services.brand_invitation_create(brand=brand, koc=koc)
    with pytest.raises(ApplicationError) as exc:
        services.brand_invitation_create(brand=brand, koc=koc)
    assert exc.value.code == "already_invited"
    pending = services.koc_apply(user=UserFactory(), real_name="王五")
    with pytest.raises(ApplicationError) as exc:
        services.brand_invitation_create(brand=brand, koc=pending)
    assert exc.value.code == "koc_not_invitable"


def test_ids_beyond_a_bigint_are_refused_or_not_found(koc_client):
    huge = 10**30
    resp = koc_client.post("/api/v1/koc/storefront/products", {"product_id": huge}, format="json")
    assert resp.status_code == 400
    assert koc_client.delete(f"/api/v1/koc/storefront/products/{huge}").status_code == 404
    assert koc_client.post(f"/api/v1/koc/partnerships/{huge}/accept").status_code == 404
    resp = koc_client.patch("/api/v1/koc/me", {"favorite_category_ids": [huge]}, format="json")
    assert resp.status_code == 400
