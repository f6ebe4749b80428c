"""The numbers on the admin's front page: one read-only pass over the business apps.

Every figure is one aggregate query (or one grouped query for a series); nothing here writes.
Days are calendar days in the project's time zone (Asia/Shanghai).

A brand operator gets the same page over its own brand only (`brands`, from brand_scope): sales are
its items' lines (a mixed order counts only its lines), KOCs are those partnered with it, and the
platform's commission figures and KOC review queue are not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.commissions.models import LedgerEntry
from apps.core.charts import bar_chart, line_chart
from apps.core.money import yuan_grouped
from apps.groupbuys.models import Group
from apps.kocs.models import Koc
from apps.kocs.selectors import partnered_koc_ids
from apps.shop.brand_scope import brand_scope, order_ids_of
from apps.shop.models import Order, OrderItem, Refund, ShippingUpload, TradeEvent

from .roles import FINANCE, PLATFORM_ADMIN


@dataclass(frozen=True)
class Window:
    label: str
    start: datetime
    end: datetime
    # Set for a window that ends now (today): its figures are a partial day, read as such.
    partial_until: str = ""


def is_finance(user) -> bool:
    """Finance (财务) without the platform's rights: its own front page."""
    if user is None or user.is_superuser:
        return False
    names = set(user.groups.values_list("name", flat=True))
    return FINANCE in names and PLATFORM_ADMIN not in names


def _day_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _totals(window: Window, brands: list[int] | None = None) -> dict:
    if brands is None:
        paid = Order.objects.filter(paid_at__gte=window.start, paid_at__lt=window.end)
        orders = paid.aggregate(gmv_fen=Sum("paid_fen", default=0), paid_orders=Count("id"))
        ledger = LedgerEntry.objects.filter(
            created_at__gte=window.start, created_at__lt=window.end
        ).aggregate(
            accrued_fen=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.ACCRUAL), default=0),
            paid_out_fen=Sum("amount_fen", filter=Q(kind=LedgerEntry.Kind.PAYOUT), default=0),
        )
        accrued, paid_out = yuan_grouped(ledger["accrued_fen"]), yuan_grouped(ledger["paid_out_fen"])
        groups_qs, kocs_qs = Group.objects.all(), Koc.objects.all()
    else:
        orders = OrderItem.objects.filter(
            brand_id__in=brands, order__paid_at__gte=window.start, order__paid_at__lt=window.end
        ).aggregate(gmv_fen=Sum("line_fen", default=0), paid_orders=Count("order_id", distinct=True))
        accrued = paid_out = "—"  # commissions are the platform's books, not a brand's
        groups_qs = Group.objects.filter(campaign__product__brand_id__in=brands)
        kocs_qs = Koc.objects.filter(pk__in=partnered_koc_ids(brands))
    groups = groups_qs.aggregate(
        succeeded=Count("id", filter=Q(succeeded_at__gte=window.start, succeeded_at__lt=window.end)),
        failed=Count("id", filter=Q(failed_at__gte=window.start, failed_at__lt=window.end)),
    )
    closed = groups["succeeded"] + groups["failed"]
    new_kocs = kocs_qs.filter(
        approved_at__gte=window.start,
        approved_at__lt=window.end,
        status=Koc.Status.APPROVED,
        role__in=Koc.INDIVIDUAL_ROLES,
    ).count()
    return {
        "label": window.label,
        "partial_until": window.partial_until,
        "gmv_fen": orders["gmv_fen"],
        "gmv": yuan_grouped(orders["gmv_fen"]),
        "paid_orders": orders["paid_orders"],
        "accrued": accrued,
        "paid_out": paid_out,
        "groups_succeeded": groups["succeeded"],
        "groups_failed": groups["failed"],
        "success_rate": f"{groups['succeeded'] * 100 / closed:.0f}%" if closed else "—",
        "new_kocs": new_kocs,
    }


def _daily(start: datetime, days: int, brands: list[int] | None = None) -> list[tuple[datetime, int, int]]:
    tz = timezone.get_current_timezone()
    if brands is None:
        rows = (
            Order.objects.filter(paid_at__gte=start)
            .order_by()  # a model's default ordering would split the GROUP BY
            .annotate(day=TruncDate("paid_at", tzinfo=tz))
            .values("day")
            .annotate(gmv_fen=Sum("paid_fen"), orders=Count("id"))
        )
    else:
        rows = (
            OrderItem.objects.filter(brand_id__in=brands, order__paid_at__gte=start)
            .order_by()
            .annotate(day=TruncDate("order__paid_at", tzinfo=tz))
            .values("day")
            .annotate(gmv_fen=Sum("line_fen"), orders=Count("order_id", distinct=True))
        )
    by_day = {row["day"]: row for row in rows}
    series = []
    for offset in range(days):
        day = (start + timedelta(days=offset)).date()
        row = by_day.get(day, {})
        series.append((day, row.get("gmv_fen") or 0, row.get("orders") or 0))
    return series


