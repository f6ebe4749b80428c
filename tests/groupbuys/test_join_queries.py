"""A join's cost in statements, and its one-statement path on PostgreSQL.

A regression (an extra query per join) fails here. On PostgreSQL the join's writes are one
statement (`_join_in_one_statement`); these tests also show it leaves exactly the rows the
statement-by-statement path leaves, and that its refusals change nothing.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.groupbuys import services
from apps.groupbuys.errors import LimitExceeded
from apps.groupbuys.models import CampaignUsage, Group, GroupMember
from apps.groupbuys.services import groups as group_services
from apps.shop.models import Order, OrderItem, Sku
from apps.shop.services import orders as order_services
from tests.groupbuys.factories import open_group, shopper_with_address

pytestmark = pytest.mark.django_db

SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
# Before the transaction: the group read with its campaign, SKU and the "already joined" check (1)
# and the attribution (policy, binding and share code in one read: 1). Then the writes: on
# PostgreSQL one statement (seat with its held unit, usage row, order, line, member); elsewhere
# five (order, line, member, seat, usage). (Before stock was held per group: 13 statements, the SKU
# among them; before the reads moved ahead of the transaction and the writes into one: 8.)
JOIN_STATEMENTS = {"postgresql": 3, "sqlite": 7}
# In a test (inside the test's transaction) the attribution's read runs in a savepoint (a resolver's
# error must not poison the caller's transaction) and the join's writes in their own (outside a
# transaction the attribution needs none, and on PostgreSQL the writes are one statement with no
# BEGIN or COMMIT: see the test further down): two each, SAVEPOINT and RELEASE. The order number
# needs none (a collision is skipped by ON CONFLICT and drawn again).
JOIN_SAVEPOINT_STATEMENTS = 4


def _join_captured(campaign):
    """A shopper joins a new group of `campaign`: the group, the order, the buyer and the SQL sent."""
    group, _order, _leader = open_group(campaign)
    buyer, address = shopper_with_address()
    with CaptureQueriesContext(connection) as queries:
        group, order = services.group_join(group=group, buyer=buyer, quantity=1, address=address)
    return group, order, buyer, [q["sql"] for q in queries.captured_queries]


def test_a_join_takes_three_statements_on_postgresql_seven_elsewhere_and_never_touches_the_sku(campaign):
    group, order, _buyer, sql = _join_captured(campaign)

    statements = [s for s in sql if not s.startswith(SAVEPOINTS)]
    assert len(statements) == JOIN_STATEMENTS[connection.vendor], statements
    assert len(sql) - len(statements) == JOIN_SAVEPOINT_STATEMENTS, sql
    assert not [
        s for s in statements if f"UPDATE {Sku._meta.db_table}" in s or f'UPDATE "{Sku._meta.db_table}' in s
    ]
    assert (group.joined, group.stock_held, order.group_id) == (2, 1, group.pk)
    assert GroupMember.objects.get(order=order).status == GroupMember.Status.HELD


def _rows(order: Order) -> dict:
    member = GroupMember.objects.get(order=order)
    skip = {"id", "no", "order_id", "buyer_id", "created_at", "updated_at", "pay_deadline", "address"}
    return {
        "order": {k: v for k, v in Order.objects.filter(pk=order.pk).values().get().items() if k not in skip},
        "lines": [
            {k: v for k, v in line.items() if k not in skip | {"order_id"}}
            for line in OrderItem.objects.filter(order=order).values()
        ],
        "member": {
            k: v
            for k, v in GroupMember.objects.filter(pk=member.pk).values().get().items()
            if k not in skip | {"user_id", "joined_at"}
        },
        "usage": CampaignUsage.objects.get(
            campaign_id=member.group.campaign_id, user_id=member.user_id
        ).units,
    }


@pytest.mark.postgres
def test_the_one_statement_join_leaves_the_rows_the_statement_by_statement_join_leaves(campaign, monkeypatch):
    group, _order, _leader = open_group(campaign)
    first, first_address = shopper_with_address()
    second, second_address = shopper_with_address()

    _g, fast = services.group_join(group=group, buyer=first, quantity=1, address=first_address)
    monkeypatch.setattr(group_services, "_join_in_one_statement", lambda **kwargs: False)
    _g, slow = services.group_join(group=group, buyer=second, quantity=1, address=second_address)

    assert _rows(fast) == _rows(slow)
    assert (fast.no != slow.no, fast.buyer_id, slow.buyer_id) == (True, first.pk, second.pk)
    group.refresh_from_db()
    assert (group.joined, group.stock_held) == (3, 0)


# Outside any transaction (as the API calls it), the one statement on PostgreSQL is its own
# transaction: no BEGIN, no COMMIT, and a refusal after the seat fails the statement whole.
TRANSACTION_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", *SAVEPOINTS)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_join_is_three_statements_and_no_begin_or_commit(campaign):
    group, order, buyer, sql = _join_captured(campaign)

    assert len(sql) == 3, sql
    assert not [s for s in sql if s.startswith(TRANSACTION_STATEMENTS)], sql
    group.refresh_from_db()
    assert (group.joined, group.stock_held, Order.objects.get(pk=order.pk).group_id) == (2, 1, group.pk)
    assert CampaignUsage.objects.get(campaign=campaign, user=buyer).units == 1


# The one statement's refusals after the seat, inside a caller's transaction (a savepoint) and as
# its own transaction (autocommit, as the API calls it): either way nothing is left.
BOTH_WAYS = pytest.mark.parametrize(
    "how",
    [
        pytest.param("in a transaction", id="in-a-transaction"),
        pytest.param("own transaction", id="own-transaction", marks=pytest.mark.django_db(transaction=True)),
    ],
)


@pytest.mark.postgres
@BOTH_WAYS
def test_a_join_over_the_limit_in_the_one_statement_changes_nothing(campaign, how):
    group, _order, _leader = open_group(campaign)
    buyer, address = shopper_with_address()
    # the buyer already holds the campaign's limit elsewhere (another group of the campaign)
    CampaignUsage.objects.create(campaign=campaign, user=buyer, units=campaign.per_user_limit)
    before = Group.objects.values("joined", "stock_held").get(pk=group.pk)
    assert connection.get_autocommit() is (how == "own transaction")

    with pytest.raises(LimitExceeded):
        services.group_join(group=group, buyer=buyer, quantity=1, address=address)

    assert Group.objects.values("joined", "stock_held").get(pk=group.pk) == before
    assert CampaignUsage.objects.get(campaign=campaign, user=buyer).units == campaign.per_user_limit
    assert not Order.objects.filter(buyer=buyer).exists()
    assert not GroupMember.objects.filter(user=buyer).exists()


@pytest.mark.postgres
@BOTH_WAYS
def test_a_taken_order_number_is_drawn_again_and_nothing_is_written_twice(campaign, monkeypatch, how):
    group, leader_order, _leader = open_group(campaign)
    buyer, address = shopper_with_address()
    draws = iter([leader_order.no, leader_order.no, "20991231000000000002"])
    monkeypatch.setattr(order_services, "new_order_no", lambda now=None: next(draws))

    _g, order = services.group_join(group=group, buyer=buyer, quantity=1, address=address)

    assert order.no == "20991231000000000002"
    group.refresh_from_db()
    assert (group.joined, group.stock_held) == (2, 1)
    assert CampaignUsage.objects.get(campaign=campaign, user=buyer).units == 1
    assert Order.objects.filter(buyer=buyer).count() == 1
    assert GroupMember.objects.filter(group=group, user=buyer).count() == 1
