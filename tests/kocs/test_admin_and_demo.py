"""The admin (review actions, tree view, filters, affinity invites) and the demo seed."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.utils import timezone

from apps.kocs import demo, selectors, services
from apps.kocs.models import BrandInvitation, Koc, KocOrderLine, LevelHistory, TierPolicy
from apps.shop import demo as shop_demo
from tests.accounts.factories import UserFactory
from tests.kocs.factories import (
    BrandFactory,
    CategoryFactory,
    LevelFactory,
    ProductFactory,
    make_agency,
    make_branch,
    make_individual,
    make_leader,
    make_sale,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    return client


def post_action(client, action: str, kocs, **extra):
    return client.post(
        "/admin/kocs/koc/",
        {"action": action, ACTION_CHECKBOX_NAME: [k.pk for k in kocs], **extra},
        follow=True,
    )


def test_admin_approves_and_rejects_with_a_reason(admin_client):
    # given
    leader = make_leader()
    a = services.koc_apply(user=UserFactory(), real_name="王五", invite_code=leader.invite_code)
    b = services.koc_apply(user=UserFactory(), real_name="赵六")

    # when
    post_action(admin_client, "approve", [a], confirm="yes")
    page = post_action(admin_client, "reject", [b])  # the form asking for a reason
    post_action(admin_client, "reject", [b], confirm="1", reason="资料不全")

    # then
    assert "原因" in page.content.decode()
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.parent_id) == ("approved", leader.pk)
    assert (b.status, b.rejection_reason) == ("rejected", "资料不全")
    assert selectors.team_tree_problems() == []


def test_approving_kocs_in_bulk_first_shows_who_and_under_whom_and_changes_nothing(admin_client):
    # given two applications under Lily and one already approved KOC
    leader = make_leader()
    first = services.koc_apply(
        user=UserFactory(nickname="宝妈小王"), real_name="王五", invite_code=leader.invite_code
    )
    second = services.koc_apply(
        user=UserFactory(nickname="导购小李"), real_name="李四", invite_code=leader.invite_code
    )

    # when the bulk action is chosen
    page = post_action(admin_client, "approve", [first, second, leader]).content.decode()

    # then the page lists them, with their future parent, and nobody was approved yet
    assert "将通过 2 个 KOC 申请：每人放到邀请人之下" in page
    assert "另有 1 个不是“待审核”状态，不会通过" in page
    assert 'value="确认通过 2 个申请"' in page
    assert "宝妈小王" in page and "导购小李" in page and leader.display_name in page
    assert Koc.objects.filter(pk__in=[first.pk, second.pk], status="pending").count() == 2

    # when confirmed
    post_action(admin_client, "approve", [first, second, leader], confirm="yes")

    # then both are approved under Lily
    for koc in (first, second):
        koc.refresh_from_db()
        assert (koc.status, koc.parent_id) == ("approved", leader.pk)


def test_admin_moves_a_subtree_and_sets_a_level_with_a_reason(admin_client):
    # given
    leader, other = make_leader(), make_leader()
    koc = make_individual(parent=leader)
    make_individual(parent=koc)
    gold = LevelFactory(rank=2, name="金牌")

    # when
    post_action(admin_client, "move", [koc], confirm="1", reason="团队合并", new_parent=other.pk)
    hold = timezone.localdate() + timedelta(days=30)
    post_action(
        admin_client,
        "set_level",
        [koc],
        confirm="1",
        reason="头部保护",
        level=gold.pk,
        hold_until=hold.isoformat(),
    )

    # then
    koc.refresh_from_db()
    assert koc.parent_id == other.pk and (koc.level, koc.level_held_until) == (gold, hold)
    assert Koc.objects.get(pk=other.pk).team_size == 2
    entry = LevelHistory.objects.get(koc=koc)
    assert (entry.reason, entry.held_until, entry.automatic) == ("头部保护", hold, False)
    assert selectors.team_tree_problems() == []


def test_admin_set_level_needs_a_hold_date_not_in_the_past(admin_client):
    # given
    koc = make_individual()
    gold = LevelFactory(rank=2, name="金牌")
    yesterday = timezone.localdate() - timedelta(days=1)

    # when
    missing = post_action(admin_client, "set_level", [koc], confirm="1", reason="x", level=gold.pk)
    past = post_action(
        admin_client,
        "set_level",
        [koc],
        confirm="1",
        reason="x",
        level=gold.pk,
        hold_until=yesterday.isoformat(),
    )

    # then: the form again, with the error; nothing changed
    assert "保持日期不能早于今天" in past.content.decode()
    assert "hold_until" in missing.content.decode()
    assert Koc.objects.get(pk=koc.pk).level is None
    assert LevelHistory.objects.count() == 0


def test_the_tier_policy_is_one_editable_row(admin_client):
    # when
    listing = admin_client.get("/admin/kocs/tierpolicy/")
    policy = TierPolicy.load()
    saved = admin_client.post(
        f"/admin/kocs/tierpolicy/{policy.pk}/change/", {"downgrade": "after_days", "downgrade_after_days": 14}
    )
    refused = admin_client.post(
        f"/admin/kocs/tierpolicy/{policy.pk}/change/", {"downgrade": "sometimes", "downgrade_after_days": -1}
    )

    # then
    assert (listing.status_code, listing["Location"]) == (302, f"/admin/kocs/tierpolicy/{policy.pk}/change/")
    assert saved.status_code == 302
    assert refused.status_code == 200  # the form again, with the errors
    policy.refresh_from_db()
    assert (policy.downgrade, policy.downgrade_after_days) == ("after_days", 14)
    assert TierPolicy.objects.count() == 1
    assert admin_client.get("/admin/kocs/tierpolicy/add/").status_code == 403
    assert admin_client.get(f"/admin/kocs/tierpolicy/{policy.pk}/delete/").status_code == 403


def test_admin_refuses_a_move_into_the_own_subtree_with_a_message(admin_client):
    leader = make_leader()
    koc = make_individual(parent=leader)
    child = make_individual(parent=koc)
    page = post_action(admin_client, "move", [koc], confirm="1", reason="x", new_parent=child.pk)
    assert "不能移到自己或自己的下级之下" in page.content.decode()
    assert Koc.objects.get(pk=koc.pk).parent_id == leader.pk


def test_admin_lists_filters_by_branch_and_masks_personal_data(admin_client):
    # given
    east, south = make_branch(name="华东分公司"), make_branch(name="华南分公司")
    in_east = make_individual(
        parent=make_leader(agency=make_agency(branch=east)), id_number="330102199001011234"
    )
    in_south = make_individual(parent=make_leader(agency=make_agency(branch=south)))

    # when
    page = admin_client.get(f"/admin/kocs/koc/?branch={east.pk}&status=approved").content.decode()

    # then
    assert f'href="/admin/kocs/koc/{in_east.pk}/change/' in page
    assert f'href="/admin/kocs/koc/{in_south.pk}/change/' not in page
    assert "3301**********1234" in page and "330102199001011234" not in page
    assert "张**" in page and "张三丰" not in page
    assert admin_client.get(f"/admin/kocs/koc/{in_east.pk}/change/").status_code == 200
    assert admin_client.get("/admin/kocs/koc/?role=leader&level__id__exact=1").status_code == 200


def test_admin_adds_an_organisation_node_through_the_service(admin_client):
    branch = make_branch()
    resp = admin_client.post(
        "/admin/kocs/koc/add/",
        {"role": "agency", "parent": branch.pk, "legal_name": "宁波机构", "registration_number": "X1"},
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    agency = Koc.objects.get(legal_name="宁波机构")
    assert agency.parent_id == branch.pk and agency.status == "approved"
    assert agency.parent_history.get().parent_id == branch.pk
    # a wrong parent is a form error, not a 500
    resp = admin_client.post(
        "/admin/kocs/koc/add/", {"role": "agency", "parent": "", "legal_name": "孤儿机构"}
    )
    assert resp.status_code == 200 and "必须有上级" in resp.content.decode()


def test_a_brand_sees_kocs_by_affinity_and_invites_them_in_the_admin(admin_client):
    # given
    tea = CategoryFactory(name="茶饮")
    brand = BrandFactory(name="山野茶")
    ProductFactory(brand=brand, category=tea)
    fan = make_individual()
    fan.favorite_categories.set([tea])
    buyer = make_individual()
    KocOrderLine.objects.create(
        kind="purchase",
        koc=buyer,
        order_id=1,
        item_id=1,
        brand_id=brand.pk,
        quantity=1,
        line_fen=50_000,
        completed_at=fan.created_at,
    )

    # when
    page = admin_client.get(f"/admin/kocs/brandinvitation/affinity/?brand={brand.pk}").content.decode()
    admin_client.post(
        "/admin/kocs/brandinvitation/affinity/",
        {"brand": brand.pk, "koc": [fan.pk, buyer.pk], "message": "来合作"},
    )

    # then: ranked buyer (150) before fan (20), both invited with their score
    assert page.index(buyer.user.nickname) < page.index(fan.user.nickname)
    invitations = {i.koc_id: i for i in BrandInvitation.objects.all()}
    assert set(invitations) == {fan.pk, buyer.pk}
    assert invitations[buyer.pk].affinity_score == 150 and invitations[fan.pk].affinity_score == 20
    assert invitations[fan.pk].message == "来合作" and invitations[fan.pk].status == "invited"
    assert (
        "已邀请，待回复"
        in admin_client.get(f"/admin/kocs/brandinvitation/affinity/?brand={brand.pk}").content.decode()
    )


def test_seed_builds_the_demo_team_once_and_the_sandbox_logins_are_kocs(api_client, wechat_sandbox):
    # given: Lily logged in before the seed ran
    login = api_client.post("/api/v1/auth/wechat-login", {"code": "koc-lily"}, format="json").json()
    assert login["user"]["is_koc"] is False

    # when: seeded twice
    shop_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())

    # then
    lily = Koc.objects.get(invite_code="LILY2026")
    mia = Koc.objects.get(invite_code="MIA2026")
    agency = Koc.objects.get(pk=lily.parent_id)
    branch = Koc.objects.get(pk=agency.parent_id)
    assert (branch.legal_name, branch.role, branch.parent_id) == ("华东分公司", "branch", None)
    assert (agency.legal_name, agency.role) == ("杭州机构", "agency")
    assert (lily.role, lily.user.pk, lily.user.nickname, lily.status) == (
        "leader",
        login["user"]["id"],
        "Lily 团长",
        "approved",
    )
    assert (mia.role, mia.parent_id, mia.user.openid, mia.user.nickname) == (
        "koc",
        lily.pk,
        "sandbox-koc-mia",
        "Mia",
    )
    assert Koc.objects.count() == 4
    # the entry level (no condition) is given at once; no sale, so nothing higher
    assert (lily.level.rank, mia.level.rank) == (0, 0)
    assert LevelHistory.objects.count() == 2
    assert selectors.team_tree_problems() == []
    assert [k.pk for k in selectors.storefront_products(koc=mia)] != []
    for code in ("koc-lily", "koc-mia"):
        user = api_client.post("/api/v1/auth/wechat-login", {"code": code}, format="json").json()["user"]
        assert user["is_koc"] is True


def test_level_changelist_counts_members_without_a_query_per_level(
    admin_client, django_assert_max_num_queries
):
    # given: three levels, two of them with members
    levels = [LevelFactory(rank=r, name=f"L{r}") for r in (1, 2, 3)]
    for level, n in zip(levels, (2, 1, 0), strict=True):
        for _ in range(n):
            Koc.objects.filter(pk=make_individual().pk).update(level=level)
    admin_client.get("/admin/kocs/level/")  # warm the session and content types

    # when
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/kocs/level/")

    # then
    assert response.status_code == 200
    assert [lv.members_count for lv in response.context["cl"].result_list] == [2, 1, 0]


AUTOCOMPLETE = "/admin/kocs/koc/autocomplete/"


def test_the_parent_autocomplete_finds_approved_kocs_by_name_phone_or_invite_code(admin_client):
    # given
    leader = make_leader(user=UserFactory(nickname="Lily 团长", phone="13812345678"))
    pending = services.koc_apply(user=UserFactory(nickname="Lily 粉丝"), real_name="王五")
    params = {"app_label": "kocs", "model_name": "koc", "field_name": "parent"}

    # when
    by_name = admin_client.get(AUTOCOMPLETE, {**params, "term": "Lily"}).json()
    by_phone = admin_client.get(AUTOCOMPLETE, {**params, "term": "12345678"}).json()
    by_code = admin_client.get(AUTOCOMPLETE, {**params, "term": leader.invite_code.lower()}).json()

    # then: the pending applicant cannot be a parent; the label tells equal names apart
    label = f"Lily 团长 · {leader.get_role_display()} · {leader.invite_code} · 138****5678"
    assert by_name["results"] == [{"id": str(leader.pk), "text": label}]
    assert by_phone["results"] == by_code["results"] == by_name["results"]
    assert pending.pk not in [int(r["id"]) for r in by_name["results"]]


def test_the_user_autocomplete_of_the_add_page_offers_only_users_who_are_not_kocs(admin_client):
    make_individual(user=UserFactory(nickname="已是KOC", phone="13900000001"))
    free = UserFactory(nickname="新人", phone="13900000002")
    found = admin_client.get(
        AUTOCOMPLETE, {"app_label": "kocs", "model_name": "koc", "field_name": "user", "term": "139000000"}
    ).json()
    assert found["results"] == [{"id": str(free.pk), "text": "新人 · 139****0002"}]


def test_a_brand_operators_koc_autocomplete_finds_only_partnered_kocs_and_not_by_phone():
    from tests.console.roles import brand_operator, logged_in

    # given: two KOCs named alike, one partnered with the brand
    brand = BrandFactory(name="山野茶")
    partner = make_individual(user=UserFactory(nickname="小王 A", phone="13800000001"))
    other = make_individual(user=UserFactory(nickname="小王 B", phone="13800000002"))
    invitation = services.brand_invitation_create(brand=brand, koc=partner)
    services.brand_invitation_respond(invitation=invitation, accept=True)
    client = logged_in(brand_operator(brand))
    params = {"app_label": "kocs", "model_name": "brandinvitation", "field_name": "koc"}

    # when
    by_name = client.get(AUTOCOMPLETE, {**params, "term": "小王"}).json()
    by_phone = client.get(AUTOCOMPLETE, {**params, "term": "1380000000"}).json()
    site_wide = client.get("/admin/autocomplete/", {**params, "term": "小王"}).json()

    # then: its partner only, without a phone in the label; the phone is no search key for it
    assert by_name["results"] == [{"id": str(partner.pk), "text": f"小王 A · KOC · {partner.invite_code}"}]
    assert by_phone["results"] == []
    assert [r["id"] for r in site_wide["results"]] == [str(partner.pk)]
    assert other.pk not in [int(r["id"]) for r in site_wide["results"]]


def test_a_move_leaves_history_on_the_node_and_both_parents(admin_client):
    from apps.core import audit

    # given
    lily, ann = make_leader(), make_leader()
    mia = make_individual(parent=lily)
    make_individual(parent=mia)

    # when
    post_action(admin_client, "move", [mia], confirm="1", reason="团队合并", new_parent=ann.pk)

    # then: each History page tells it, with the reason and the size of what moved
    (moved,) = audit.history(mia)
    assert moved.change_message == (
        f"调整上级：从 {lily.display_name} 调到 {ann.display_name}，连同其下 1 人；原因：团队合并"
    )
    (left,) = audit.history(lily)
    (joined,) = audit.history(ann)
    assert left.change_message.startswith(f"{mia.display_name}（连同其下 1 人）调出到")
    assert joined.change_message.startswith(f"{mia.display_name}（连同其下 1 人）从")
    page = admin_client.get(f"/admin/kocs/koc/{mia.pk}/history/").content.decode()
    assert "团队合并" in page


def test_the_koc_admin_speaks_english_under_en_and_chinese_under_zh_hans(admin_client):
    leader = make_leader()
    koc = make_individual(parent=leader)
    child = make_individual(parent=koc)

    zh = admin_client.get("/admin/kocs/koc/").content.decode()
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    en = admin_client.get("/admin/kocs/koc/").content.decode()
    refused = post_action(
        admin_client, "move", [koc], confirm="1", reason="x", new_parent=child.pk
    ).content.decode()

    assert "调整上级 (整棵子树移动，保留历史)" in zh and "手机号 (脱敏)" in zh
    assert "Change parent (moves the whole subtree, keeps history)" in en and "Phone (masked)" in en
    assert "调整上级" not in en and "手机号" not in en
    assert "A node cannot move under itself or one of its own members." in refused
    assert "move_into_own_subtree" not in refused


def test_the_koc_list_shows_masked_phones_and_finds_by_phone_name_or_invite_code(admin_client):
    lily = make_leader(user=UserFactory(nickname="Lily 团长", phone="13812345678"), invite_code="LILY2026")
    other = make_leader(user=UserFactory(nickname="Ann", phone="13900000000"))

    listing = admin_client.get("/admin/kocs/koc/").content.decode()
    pages = [
        admin_client.get("/admin/kocs/koc/", {"q": q}).content.decode() for q in ("5678", "lily", "LILY2026")
    ]

    assert "138****5678" in listing and "13812345678" not in listing
    for page in pages:
        assert f"/admin/kocs/koc/{lily.pk}/change/" in page
        assert f"/admin/kocs/koc/{other.pk}/change/" not in page


def test_koc_sales_read_names_and_yuan_and_are_found_by_the_kocs_name(admin_client):
    lily = make_leader(user=UserFactory(nickname="Lily 团长"))
    make_sale(koc=lily, amount_fen=123_456)

    page = admin_client.get("/admin/kocs/kocsale/", {"q": "Lily"}).content.decode()

    assert "Lily 团长" in page and "¥1,234.56" in page and "123456" not in page


def test_koc_order_lines_read_brand_and_product_names_and_link_the_order(admin_client):
    brand = BrandFactory(name="山野茶")
    product = ProductFactory(brand=brand, title="明前龙井")
    koc = make_individual(user=UserFactory(nickname="Mia"))
    KocOrderLine.objects.create(
        kind="sale",
        koc=koc,
        order_id=42,
        item_id=1,
        brand_id=brand.pk,
        product_id=product.pk,
        quantity=1,
        line_fen=9_900,
        completed_at=koc.created_at,
    )

    page = admin_client.get("/admin/kocs/kocorderline/", {"q": "Mia"}).content.decode()

    assert "山野茶" in page and "明前龙井" in page and "¥99.00" in page
    assert 'href="/admin/shop/order/42/change/"' in page


def test_the_level_history_on_a_kocs_page_reads_its_figures_in_yuan(admin_client):
    koc = make_individual()
    gold = LevelFactory(rank=2, name="金牌")
    make_sale(koc=koc, amount_fen=1_234_500)
    services.koc_set_level(koc=koc, level=gold, by=None, reason="头部保护")

    page = admin_client.get(f"/admin/kocs/koc/{koc.pk}/change/").content.decode()

    assert "个人成交 ¥12,345.00 · 团队成交 ¥12,345.00 · 有成交的直属 KOC 0" in page
    assert "own_sales_fen" not in page


def test_placement_refusals_read_in_the_operators_language(admin_client):
    branch = make_branch()
    koc = make_individual(parent=make_leader())
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    orphan = admin_client.post("/admin/kocs/koc/add/", {"role": "agency", "parent": "", "legal_name": "X"})
    under_branch = post_action(admin_client, "move", [koc], confirm="1", reason="x", new_parent=branch.pk)
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    zh = post_action(admin_client, "move", [koc], confirm="1", reason="x", new_parent=branch.pk)

    assert "agency needs a parent" in orphan.content.decode()
    assert "KOC cannot go under branch" in under_branch.content.decode()
    assert "KOC 不能放在 分公司 之下" in zh.content.decode()
    assert Koc.objects.get(pk=koc.pk).parent_id != branch.pk
