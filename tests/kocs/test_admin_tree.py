"""The team tree page: one level at a time (children loaded on demand), searchable, never capped."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.test import Client

from apps.kocs import services
from apps.kocs.admin import tree_queries
from tests.accounts.factories import UserFactory
from tests.console.roles import brand_operator, logged_in
from tests.kocs.factories import (
    BrandFactory,
    make_agency,
    make_branch,
    make_individual,
    make_leader,
    make_sale,
)

pytestmark = pytest.mark.django_db

TREE = "/admin/kocs/koc/tree/"
CHILDREN = "/admin/kocs/koc/tree/children/"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    return client


@pytest.fixture
def team():
    branch = make_branch(name="华东分公司")
    agency = make_agency(branch=branch, name="杭州机构")
    leader = make_leader(agency=agency, user=UserFactory(nickname="Lily 团长", phone="13812345678"))
    mia = make_individual(parent=leader, user=UserFactory(nickname="Mia", phone="13900001111"))
    make_sale(koc=mia, amount_fen=12_345)
    make_sale(koc=leader, amount_fen=100_000)
    return SimpleNamespace(branch=branch, agency=agency, leader=leader, mia=mia)


def node_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="tree-node" data-id="(\d+)"', html)]


def test_the_tree_page_shows_the_top_level_only_with_team_size_and_sales(admin_client, team):
    services.koc_apply(user=UserFactory(nickname="待审小王"), real_name="王五")  # a root of its own, pending

    page = admin_client.get(TREE).content.decode()

    assert node_ids(page) == [team.branch.pk]
    assert "华东分公司" in page and "杭州机构" not in page and "待审小王" not in page
    assert "¥1,123.45" in page  # the branch's team sales, with separators
    assert 'data-children-url="/admin/kocs/koc/tree/children/"' in page


def test_opening_a_node_loads_its_children_as_rows(admin_client, team):

    under_branch = admin_client.get(CHILDREN, {"parent": team.branch.pk}).content.decode()
    under_leader = admin_client.get(CHILDREN, {"parent": team.leader.pk, "base": 0}).content.decode()

    assert node_ids(under_branch) == [team.agency.pk]
    assert "data-tree-toggle" in under_branch  # the agency has members below it
    assert node_ids(under_leader) == [team.mia.pk]
    assert "Mia" in under_leader and "¥123.45" in under_leader
    assert "padding-left:4.5em" in under_leader  # depth 3 under the whole tree's top (1.5em a level)
    assert "data-tree-toggle" not in under_leader  # Mia has no members


def test_a_long_level_comes_in_pages_with_a_more_row(admin_client, team, monkeypatch):
    more = [make_individual(parent=team.leader) for _ in range(2)]
    monkeypatch.setattr(tree_queries, "PAGE", 2)

    first = admin_client.get(CHILDREN, {"parent": team.leader.pk}).content.decode()
    rest = admin_client.get(CHILDREN, {"parent": team.leader.pk, "offset": 2}).content.decode()

    assert node_ids(first) == [team.mia.pk, more[0].pk]
    assert f'data-parent="{team.leader.pk}" data-depth="3" data-offset="2"' in first
    assert node_ids(rest) == [more[1].pk] and "data-tree-more" not in rest


def test_a_subtree_page_shows_the_path_above_it_and_its_first_level(admin_client, team):

    page = admin_client.get(TREE, {"root": team.leader.pk}).content.decode()

    assert node_ids(page) == [team.leader.pk, team.mia.pk]
    path = page[page.index('class="tree-path"') :]
    assert path.index("华东分公司") < path.index("杭州机构") < path.index("Lily 团长")
    assert 'data-base="2"' in page and 'aria-expanded="true"' in page


@pytest.mark.parametrize("term", ["Lily", "12345678", "lily2026"])
def test_searching_by_name_phone_or_invite_code_shows_the_path_to_the_match(admin_client, term):
    branch = make_branch(name="华东分公司")
    agency = make_agency(branch=branch, name="杭州机构")
    leader = make_leader(
        agency=agency, user=UserFactory(nickname="Lily 团长", phone="13812345678"), invite_code="LILY2026"
    )

    page = admin_client.get(TREE, {"q": term}).content.decode()

    match = re.search(r'<tr class="tree-match">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'href="\?root=(\d+)"', match) == [str(branch.pk), str(agency.pk), str(leader.pk)]
    assert "<strong>" in match and "Lily 团长" in match
    assert page.count('class="tree-match"') == 1


def test_a_search_without_matches_says_so(admin_client, team):
    page = admin_client.get(TREE, {"q": "没有这个人"}).content.decode()
    assert 'class="tree-match"' not in page and ("Nobody in a team matches." in page or "团队中没有" in page)


def test_brand_operators_and_unknown_nodes_are_refused(admin_client, team):
    operator = logged_in(brand_operator(BrandFactory()))
    assert operator.get(TREE).status_code == 403
    assert operator.get(CHILDREN, {"parent": team.branch.pk}).status_code == 403
    assert admin_client.get(CHILDREN, {"parent": 999_999}).status_code == 404
    assert admin_client.get(TREE, {"root": 999_999}).status_code == 404
    stranger = Client()
    stranger.force_login(UserFactory(is_staff=True))
    assert stranger.get(CHILDREN, {"parent": team.branch.pk}).status_code == 403


def test_the_tree_pages_queries_do_not_grow_with_the_number_of_children(
    admin_client, team, django_assert_max_num_queries
):
    for _ in range(15):
        make_sale(koc=make_individual(parent=team.leader), amount_fen=100)
    admin_client.get(TREE)

    with django_assert_max_num_queries(6):
        admin_client.get(CHILDREN, {"parent": team.leader.pk})
    with django_assert_max_num_queries(12):
        admin_client.get(TREE, {"root": team.leader.pk})
    with django_assert_max_num_queries(12):
        admin_client.get(TREE, {"q": "Lily"})


def test_a_move_not_yet_renumbered_shows_at_once_under_its_new_parent_with_its_new_path(
    admin_client, team, settings
):
    # given a large tree (renumbered later by the refresher) and Mia moved to another leader
    settings.KOCS_TREE_INLINE_NODES = 0
    other = make_leader(agency=team.agency, user=UserFactory(nickname="Ann 团长"))
    services.koc_move(koc=team.mia, new_parent=other, by=None, reason="合并")

    # when
    under_other = admin_client.get(CHILDREN, {"parent": other.pk}).content.decode()
    under_lily = admin_client.get(CHILDREN, {"parent": team.leader.pk}).content.decode()
    found = admin_client.get(TREE, {"q": "Mia"}).content.decode()

    # then: the structure is the parent pointers', and the page says the figures follow
    assert node_ids(under_other) == [team.mia.pk] and node_ids(under_lily) == []
    match = re.search(r'<tr class="tree-match">(.*?)</tr>', found, re.S).group(1)
    assert re.findall(r'href="\?root=(\d+)"', match) == [
        str(team.branch.pk),
        str(team.agency.pk),
        str(other.pk),
        str(team.mia.pk),
    ]
    assert "正在重新编号" in found
