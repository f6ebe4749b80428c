"""A join's cost in statements: a regression (an extra query per join) fails here."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.groupbuys import services
from apps.groupbuys.models import GroupMember
from apps.shop.models import Sku
from tests.groupbuys.factories import open_group, shopper_with_address

pytestmark = pytest.mark.django_db

SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
# The group read with its campaign, SKU and the "already joined" check (1), the attribution (2), the
# order and its line (2), the member (1), the seat with its held unit (1), the per-user units (1).
# The same on SQLite and PostgreSQL. (Before stock was held per group: 13, the SKU among them.)
JOIN_STATEMENTS = 8
# Savepoints: the attribution's (a resolver's error must not poison the order) and the order
# number's (retried on a collision): two each, a SAVEPOINT and its RELEASE; and in a test, the join's
# own transaction, nested in the test's (outside a test it is the BEGIN and COMMIT).
JOIN_SAVEPOINT_STATEMENTS = 6


def test_a_join_takes_eight_statements_and_never_touches_the_sku(campaign):
    group, _order, _leader = open_group(campaign)
    buyer, address = shopper_with_address()

    with CaptureQueriesContext(connection) as queries:
        group, order = services.group_join(group=group, buyer=buyer, quantity=1, address=address)

    sql = [q["sql"] for q in queries.captured_queries]
    statements = [s for s in sql if not s.startswith(SAVEPOINTS)]
    assert len(statements) == JOIN_STATEMENTS, statements
    assert len(sql) - len(statements) == JOIN_SAVEPOINT_STATEMENTS, sql
    assert not [s for s in statements if Sku._meta.db_table in s and not s.startswith("SELECT")]
    assert (group.joined, group.stock_held, order.group_id) == (2, 1, group.pk)
    assert GroupMember.objects.get(order=order).status == GroupMember.Status.HELD
