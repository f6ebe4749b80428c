"""`GET share-links/{code}` from the read cache: the same bytes, the visit and the binding still
applied on every request, a repeat visit writing nothing, and a card refresh, a sharer's new
nickname or a deleted link showing at once. The tests commit (transaction=True), as production does.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from apps.accounts import services as accounts
from apps.sharing import read_cache, selectors
from apps.sharing.apis import ShareLinkDetailApi
from apps.sharing.models import CustomerBinding, ShareLink, ShareVisit
from apps.sharing.services import visits
from tests.accounts.factories import UserFactory
from tests.helpers import bearer_client
from tests.sharing.factories import make_koc_user, make_link, make_product

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": "iPhone"}


def resolve(client, link, **extra):
    response = client.get(f"/api/v1/share-links/{link.code}", **{**PHONE, **extra})
    assert response.status_code == 200, response.content
    return response


def test_the_answer_is_the_bytes_drf_renders_and_a_warm_repeat_visit_runs_no_query(
    api_client, django_assert_num_queries
):
    link = make_link(sharer=make_koc_user(nickname="Mia"))
    resolve(api_client, link)  # the first visit (counted; without Redis it is written at once)
    read_cache.links_changed([link.code])  # the answer cold again, the viewer already seen

    with django_assert_num_queries(1):  # the link with its sharer
        cold = resolve(api_client, link)
    with django_assert_num_queries(0):
        warm = resolve(api_client, link)

    expected = JSONRenderer().render(
        ShareLinkDetailApi.OutputSerializer(selectors.link_by_code(link.code)).data
    )
    assert cold.content == warm.content == expected
    assert cold.json()["sharer"]["nickname"] == "Mia"
    link.refresh_from_db()
    assert (link.visits, ShareVisit.objects.filter(link=link).count()) == (1, 1)


def test_a_refreshed_card_a_new_nickname_and_a_deleted_link_show_at_once(api_client):
    sharer = make_koc_user(nickname="Mia")
    product = make_product(title="明前龙井 250g")
    link = make_link(sharer=sharer, product=product)
    assert resolve(api_client, link).json()["title"] == "明前龙井 250g"

    # the product is renamed; sharing it again refreshes the link's card
    product.title = "雨前龙井 250g"
    product.save()
    make_link(sharer=sharer, product=product)
    assert resolve(api_client, link).json()["title"] == "雨前龙井 250g"

    accounts.user_update(user=sharer, nickname="Mia 的茶铺", avatar_url="https://img.example/mia.png")
    assert resolve(api_client, link).json()["sharer"] == {
        "nickname": "Mia 的茶铺",
        "avatar_url": "https://img.example/mia.png",
    }

    ShareLink.objects.filter(
        pk=link.pk
    ).delete()  # the admin deletes it (a queryset delete sends post_delete)
    assert api_client.get(f"/api/v1/share-links/{link.code}").status_code == 404


def test_a_signed_in_viewer_is_bound_from_a_cached_answer_and_coming_back_only_reads(api_client):
    link = make_link(sharer=make_koc_user())
    resolve(api_client, link)  # the answer is cached by someone else
    shopper = UserFactory()
    client = bearer_client(shopper)

    resolve(client, link)
    binding = CustomerBinding.objects.get(customer=shopper)
    assert binding.link_id == link.pk

    with CaptureQueriesContext(connection) as queries:
        resolve(client, link)
    statements = {q["sql"].split()[0].upper() for q in queries.captured_queries}
    assert statements == {"SELECT"}, queries.captured_queries
    assert not any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    assert CustomerBinding.objects.get(customer=shopper).updated_at == binding.updated_at


def test_the_visitor_is_told_apart_by_the_address_trusted_proxies_pass(api_client, settings):
    link = make_link(sharer=make_koc_user())
    behind_proxy = {"REMOTE_ADDR": "10.9.9.9", "HTTP_USER_AGENT": "iPhone"}

    # no trusted proxy: X-Forwarded-For is whatever the client says, so it is ignored
    settings.TRUSTED_PROXIES = 0
    for claimed in ("203.0.113.1", "203.0.113.2"):
        api_client.get(f"/api/v1/share-links/{link.code}", HTTP_X_FORWARDED_FOR=claimed, **behind_proxy)
    assert ShareVisit.objects.filter(link=link).count() == 1

    # one trusted proxy: the address it saw is the visitor's
    settings.TRUSTED_PROXIES = 1
    for client_address in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
        api_client.get(
            f"/api/v1/share-links/{link.code}", HTTP_X_FORWARDED_FOR=client_address, **behind_proxy
        )
    assert ShareVisit.objects.filter(link=link).count() == 3


@pytest.fixture
def redis_cache(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL=redis://... (CI's second pass does)")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": settings.REDIS_URL}
    }
    cache.clear()
    yield
    cache.clear()


def test_with_redis_repeat_visits_write_nothing_and_the_counts_stay_exact(api_client, redis_cache):
    first, second = make_link(sharer=make_koc_user()), make_link(sharer=make_koc_user())
    viewers = [{"REMOTE_ADDR": f"10.0.0.{n}", "HTTP_USER_AGENT": "iPhone"} for n in range(1, 5)]

    with CaptureQueriesContext(connection) as queries:
        for _round in range(3):
            for viewer in viewers:
                resolve(api_client, first, **viewer)
            resolve(api_client, second, **viewers[0])

    # then: two cold answers read their link; nothing else reached the database, and no write
    assert [q["sql"].split()[0].upper() for q in queries.captured_queries] == ["SELECT", "SELECT"]
    assert visits.visits_flush() == 5
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.visits, second.visits) == (4, 1)
    assert visits.visits_flush() == 0


def test_with_redis_a_repeat_visitor_costs_one_round_trip_to_redis(api_client, redis_cache):
    from redis.client import Redis

    link = make_link(sharer=make_koc_user())
    resolve(api_client, link)  # cached, and this viewer seen today
    commands = []
    original = Redis.execute_command

    def counting(self, *args, **options):
        commands.append(args[0])
        return original(self, *args, **options)

    with mock.patch.object(Redis, "execute_command", counting):
        resolve(api_client, link)
        repeat = list(commands)
        commands.clear()
        resolve(api_client, link, REMOTE_ADDR="10.0.0.99")
        newcomer = list(commands)

    assert repeat == ["MGET"]  # the answer, its generations and the viewer's mark, together
    assert newcomer == ["MGET", "EVAL"]  # a new viewer is marked and buffered as well
    assert visits.visits_flush() == 2
