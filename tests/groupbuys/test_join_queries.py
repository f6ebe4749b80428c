"""A join's cost in statements: a regression (an extra query per join) fails here."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.groupbuys import services
from apps.groupbuys.models import GroupMember
from tests.groupbuys.factories import open_group, shopper_with_address

pytestmark = pytest.mark.django_db

SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
# The group read and checked (2), the seat taken (1), the per-user units (2), the SKU read and its
# stock taken (2), the attribution (2), the order and its line (2), the member (1), the group re-read
# for the answer (1). The same on SQLite and PostgreSQL.
JOIN_STATEMENTS = 13


def test_a_join_takes_thirteen_statements(campaign):
    group, _order, _leader = open_group(campaign)
    buyer, address = shopper_with_address()

    with CaptureQueriesContext(connection) as queries:
        group, order = services.group_join(group=group, buyer=buyer, quantity=1, address=address)

    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(SAVEPOINTS)]
    assert len(statements) == JOIN_STATEMENTS, statements
    assert (group.joined, order.group_id) == (2, group.pk)
    assert GroupMember.objects.get(order=order).status == GroupMember.Status.HELD
