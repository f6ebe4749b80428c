"""`seed_demo --scale N` at a tiny N: the numbers add up, the tree is valid, and the data tell the
truth - dated as they happened, refunds that work, tiers evaluated, group buys shipped after success."""

import io
from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, Min, Sum
from django.utils import timezone

from apps.commissions.models import Commission, LedgerEntry
from apps.console import dashboard
from apps.core.money import yuan_grouped
from apps.demo.scale import ORDER_PREFIX, Plan
from apps.demo.scale.plan import ENGINE_DAYS
from apps.groupbuys.models import Group, GroupMember
from apps.kocs.models import Koc, KocParentHistory, KocSale, LevelHistory
from apps.kocs.selectors import team_tree_problems
from apps.shop.models import Order, OrderItem, Refund, Shipment

SCALE = 0.02
SCALE_CODES = r"^S\d{7}$"


def _seed_moment():
    """The last 14:00 (local): the data set depends on the moment of day it runs up to (payments
    fall at chosen hours of each day, clipped at that moment), so a fixed moment of day gives the
    same data every time the tests run."""
    local = timezone.localtime()
    moment = local.replace(hour=14, minute=0, second=0, microsecond=0)
    return moment if moment <= local else moment - timedelta(days=1)


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--scale", str(SCALE), "--now", _seed_moment().isoformat(), stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seeded once for the module's read-only checks (the seed commits: its events are delivered on
    commit, as in production), flushed after."""
    with django_db_blocker.unblock():
        try:
            yield _seed()
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def scale(seeded, db):
    return seeded


def test_counts_follow_the_plan(scale):
    plan = Plan.for_scale(SCALE)
    approved = Koc.objects.filter(status="approved", invite_code__regex=SCALE_CODES)
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
    assert "scale x0.02 seeded in" in scale and "events:" in scale


def test_the_team_tree_is_valid_and_deep(scale):
    assert team_tree_problems() == []
    out, err = io.StringIO(), io.StringIO()
    call_command("check_team_tree", stdout=out, stderr=err)
    assert "team tree is valid" in out.getvalue()
    deepest = Koc.objects.filter(invite_code__regex=SCALE_CODES).order_by("-depth").first()
    assert deepest.depth >= 5  # branch, agency, leader and KOC chains below
    # every approved node has exactly one open parent row, from its approval time
    for koc in Koc.objects.filter(status="approved", invite_code__regex=SCALE_CODES):
        row = KocParentHistory.objects.get(koc=koc, valid_to=None)
        assert (row.parent_id, row.valid_from) == (koc.parent_id, koc.approved_at)
        if koc.parent_id:
            assert koc.parent.approved_at < koc.approved_at


def test_order_amounts_are_consistent_and_phones_filled(scale):
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
            parcel = Shipment.objects.get(order=order)
            assert (parcel.shipped_at, parcel.tracking_no) == (order.shipped_at, order.tracking_no)
        # the receiver's phone, searchable and in the address snapshot, as order_create keeps it
        assert len(order.receiver_phone) == 11 and order.receiver_phone == order.address["phone"]
    for item in OrderItem.objects.filter(order__no__startswith=ORDER_PREFIX):
        assert item.line_fen == item.price_fen * item.quantity
    assert Refund.objects.filter(order__no__startswith=ORDER_PREFIX, status="requested").count() == (
        Plan.for_scale(SCALE).refund_requests
    )


def test_no_group_buy_ships_before_its_group_succeeded(scale):
    groups = Group.objects.filter(campaign__product__title="安吉白茶 100g")
    assert groups.filter(status="succeeded").exists() and groups.filter(status="failed").exists()
    for group in groups:
        members = list(GroupMember.objects.filter(group=group).select_related("order"))
        if group.status == "failed":
            # every member refunded in full by the system, nothing shipped
            assert members and all(m.status == "refunded" and m.refund_id for m in members)
            assert all(m.order.shipped_at is None and m.order.status == "refunded" for m in members)
            continue
        assert len(members) == group.size and all(m.status == "paid" for m in members)
        assert group.succeeded_at == max(m.paid_at for m in members)
        for m in members:
            assert not m.order.shipping_hold
            if m.order.shipped_at is not None:
                assert m.order.shipped_at > group.succeeded_at


def test_the_engine_paid_every_attributed_order(scale):
    attributed = Order.objects.filter(no__startswith=ORDER_PREFIX, attributed_koc_id__isnull=False)
    assert attributed.count() > 0
    for order in attributed:
        # attributed as order_create attributes: the sharing app's answer for the KOC's link
        assert order.share_link_id and order.attribution["koc_id"] == order.attributed_koc_id
        assert order.attribution["source"] in ("share_code", "binding")
        direct = Commission.objects.get(order_id=order.pk, kind="direct")
        assert direct.koc_id == order.attributed_koc_id
        expected = (Decimal(order.paid_fen) * Decimal("0.10")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert direct.amount_fen == int(expected)
        if order.status == "refunded":
            assert direct.status == "reversed"
    completed = attributed.filter(status="completed")
    assert KocSale.objects.filter(order_id__in=completed.values("pk")).count() == completed.count()


def test_todays_commissions_on_the_dashboard_are_those_of_todays_orders(scale):
    now = timezone.now()
    board = dashboard.build(now=now)
    today, month = board["totals"]
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    todays_orders = Order.objects.filter(paid_at__gte=day_start, paid_at__lte=now)
    direct = Commission.objects.filter(order_id__in=todays_orders.values("pk")).aggregate(
        t=Sum("amount_fen", default=0)
    )["t"]
    assert today["accrued"] == yuan_grouped(direct)
    # and the month is more than the day: the ledger is not dated by the seed's own clock
    assert month["accrued"] != today["accrued"]


def test_ledger_entries_carry_their_real_dates(scale):
    entries = LedgerEntry.objects.filter(commission__order_id__isnull=False)
    days = {timezone.localdate(at) for at in entries.values_list("created_at", flat=True)}
    assert len(days) >= ENGINE_DAYS // 2
    # each accrual is dated at its order's payment, each freeze at its completion
    for entry in entries.filter(kind__in=["accrual", "freeze"]).select_related("commission"):
        order = Order.objects.get(pk=entry.commission.order_id)
        assert entry.created_at == (order.paid_at if entry.kind == "accrual" else order.completed_at)
    first = entries.aggregate(m=Min("created_at"))["m"]
    assert first < timezone.now() - timedelta(days=ENGINE_DAYS - 2)


def test_tiers_are_evaluated_with_their_dates(scale):
    individuals = Koc.objects.filter(
        status="approved", role__in=["leader", "koc"], invite_code__regex=SCALE_CODES
    )
    ranks = Counter(individuals.values_list("level__rank", flat=True))
    assert ranks[None] == 0  # each approval evaluated the new KOC: the entry level at least
    assert sum(n for rank, n in ranks.items() if rank and rank > 0) > 0, ranks
    upgrades = LevelHistory.objects.filter(to_level__rank__gt=0, koc__in=individuals)
    for change in upgrades:
        # dated when the sale that earned it completed, not when the seed ran
        assert change.at < timezone.now() - timedelta(minutes=1)
        assert KocSale.objects.filter(completed_at__lte=change.at).exists()


def test_a_second_run_adds_nothing(scale):
    before = (Koc.objects.count(), Order.objects.count(), Commission.objects.count())
    out = io.StringIO()
    call_command("seed_demo", "--scale", str(SCALE), stdout=out)
    assert "scale data already present (SCALE-x0.02" in out.getvalue()
    assert (Koc.objects.count(), Order.objects.count(), Commission.objects.count()) == before
