"""koc/team and team sales: one aggregate query, also for thousands of descendants."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.kocs import selectors
from apps.kocs.models import Koc, KocParentHistory, KocSale
from tests.helpers import bearer_client, error_code
from tests.kocs.factories import LevelFactory, make_individual, make_leader, make_sale

pytestmark = pytest.mark.django_db


def bulk_subtree(*, under: Koc, children: int, grandchildren: int) -> list[Koc]:
    """`children` KOCs under `under`, each with `grandchildren` KOCs: built in bulk, then numbered
    by mptt's partial rebuild of that one tree (the services insert one node at a time)."""
    now = timezone.now()

    def layer(parents: list[Koc], per_parent: int, prefix: str) -> list[Koc]:
        rows = [
            Koc(
                role=Koc.Role.KOC,
                status=Koc.Status.APPROVED,
                parent=parent,
                invite_code=f"{prefix}{p:03d}{c:03d}",
                real_name="批量",
                approved_at=now,
                tree_id=under.tree_id,
                lft=0,
                rght=0,
                depth=0,
            )
            for p, parent in enumerate(parents)
            for c in range(per_parent)
        ]
        created = Koc.objects.bulk_create(rows, batch_size=500)
        KocParentHistory.objects.bulk_create(
            [KocParentHistory(koc=k, parent=k.parent, valid_from=now) for k in created], batch_size=500
        )
        return created

    first = layer([under], children, "A")
    second = layer(first, grandchildren, "B")
    Koc.objects.partial_rebuild(under.tree_id)
    return first + second


def test_team_sales_of_thousands_of_descendants_is_one_exact_aggregate(django_assert_num_queries):
    # given: a leader with 40 direct KOCs, each with 50 KOCs of their own: 2 040 descendants
    leader = make_leader()
    members = bulk_subtree(under=leader, children=40, grandchildren=50)
    assert len(members) == 2_040
    now = timezone.now()
    KocSale.objects.bulk_create(
        [
            KocSale(
                koc=k, order_id=900_000 + i, paid_fen=100 + i, amount_fen=100 + i, units=1, completed_at=now
            )
            for i, k in enumerate(members)
        ],
        batch_size=500,
    )
    make_sale(koc=leader, amount_fen=7)
    expected = sum(100 + i for i in range(len(members))) + 7
    # sales outside the subtree: its agency, and a KOC of another leader
    make_sale(koc=Koc.objects.get(pk=leader.parent_id), amount_fen=1_000_000)
    make_sale(koc=make_individual(parent=make_leader()), amount_fen=55_555)

    # when / then: one query, to the fen
    with django_assert_num_queries(1):
        total = selectors.team_sales_fen(koc=leader)
    assert total == expected
    # a stale in-memory instance still gets the right answer (the bounds are read in the query)
    assert leader.rght == leader.lft + 1
    with django_assert_num_queries(1):
        assert selectors.team_sales_fen(koc=members[0]) == 100 + sum(100 + i for i in range(40, 90))
    leader.refresh_from_db()
    assert leader.team_size == 2_040
    assert selectors.team_tree_problems() == []


def test_koc_team_lists_direct_members_with_totals_in_a_fixed_number_of_queries(django_assert_num_queries):
    # given
    gold = LevelFactory(rank=2, name="金牌")
    leader = make_leader()
    members = [make_individual(parent=leader) for _ in range(3)]
    Koc.objects.filter(pk=members[1].pk).update(level=gold)
    grandchild = make_individual(parent=members[0])
    make_sale(koc=members[0], amount_fen=1_000)
    make_sale(koc=members[0], amount_fen=500)
    make_sale(koc=grandchild, amount_fen=300)
    make_sale(koc=leader, amount_fen=20)
    client = bearer_client(leader.user)

    # when: user, koc, page count, page, team sales
    with django_assert_num_queries(5):
        resp = client.get("/api/v1/koc/team")

    # then
    assert resp.status_code == 200
    body = resp.json()
    assert body["team_size"] == 4
    assert body["team_sales_fen"] == 1_820
    assert body["direct_members_count"] == 3
    assert body["next"] is None
    assert [m["id"] for m in body["direct_members"]] == [m.pk for m in members]
    first = body["direct_members"][0]
    assert first["own_sales_fen"] == 1_500
    assert first["team_size"] == 1
    assert first["nickname"] == members[0].user.nickname
    assert first["avatar_url"] == members[0].user.avatar_url
    assert first["role"] == "koc" and first["level"] is None
    assert body["direct_members"][1]["level"] == {"name": "金牌", "rank": 2}
    assert body["direct_members"][2]["own_sales_fen"] == 0

    # and the query count does not grow with the page
    for _ in range(20):
        make_individual(parent=leader)
    with django_assert_num_queries(5):
        resp = client.get("/api/v1/koc/team?page_size=50")
    assert len(resp.json()["direct_members"]) == 23


def test_koc_team_pages_through_direct_members():
    leader = make_leader()
    for _ in range(3):
        make_individual(parent=leader)
    client = bearer_client(leader.user)
    body = client.get("/api/v1/koc/team?page_size=2").json()
    assert len(body["direct_members"]) == 2 and body["next"] and body["direct_members_count"] == 3
    body = client.get("/api/v1/koc/team?page_size=2&page=2").json()
    assert len(body["direct_members"]) == 1 and body["next"] is None


def test_koc_team_is_for_approved_kocs_only(shopper, shopper_client):
    from apps.kocs import services

    services.koc_apply(user=shopper, real_name="李小花")
    resp = shopper_client.get("/api/v1/koc/team")
    assert resp.status_code == 404
    assert error_code(resp) == "not_a_koc"
