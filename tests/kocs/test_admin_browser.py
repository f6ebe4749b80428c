"""The KOC admin in a real browser (headless Chromium): the team tree opens level by level and
searches, and the move page's new parent is picked by autocomplete. Screenshots go to
test-artifacts/kocs-*.png."""

from __future__ import annotations

import pytest

from apps.kocs.admin import tree_queries
from apps.kocs.models import Koc
from tests.accounts.factories import UserFactory
from tests.browser_fixtures import admin_log_in, save_screenshot
from tests.kocs.factories import make_agency, make_branch, make_individual, make_leader

pytest_plugins = ["tests.browser_fixtures"]


def _log_in(page, base: str) -> None:
    UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None)
    admin_log_in(page, base, "boss")


def _row(page, koc: Koc):
    return page.locator(f"#team-tree tr.tree-node[data-id='{koc.pk}']")


@pytest.mark.django_db(transaction=True)
def test_the_team_tree_opens_level_by_level_pages_long_levels_and_finds_a_member(
    live_server, desktop_page, monkeypatch
):
    # given: a branch › agency › leader › four KOCs, and levels paged by three
    page, base = desktop_page, live_server.url
    branch = make_branch(name="华东分公司")
    agency = make_agency(branch=branch, name="杭州机构")
    leader = make_leader(agency=agency, user=UserFactory(nickname="Lily 团长"))
    kocs = [make_individual(parent=leader, user=UserFactory(nickname=f"成员{i}")) for i in range(4)]
    monkeypatch.setattr(tree_queries, "PAGE", 3)
    _log_in(page, base)

    # when: the tree page opens, only the top level is there
    page.goto(f"{base}/admin/kocs/koc/tree/")
    assert page.locator("#team-tree tr.tree-node").count() == 1

    # when: the branch, the agency and the leader are opened in place
    for node in (branch, agency, leader):
        _row(page, node).locator("[data-tree-toggle]").click()
        page.wait_for_selector(f"#team-tree tr.tree-node[data-depth='{node.depth + 1}']")

    # then: three of the leader's four KOCs, then a "more" row that loads the fourth
    assert [
        int(x)
        for x in page.locator("#team-tree tr.tree-node[data-depth='3']").evaluate_all(
            "rows => rows.map(r => r.dataset.id)"
        )
    ] == [k.pk for k in kocs[:3]]
    page.locator("[data-tree-more-button]").click()
    _row(page, kocs[3]).wait_for()
    assert page.locator("#team-tree tr.tree-more").count() == 0
    assert _row(page, leader).locator("[data-tree-toggle]").get_attribute("aria-expanded") == "true"
    save_screenshot(page, "kocs-team-tree-open", full_page=True)

    # when: the branch is closed, everything under it goes
    _row(page, branch).locator("[data-tree-toggle]").click()
    assert page.locator("#team-tree tr.tree-node").count() == 1

    # when: a member is searched by name
    page.fill("#tree-q", "成员2")
    page.click("#tree-search input[type=submit]")

    # then: the path from the top leads to the match, each step a link to its subtree
    match = page.locator("tr.tree-match")
    assert match.count() == 1
    assert match.locator(".tree-path a").all_inner_texts() == ["华东分公司", "杭州机构", "Lily 团长", "成员2"]
    save_screenshot(page, "kocs-team-tree-search", full_page=True)
    match.locator(".tree-path a", has_text="Lily 团长").click()
    page.wait_for_selector("#team-tree")
    # the leader's subtree: its row, its first page of three, and the row that loads the rest
    assert page.locator("#team-tree tr.tree-node").count() == 4
    assert page.locator("#team-tree tr.tree-more").count() == 1
    assert page.locator("p.tree-path").inner_text().startswith("路径")


@pytest.mark.django_db(transaction=True)
def test_the_move_page_picks_the_new_parent_by_autocomplete(live_server, desktop_page):
    # given
    page, base = desktop_page, live_server.url
    lily = make_leader(user=UserFactory(nickname="Lily 团长"))
    ann = make_leader(user=UserFactory(nickname="Ann 团长", phone="13812345678"))
    mia = make_individual(parent=lily, user=UserFactory(nickname="Mia"))
    _log_in(page, base)

    # when: the move action is chosen for Mia and Ann is found by her phone's last digits
    page.goto(f"{base}/admin/kocs/koc/")
    page.check(f"input[name=_selected_action][value='{mia.pk}']")
    page.select_option("select[name=action]", "move")
    page.click("button[name=index]")
    page.fill("#id_reason", "团队合并")
    page.click(".select2-selection")
    page.fill(".select2-search__field", "5678")
    option = page.locator(".select2-results__option", has_text="Ann 团长")
    option.wait_for()
    assert "138****5678" in option.inner_text()
    save_screenshot(page, "kocs-move-autocomplete")
    option.click()
    page.click("input[type=submit][value='确认']")
    page.wait_for_selector("ul.messagelist")

    # then
    assert Koc.objects.get(pk=mia.pk).parent_id == ann.pk
