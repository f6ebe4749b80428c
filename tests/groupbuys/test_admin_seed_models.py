"""The admin's live counts and member lines, the demo campaign, the share targets, and the rules the
database itself keeps."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.groupbuys import demo, sharing
from apps.groupbuys.models import Campaign, Group
from apps.shop import demo as shop_demo
from tests.accounts.factories import UserFactory
from tests.groupbuys.factories import CampaignFactory, deliver_events, join_group, open_group, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True, openid=None))
    return client


def closed_group(campaign, status: str) -> Group:
    group, _, _ = open_group(campaign)
    Group.objects.filter(pk=group.pk).update(status=status)
    return group


def test_campaign_changelist_counts_groups_and_the_success_rate_on_the_page_query(admin_client):
    # given: 3 succeeded, 1 failed, 2 forming on one campaign; nothing closed on another
    busy, quiet = CampaignFactory(), CampaignFactory()
    for status in ["succeeded"] * 3 + ["failed"]:
        closed_group(busy, status)
    for _ in range(2):
        open_group(busy)
    open_group(quiet)

    # when
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/groupbuys/campaign/")

    # then
    assert page.status_code == 200
    rows = page.context["cl"].result_list
    counts = {c.pk: (c.forming_count, c.succeeded_count, c.failed_count) for c in rows}
    assert counts == {busy.pk: (2, 3, 1), quiet.pk: (1, 0, 0)}
    html = page.content.decode()
    assert "75.0%" in html
    # the counts come annotated on the page's one query: groups are never read one campaign at a time
    assert not [q for q in queries.captured_queries if q["sql"].startswith('SELECT "groupbuys_group"')]
    page_queries = [q for q in queries.captured_queries if q["sql"].startswith('SELECT "groupbuys_campaign"')]
    assert len(page_queries) == 1


def test_a_group_page_shows_each_member_with_order_and_refund_status(admin_client, campaign):
    # given: a failed group: the leader paid (refund on its way), the joiner did not
    group, leader_order, _ = open_group(campaign)
    group, joiner_order, _ = join_group(group)
    pay(leader_order)
    deliver_events()
    from apps.groupbuys import services

    services.group_expire(group_id=group.pk, now=group.expires_at)
    deliver_events()

    # when
    page = admin_client.get(f"/admin/groupbuys/group/{group.pk}/change/")

    # then
    assert page.status_code == 200
    html = page.content.decode()
    leader_order.refresh_from_db()
    joiner_order.refresh_from_db()
    assert leader_order.no in html and joiner_order.no in html
    assert "已同意 ¥69.00" in html  # the leader's refund, approved and sent to WeChat
    assert "已取消" in html  # the joiner's order
    assert "已退款" in html and "已释放" in html  # member statuses
    assert admin_client.get("/admin/groupbuys/group/").status_code == 200
    assert admin_client.get("/admin/groupbuys/group/add/").status_code == 403


def test_an_admin_cannot_save_a_campaign_that_breaks_the_rules(admin_client):
    sku = CampaignFactory().sku
    now = timezone.localtime()
    form = {
        "product": sku.product_id,
        "sku": sku.pk,
        # Typed in yuan, stored in fen.
        "group_price_fen": "69.00",
        "leader_price_fen": "79.00",
        "group_size": 101,
        "duration_minutes": 60,
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
        "ends_at_1": now.strftime("%H:%M:%S"),
        "per_user_limit": 2,
        "is_active": "on",
    }

    refused = admin_client.post("/admin/groupbuys/campaign/add/", form)
    accepted = admin_client.post(
        "/admin/groupbuys/campaign/add/", {**form, "group_size": 100, "leader_price_fen": "59"}
    )

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert set(errors) == {"group_size", "leader_price_fen"}
    assert accepted.status_code == 302
    assert Campaign.objects.filter(group_size=100, leader_price_fen=5900).count() == 1


@pytest.mark.parametrize("size", [1, 101])
def test_the_database_refuses_a_group_size_outside_2_to_100(size):
    campaign = CampaignFactory.build(sku=CampaignFactory().sku, group_size=size)
    campaign.product = campaign.sku.product

    with pytest.raises(ValidationError):
        campaign.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        campaign.save()


def test_the_database_refuses_more_seats_than_the_group_has(campaign):
    group, _, _ = open_group(campaign)

    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.filter(pk=group.pk).update(joined=4)
    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.filter(pk=group.pk).update(paid_count=2)


def test_seed_demo_adds_the_campaign_of_api_md_once():
    shop_demo.seed(io.StringIO())

    demo.seed(io.StringIO())
    demo.seed(io.StringIO())

    campaign = Campaign.objects.select_related("product", "sku").get()
    assert (campaign.product.title, campaign.sku.price_fen) == ("明前龙井 250g", 9900)
    assert (
        campaign.group_size,
        campaign.group_price_fen,
        campaign.duration_minutes,
        campaign.per_user_limit,
    ) == (
        3,
        6900,
        1440,
        2,
    )
    assert campaign.is_active and campaign.starts_at < timezone.now() < campaign.ends_at
    assert campaign.ends_at > timezone.now() + timedelta(days=300)


def test_share_targets_describe_a_campaign_and_a_joinable_group_only(campaign):
    group, _, _ = open_group(campaign)
    closed = closed_group(campaign, "failed")

    card = sharing.group_buy_target(campaign.pk)
    group_card = sharing.group_target(group.pk)

    assert (card.title, card.price_fen, card.group_price_fen, card.group_size, card.page) == (
        f"3人团 {campaign.product.title}",
        9900,
        6900,
        3,
        "pages/groupbuy/index",
    )
    assert (group_card.title, group_card.page) == (
        f"还差2人成团 {campaign.product.title}",
        "pages/group/index",
    )
    assert sharing.group_target(closed.pk) is None
    assert sharing.group_target(999999) is None
    assert sharing.group_buy_target(CampaignFactory(is_active=False).pk) is None


def test_the_share_targets_are_registered_with_the_sharing_app(campaign):
    targets = pytest.importorskip("apps.sharing.targets")
    group, _, _ = open_group(campaign)

    assert targets.resolve("group_buy", campaign.pk).group_price_fen == 6900
    assert targets.resolve("group", group.pk).group_size == 3


def test_a_campaign_picks_its_product_and_sku_by_search_not_from_a_list_of_the_catalogue(
    admin_client, django_assert_max_num_queries
):
    from tests.shop.factories import SkuFactory

    # given: a catalogue of 60 products
    skus = [SkuFactory(product__title=f"商品{i:03d}", spec=f"{i}g") for i in range(60)]

    # when
    with django_assert_max_num_queries(12):
        page = admin_client.get("/admin/groupbuys/campaign/add/")
    found = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "groupbuys", "model_name": "campaign", "field_name": "sku", "term": "商品042"},
    )

    # then: the page lists no product or SKU; the search finds the one SKU, named with its product
    html = page.content.decode()
    assert html.count("admin-autocomplete") >= 2
    assert "商品042" not in html and "商品007" not in html
    assert found.status_code == 200
    assert found.json()["results"] == [{"id": str(skus[42].pk), "text": "商品042 / 42g"}]


def test_a_brand_operator_s_sku_search_sees_only_its_brand(rf):
    from django.contrib import admin as django_admin

    from apps.shop.models import Sku
    from tests.console.roles import brand_operator
    from tests.shop.factories import SkuFactory

    mine, _theirs = SkuFactory(product__title="龙井 A"), SkuFactory(product__title="龙井 B")
    request = rf.get("/admin/autocomplete/")
    request.user = brand_operator(mine.product.brand)
    sku_admin = django_admin.site._registry[Sku]

    queryset, _duplicates = sku_admin.get_search_results(request, sku_admin.get_queryset(request), "龙井")

    assert [s.pk for s in queryset] == [mine.pk]  # not theirs, though it matches too
