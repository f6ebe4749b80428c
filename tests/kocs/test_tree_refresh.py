"""Large trees: placements write one row, the refresher renumbers the nested set in batches, and
every read a commission or a tier needs is exact before it runs (services/tree.py)."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.kocs import selectors, services
from apps.kocs.models import Koc, KocTreeChange
from apps.kocs.services.tree import refresh_team_trees
from apps.kocs.tree_build import build_forest, nested_set_for, number_forest, random_team_shape
from tests.accounts.factories import UserFactory
from tests.kocs.factories import make_agency, make_branch, make_individual, make_leader, make_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def deferred(settings):
    """Every tree counts as large: nothing is renumbered by the writers."""
    settings.KOCS_TREE_INLINE_NODES = 0


def fresh(koc: Koc) -> Koc:
    return Koc.objects.get(pk=koc.pk)


def test_numbering_of_a_forest_matches_a_recursive_definition():
    # given: two trees, siblings in id order
    nodes = [(1, None), (2, 1), (3, 1), (4, 2), (5, None), (6, 5), (7, 3)]

    # when
    numbered = nested_set_for(nodes)

    # then
    assert numbered == {
        1: (1, 1, 10, 0),
        2: (1, 2, 5, 1),
        4: (1, 3, 4, 2),
        3: (1, 6, 9, 1),
        7: (1, 7, 8, 2),
        5: (5, 1, 4, 0),
        6: (5, 2, 3, 1),
    }


def test_a_loop_in_the_parent_pointers_is_left_unnumbered():
    from array import array

    numbering = number_forest(array("q", [1, 3, 2]), array("q", [0, 2, 3]))
    assert list(numbering.lft) == [1, 0, 0]


def test_placements_in_a_large_tree_write_one_row_and_reads_are_exact_before_the_refresh(deferred):
    # given: branch -> agency -> leader -> koc1, each placement left to the refresher
    branch = make_branch()
    agency = make_agency(branch=branch)
    leader = make_leader(agency=agency)
    koc1 = make_individual(parent=leader)
    assert KocTreeChange.objects.count() == 3  # agency, leader, koc1 (the branch is a new tree)

    # when: an applicant applies with koc1's code and is approved
    user = UserFactory()
    applicant = services.koc_apply(user=user, real_name="李四", invite_code=koc1.invite_code)
    services.koc_approve(koc=applicant, by=None)
    make_sale(koc=applicant, amount_fen=700)
    make_sale(koc=koc1, amount_fen=50)

    # then: the parent pointers answer exactly at once
    now = timezone.now()
    assert [k.pk for k in selectors.individual_uplines(koc_id=applicant.pk, on=now, levels=10)] == [
        koc1.pk,
        leader.pk,
    ]
    organisations = selectors.organisation_ancestors(koc_id=applicant.pk, on=now)
    assert [k.pk for k in organisations] == [agency.pk, branch.pk]
    assert selectors.team_sales_fen(koc=leader) == 750
    assert selectors.team_sales_fen(koc=koc1) == 750
    assert selectors.team_member_count(koc=branch) == 4
    assert selectors.current_ancestor_ids(koc_id=applicant.pk) == [koc1.pk, leader.pk, agency.pk, branch.pk]
    # the nested set awaits the refresher: pending, not damage
    assert selectors.team_tree_problems() == []
    assert fresh(branch).team_size == 0

    # when: the refresher runs
    stats = refresh_team_trees()

    # then
    assert stats["trees"] == 1 and stats["changes"] == 4
    assert KocTreeChange.objects.count() == 0
    assert fresh(branch).team_size == 4
    assert [k.pk for k in fresh(leader).get_descendants()] == [koc1.pk, applicant.pk]
    assert fresh(applicant).depth == 4 and fresh(applicant).tree_id == fresh(branch).tree_id
    assert selectors.team_tree_problems() == []
    assert refresh_team_trees() == {"trees": 0, "rows": 0, "changes": 0}


def test_a_move_in_a_large_tree_is_exact_at_once_for_uplines_past_and_present(deferred):
    # given: two teams, koc1 -> koc2 -> koc3 under the first leader
    branch = make_branch()
    leader = make_leader(agency=make_agency(branch=branch))
    leader2 = make_leader(agency=make_agency(branch=branch))
    koc1 = make_individual(parent=leader)
    koc2 = make_individual(parent=koc1)
    koc3 = make_individual(parent=koc2)
    make_sale(koc=koc3, amount_fen=300)
    refresh_team_trees()
    before = timezone.now()

    # when: koc2's subtree moves to the second leader (one row written)
    services.koc_move(koc=koc2, new_parent=leader2, by=None, reason="调整")

    # then: at once, before any renumbering
    now = timezone.now()
    assert [k.pk for k in selectors.individual_uplines(koc_id=koc3.pk, on=now, levels=10)] == [
        koc2.pk,
        leader2.pk,
    ]
    assert selectors.ancestor_ids_on(koc_id=koc3.pk, on=before, depth=3) == [koc2.pk, koc1.pk, leader.pk]
    assert selectors.team_sales_fen(koc=leader) == 0
    assert selectors.team_sales_fen(koc=leader2) == 300
    assert fresh(koc3).tree_id == fresh(branch).tree_id  # stale nested set, exact reads unaffected
    assert selectors.team_tree_problems() == []

    # when
    refresh_team_trees()

    # then
    assert [k.pk for k in fresh(leader2).get_descendants()] == [koc2.pk, koc3.pk]
    assert fresh(leader).team_size == 1
    assert selectors.team_tree_problems() == []


def test_a_subtree_moved_to_the_top_gets_a_tree_of_its_own(deferred):
    branch = make_branch()
    leader = make_leader(agency=make_agency(branch=branch))
    koc1 = make_individual(parent=leader)
    koc2 = make_individual(parent=koc1)

    services.koc_move(koc=koc1, new_parent=None, by=None, reason="独立")
    refresh_team_trees()

    assert fresh(koc1).tree_id != fresh(branch).tree_id
    assert fresh(koc2).tree_id == fresh(koc1).tree_id
    assert (fresh(koc1).lft, fresh(koc1).rght, fresh(koc2).depth) == (1, 4, 1)
    assert fresh(leader).team_size == 0
    assert selectors.team_tree_problems() == []


def test_check_team_tree_reports_damage_in_a_settled_tree_and_fix_renumbers_only_it(capsys):
    # given: two trees built in bulk; the second one damaged
    rng = random.Random(7)
    parents, roles = random_team_shape(300, rng=rng, agencies_per_branch=2, leaders_per_agency=3)
    first = build_forest(parents, roles, at=timezone.now())
    second = build_forest(parents, roles, at=timezone.now())
    assert selectors.team_tree_problems() == []
    Koc.objects.filter(pk=second[5]).update(lft=9999)
    untouched = dict(Koc.objects.filter(pk__in=first).values_list("pk", "lft"))

    # when
    with pytest.raises(Exception, match="invalid"):
        call_command("check_team_tree")
    call_command("check_team_tree", "--fix")

    # then
    assert "renumbered 1 tree(s)" in capsys.readouterr().out
    assert selectors.team_tree_problems() == []
    assert dict(Koc.objects.filter(pk__in=first).values_list("pk", "lft")) == untouched


def test_bulk_built_trees_are_valid_and_have_their_history():
    parents, roles = random_team_shape(500, rng=random.Random(1), agencies_per_branch=3, leaders_per_agency=4)
    ids = build_forest(parents, roles, at=timezone.now())
    assert len(ids) == 500
    assert selectors.team_tree_problems() == []
    root = Koc.objects.get(pk=ids[0])
    assert root.team_size == 499 and root.role == Koc.Role.BRANCH
    assert Koc.objects.get(pk=ids[1]).parent_id == ids[0]
    assert selectors.team_member_count(koc=root) == 499
