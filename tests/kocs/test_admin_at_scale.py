"""The KOC admin's forms and tree at 100,000 KOCs: bounded queries, whatever the size of the tree.

The add page and the move (调整上级) page list no KOC and no user (autocompletes), so their query
counts do not grow with the tree; the team tree loads one level at a time. Seeded in bulk
(tests/kocs/bulk_tree.py), on PostgreSQL.
"""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from apps.kocs import selectors
from apps.kocs.models import Koc
from tests.accounts.factories import UserFactory
from tests.kocs.bulk_tree import seed_tree, seed_tree_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    return client


@pytest.mark.parametrize(
    "seed", [seed_tree, pytest.param(seed_tree_sql, marks=pytest.mark.postgres)], ids=["python", "sql"]
)
def test_the_bulk_tree_is_a_valid_nested_set(seed):
    branches = seed(branches=2, agencies=2, leaders=2, kocs=3)
    assert Koc.objects.count() == 2 * (1 + 2 * (1 + 2 * (1 + 3)))
    assert selectors.team_tree_problems() == []
    first = Koc.objects.get(pk=branches[0].pk)
    assert first.team_size == 2 * (1 + 2 * (1 + 3))


@pytest.mark.postgres
def test_add_and_move_pages_stay_under_20_queries_with_100k_kocs(admin_client, django_assert_max_num_queries):
    started = time.monotonic()
    branches = seed_tree_sql(branches=10, agencies=10, leaders=10, kocs=99)
    assert Koc.objects.count() == 100_110
    print(f"seeded 100,110 KOCs in {time.monotonic() - started:.1f}s")
    koc = Koc.objects.filter(role=Koc.Role.KOC).order_by("pk").first()
    admin_client.get("/admin/kocs/koc/add/")  # warm the session and content types

    with django_assert_max_num_queries(19):
        add = admin_client.get("/admin/kocs/koc/add/")
    with django_assert_max_num_queries(19):
        move = admin_client.post("/admin/kocs/koc/", {"action": "move", ACTION_CHECKBOX_NAME: [koc.pk]})

    assert add.status_code == 200 and move.status_code == 200
    assert len(add.content) < 100_000 and len(move.content) < 100_000  # no list of 100,000 choices
    for page in (add, move):
        assert 'data-ajax--url="/admin/kocs/koc/autocomplete/"' in page.content.decode()

    # the autocomplete behind them: a bounded page of matches, by name, phone or invite code
    params = {"app_label": "kocs", "model_name": "koc", "field_name": "parent"}
    with django_assert_max_num_queries(6):
        found = admin_client.get("/admin/kocs/koc/autocomplete/", {**params, "term": "规模用户12"}).json()
    assert len(found["results"]) == 20 and found["pagination"]["more"] is True
    by_code = admin_client.get("/admin/kocs/koc/autocomplete/", {**params, "term": koc.invite_code}).json()
    assert [r["id"] for r in by_code["results"]] == [str(koc.pk)]

    # submitting: a fixed number of queries (the services' own), not one more for a bigger tree
    leader = Koc.objects.filter(role=Koc.Role.LEADER).order_by("-pk").first()
    with django_assert_max_num_queries(40):
        moved = admin_client.post(
            "/admin/kocs/koc/",
            {
                "action": "move",
                ACTION_CHECKBOX_NAME: [koc.pk],
                "confirm": "1",
                "reason": "合并",
                "new_parent": leader.pk,
            },
        )
    with django_assert_max_num_queries(40):
        added = admin_client.post(
            "/admin/kocs/koc/add/", {"role": "agency", "parent": branches[-1].pk, "legal_name": "新机构"}
        )
    assert (moved.status_code, added.status_code) == (302, 302)
    assert Koc.objects.get(pk=koc.pk).parent_id == leader.pk
    assert Koc.objects.get(legal_name="新机构").parent_id == branches[-1].pk


@pytest.mark.postgres
def test_the_team_tree_opens_and_searches_100k_kocs_level_by_level(
    admin_client, django_assert_max_num_queries
):
    branches = seed_tree_sql(branches=10, agencies=10, leaders=10, kocs=99)
    leader = Koc.objects.filter(role=Koc.Role.LEADER).order_by("-pk").first()
    koc = Koc.objects.filter(parent=leader).order_by("lft").last()
    admin_client.get("/admin/kocs/koc/tree/")

    with django_assert_max_num_queries(12):
        top = admin_client.get("/admin/kocs/koc/tree/").content.decode()
    with django_assert_max_num_queries(6):
        children = admin_client.get("/admin/kocs/koc/tree/children/", {"parent": leader.pk}).content.decode()
    with django_assert_max_num_queries(12):
        subtree = admin_client.get("/admin/kocs/koc/tree/", {"root": leader.pk}).content.decode()
    with django_assert_max_num_queries(12):
        found = admin_client.get("/admin/kocs/koc/tree/", {"q": koc.invite_code}).content.decode()

    assert top.count('class="tree-node"') == 10 and branches[0].legal_name in top
    assert children.count('class="tree-node"') == 99 and "data-tree-more" not in children
    assert subtree.count('class="tree-node"') == 100  # the leader and its 99 KOCs
    assert found.count('class="tree-match"') == 1
    # branch › agency › leader › KOC
    path = Koc.objects.filter(tree_id=koc.tree_id, lft__lte=koc.lft, rght__gte=koc.rght).order_by("lft")
    row = re.search(r'<tr class="tree-match">(.*?)</tr>', found, re.S).group(1)
    assert re.findall(r'href="\?root=(\d+)"', row) == [str(k.pk) for k in path]
