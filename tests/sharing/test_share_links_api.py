"""POST share-links, GET share-links/{code} (visits), GET koc/share-links (stats)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.sharing import codes, services, targets
from apps.sharing.models import ShareLink, ShareVisit
from apps.sharing.services.visits import visits_flush
from apps.sharing.targets import TargetInfo
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client, error_code
from tests.sharing.factories import make_koc_user, make_link, make_product

pytestmark = pytest.mark.django_db

SHARE = "/api/v1/share-links"


def test_a_koc_shares_a_product_and_gets_the_card_and_image_urls(settings):
    # given
    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    koc = make_koc_user()
    product = make_product(title="明前龙井 250g", picture=True)

    # when
    response = bearer_client(koc).post(SHARE, {"target": "product", "target_id": product.pk}, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    code = body["code"]
    assert codes.is_code(code)
    assert body["scene"] == f"c={code}"
    path = urlsplit(body["path"])
    assert path.path == "/pages/product/index"
    assert parse_qs(path.query) == {"id": [str(product.pk)], "share_code": [code]}
    assert body["title"] == "明前龙井 250g"
    assert body["image_url"].startswith("https://shop.example.com/media/products/")
    assert body["image_url"].endswith("_share.jpg")
    assert body["qr_url"] == f"https://shop.example.com/api/v1/share-links/{code}/qr.png"
    assert body["poster_url"] == f"https://shop.example.com/api/v1/share-links/{code}/poster.png"
    link = ShareLink.objects.get()
    assert (link.sharer, link.target, link.target_id, link.code) == (koc, "product", product.pk, code)


def test_the_same_sharer_sharing_the_same_target_twice_gets_the_same_link():
    # given
    koc, other = make_koc_user(), make_koc_user()
    product, second_product = make_product(), make_product(title="碧螺春")
    client = bearer_client(koc)

    # when
    first = client.post(SHARE, {"target": "product", "target_id": product.pk}, format="json").json()
    again = client.post(SHARE, {"target": "product", "target_id": product.pk}, format="json")
    others = bearer_client(other).post(SHARE, {"target": "product", "target_id": product.pk}, format="json")
    second = client.post(SHARE, {"target": "product", "target_id": second_product.pk}, format="json")

    # then
    assert again.status_code == 201
    assert again.json() == first
    assert others.json()["code"] != first["code"]
    assert second.json()["code"] not in {first["code"], others.json()["code"]}
    assert ShareLink.objects.count() == 3


def test_sharing_again_refreshes_the_card_but_keeps_the_code():
    # given
    koc = make_koc_user()
    product = make_product(title="旧标题")
    link = make_link(sharer=koc, product=product)
    product.title = "新标题"
    product.save()

    # when
    again = (
        bearer_client(koc).post(SHARE, {"target": "product", "target_id": product.pk}, format="json").json()
    )

    # then
    assert (again["code"], again["title"]) == (link.code, "新标题")


def test_a_shopper_may_share_too():
    response = bearer_client(UserFactory()).post(
        SHARE, {"target": "product", "target_id": make_product().pk}, format="json"
    )

    assert response.status_code == 201


def test_sharing_needs_a_login(api_client):
    response = api_client.post(SHARE, {"target": "product", "target_id": make_product().pk}, format="json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"target": "shop", "target_id": 1},
        {"target": "product", "target_id": 0},
        {"target": "product", "target_id": "x"},
        {"target": "product"},
        {"target_id": 1},
        {"target": "product", "target_id": 2**70},
    ],
)
def test_bad_input_is_a_400(shopper_client, body):
    response = shopper_client.post(SHARE, body, format="json")

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert not ShareLink.objects.exists()


def test_unknown_or_inactive_products_are_404(shopper_client):
    # given
    hidden = make_product()
    hidden.is_active = False
    hidden.save()

    # when
    unknown = shopper_client.post(SHARE, {"target": "product", "target_id": 999_999}, format="json")
    inactive = shopper_client.post(SHARE, {"target": "product", "target_id": hidden.pk}, format="json")

    # then
    assert (unknown.status_code, error_code(unknown)) == (404, "not_found")
    assert (inactive.status_code, error_code(inactive)) == (404, "not_found")
    assert not ShareLink.objects.exists()


def test_a_target_kind_nobody_registered_is_a_400_naming_the_registered_ones(shopper_client, monkeypatch):
    # given: only products can be shared (the group-buy app has not registered its kinds)
    monkeypatch.setattr(targets, "_resolvers", {"product": targets._resolvers["product"]})

    # when
    response = shopper_client.post(SHARE, {"target": "group", "target_id": 1}, format="json")

    # then
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    [message] = response.json()["error"]["fields"]["target"]
    assert "product" in message
    assert "group_buy" not in message


def test_registered_kinds_are_shareable_with_their_own_page(shopper_client, monkeypatch):
    # given
    seen = []

    def resolve_group(group_id):
        seen.append(group_id)
        return (
            TargetInfo(title="还差1人成团", price_fen=9900, page="pages/group/index")
            if group_id == 5
            else None
        )

    monkeypatch.setitem(targets._resolvers, "group", resolve_group)

    # when
    shared = shopper_client.post(SHARE, {"target": "group", "target_id": 5}, format="json")
    missing = shopper_client.post(SHARE, {"target": "group", "target_id": 6}, format="json")

    # then
    assert shared.status_code == 201
    assert shared.json()["path"].startswith("/pages/group/index?id=5&share_code=")
    assert shared.json()["title"] == "还差1人成团"
    assert missing.status_code == 404
    assert seen == [5, 6]


def test_registering_a_kind_outside_the_contract_is_refused():
    with pytest.raises(ValueError, match="group_buy"):
        targets.register_target("coupon", lambda target_id: None)


# --- resolving a code: visits -------------------------------------------------------------------------


def test_resolving_a_code_answers_the_target_and_the_sharer(api_client):
    # given
    koc = make_koc_user(nickname="小红", avatar_url="https://example.com/a.png")
    link = make_link(sharer=koc)

    # when
    response = api_client.get(f"{SHARE}/{link.code}")

    # then
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("code", "target", "target_id", "sharer")} == {
        "code": link.code,
        "target": "product",
        "target_id": link.target_id,
        "sharer": {"nickname": "小红", "avatar_url": "https://example.com/a.png"},
    }


@pytest.mark.parametrize(
    "junk", ["nope", "ZZZZZZZZ", "abc%20def", "AAAAAAAAA", "c=ABCDEFG", "中文中文中文中文"]
)
def test_junk_or_unknown_codes_are_404_and_change_nothing(shopper_client, junk):
    # given
    link = make_link(sharer=make_koc_user())

    # when
    response = shopper_client.get(f"{SHARE}/{junk}")

    # then
    assert (response.status_code, error_code(response)) == (404, "not_found")
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 0
    assert not ShareVisit.objects.exists()


def test_a_visit_counts_once_per_viewer_per_day():
    # given
    link = make_link(sharer=make_koc_user())
    viewer, other = UserFactory(), UserFactory()
    day = timezone.make_aware(datetime(2026, 5, 1, 9, 0))

    # when
    for now, user in [
        (day, viewer),
        (day + timedelta(hours=3), viewer),  # same viewer, same day
        (day + timedelta(hours=4), other),
        (day + timedelta(days=1), viewer),  # the next day
    ]:
        services.share_link_open(link=link, viewer=user, visitor_key=services.visitor_key(user=user), now=now)

    # then
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 3
    assert ShareVisit.objects.count() == 3


def test_anonymous_viewers_are_told_apart_by_ip_and_user_agent(api_client):
    # given
    link = make_link(sharer=make_koc_user())
    url = f"{SHARE}/{link.code}"

    # when
    api_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="iPhone")
    api_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="iPhone")
    api_client.get(url, REMOTE_ADDR="10.0.0.2", HTTP_USER_AGENT="iPhone")
    api_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="Android")

    # then
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 3
    assert all(
        key.startswith("a") and "10.0.0" not in key
        for key in ShareVisit.objects.values_list("visitor_key", flat=True)
    )


def test_the_sharer_opening_their_own_link_is_no_visit():
    # given
    koc = make_koc_user()
    link = make_link(sharer=koc)

    # when
    response = bearer_client(koc).get(f"{SHARE}/{link.code}")

    # then
    assert response.status_code == 200
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 0


def test_a_logged_in_viewer_counts_as_themself_on_any_device(shopper_client):
    # given
    link = make_link(sharer=make_koc_user())
    url = f"{SHARE}/{link.code}"

    # when
    shopper_client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT="iPhone")
    shopper_client.get(url, REMOTE_ADDR="10.9.9.9", HTTP_USER_AGENT="iPad")

    # then
    visits_flush()  # with Redis, visits reach the database in batches
    link.refresh_from_db()
    assert link.visits == 1


# --- koc/share-links -----------------------------------------------------------------------------------


def test_a_koc_lists_their_own_links_with_visits_orders_and_gmv(django_assert_num_queries):
    # given
    koc = make_koc_user()
    older = make_link(sharer=koc, product=make_product(title="龙井"))
    newer = make_link(sharer=koc, product=make_product(title="碧螺春"))
    make_link(sharer=make_koc_user())  # someone else's
    ShareLink.objects.filter(pk=older.pk).update(visits=12, orders=3, gmv_fen=29_700)
    client = bearer_client(koc)

    # when
    with django_assert_num_queries(4):  # user, KOC check, count, page
        response = client.get("/api/v1/koc/share-links")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(r["code"], r["title"], r["visits"], r["orders"], r["gmv_fen"]) for r in body["results"]] == [
        (newer.code, "碧螺春", 0, 0, 0),
        (older.code, "龙井", 12, 3, 29_700),
    ]
    assert body["results"][0]["qr_url"].endswith(f"/share-links/{newer.code}/qr.png")


def test_non_kocs_have_no_share_link_stats(shopper, shopper_client):
    # given: a shopper who shared a product still is not a KOC
    make_link(sharer=shopper)

    # when
    response = shopper_client.get("/api/v1/koc/share-links")

    # then
    assert (response.status_code, error_code(response)) == (404, "not_a_koc")
