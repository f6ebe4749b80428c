"""What must hold under real concurrency, on PostgreSQL: threads, each with its own connection."""

from __future__ import annotations

import io
import shutil
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from apps.core import events
from apps.core.errors import ApplicationError
from apps.core.models import EventDelivery, OutboxEvent
from apps.groupbuys import services
from apps.groupbuys.models import CampaignUsage, Group, GroupMember, GroupNotification
from apps.groupbuys.services import lifecycle
from apps.shop import services as shop
from apps.shop.models import Order, Refund, Sku
from tests.accounts.factories import AddressFactory, UserFactory
from tests.groupbuys.factories import CampaignFactory, join_group, open_group
from tests.shop.factories import payment_notice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# PostgreSQL allows 100 connections in all, shared with other test runs: at most this many threads
# hold one at a time (all 200 are released together and queue for a connection, then for the row).
CONNECTIONS = 30
HANDLER = "apps.groupbuys.handlers.on_order_paid"


def run_together(count: int, work) -> list:
    """Run work(i) in `count` threads released at once; answers each result or exception."""
    barrier = threading.Barrier(count)
    slots = threading.BoundedSemaphore(CONNECTIONS)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        with slots:
            try:
                results[i] = work(i)
            except Exception as exc:
                results[i] = exc
            finally:
                connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def codes(results) -> Counter:
    return Counter(r.code if isinstance(r, ApplicationError) else type(r).__name__ for r in results)


def pay_and_deliver(order: Order, **notice) -> str:
    """A payment notification applied by the shop, then its order_paid event delivered (what the
    outbox's Celery task does after commit)."""
    notice.setdefault("transaction_id", f"42{order.pk:026d}")
    outcome = shop.payment_notification_handle(notice=payment_notice(order, **notice))
    event = OutboxEvent.objects.filter(key=f"order_paid:{order.pk}").first()
    if event is not None:
        events.dispatch(event.pk)
    return outcome


@pytest.fixture
def successes(monkeypatch) -> list:
    """Every time a group's success side effects run (orders released, members told)."""
    seen: list = []
    guard = threading.Lock()
    original = lifecycle.queue_group_notifications

    def counting(*, group, kind, user_ids):
        if kind == GroupNotification.Kind.SUCCEEDED:
            with guard:
                seen.append(group.pk)
        return original(group=group, kind=kind, user_ids=user_ids)

    monkeypatch.setattr(lifecycle, "queue_group_notifications", counting)
    return seen


@pytest.mark.parametrize("round_no", [1, 2, 3])
def test_200_concurrent_joins_on_a_5_seat_group_fill_it_exactly_and_it_succeeds_once(round_no, successes):
    # given: a 5-seat group whose leader holds the first seat, and 200 shoppers
    campaign = CampaignFactory(group_size=5, per_user_limit=1, sku__stock=1000)
    group, leader_order, _ = open_group(campaign)
    joiners = [UserFactory() for _ in range(200)]
    addresses = [AddressFactory(user=u) for u in joiners]

    # when: all join at once
    results = run_together(
        200,
        lambda i: services.group_join(group=group, buyer=joiners[i], quantity=1, address=addresses[i]),
    )

    # then: exactly 4 more seats were taken; everyone else was told the group is full
    joined = [r for r in results if isinstance(r, tuple)]
    assert codes(r for r in results if not isinstance(r, tuple)) == Counter({"group_full": 196})
    assert len(joined) == 4
    group.refresh_from_db()
    assert (group.joined, group.status) == (5, "forming")
    assert GroupMember.objects.filter(group=group, status__in=["held", "paid"]).count() == 5
    assert Order.objects.filter(group_id=group.pk).count() == 5
    assert Sku.objects.get(pk=campaign.sku_id).stock == 995
    assert sum(CampaignUsage.objects.filter(campaign=campaign).values_list("units", flat=True)) == 5

    # and when: the five pay at once, each notification arriving twice
    orders = [leader_order] + [order for _group, order in joined]
    outcomes = run_together(10, lambda i: pay_and_deliver(orders[i % 5]))

    # then: the group succeeded once, with five paid members, every order shippable
    assert sorted(outcomes) == ["duplicate"] * 5 + ["paid"] * 5
    group.refresh_from_db()
    assert (group.status, group.paid_count, group.joined) == ("succeeded", 5, 5)
    assert successes == [group.pk]
    assert GroupNotification.objects.filter(group=group, kind="succeeded").count() == 5
    assert set(Order.objects.filter(group_id=group.pk).values_list("status", "shipping_hold")) == {
        ("paid", False)
    }
    assert EventDelivery.objects.filter(handler=HANDLER, event__key__startswith="order_paid:").count() == 5


