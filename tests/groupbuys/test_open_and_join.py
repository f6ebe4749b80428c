"""Opening and joining: seats, orders at the group price, and the exact refusals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.groupbuys import services
from apps.groupbuys.models import CampaignUsage, Group, GroupMember
from apps.shop import services as shop
from apps.shop.models import Order, Sku
from tests.accounts.factories import AddressFactory
from tests.groupbuys.factories import (
    CampaignFactory,
    deliver_events,
    join_group,
    open_group,
    pay,
    shopper_with_address,
)
from tests.helpers import bearer_client, error_code

pytestmark = pytest.mark.django_db


def seat_body(address, quantity=1, **extra):
    return {"quantity": quantity, "address_id": address.pk, **extra}


def units(campaign, user) -> int:
    return (
        CampaignUsage.objects.filter(campaign=campaign, user=user).values_list("units", flat=True).first()
        or 0
    )


def test_opening_makes_the_caller_leader_holding_the_first_seat_with_a_held_group_order(campaign):
    # given
    leader, address = shopper_with_address()
    before = timezone.now()

    # when
    response = bearer_client(leader).post(
        f"/api/v1/group-buys/{campaign.pk}/groups", seat_body(address, quantity=2), format="json"
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    group = Group.objects.get()
    assert body["group"] == {
        "id": group.pk,
        "campaign_id": campaign.pk,
        "status": "forming",
        "size": 3,
        "joined": 1,
        "paid_count": 0,
        "seats_left": 2,
        "expires_at": timezone.localtime(group.expires_at).isoformat(),
        "members": [],  # the leader has not paid yet: only paid members are shown
    }
    assert before + timedelta(hours=24) <= group.expires_at <= timezone.now() + timedelta(hours=24)
    order = Order.objects.get()
    assert (body["order"]["id"], body["order"]["group_id"], body["order"]["total_fen"]) == (
        order.pk,
        group.pk,
        13800,
    )
    assert (order.kind, order.group_id, order.shipping_hold, order.status) == (
        "group_buy",
        group.pk,
        True,
        "pending_payment",
    )
    assert [(i.price_fen, i.quantity, i.price_source) for i in order.items.all()] == [(6900, 2, "group_buy")]
    member = GroupMember.objects.get()
    assert (member.user, member.is_leader, member.status, member.order_id, member.quantity) == (
        leader,
        True,
        "held",
        order.pk,
        2,
    )
    # the leader's two units, and one held for each of the two free seats
    assert Sku.objects.get(pk=campaign.sku_id).stock == 1000 - 2 - 2
    assert group.stock_held == 2
    assert units(campaign, leader) == 2


def test_the_leader_pays_the_leader_price_when_the_campaign_sets_one():
    campaign = CampaignFactory(leader_price_fen=5900)

    group, leader_order, _ = open_group(campaign)
    group, member_order, _ = join_group(group)

    assert (leader_order.total_fen, member_order.total_fen) == (5900, 6900)
    assert list(GroupMember.objects.order_by("id").values_list("unit_price_fen", flat=True)) == [5900, 6900]


def test_a_group_never_outlives_its_campaign():
    campaign = CampaignFactory(ends_at=timezone.now() + timedelta(hours=2), duration_minutes=24 * 60)

    group, _, _ = open_group(campaign)

    assert group.expires_at == campaign.ends_at


def test_joining_takes_a_seat_and_orders_at_the_group_price(campaign):
    # given
    group, _, _ = open_group(campaign)
    buyer, address = shopper_with_address()

    # when
    response = bearer_client(buyer).post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["group"]["joined"], body["group"]["seats_left"], body["group"]["status"]) == (
        2,
        1,
        "forming",
    )
    order = Order.objects.get(pk=body["order"]["id"])
    assert (order.buyer, order.total_fen, order.group_id, order.shipping_hold) == (
        buyer,
        6900,
        group.pk,
        True,
    )
    assert GroupMember.objects.filter(group=group, status="held").count() == 2


def test_the_leader_joining_their_own_group_is_already_joined(campaign):
    group, _, leader = open_group(campaign)

    response = bearer_client(leader).post(
        f"/api/v1/groups/{group.pk}/join", seat_body(AddressFactory(user=leader)), format="json"
    )

    assert (response.status_code, error_code(response)) == (409, "already_joined")
    assert Group.objects.get(pk=group.pk).joined == 1
    assert Order.objects.count() == 1


def test_a_member_joining_twice_is_already_joined_paid_or_not(campaign):
    group, _, _ = open_group(campaign)
    group, order, buyer = join_group(group)
    client, address = bearer_client(buyer), AddressFactory(user=buyer)

    unpaid = client.post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")
    pay(order)
    deliver_events()
    paid = client.post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")

    assert (unpaid.status_code, error_code(unpaid)) == (409, "already_joined")
    assert (paid.status_code, error_code(paid)) == (409, "already_joined")
    assert Group.objects.get(pk=group.pk).joined == 2


def test_over_the_per_user_limit_is_limit_exceeded_in_one_order_or_across_groups(campaign):
    # given: the limit is 2 units per user in the campaign
    first, _, _ = open_group(campaign)
    second, _, _ = open_group(campaign)
    buyer, address = shopper_with_address()
    client = bearer_client(buyer)

    # when
    three_at_once = client.post(f"/api/v1/groups/{first.pk}/join", seat_body(address, 3), format="json")
    two = client.post(f"/api/v1/groups/{first.pk}/join", seat_body(address, 2), format="json")
    one_more = client.post(f"/api/v1/groups/{second.pk}/join", seat_body(address, 1), format="json")
    opening = client.post(f"/api/v1/group-buys/{campaign.pk}/groups", seat_body(address, 1), format="json")

    # then
    assert (three_at_once.status_code, error_code(three_at_once)) == (409, "limit_exceeded")
    assert two.status_code == 201
    assert (one_more.status_code, error_code(one_more)) == (409, "limit_exceeded")
    assert (opening.status_code, error_code(opening)) == (409, "limit_exceeded")
    assert Group.objects.get(pk=second.pk).joined == 1  # the refused join held no seat
    assert Group.objects.count() == 2
    assert units(campaign, buyer) == 2


def test_a_full_group_is_group_full(campaign):
    group, _, _ = open_group(campaign)
    join_group(group)
    join_group(group)
    buyer, address = shopper_with_address()

    response = bearer_client(buyer).post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")

    assert (response.status_code, error_code(response)) == (409, "group_full")
    group.refresh_from_db()
    assert (group.joined, group.seats_left) == (3, 0)
    assert units(campaign, buyer) == 0


@pytest.mark.parametrize("closing", ["expired", "failed", "succeeded", "campaign_off"])
def test_a_closed_group_is_group_closed(campaign, closing):
    group, _, _ = open_group(campaign)
    if closing == "expired":
        Group.objects.filter(pk=group.pk).update(expires_at=timezone.now())
    elif closing == "campaign_off":
        type(campaign).objects.filter(pk=campaign.pk).update(is_active=False)
    else:
        Group.objects.filter(pk=group.pk).update(status=closing)
    buyer, address = shopper_with_address()

    response = bearer_client(buyer).post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")

    assert (response.status_code, error_code(response)) == (409, "group_closed")
    assert Group.objects.get(pk=group.pk).joined == 1


def test_out_of_stock_holds_no_seat_and_counts_nothing(campaign):
    # given: stock for exactly one group (the leader's unit and one per free seat): the shelf is empty
    Sku.objects.filter(pk=campaign.sku_id).update(stock=3)
    group, _, _ = open_group(campaign)
    assert Sku.objects.get(pk=campaign.sku_id).stock == 0
    buyer, address = shopper_with_address()

    # when: a joiner wants two units (one held by the group for the seat, one more from the shelf)
    response = bearer_client(buyer).post(
        f"/api/v1/groups/{group.pk}/join", seat_body(address, quantity=2), format="json"
    )

    # then
    assert (response.status_code, error_code(response)) == (409, "out_of_stock")
    group.refresh_from_db()
    assert (group.joined, group.stock_held, group.members.count()) == (1, 2, 1)
    assert units(campaign, buyer) == 0
    assert Order.objects.count() == 1


def test_opening_outside_the_campaign_window_is_campaign_closed():
    later = CampaignFactory(starts_at=timezone.now() + timedelta(hours=1))
    ended = CampaignFactory(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(days=1)
    )
    leader, address = shopper_with_address()
    client = bearer_client(leader)

    answers = [
        client.post(f"/api/v1/group-buys/{c.pk}/groups", seat_body(address), format="json")
        for c in (later, ended)
    ]

    assert [(a.status_code, error_code(a)) for a in answers] == [(409, "campaign_closed")] * 2
    assert Group.objects.count() == 0


def test_bad_quantities_addresses_and_ids(campaign):
    group, _, _ = open_group(campaign)
    buyer, address = shopper_with_address()
    client = bearer_client(buyer)
    other_address = AddressFactory()

    zero = client.post(f"/api/v1/groups/{group.pk}/join", seat_body(address, 0), format="json")
    text = client.post(
        f"/api/v1/groups/{group.pk}/join", {"quantity": "1", "address_id": address.pk}, format="json"
    )
    foreign = client.post(f"/api/v1/groups/{group.pk}/join", seat_body(other_address), format="json")
    missing_group = client.post("/api/v1/groups/999999/join", seat_body(address), format="json")
    missing_campaign = client.post("/api/v1/group-buys/999999/groups", seat_body(address), format="json")
    anonymous = (
        bearer_client(buyer)
        .__class__()
        .post(f"/api/v1/groups/{group.pk}/join", seat_body(address), format="json")
    )

    assert (zero.status_code, error_code(zero)) == (400, "invalid_quantity")
    assert (text.status_code, error_code(text)) == (400, "validation_error")
    assert (foreign.status_code, error_code(foreign)) == (404, "not_found")
    assert (missing_group.status_code, error_code(missing_group)) == (404, "not_found")
    assert (missing_campaign.status_code, error_code(missing_campaign)) == (404, "not_found")
    assert anonymous.status_code == 401
    assert Group.objects.get(pk=group.pk).joined == 1


def test_cancelling_an_unpaid_order_releases_its_seat_and_the_user_may_join_again(campaign):
    # given: a full group with one unpaid joiner
    group, _, _ = open_group(campaign)
    group, order, buyer = join_group(group)
    join_group(group)
    assert Group.objects.get(pk=group.pk).seats_left == 0

    # when: the buyer cancels (the shop publishes order_cancelled; group buys frees the seat)
    response = bearer_client(buyer).post(f"/api/v1/orders/{order.pk}/cancel")
    deliver_events()

    # then
    assert response.status_code == 200
    group.refresh_from_db()
    assert (group.joined, group.seats_left) == (2, 1)
    assert GroupMember.objects.get(order=order).status == "released"
    assert units(campaign, buyer) == 0
    rejoined = bearer_client(buyer).post(
        f"/api/v1/groups/{group.pk}/join", seat_body(AddressFactory(user=buyer)), format="json"
    )
    assert rejoined.status_code == 201
    assert Group.objects.get(pk=group.pk).joined == 3


def test_the_payment_deadline_releases_an_unpaid_seat_once(campaign):
    # given
    group, _, _ = open_group(campaign)
    group, order, _ = join_group(group)
    later = order.pay_deadline + timedelta(seconds=1)

    # when: the shop's timeout sweeper runs twice, and the event is delivered (again)
    shop.cancel_unpaid_orders(now=later)
    shop.cancel_unpaid_orders(now=later)
    deliver_events()
    released_again = services.seat_release(order_id=order.pk)

    # then: both seats (leader's too) are free, once
    group.refresh_from_db()
    assert (group.joined, group.paid_count, group.status) == (0, 0, "forming")
    assert released_again is False
    assert set(GroupMember.objects.values_list("status", flat=True)) == {"released"}