def _koc_growth(start: datetime, days: int, brands: list[int] | None = None) -> list[tuple[str, int]]:
    tz = timezone.get_current_timezone()
    individuals = Koc.objects.filter(status=Koc.Status.APPROVED, role__in=Koc.INDIVIDUAL_ROLES)
    if brands is not None:
        individuals = individuals.filter(pk__in=partnered_koc_ids(brands))
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


def _top_kocs(start: datetime, limit: int = 8, brands: list[int] | None = None) -> list[tuple[str, int]]:
    if brands is None:
        rows = list(
            Order.objects.filter(paid_at__gte=start, attributed_koc_id__isnull=False)
            .values("attributed_koc_id")
            .annotate(gmv_fen=Sum("paid_fen"))
            .order_by("-gmv_fen")[:limit]
        )
    else:
        rows = list(
            OrderItem.objects.filter(
                brand_id__in=brands, order__paid_at__gte=start, order__attributed_koc_id__isnull=False
            )
            .order_by()
            .values(attributed_koc_id=F("order__attributed_koc_id"))
            .annotate(gmv_fen=Sum("line_fen"))
            .order_by("-gmv_fen")[:limit]
        )
    names = {
        k.pk: k.display_name
        for k in Koc.objects.filter(pk__in=[r["attributed_koc_id"] for r in rows]).select_related("user")
    }
    return [(names.get(r["attributed_koc_id"], f"KOC {r['attributed_koc_id']}"), r["gmv_fen"]) for r in rows]


def _top_products(start: datetime, limit: int = 8, brands: list[int] | None = None) -> list[tuple[str, int]]:
    items = OrderItem.objects.filter(order__paid_at__gte=start)
    if brands is not None:
        items = items.filter(brand_id__in=brands)
    rows = (
        items.order_by()
        .values("product_id", "title")
        .annotate(units=Sum("quantity"))
        .order_by("-units")[:limit]
    )
    return [(row["title"], row["units"]) for row in rows]


def _can(user, perm: str) -> bool:
    return user is None or user.has_perm(perm)


def _queues(brands: list[int] | None = None, user=None) -> list[dict]:
    """The work waiting for people, each linking to the one page where it is done. A tile shows only
    when its user may open that page (no tile leads to a 403)."""
    from .shipping import can_ship

    refunds = Refund.objects.filter(status="requested")
    to_ship = Order.objects.filter(status="paid", shipping_hold=False)
    if brands is not None:
        refunds = refunds.filter(order_id__in=order_ids_of(brands))
        # a brand's work: orders with a line of its own still unshipped (a mixed order's other
        # brand may have shipped already, or not yet: that is not this brand's queue)
        unshipped = OrderItem.objects.filter(brand_id__in=brands, shipped_quantity__lt=F("quantity"))
        to_ship = to_ship.filter(pk__in=unshipped.values("order_id"))
    tiles = [
        (
            brands is None and _can(user, "kocs.view_koc"),
            _("KOC applications to review"),
            lambda: Koc.objects.filter(status=Koc.Status.PENDING).count(),
            reverse("admin:kocs_koc_changelist") + "?status__exact=pending",
        ),
        (
            _can(user, "shop.view_refund"),
            _("Refunds to approve"),
            refunds.count,
            reverse("admin:shop_refund_changelist") + "?status__exact=requested",
        ),
        (
            _can(user, "shop.view_order"),
            _("Orders to ship"),
            to_ship.count,
            reverse("admin:shop_order_changelist") + "?status__exact=paid&shipping_hold__exact=0",
        ),
        (
            user is None or can_ship(user),
            _("Ship in bulk (CSV)"),
            to_ship.count,
            reverse("admin:console_ship_upload"),
        ),
        # WeChat's shipping uploads and trade management are the platform's work
        (
            brands is None and _can(user, "shop.view_shippingupload"),
            _("WeChat shipping uploads failed"),
            lambda: ShippingUpload.objects.filter(status=ShippingUpload.Status.FAILED).count(),
            reverse("admin:shop_shippingupload_changelist") + "?status__exact=failed",
        ),
        (
            brands is None and _can(user, "shop.view_tradeevent"),
            _("WeChat trade management reminders"),
            lambda: TradeEvent.objects.filter(needs_attention=True, resolved_at__isnull=True).count(),
            reverse("admin:shop_tradeevent_changelist") + "?needs_attention__exact=1&resolved_at__isempty=1",
        ),
    ]
    return [{"title": title, "count": count(), "url": url} for shown, title, count, url in tiles if shown]


