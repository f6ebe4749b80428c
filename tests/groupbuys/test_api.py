"""The public reads: campaigns with their open groups, a group's card, the catalogue's group_buy field."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.groupbuys.hooks import register
from apps.groupbuys.models import Group
from tests.groupbuys.factories import CampaignFactory, deliver_events, join_group, open_group, pay
from tests.helpers import error_code

pytestmark = pytest.mark.django_db


def test_a_campaign_answers_the_contract_shape_with_its_open_groups(api_client, campaign):
    # given: an open group with its leader paid, a full one and an expired one
    group, leader_order, leader = open_group(campaign)
    pay(leader_order)
    deliver_events()
    full, _, _ = open_group(campaign)
    join_group(full)
    join_group(full)
    expired, _, _ = open_group(campaign)
    Group.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # when
    response = api_client.get(f"/api/v1/group-buys/{campaign.pk}")

    # then
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k not in {"product", "open_groups"}} == {
        "id": campaign.pk,
        "sku_id": campaign.sku_id,
        "spec": "250g",
        "price_fen": 9900,
        "group_price_fen": 6900,
        "leader_price_fen": None,
        "group_size": 3,
        "duration_minutes": 1440,
        "starts_at": timezone.localtime(campaign.starts_at).isoformat(),
        "ends_at": timezone.localtime(campaign.ends_at).isoformat(),
        "per_user_limit": 2,
    }
    assert body["product"] == {
        "id": campaign.product_id,
        "title": campaign.product.title,
        "brand": {"id": campaign.product.brand_id, "name": campaign.product.brand.name},
        "cover_url": None,
    }
    assert [g["id"] for g in body["open_groups"]] == [group.pk]
    assert body["open_groups"][0]["members"] == [
        {"nickname": leader.nickname, "avatar_url": leader.avatar_url, "is_leader": True}
    ]


def test_the_campaign_list_is_paginated_and_costs_the_same_queries_for_more_campaigns(api_client):
    def list_queries() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get("/api/v1/group-buys")
        assert response.status_code == 200
        return len(queries), response.json()

    # given: one campaign with two open groups
    first = CampaignFactory()
    for _ in range(2):
        open_group(first)
    few, body = list_queries()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert len(body["results"][0]["open_groups"]) == 2

    # when: four more campaigns with open groups (and paid members) appear
    for _ in range(4):
        campaign = CampaignFactory()
        _, order, _ = open_group(campaign)
        pay(order)
    deliver_events()
    many, body = list_queries()

    # then
    assert body["count"] == 5
    assert many == few


def test_only_running_active_campaigns_are_listed_and_inactive_ones_are_not_found(api_client):
    running = CampaignFactory()
    CampaignFactory(starts_at=timezone.now() + timedelta(days=1))
    CampaignFactory(starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(days=1))
    off = CampaignFactory(is_active=False)

    listed = api_client.get("/api/v1/group-buys").json()
    hidden = api_client.get(f"/api/v1/group-buys/{off.pk}")

    assert [c["id"] for c in listed["results"]] == [running.pk]
    assert (hidden.status_code, error_code(hidden)) == (404, "not_found")


def test_a_group_is_public_and_shows_paid_members_nicknames_and_avatars_only(api_client, campaign):
    # given: the leader paid, a joiner did not
    group, leader_order, leader = open_group(campaign)
    join_group(group)
    pay(leader_order)
    deliver_events()

    # when
    response = api_client.get(f"/api/v1/groups/{group.pk}")

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["joined"], body["paid_count"], body["seats_left"]) == (2, 1, 1)
    assert body["members"] == [
        {"nickname": leader.nickname, "avatar_url": leader.avatar_url, "is_leader": True}
    ]
    assert api_client.get("/api/v1/groups/999999").status_code == 404


def test_the_catalogue_shows_the_running_campaign_of_a_product(api_client):
    register()  # the shop's own tests may have reset the hook
    campaign = CampaignFactory()
    cheaper = CampaignFactory(sku=campaign.sku, product=campaign.product, group_price_fen=5900, group_size=5)
    CampaignFactory(sku=campaign.sku, product=campaign.product, group_price_fen=100, is_active=False)

    results = api_client.get("/api/v1/products").json()["results"]

    assert [r["group_buy"] for r in results if r["id"] == campaign.product_id] == [
        {"campaign_id": cheaper.pk, "group_price_fen": 5900, "group_size": 5}
    ]


def test_a_group_past_its_deadline_shows_no_seats_left_before_the_sweeper_runs(api_client, campaign):
    group, _, _ = open_group(campaign)
    Group.objects.filter(pk=group.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    body = api_client.get(f"/api/v1/groups/{group.pk}").json()

    assert (body["status"], body["joined"], body["seats_left"]) == ("forming", 1, 0)
