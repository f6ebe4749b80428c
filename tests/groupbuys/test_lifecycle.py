"""A group's outcome at the service level: payments count seats, success once, failure refunds once.

The shop's payment service is called directly (a verified notification) and its events are
delivered with `deliver_events()`; tests/groupbuys/test_journeys.py runs the same through the
sandbox and real commits.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.core.models import OutboxEvent
from apps.groupbuys import services
from apps.groupbuys.models import CampaignUsage, Group, GroupMember, GroupNotification
from apps.shop.models import Order, Payment, Refund
from apps.wechat import pay as wechatpay
from tests.groupbuys.factories import deliver_events, join_group, open_group, pay

pytestmark = pytest.mark.django_db


def full_group(campaign):
    """A 3-seat group with every seat held: (group, [leader's order, two joiners' orders])."""
    group, leader_order, _ = open_group(campaign)
    group, second, _ = join_group(group)
    group, third, _ = join_group(group)
    return group, [leader_order, second, third]


def state(group):
    group.refresh_from_db()
    return (
        group.status,
        group.joined,
        group.paid_count,
        group.succeeded_at,
        group.failed_at,
        sorted(GroupMember.objects.filter(group=group).values_list("order_id", "status", "refund_id")),
        sorted(Order.objects.filter(group_id=group.pk).values_list("id", "status", "shipping_hold")),
        sorted(Refund.objects.values_list("order_id", "amount_fen", "idempotency_key")),
        Payment.objects.count(),
        GroupNotification.objects.count(),
        OutboxEvent.objects.count(),
    )


def test_the_last_paid_seat_succeeds_the_group_and_releases_every_order_for_shipping(campaign):
    # given
    group, orders = full_group(campaign)

    # when: all three pay
    for order in orders:
        assert pay(order) == "paid"
    deliver_events()

    # then
    group.refresh_from_db()
    assert (group.status, group.joined, group.paid_count) == ("succeeded", 3, 3)
    assert group.succeeded_at is not None
    assert set(Order.objects.filter(group_id=group.pk).values_list("status", "shipping_hold")) == {
        ("paid", False)
    }
    assert set(GroupMember.objects.values_list("status", flat=True)) == {"paid"}
    assert GroupNotification.objects.filter(group=group, kind="succeeded").count() == 3


def test_two_of_three_paid_is_still_forming_and_not_shippable(campaign):
    group, orders = full_group(campaign)

    pay(orders[0])
    pay(orders[1])
    deliver_events()

    group.refresh_from_db()
    assert (group.status, group.joined, group.paid_count) == ("forming", 3, 2)
    assert set(Order.objects.filter(status="paid").values_list("shipping_hold", flat=True)) == {True}


def test_duplicate_payment_notifications_and_events_during_success_change_nothing(campaign):
    # given: a group that just succeeded
    group, orders = full_group(campaign)
    transaction_ids = [f"4200{i:024d}" for i in range(3)]
    for order, transaction_id in zip(orders, transaction_ids, strict=True):
        pay(order, transaction_id=transaction_id)
    deliver_events()
    before = state(group)
    assert before[0] == "succeeded"

    # when: WeChat repeats every notification, and every order_paid event is handled again
    repeats = [pay(order, transaction_id=t) for order, t in zip(orders, transaction_ids, strict=True)]
    deliver_events()
    handled_again = [services.member_paid(order_id=o.pk) for o in orders]

    # then
    assert repeats == ["duplicate"] * 3
    assert handled_again == ["duplicate"] * 3
    assert state(group) == before


def test_expiry_refunds_every_paid_member_once_cancels_the_unpaid_and_frees_the_seats(campaign):
    # given: two paid members and one unpaid, past the deadline
    group, orders = full_group(campaign)
    pay(orders[0])
    pay(orders[1])
    deliver_events()
    after_deadline = group.expires_at + timedelta(seconds=1)

    # when
    call_command("expire_groups", now=after_deadline.isoformat())
    deliver_events()

    # then
    group.refresh_from_db()
    assert (group.status, group.joined, group.paid_count, group.failed_at) == ("failed", 0, 0, after_deadline)
    refunds = Refund.objects.order_by("order_id")
    assert [(r.order_id, r.amount_fen, r.kind, r.status) for r in refunds] == [
        (orders[0].pk, 6900, "system", "approved"),
        (orders[1].pk, 6900, "system", "approved"),
    ]
    assert [r.idempotency_key for r in refunds] == [
        f"group_failed:{orders[0].pk}",
        f"group_failed:{orders[1].pk}",
    ]
    assert Order.objects.get(pk=orders[2].pk).status == "cancelled"
    members = dict(GroupMember.objects.values_list("order_id", "status"))
    assert members == {orders[0].pk: "refunded", orders[1].pk: "refunded", orders[2].pk: "released"}
    assert list(
        GroupMember.objects.filter(status="refunded").order_by("order_id").values_list("refund_id", flat=True)
    ) == [r.pk for r in refunds]
    assert set(CampaignUsage.objects.values_list("units", flat=True)) == {0}
    assert GroupNotification.objects.filter(group=group, kind="failed").count() == 3


def test_running_expiry_twice_or_from_the_task_after_the_sweeper_changes_nothing(campaign):
    # given: a failed group
    group, orders = full_group(campaign)
    pay(orders[0])
    deliver_events()
    after_deadline = group.expires_at + timedelta(minutes=1)
    assert services.groups_expire(now=after_deadline) == 1
    deliver_events()
    before = state(group)

    # when: the sweeper again, the per-group task, and the failure refunds' path once more
    again = services.groups_expire(now=after_deadline)
    task = services.group_expire(group_id=group.pk, now=after_deadline)
    deliver_events()

    # then
    assert (again, task) == (0, False)
    assert state(group) == before
    assert Refund.objects.count() == 1


def test_expiry_before_the_deadline_does_nothing(campaign):
    group, orders = full_group(campaign)
    pay(orders[0])
    deliver_events()

    assert services.group_expire(group_id=group.pk, now=group.expires_at - timedelta(seconds=1)) is False
    assert services.groups_expire(now=group.expires_at - timedelta(seconds=1)) == 0
    assert Group.objects.get(pk=group.pk).status == "forming"


def test_a_payment_event_that_arrives_after_the_group_failed_is_refunded_once(campaign):
    # given: the third member paid, but the group failed before group buys heard of it
    group, orders = full_group(campaign)
    pay(orders[0])
    deliver_events()
    pay(orders[2])  # order_paid is in the outbox, not delivered yet
    services.group_expire(group_id=group.pk, now=group.expires_at)

    # when: the late event arrives
    deliver_events()

    # then: both paid orders refunded in full, each once; the unpaid one cancelled
    assert sorted(Refund.objects.values_list("order_id", "amount_fen")) == [
        (orders[0].pk, 6900),
        (orders[2].pk, 6900),
    ]
    assert Order.objects.get(pk=orders[1].pk).status == "cancelled"
    assert dict(GroupMember.objects.values_list("order_id", "status")) == {
        orders[0].pk: "refunded",
        orders[1].pk: "released",
        orders[2].pk: "refunded",
    }
    assert services.member_paid(order_id=orders[2].pk) == "duplicate"
    assert Refund.objects.count() == 2


def test_a_payment_made_at_or_after_the_deadline_is_refunded_even_before_the_sweeper(campaign):
    # given: two paid, the third pays exactly at the deadline (the sweeper has not run)
    group, orders = full_group(campaign)
    pay(orders[0])
    pay(orders[1])
    deliver_events()
    pay(orders[2], success_time=group.expires_at)

    # when
    deliver_events()

    # then: it does not complete the group; it is refunded in full
    group.refresh_from_db()
    assert (group.status, group.paid_count, group.joined) == ("forming", 2, 2)
    refund = Refund.objects.get()
    assert (refund.order_id, refund.amount_fen, refund.idempotency_key) == (
        orders[2].pk,
        6900,
        f"group_failed:{orders[2].pk}",
    )
    assert GroupMember.objects.get(order_id=orders[2].pk).status == "refunded"


def test_a_payment_made_just_before_the_deadline_completes_the_group_even_if_heard_of_after_it(campaign):
    group, orders = full_group(campaign)
    pay(orders[0])
    pay(orders[1])
    deliver_events()
    pay(orders[2], success_time=group.expires_at - timedelta(seconds=1))

    deliver_events()
    swept = services.groups_expire(now=group.expires_at + timedelta(minutes=5))

    group.refresh_from_db()
    assert (group.status, group.paid_count, swept) == ("succeeded", 3, 0)
    assert Refund.objects.count() == 0


def test_a_full_refund_after_success_keeps_the_success_and_shows_paid_members_only(campaign, api_client):
    # given: a succeeded group
    group, orders = full_group(campaign)
    for order in orders:
        pay(order)
    deliver_events()

    # when: one member is refunded in full after success (the shop's order_refunded event)
    handled = services.member_refunded(order_id=orders[1].pk, fully_refunded=True)
    handled_again = services.member_refunded(order_id=orders[1].pk, fully_refunded=True)

    # then
    group.refresh_from_db()
    assert (handled, handled_again) == (True, False)
    assert (group.status, group.paid_count, group.joined) == ("succeeded", 2, 2)
    body = api_client.get(f"/api/v1/groups/{group.pk}").json()
    assert (body["status"], body["paid_count"], body["seats_left"], len(body["members"])) == (
        "succeeded",
        2,
        0,
        2,
    )


def test_a_full_refund_while_forming_frees_the_seat_and_a_partial_one_does_not(campaign):
    group, orders = full_group(campaign)
    pay(orders[0])
    pay(orders[1])
    deliver_events()

    partial = services.member_refunded(order_id=orders[0].pk, fully_refunded=False)
    full = services.member_refunded(order_id=orders[1].pk, fully_refunded=True)

    group.refresh_from_db()
    assert (partial, full) == (False, True)
    assert (group.status, group.joined, group.paid_count, group.seats_left) == ("forming", 2, 1, 1)


def test_no_member_can_be_counted_without_a_real_paid_order(campaign):
    """No simulated members (虚拟成团): nothing but a paid order moves paid_count."""
    group, _orders = full_group(campaign)

    assert services.member_paid(order_id=999999) == "unknown"
    group.refresh_from_db()
    assert group.paid_count == 0
    assert all(m.order_id for m in GroupMember.objects.all())


def test_expiry_waits_for_the_next_sweep_when_wechat_pay_cannot_be_asked(campaign, monkeypatch):
    # given: an unpaid seat whose order reached WeChat Pay, and WeChat Pay unreachable
    group, orders = full_group(campaign)
    Order.objects.filter(pk=orders[1].pk).update(prepay_id="wx-prepay-1")
    after = group.expires_at + timedelta(seconds=1)

    def unreachable(*, out_trade_no):
        raise wechatpay.WeChatPayUnavailable()

    monkeypatch.setattr(wechatpay, "query_payment", unreachable)

    # when / then: nothing is failed blind
    assert services.groups_expire(now=after) == 0
    group.refresh_from_db()
    assert (group.status, group.joined) == ("forming", 3)
    assert Order.objects.filter(status="cancelled").count() == 0

    # and when WeChat answers again ("never paid"), the next sweep fails the group
    def never_paid(*, out_trade_no):
        raise wechatpay.WeChatPayError("订单不存在", wechat_code="ORDER_NOT_EXIST")

    monkeypatch.setattr(wechatpay, "query_payment", never_paid)
    assert services.groups_expire(now=after) == 1
    assert Group.objects.get(pk=group.pk).status == "failed"
