"""`GET groups/{id}` from the read cache: the same bytes, no query when warm, and every move of
the group (a join, a payment, success, a release, a refund, expiry, a member's new nickname)
makes the next answer fresh. The tests commit (transaction=True), as production does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.accounts import services as accounts
from apps.groupbuys import read_cache, selectors, services
from apps.groupbuys.apis import GroupOutputSerializer
from apps.shop import services as shop
from tests.groupbuys.factories import CampaignFactory, deliver_events, join_group, open_group, pay

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def campaign():
    return CampaignFactory()


def answer(client, group) -> dict:
    response = client.get(f"/api/v1/groups/{group.pk}")
    assert response.status_code == 200, response.content
    return response.json()


def counters(client, group) -> tuple:
    data = answer(client, group)
    return data["status"], data["joined"], data["paid_count"], data["seats_left"], len(data["members"])


def test_the_answer_is_the_bytes_drf_renders_and_warm_runs_no_query(
    api_client, campaign, django_assert_num_queries
):
    group, order, _leader = open_group(campaign)
    pay(order)
    deliver_events()
    url = f"/api/v1/groups/{group.pk}"

    with django_assert_num_queries(2):  # the group, its paid members with their users
        cold = api_client.get(url)
    with django_assert_num_queries(0):
        warm = api_client.get(url)

    expected = JSONRenderer().render(GroupOutputSerializer(selectors.group_get(group_id=group.pk)).data)
    assert cold.content == warm.content == expected
    assert cold["Content-Type"] == "application/json"
    assert api_client.get("/api/v1/groups/999999").status_code == 404


def test_joins_payments_and_success_show_at_once(api_client, campaign):
    group, leader_order, _ = open_group(campaign)
    assert counters(api_client, group) == ("forming", 1, 0, 2, 0)

    group, second, _ = join_group(group)
    assert counters(api_client, group) == ("forming", 2, 0, 1, 0)

    pay(leader_order)
    deliver_events()
    assert counters(api_client, group) == ("forming", 2, 1, 1, 1)

    group, third, _ = join_group(group)
    pay(second)
    pay(third)
    deliver_events()
    assert counters(api_client, group) == ("succeeded", 3, 3, 0, 3)


def test_a_released_seat_and_a_refunded_member_show_at_once(api_client, campaign):
    group, leader_order, _ = open_group(campaign)
    group, second, _ = join_group(group)
    pay(leader_order)
    deliver_events()
    assert counters(api_client, group) == ("forming", 2, 1, 1, 1)

    # the unpaid joiner cancels: the seat is free again
    shop.order_cancel(order=second, reason="buyer")
    deliver_events()
    assert counters(api_client, group) == ("forming", 1, 1, 2, 1)

    # the paid leader is refunded in full (after-sales)
    assert services.member_refunded(order_id=leader_order.pk, fully_refunded=True)
    assert counters(api_client, group) == ("forming", 0, 0, 3, 0)


def test_expiry_shows_the_failure(api_client, campaign):
    group, leader_order, _ = open_group(campaign)
    pay(leader_order)
    deliver_events()
    assert counters(api_client, group)[0] == "forming"

    assert services.group_expire(group_id=group.pk, now=group.expires_at + timedelta(seconds=1))
    deliver_events()

    assert counters(api_client, group) == ("failed", 0, 0, 0, 0)


def test_a_members_new_nickname_and_avatar_show(api_client, campaign):
    group, leader_order, leader = open_group(campaign)
    pay(leader_order)
    deliver_events()
    assert answer(api_client, group)["members"][0]["nickname"] == leader.display_name

    accounts.user_update(user=leader, nickname="新昵称", avatar_url="https://img.example/new.png")

    member = answer(api_client, group)["members"][0]
    assert (member["nickname"], member["avatar_url"]) == ("新昵称", "https://img.example/new.png")


def test_a_forming_group_is_kept_no_longer_than_its_deadline(api_client):
    campaign = CampaignFactory(duration_minutes=3)
    group, _order, _ = open_group(campaign)
    answer(api_client, group)

    prefix = cache.make_key(f"{read_cache.group_detail_key(group.pk)}:")
    [expiry] = [at for name, at in cache._expire_info.items() if name.startswith(prefix)]
    left = (group.expires_at - timezone.now()).total_seconds()
    import time

    assert expiry - time.time() <= left + 1
    assert left <= 180


def test_opening_and_joining_show_the_products_stock_as_it_is(api_client, campaign):
    from apps.shop.models import Sku

    def shown_and_stored() -> tuple[int, int]:
        shown = api_client.get(f"/api/v1/products/{campaign.product_id}").json()["skus"][0]["stock"]
        return shown, Sku.objects.get(pk=campaign.sku_id).stock

    assert shown_and_stored() == (1000, 1000)

    # opening takes the leader's unit and one held for each of the two free seats
    group, _order, _ = open_group(campaign)
    assert shown_and_stored() == (997, 997)

    # a one-unit join takes a held unit (the shelf does not move); a second unit comes off the shelf
    group, _order, _ = join_group(group)
    assert shown_and_stored() == (997, 997)
    join_group(group, quantity=2)
    assert shown_and_stored() == (996, 996)
