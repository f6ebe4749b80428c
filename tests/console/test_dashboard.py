"""The console's front page: exact figures from known data, and the page itself for an admin."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.console import dashboard
from apps.groupbuys.models import Group
from apps.kocs.models import Koc
from apps.shop.models import Order
from tests.accounts.factories import UserFactory
from tests.commissions.factories import demo_plan, earn_available
from tests.groupbuys.factories import CampaignFactory
from tests.kocs.factories import make_approved_koc
from tests.shop.factories import SkuFactory, make_paid_order


@pytest.fixture
def data(db):
    now = timezone.now()
    sku = SkuFactory(price_fen=9900, stock=100, product__title="明前龙井 250g")
    koc = make_approved_koc()
    Koc.objects.filter(pk=koc.pk).update(approved_at=now - timedelta(days=40))
    today_order = make_paid_order(sku=sku, quantity=2)
    Order.objects.filter(pk=today_order.pk).update(attributed_koc_id=koc.pk)
    old = make_paid_order(sku=sku)
    Order.objects.filter(pk=old.pk).update(paid_at=now - timedelta(days=3))
    same_day = make_paid_order(sku=sku)  # two orders on one day must add up, not overwrite
    Order.objects.filter(pk=same_day.pk).update(paid_at=now - timedelta(days=3, minutes=5))
    ancient = make_paid_order(sku=sku)
    Order.objects.filter(pk=ancient.pk).update(paid_at=now - timedelta(days=45))
    campaign = CampaignFactory()
    leader = UserFactory()
    for status, when in [("succeeded", now), ("succeeded", now - timedelta(days=2)), ("failed", now)]:
        Group.objects.create(
            campaign=campaign,
            leader=leader,
            status=status,
            size=3,
            expires_at=now,
            succeeded_at=when if status == "succeeded" else None,
            failed_at=when if status == "failed" else None,
        )
    # An accrual of 990 recorded today. The plan first: activation never reaches into the past, so an
    # order paid at `now` (taken above) would fall before a plan activated inside earn_available.
    demo_plan()
    earn_available(make_approved_koc(), 990, when=timezone.now())
    return {"now": now, "koc": koc}


def test_totals_for_today_and_the_last_30_days(data):
    # "now" is read after the data exists: the fixture's own "now" is seconds old on a loaded
    # machine, and rows it wrote since (the accrual entry) would fall after the window's end
    board = dashboard.build(now=timezone.now())

    today, month = board["totals"]
    assert (today["label"], month["label"]) == ("今日", "近 30 天")
    assert (today["gmv_fen"], today["paid_orders"]) == (19800, 1)
    assert (month["gmv_fen"], month["paid_orders"]) == (39600, 3)  # the 45-day-old order is out
    assert today["accrued"] == "9.90"
    assert (today["groups_succeeded"], today["groups_failed"], today["success_rate"]) == (1, 1, "50%")
    assert (month["groups_succeeded"], month["success_rate"]) == (2, "67%")
    assert today["new_kocs"] == 1  # the one approved 40 days ago is not new


def test_charts_carry_the_daily_series_and_the_tops(data):
    board = dashboard.build(now=timezone.now())

    gmv = ET.fromstring(board["charts"]["gmv"])
    values = [float(v) for v in gmv.get("data-values").split(",")]
    assert len(values) == 30
    assert values[-1] == 198.0  # today, in yuan
    assert values[-4] == 198.0  # two orders three days ago
    assert sum(values) == 396.0
    assert ET.fromstring(board["charts"]["top_kocs"]).get("data-values") == "198.0"
    assert "明前龙井 250g" in board["charts"]["top_products"]
    team = [float(v) for v in ET.fromstring(board["charts"]["kocs"]).get("data-values").split(",")]
    assert (team[0], team[-1]) == (1.0, 2.0)  # approved 40 days ago, and one more today
    assert (
        ET.fromstring(board["charts"]["top_products"]).get("data-values") == "4.0"
    )  # 2 today + 2 three days ago


def test_the_dashboard_is_the_admin_index(client, data):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, openid=None)
    client.force_login(admin)

    page = client.get("/admin/").content.decode()

    assert "运营控制台" in page
    assert "¥198.00" in page
    assert page.count('class="chart chart-') == 5  # the admin has icon SVGs of its own
    assert "KOC 申请待审核" in page


def test_the_dashboard_query_count_does_not_grow_with_data(django_assert_max_num_queries, data):
    with django_assert_max_num_queries(20):
        dashboard.build(now=data["now"])


def test_amounts_have_thousands_separators_and_today_is_marked_partial(client, db):
    # given an order of 1,234,567.89 yuan paid now
    make_paid_order(sku=SkuFactory(price_fen=123_456_789, stock=5))
    now = timezone.now()

    # when
    board = dashboard.build(now=now)

    # then
    today, month = board["totals"]
    assert (today["gmv"], month["gmv"]) == ("1,234,567.89", "1,234,567.89")
    until = timezone.localtime(now).strftime("%H:%M")
    assert (today["partial_until"], month["partial_until"]) == (until, "")
    for chart in ("gmv", "orders"):
        assert ET.fromstring(board["charts"][chart]).get("data-partial") == f"今日截至 {until}"
    # and the page says it
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True, openid=None))
    page = client.get("/admin/").content.decode()
    assert '<dd class="gmv">¥1,234,567.89</dd>' in page
    assert re.search(r'<span class="partial">截至 \d\d:\d\d，今天尚未结束</span>', page)
