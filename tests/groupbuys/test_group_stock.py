"""Stock held per group: opening takes the group's units off the shelf, joins only hand them out,
closing puts back what nobody took, a freed seat is held again. No join touches the SKU's row for
a one-unit seat, and no unit is ever lost or counted twice."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from apps.groupbuys import services
from apps.groupbuys.models import CampaignUsage, Group
from apps.shop import services as shop
from apps.shop.models import Order, Sku
from tests.groupbuys.factories import deliver_events, join_group, open_group, pay, shopper_with_address
from tests.helpers import bearer_client, error_code
from tests.shop.factories import SkuFactory

pytestmark = pytest.mark.django_db


def shelf(campaign) -> int:
    return Sku.objects.get(pk=campaign.sku_id).stock


def held(group) -> int:
    return Group.objects.values_list("stock_held", flat=True).get(pk=group.pk)


def test_opening_holds_a_unit_per_free_seat_and_joins_hand_them_out_without_the_shelf(campaign):
    # when: a 3-seat group opens
    group, _, _ = open_group(campaign)

    # then: the leader's unit and one for each of the two free seats left the shelf
    assert (shelf(campaign), held(group)) == (997, 2)

    # when: one joins with one unit, one with two (the second unit from the shelf)
    group, _, _ = join_group(group)
    assert (shelf(campaign), held(group), group.stock_held) == (997, 1, 1)
    group, _, _ = join_group(group, quantity=2)

    # then
    assert (shelf(campaign), held(group), group.joined) == (996, 0, 3)


def test_opening_without_stock_for_the_whole_group_is_out_of_stock_and_writes_nothing(campaign):
    # given: two units, a 3-seat group needs three
    Sku.objects.filter(pk=campaign.sku_id).update(stock=2)
    leader, address = shopper_with_address()

    # when
    response = bearer_client(leader).post(
        f"/api/v1/group-buys/{campaign.pk}/groups", {"quantity": 1, "address_id": address.pk}, format="json"
    )

    # then
    assert (response.status_code, error_code(response)) == (409, "out_of_stock")
    assert "3 人团需要 3 件" in response.json()["error"]["message"]
    assert (Group.objects.count(), Order.objects.count(), CampaignUsage.objects.count()) == (0, 0, 0)
    assert shelf(campaign) == 2

    # and with exactly three, it opens and the shelf is empty
    Sku.objects.filter(pk=campaign.sku_id).update(stock=3)
    group, _, _ = open_group(campaign)
    assert (shelf(campaign), held(group)) == (0, 2)


def test_a_failed_group_puts_back_its_held_units_and_its_cancelled_orders_units(campaign):
    # given: a leader and one joiner, both unpaid, one seat free
    group, _, _ = open_group(campaign)
    group, _, _ = join_group(group, quantity=2)
    assert (shelf(campaign), held(group)) == (996, 1)

    # when: the deadline passes
    assert services.group_expire(group_id=group.pk, now=group.expires_at + timedelta(seconds=1))
    deliver_events()

    # then: every unit is back on the shelf, once
    group.refresh_from_db()
    assert (group.status, group.joined, group.stock_held) == ("failed", 0, 0)
    assert shelf(campaign) == 1000
    assert services.group_expire(group_id=group.pk, now=group.expires_at + timedelta(minutes=1)) is False
    assert shelf(campaign) == 1000


def test_a_succeeded_group_holds_nothing_and_its_orders_own_their_units(campaign):
    group, leader_order, _ = open_group(campaign)
    group, second, _ = join_group(group)
    group, third, _ = join_group(group)

    for order in (leader_order, second, third):
        pay(order)
    deliver_events()

    group.refresh_from_db()
    assert (group.status, group.stock_held, shelf(campaign)) == ("succeeded", 0, 997)


def test_a_seat_freed_while_forming_is_held_again_from_the_shelf(campaign):
    # given
    group, _, _ = open_group(campaign)
    group, order, _ = join_group(group)
    assert (shelf(campaign), held(group)) == (997, 1)

    # when: the joiner cancels: the shop puts the order's unit back, then group buys frees the seat
    shop.order_cancel(order=order, reason="buyer")
    assert shelf(campaign) == 998
    deliver_events()

    # then: the freed seat holds a unit again; the next joiner takes it without the shelf
    assert (shelf(campaign), held(group)) == (997, 2)
    group, _, _ = join_group(group)
    assert (shelf(campaign), held(group), group.joined) == (997, 1, 2)


def test_a_seat_freed_when_the_shelf_is_empty_takes_its_unit_from_the_shelf_when_joined(campaign):
    # given: stock for one group exactly; a joiner's cancelled unit is sold to someone else at once
    Sku.objects.filter(pk=campaign.sku_id).update(stock=3)
    group, _, _ = open_group(campaign)
    group, order, _ = join_group(group)
    shop.order_cancel(order=order, reason="buyer")
    assert shop.stock_take(sku_id=campaign.sku_id, product_id=campaign.product_id, quantity=1)
    deliver_events()
    group.refresh_from_db()
    assert (group.joined, group.stock_held, shelf(campaign)) == (1, 1, 0)

    # when: two more join: the first takes the held unit, the second finds none anywhere
    group, _, _ = join_group(group)
    buyer, address = shopper_with_address()
    response = bearer_client(buyer).post(
        f"/api/v1/groups/{group.pk}/join", {"quantity": 1, "address_id": address.pk}, format="json"
    )

    # then
    assert (response.status_code, error_code(response)) == (409, "out_of_stock")
    group.refresh_from_db()
    assert (group.joined, group.stock_held, shelf(campaign)) == (2, 0, 0)

    # and once restocked, the seat is taken with a unit from the shelf
    Sku.objects.filter(pk=campaign.sku_id).update(stock=1)
    group, _, _ = join_group(group)
    assert (group.joined, group.stock_held, shelf(campaign)) == (3, 0, 0)


def test_a_full_refund_while_forming_gives_the_seat_back_to_the_group_with_a_unit(campaign):
    group, _, _ = open_group(campaign)
    group, second, _ = join_group(group)
    pay(second)
    deliver_events()
    assert (shelf(campaign), held(group)) == (997, 1)

    assert services.member_refunded(order_id=second.pk, fully_refunded=True) is True

    # the refunded order's unit goes back to the shelf when the shop credits the refund
    group.refresh_from_db()
    assert (group.joined, group.stock_held, shelf(campaign)) == (1, 2, 996)


def test_a_campaigns_sku_cannot_change_while_its_groups_hold_units_of_it(campaign):
    group, _, _ = open_group(campaign)
    other = SkuFactory(product=campaign.product, price_fen=9900)

    campaign.sku = other
    with pytest.raises(ValidationError) as refused:
        campaign.full_clean()
    assert refused.value.message_dict == {"sku": ["活动有进行中的拼团，不能更换 SKU"]}

    # once the group has closed (its units back on the shelf), the SKU may change
    services.group_expire(group_id=group.pk, now=group.expires_at + timedelta(seconds=1))
    campaign.full_clean()
