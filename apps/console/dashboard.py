"""The numbers on the admin's front page: one read-only pass over the business apps.

Every figure is one aggregate query (or one grouped query for a series); nothing here writes.
Days are calendar days in the project's time zone (Asia/Shanghai).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from apps.commissions.models import LedgerEntry
from apps.core.charts import bar_chart, line_chart
from apps.core.money import yuan
from apps.groupbuys.models import Group
from apps.kocs.models import Koc
from apps.shop.models import Order, OrderItem, Refund

PAID_STATUSES = ["paid", "shipped", "completed", "refunded"]


@dataclass(frozen=True)
class Window:
    label: str
    start: datetime
    end: datetime


def _day_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _totals(window: Window) -> dict:
    paid = Order.objects.filter(paid_at__gte=window.start, paid_at__lt=window.end)
    orders = paid.aggregate(gmv_fen=Sum("paid_fen", default=0), paid_orders=Count("id"))
    ledger = LedgerEntry.objects.filter(created_at__gte=window.start, created_at__lt=window.end).aggregate(
        accrued_fen=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.ACCRUAL), default=0),
        paid_out_fen=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.PAYOUT), default=0),
    )
    groups = Group.objects.aggregate(
        succeeded=Count("id", filter=Q(succeeded_at__gte=window.start, succeeded_at__lt=window.end)),
        failed=Count("id", filter=Q(failed_at__gte=window.start, failed_at__lt=window.end)),
    )
    closed = groups["succeeded"] + groups["failed"]
    new_kocs = Koc.objects.filter(
        approved_at__gte=window.start, approved_at__lt=window.end, role__in=["leader", "koc"]
    ).count()
    return {
        "label": window.label,
        "gmv_fen": orders["gmv_fen"],
        "gmv": yuan(orders["gmv_fen"]),
        "paid_orders": orders["paid_orders"],
        "accrued": yuan(ledger["accrued_fen"]),
        "paid_out": yuan(ledger["paid_out_fen"]),
        "groups_succeeded": groups["succeeded"],
        "groups_failed": groups["failed"],
        "success_rate": f"{groups['succeeded'] * 100 / closed:.0f}%" if closed else "—",
        "new_kocs": new_kocs,
    }


def _daily(start: datetime, days: int) -> list[tuple[datetime, int, int]]:
    tz = timezone.get_current_timezone()
    rows = (
        Order.objects.filter(paid_at__gte=start)
        .order_by()  # a model's default ordering would split the GROUP BY
        .annotate(day=TruncDate("paid_at", tzinfo=tz))
        .values("day")
        .annotate(gmv_fen=Sum("paid_fen"), orders=Count("id"))
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for offset in range(days):
        day = (start + timedelta(days=offset)).date()
        row = by_day.get(day, {})
        series.append((day, row.get("gmv_fen") or 0, row.get("orders") or 0))
    return series


def _koc_growth(start: datetime, days: int) -> list[tuple[str, int]]:
    tz = timezone.get_current_timezone()
    individuals = Koc.objects.filter(status="approved", role__in=["leader", "koc"])
    before = individuals.filter(approved_at__lt=start).count()
    rows = (
        individuals.filter(approved_at__gte=start)
        .order_by()  # the tree ordering (tree_id, lft) would split the GROUP BY
        .annotate(day=TruncDate("approved_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
    )
    per_day = {row["day"]: row["n"] for row in rows}
    total, points = before, []
    for offset in range(days):
        day = (start + timedelta(days=offset)).date()
        total += per_day.get(day, 0)
        points.append((day.strftime("%m-%d"), total))
    return points


def _top_kocs(start: datetime, limit: int = 8) -> list[tuple[str, int]]:
    rows = list(
        Order.objects.filter(paid_at__gte=start, attributed_koc_id__isnull=False)
        .values("attributed_koc_id")
        .annotate(gmv_fen=Sum("paid_fen"))
        .order_by("-gmv_fen")[:limit]
    )
    names = {
        k.pk: k.display_name
        for k in Koc.objects.filter(pk__in=[r["attributed_koc_id"] for r in rows]).select_related("user")
    }
    return [(names.get(r["attributed_koc_id"], f"KOC {r['attributed_koc_id']}"), r["gmv_fen"]) for r in rows]


def _top_products(start: datetime, limit: int = 8) -> list[tuple[str, int]]:
    rows = (
        OrderItem.objects.filter(order__paid_at__gte=start)
        .order_by()
        .values("product_id", "title")
        .annotate(units=Sum("quantity"))
        .order_by("-units")[:limit]
    )
    return [(row["title"], row["units"]) for row in rows]


def _queues() -> list[dict]:
    """The work waiting for people, each linking to the one page where it is done."""
    counts = {
        "kocs": Koc.objects.filter(status="pending").count(),
        "refunds": Refund.objects.filter(status="requested").count(),
        "ship": Order.objects.filter(status="paid", shipping_hold=False).count(),
    }
    return [
        {
            "title": "KOC 申请待审核",
            "count": counts["kocs"],
            "url": reverse("admin:kocs_koc_changelist") + "?status__exact=pending",
        },
        {
            "title": "退款待审批",
            "count": counts["refunds"],
            "url": reverse("admin:shop_refund_changelist") + "?status__exact=requested",
        },
        {
            "title": "订单待发货",
            "count": counts["ship"],
            "url": reverse("admin:shop_order_changelist") + "?status__exact=paid&shipping_hold__exact=0",
        },
    ]


def build(*, now: datetime, user=None, days: int = 30) -> dict:
    today = _day_start(now)
    start = today - timedelta(days=days - 1)
    windows = [
        Window("今日", today, now + timedelta(seconds=1)),
        Window(f"近 {days} 天", start, now + timedelta(seconds=1)),
    ]
    daily = _daily(start, days)
    growth = _koc_growth(start, days)
    top_kocs = _top_kocs(start)
    top_products = _top_products(start)
    return {
        "totals": [_totals(w) for w in windows],
        "queues": _queues(),
        "charts": {
            "gmv": line_chart(
                [(d.strftime("%m-%d"), g / 100) for d, g, _ in daily],
                title="GMV（元）",
                fmt=lambda v: f"{v:,.0f}",
            ),
            "orders": line_chart(
                [(d.strftime("%m-%d"), n) for d, _, n in daily], title="支付订单数", color="#2563eb"
            ),
            "kocs": line_chart(growth, title="KOC 团队规模", color="#7c3aed"),
            "top_kocs": bar_chart(
                [(n, g / 100) for n, g in top_kocs],
                title="KOC 业绩（元）",
                fmt=lambda v: f"¥{v:,.2f}",
                height=max(60, 28 * len(top_kocs)),
            ),
            "top_products": bar_chart(
                top_products, title="热销商品（件）", color="#d97706", height=max(60, 28 * len(top_products))
            ),
        },
    }
