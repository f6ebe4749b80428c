"""`seed_demo --scale N` at a tiny N: the numbers add up, the tree is valid, the engine paid, once."""

import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from apps.commissions.models import Commission
from apps.console import dashboard
from apps.console.scale import ORDER_PREFIX, Plan
from apps.groupbuys.models import Group, GroupMember
from apps.kocs.models import Koc, KocParentHistory, KocSale
from apps.kocs.selectors import team_tree_problems
from apps.shop.models import Order, OrderItem, Refund

SCALE = 0.02


@pytest.fixture
def seeded(db, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--scale", str(SCALE), stdout=out)
    return out.getvalue()


def test_counts_follow_the_plan(seeded):
    plan = Plan.for_scale(SCALE)
    approved = Koc.objects.filter(status="approved", invite_code__regex=r"^S\d{6}$")
    # given the plan, when seeded, then exactly that many nodes of each role
    assert approved.filter(role="branch").count() == plan.branches
    assert approved.filter(role="agency").count() == plan.branches * plan.agencies_per_branch
    assert approved.filter(role="leader").count() == plan.leaders
    assert approved.filter(role="koc").count() == plan.kocs
    assert Koc.objects.filter(status="pending", invite_code__startswith="SP").count() == plan.pending
    standard = Order.objects.filter(no__startswith=ORDER_PREFIX, kind="standard")
    assert standard.count() == plan.orders
    groups = Group.objects.filter(campaign__product__title="安吉白茶 100g")
    assert groups.count() == plan.groups
    assert "scale x0.02 seeded in" in seeded and "commissions:" in seeded


def test_the_team_tree_is_valid_and_deep(seeded):
    assert team_tree_problems() == []
    out, err = io.StringIO(), io.StringIO()
    call_command("check_team_tree", stdout=out, stderr=err)
    assert "team tree is valid" in out.getvalue()
    nodes = Koc.objects.count()
    assert f"check_team_tree ({nodes} nodes)" in err.getvalue() and f"{nodes}/{nodes} 100%" in err.getvalue()
    deepest = Koc.objects.filter(invite_code__regex=r"^S\d{6}$").order_by("-depth").first()
    assert deepest.depth >= 5  # branch, agency, leader and KOC chains below
    # every approved node has exactly one open parent row, from its approval time
    for koc in Koc.objects.filter(status="approved", invite_code__regex=r"^S\d{6}$"):
        row = KocParentHistory.objects.get(koc=koc, valid_to=None)
        assert (row.parent_id, row.valid_from) == (koc.parent_id, koc.approved_at)
        if koc.parent_id:
            assert koc.parent.approved_at < koc.approved_at


def test_order_amounts_are_consistent(seeded):
    orders = Order.objects.filter(no__startswith=ORDER_PREFIX).annotate(
        lines=Sum("items__line_fen"), n=Count("items")
    )
    assert orders.count() > 0
    for order in orders:
        assert order.n >= 1
        assert order.total_fen == order.lines
        assert order.paid_fen == (order.total_fen if order.paid_at else 0)
        refunded = order.refunds.filter(status="succeeded").aggregate(t=Sum("amount_fen"))["t"] or 0
        assert order.refunded_fen == refunded
        if order.status == "refunded":
            assert order.refunded_fen == order.paid_fen
        if order.status in ("shipped", "completed"):
            assert order.shipped_at > order.paid_at and order.tracking_no
    for item in OrderItem.objects.filter(order__no__startswith=ORDER_PREFIX):
        assert item.line_fen == item.price_fen * item.quantity
    assert Refund.objects.filter(
        out_refund_no__startswith="R" + ORDER_PREFIX, status="requested"
    ).count() == (Plan.for_scale(SCALE).refund_requests)
    # failed groups: every member refunded; succeeded groups: all seats paid
    for group in Group.objects.filter(campaign__product__title="安吉白茶 100g"):
        members = list(GroupMember.objects.filter(group=group))
        if group.status == "failed":
            assert members and all(m.status == "refunded" and m.refund_id for m in members)
        else:
            assert len(members) == group.size and all(m.status == "paid" for m in members)


def test_the_engine_paid_every_attributed_order(seeded):
    attributed = Order.objects.filter(no__startswith=ORDER_PREFIX, attributed_koc_id__isnull=False)
    assert attributed.count() > 0
    for order in attributed:
        direct = Commission.objects.get(order_id=order.pk, kind="direct")
        assert direct.koc_id == order.attributed_koc_id
        expected = (Decimal(order.paid_fen) * Decimal("0.10")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert direct.amount_fen == int(expected)
        if order.status == "refunded":
            assert direct.status == "reversed"
    completed = attributed.filter(status="completed")
    assert KocSale.objects.filter(order_id__in=completed.values("pk")).count() == completed.count()


def test_the_dashboard_has_data(seeded):
    board = dashboard.build(now=timezone.now())
    month = board["totals"][1]
    assert month["gmv_fen"] > 0 and month["paid_orders"] > 0
    charts = board["charts"]
    assert all(charts[name] for name in ("gmv", "orders", "kocs", "top_kocs", "top_products"))
    assert "<rect" in str(charts["top_kocs"]) and "<rect" in str(charts["top_products"])


def test_a_second_run_adds_nothing(seeded):
    before = (Koc.objects.count(), Order.objects.count(), Commission.objects.count())
    out = io.StringIO()
    call_command("seed_demo", "--scale", str(SCALE), stdout=out)
    assert "scale data already present (SCALE-x0.02" in out.getvalue()
    assert (Koc.objects.count(), Order.objects.count(), Commission.objects.count()) == before