WITHDRAWALS_WAITING = ("created", "processing", "wait_user_confirm", "b2b_pending", "cancelling")


def finance_queues(now: datetime, user=None) -> list[dict]:
    """Finance's front page: payouts waiting and failed, refunds failed, the tax to file, and the
    reconciliation's open differences, each a tile finance may open."""
    from apps.commissions.models import TaxRecord, Withdrawal
    from apps.reconciliation.models import Difference

    last_month = (_day_start(now).replace(day=1) - timedelta(days=1)).replace(day=1)
    tax = TaxRecord.objects.filter(month=last_month).aggregate(
        people=Count("koc_id", distinct=True), withheld=Sum("withheld_fen", default=0)
    )
    tiles = [
        (
            "commissions.view_withdrawal",
            _("Payouts in progress"),
            Withdrawal.objects.filter(status__in=WITHDRAWALS_WAITING).count(),
            "",
            reverse("admin:commissions_withdrawal_changelist")
            + "?status__in="
            + ",".join(WITHDRAWALS_WAITING),
        ),
        (
            "commissions.view_withdrawal",
            _("Payouts failed"),
            Withdrawal.objects.filter(status=Withdrawal.Status.FAILED).count(),
            "",
            reverse("admin:commissions_withdrawal_changelist") + "?attention=failed",
        ),
        (
            "shop.view_refund",
            _("Refunds failed"),
            Refund.objects.filter(status=Refund.Status.FAILED).count(),
            "",
            reverse("admin:shop_refund_changelist") + "?status__exact=failed",
        ),
        (
            "commissions.view_taxrecord",
            _("Tax to file for %(month)s") % {"month": f"{last_month:%Y-%m}"},
            tax["people"],
            f"¥{yuan_grouped(tax['withheld'])}",
            reverse("admin:commissions_taxrecord_changelist") + f"?month={last_month:%Y-%m-%d}",
        ),
        (
            "reconciliation.view_difference",
            _("Reconciliation differences"),
            Difference.objects.filter(resolved_at__isnull=True).count(),
            "",
            reverse("admin:reconciliation_difference_changelist") + "?resolved_at__isempty=1",
        ),
    ]
    return [
        {"title": title, "count": count, "note": note, "url": url}
        for perm, title, count, note, url in tiles
        if _can(user, perm)
    ]


def build(*, now: datetime, user=None, days: int = 30) -> dict:
    today = _day_start(now)
    start = today - timedelta(days=days - 1)
    until = timezone.localtime(now).strftime("%H:%M")
    windows = [
        Window(gettext("Today so far"), today, now + timedelta(seconds=1), partial_until=until),
        Window(gettext("Last %(days)d days") % {"days": days}, start, now + timedelta(seconds=1)),
    ]
    brands = brand_scope(user) if user is not None else None
    daily = _daily(start, days, brands)
    growth = _koc_growth(start, days, brands)
    top_kocs = _top_kocs(start, brands=brands)
    top_products = _top_products(start, brands=brands)
    return {
        "brands": brands,
        "totals": [_totals(w, brands) for w in windows],
        "queues": _queues(brands, user),
        "finance": is_finance(user),
        "finance_queues": finance_queues(now, user) if is_finance(user) else [],
        "charts": {
            "gmv": line_chart(
                [(d.strftime("%m-%d"), g / 100) for d, g, _ in daily],
                title=gettext("GMV (yuan)"),
                fmt=lambda v: f"{v:,.0f}",
                partial_note=gettext("Today until %(time)s") % {"time": until},
            ),
            "orders": line_chart(
                [(d.strftime("%m-%d"), n) for d, _, n in daily],
                title=gettext("Paid orders (count)"),
                color="#2563eb",
                partial_note=gettext("Today until %(time)s") % {"time": until},
            ),
            "kocs": line_chart(growth, title=gettext("KOC team size"), color="#7c3aed"),
            "top_kocs": bar_chart(
                [(n, g / 100) for n, g in top_kocs],
                title=gettext("KOC sales (yuan)"),
                fmt=lambda v: f"¥{v:,.2f}",
                height=max(60, 28 * len(top_kocs)),
            ),
            "top_products": bar_chart(
                top_products,
                title=gettext("Best sellers (units)"),
                color="#d97706",
                height=max(60, 28 * len(top_products)),
            ),
        },
    }