def test_one_shopper_joining_ten_groups_at_once_stays_within_the_limit():
    # given: a limit of 2 units, ten open groups
    campaign = CampaignFactory(group_size=3, per_user_limit=2)
    groups = [open_group(campaign)[0] for _ in range(10)]
    shopper = UserFactory()
    address = AddressFactory(user=shopper)

    # when
    results = run_together(
        10, lambda i: services.group_join(group=groups[i], buyer=shopper, quantity=1, address=address)
    )

    # then
    assert codes(r for r in results if not isinstance(r, tuple)) == Counter({"limit_exceeded": 8})
    assert GroupMember.objects.filter(user=shopper, status="held").count() == 2
    assert CampaignUsage.objects.get(campaign=campaign, user=shopper).units == 2
    assert sum(Group.objects.filter(campaign=campaign).values_list("joined", flat=True)) == 12


def test_one_shopper_joining_one_group_from_ten_devices_gets_one_seat():
    campaign = CampaignFactory(group_size=5, per_user_limit=5)
    group, _, _ = open_group(campaign)
    shopper = UserFactory()
    address = AddressFactory(user=shopper)

    results = run_together(
        10, lambda i: services.group_join(group=group, buyer=shopper, quantity=1, address=address)
    )

    assert codes(r for r in results if not isinstance(r, tuple)) == Counter({"already_joined": 9})
    assert Group.objects.get(pk=group.pk).joined == 2
    assert CampaignUsage.objects.get(campaign=campaign, user=shopper).units == 1


def test_expiry_from_the_task_and_the_sweeper_racing_a_last_payment_refunds_each_member_once():
    for _attempt in range(3):
        # given: a 3-seat group, two paid; the third paid a second before the deadline, and its
        # notification arrives just as the expiry task and sweepers run
        campaign = CampaignFactory(group_size=3)
        group, first, _ = open_group(campaign)
        group, second, _ = join_group(group)
        group, third, _ = join_group(group)
        for order in (first, second):
            pay_and_deliver(order)
        after = group.expires_at + timedelta(seconds=1)
        just_before = group.expires_at - timedelta(seconds=1)

        # when: five expiries and the payment, all at once
        def work(i: int, group=group, third=third, after=after, just_before=just_before):
            if i == 0:
                return pay_and_deliver(third, success_time=just_before)
            if i % 2:
                return services.group_expire(group_id=group.pk, now=after)
            return services.groups_expire(now=after)

        run_together(6, work)

        # then: one of the two consistent outcomes, and never two refunds for one order
        group.refresh_from_db()
        refunds = sorted(
            Refund.objects.filter(order__group_id=group.pk).values_list("order_id", "amount_fen")
        )
        orders = sorted(o.pk for o in (first, second, third))
        if group.status == "succeeded":  # the payment was counted before the expiry ran
            assert (refunds, group.paid_count, group.joined) == ([], 3, 3)
        else:  # the group failed first: all three paid orders refunded in full, once each
            assert group.status == "failed"
            assert refunds == [(order_id, 6900) for order_id in orders]
            assert (group.joined, group.paid_count) == (0, 0)
            assert GroupNotification.objects.filter(group=group, kind="failed").count() == 3
        assert Order.objects.filter(group_id=group.pk, status="pending_payment").count() == 0


def test_the_benchmark_command_runs_and_finds_no_oversell():
    out = io.StringIO()

    call_command(
        "bench_group_joins",
        joiners=40,
        groups=2,
        size=3,
        connections=6,
        processes=2,
        no_baseline=True,
        profile=3,
        stdout=out,
    )

    report = out.getvalue()
    assert "project  #1: 4 joined of 40 attempts (refused: group_full 36)" in report
    assert "oversell 0 (members beyond size); counters match members: yes" in report
    assert "stock conserved (shelf + held + ordered 46 -> 46): yes" in report
    assert "profile:    3 sequential joins" in report
    # PostgreSQL runs on this machine: the run's CPU is split between it and the rest
    assert "  CPU:      the machine " in report and "of its PostgreSQL backend" in report
    # the profile's 2 groups and its warm-up group (3 leaders, 3 + 1 joined), the run's (2 + 4),
    # and the connections' warm-up joins before the clock (6 each: 36 in 18 groups of 3)
    assert Order.objects.filter(kind="group_buy").count() == 7 + 6 + (18 + 36)


@pytest.mark.skipif(not shutil.which("pgbench"), reason="needs pgbench (it comes with PostgreSQL)")
def test_the_benchmark_runs_its_pgbench_baseline_alternately_and_prints_the_ratio():
    out = io.StringIO()

    call_command(
        "bench_group_joins", joiners=12, groups=2, size=3, connections=3, processes=1, rounds=2, stdout=out
    )

    report = out.getvalue()
    lines = report.splitlines()
    runs = [line.split(":")[0] for line in lines if line.startswith(("project  #", "baseline #"))]
    assert runs == ["project  #1", "baseline #1", "project  #2", "baseline #2"]
    # The baseline's transactions took exactly the seats there were, and rolled back the rest.
    assert report.count("baseline #") == 2
    assert "baseline #1: 4 joined of 12 attempts (refused: seat refused (rolled back) 8)" in report
    assert [line.split(":")[0] for line in lines[-3:]] == ["project", "baseline", "ratio"]
    assert "(pgbench, same writes, same tables)" in report
