"""The team tree: placement rules, moves with history, uplines, and the check command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.kocs import selectors, services
from apps.kocs.models import Koc, KocParentHistory
from tests.accounts.factories import UserFactory
from tests.kocs.factories import make_agency, make_branch, make_individual, make_leader

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """branch -> agency -> leader -> koc1 -> koc2 -> koc3, and a second agency with a leader."""
    branch = make_branch(name="华东分公司")
    agency = make_agency(branch=branch, name="杭州机构")
    leader = make_leader(agency=agency)
    koc1 = make_individual(parent=leader)
    koc2 = make_individual(parent=koc1)
    koc3 = make_individual(parent=koc2)
    agency2 = make_agency(branch=branch, name="宁波机构")
    leader2 = make_leader(agency=agency2)
    return {
        "branch": branch,
        "agency": agency,
        "leader": leader,
        "koc1": koc1,
        "koc2": koc2,
        "koc3": koc3,
        "agency2": agency2,
        "leader2": leader2,
    }


def fresh(koc: Koc) -> Koc:
    return Koc.objects.get(pk=koc.pk)


def test_nodes_created_through_the_service_form_a_valid_tree(team):
    # then
    assert selectors.team_tree_problems() == []
    leader = fresh(team["leader"])
    assert leader.team_size == 3
    assert [k.pk for k in leader.get_descendants()] == [team["koc1"].pk, team["koc2"].pk, team["koc3"].pk]
    assert fresh(team["branch"]).team_size == 7
    assert team["branch"].is_organisation and not team["leader"].is_organisation
    call_command("check_team_tree")


@pytest.mark.parametrize(
    ("role", "parent_key", "code"),
    [
        (Koc.Role.AGENCY, None, "invalid_parent"),  # an agency sits under a branch
        (Koc.Role.AGENCY, "leader", "invalid_parent"),
        (Koc.Role.BRANCH, "branch", "invalid_parent"),  # a branch is a root
        (Koc.Role.LEADER, "koc1", "invalid_parent"),  # a leader sits under an agency
        (Koc.Role.KOC, "agency", "invalid_parent"),  # a KOC sits under a leader or a KOC
        (Koc.Role.KOC, "branch", "invalid_parent"),
    ],
)
def test_placement_rules_refuse_wrong_parents(team, role, parent_key, code):
    # given
    parent = team[parent_key] if parent_key else None

    # when
    with pytest.raises(ApplicationError) as exc:
        services.koc_create(
            role=role, parent=parent, legal_name="X 公司", real_name="王五", user=UserFactory()
        )

    # then
    assert exc.value.code == code
    assert selectors.team_tree_problems() == []


def test_moving_a_subtree_keeps_who_was_the_parent_when(team):
    # given: koc2 (with koc3 below it) sits under koc1
    before_move = timezone.now()
    koc2 = team["koc2"]
    ops = UserFactory(is_staff=True)

    # when: an operator moves koc2 under leader2
    services.koc_move(koc=koc2, new_parent=team["leader2"], by=ops, reason="团队调整")
    after_move = timezone.now()

    # then: a commission question about a date before the move answers the old parent
    assert selectors.parent_on(koc_id=koc2.pk, on=before_move).pk == team["koc1"].pk
    assert selectors.parent_on(koc_id=koc2.pk, on=after_move).pk == team["leader2"].pk
    assert selectors.parent_on(koc_id=koc2.pk, on=before_move - timedelta(days=365)) is None  # not yet a KOC
    # the descendant koc3 did not change parent, but its uplines did
    on_before = selectors.individual_uplines(koc_id=team["koc3"].pk, on=before_move, levels=3)
    on_after = selectors.individual_uplines(koc_id=team["koc3"].pk, on=after_move, levels=3)
    assert [k.pk for k in on_before] == [koc2.pk, team["koc1"].pk, team["leader"].pk]
    assert [k.pk for k in on_after] == [koc2.pk, team["leader2"].pk]
    # the history has one closed and one open row, and the tree is valid
    rows = list(KocParentHistory.objects.filter(koc=koc2).order_by("valid_from"))
    assert [(r.parent_id, r.valid_to is None) for r in rows] == [
        (team["koc1"].pk, False),
        (team["leader2"].pk, True),
    ]
    assert rows[0].valid_to == rows[1].valid_from
    assert rows[1].changed_by == ops and rows[1].reason == "团队调整"
    assert fresh(team["leader"]).team_size == 1
    assert fresh(team["leader2"]).team_size == 2
    assert selectors.team_tree_problems() == []


@pytest.mark.parametrize(
    ("mover", "target", "code"),
    [
        ("koc1", "koc3", "move_into_own_subtree"),
        ("koc1", "koc1", "move_into_own_subtree"),
        ("koc2", "koc1", "same_parent"),
        ("leader", "koc1", "move_into_own_subtree"),
        ("leader", "leader2", "invalid_parent"),  # a leader's parent is an agency
        ("koc1", "agency2", "invalid_parent"),  # a KOC's parent is a leader or a KOC
        ("agency", None, "invalid_parent"),  # an agency needs a branch
    ],
)
def test_moves_that_would_break_the_tree_are_refused(team, mover, target, code):
    # when
    with pytest.raises(ApplicationError) as exc:
        services.koc_move(
            koc=team[mover], new_parent=team[target] if target else None, by=None, reason="试试"
        )

    # then: refused with a clear code, nothing changed
    assert exc.value.code == code
    assert KocParentHistory.objects.filter(valid_to__isnull=False).count() == 0
    assert selectors.team_tree_problems() == []


def test_a_move_needs_a_reason(team):
    with pytest.raises(ApplicationError) as exc:
        services.koc_move(koc=team["koc2"], new_parent=team["leader2"], by=None, reason="  ")
    assert exc.value.code == "reason_required"


def test_moving_an_agency_to_another_branch_and_a_koc_to_the_top(team):
    # given
    branch2 = make_branch(name="华南分公司")

    # when
    services.koc_move(koc=team["agency2"], new_parent=branch2, by=None, reason="区域调整")
    services.koc_move(koc=team["koc3"], new_parent=None, by=None, reason="独立")

    # then
    assert fresh(team["agency2"]).parent_id == branch2.pk
    assert fresh(team["koc3"]).is_root_node()
    assert selectors.parent_on(koc_id=team["koc3"].pk, on=timezone.now()) is None
    assert selectors.team_tree_problems() == []


def test_individual_uplines_take_at_most_two_queries_and_stop_at_organisations(
    team, django_assert_max_num_queries
):
    now = timezone.now()

    # when / then: nearest first, individuals only, at most `levels`
    with django_assert_max_num_queries(2):
        uplines = selectors.individual_uplines(koc_id=team["koc3"].pk, on=now, levels=2)
        assert [k.pk for k in uplines] == [team["koc2"].pk, team["koc1"].pk]
        # the level of each upline is loaded with it (the commission engine reads its bonus)
        assert [k.level for k in uplines] == [None, None]
    with django_assert_max_num_queries(2):
        uplines = selectors.individual_uplines(koc_id=team["koc3"].pk, on=now, levels=10)
    assert [k.pk for k in uplines] == [team["koc2"].pk, team["koc1"].pk, team["leader"].pk]
    with django_assert_max_num_queries(2):
        orgs = selectors.organisation_ancestors(koc_id=team["koc3"].pk, on=now)
    assert [k.pk for k in orgs] == [team["agency"].pk, team["branch"].pk]
    assert selectors.individual_uplines(koc_id=team["leader"].pk, on=now, levels=2) == []
    assert selectors.individual_uplines(koc_id=team["koc3"].pk, on=now, levels=0) == []


def test_uplines_of_a_deep_chain_still_take_two_queries(django_assert_num_queries):
    # given: a chain of 30 KOCs
    node = make_leader()
    chain = [node]
    for _ in range(30):
        node = make_individual(parent=node)
        chain.append(node)
    now = timezone.now()

    # when
    with django_assert_num_queries(2):
        uplines = selectors.individual_uplines(koc_id=node.pk, on=now, levels=3)

    # then
    assert [k.pk for k in uplines] == [c.pk for c in reversed(chain[-4:-1])]
    with django_assert_num_queries(2):
        everyone = selectors.individual_uplines(koc_id=node.pk, on=now, levels=100)
    assert [k.pk for k in everyone] == [c.pk for c in reversed(chain[:-1])]


def test_check_team_tree_finds_a_corrupted_tree_and_fix_rebuilds_it(team, capsys):
    # given: a concurrent-write style corruption: a node's rght no longer encloses its subtree
    Koc.objects.filter(pk=team["koc1"].pk).update(rght=fresh(team["koc1"]).lft + 1)

    # when / then: without --fix it reports and fails
    with pytest.raises(CommandError):
        call_command("check_team_tree")
    assert "PROBLEM" in capsys.readouterr().out

    # when: --fix rebuilds from the parent pointers
    call_command("check_team_tree", "--fix")

    # then
    assert selectors.team_tree_problems() == []
    assert fresh(team["leader"]).team_size == 3
    call_command("check_team_tree")


def test_check_team_tree_reports_two_roots_in_one_tree_and_wrong_levels(team):
    # given
    Koc.objects.filter(pk=team["leader2"].pk).update(parent=None)  # a root inside another tree
    Koc.objects.filter(pk=team["koc3"].pk).update(depth=9)

    # when
    problems = selectors.team_tree_problems()

    # then
    assert any("2 roots" in p for p in problems)
    assert any(f"node {team['koc3'].pk}: depth 9" in p for p in problems)


def test_check_team_tree_reports_history_that_disagrees_with_the_tree(team):
    KocParentHistory.objects.filter(koc=team["koc3"], valid_to__isnull=True).update(parent=team["koc1"])
    problems = selectors.team_tree_problems()
    assert any(f"node {team['koc3'].pk}: parent is {team['koc2'].pk}" in p for p in problems)


def test_only_approved_or_suspended_nodes_move_and_a_user_is_one_node(team):
    applicant = services.koc_apply(user=UserFactory(), real_name="王五")
    with pytest.raises(ApplicationError) as exc:
        services.koc_move(koc=applicant, new_parent=team["leader"], by=None, reason="插队")
    assert exc.value.code == "koc_not_movable"
    with pytest.raises(ApplicationError) as exc:
        services.koc_create(
            role=Koc.Role.KOC, parent=team["leader"], user=team["koc1"].user, real_name="重复"
        )
    assert exc.value.code == "already_applied"
    assert selectors.team_tree_problems() == []
