"""Group-buy reads: campaign pages and public group cards in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.shop.models import ProductImage

from .models import Campaign, Group, GroupMember

OPEN_GROUPS_SHOWN = 10


def _shown_members() -> Prefetch:
    """What a group shows of its members: the paid ones only, leader first (docs/api.md, docs/domain.md: a
    refunded or unpaid member never makes a group look fuller than it is)."""
    return Prefetch(
        "members",
        queryset=GroupMember.objects.filter(status=GroupMember.Status.PAID)
        .select_related("user")
        .order_by("-is_leader", "paid_at", "id"),
        to_attr="shown_members",
    )


def _open_groups(now: datetime) -> Prefetch:
    """Joinable groups of each campaign, fullest first, then the soonest to close (sliced per
    campaign by a window function: one query for the whole page)."""
    groups = (
        Group.objects.filter(status=Group.Status.FORMING, expires_at__gt=now, joined__lt=F("size"))
        .order_by("-joined", "expires_at", "id")
        .prefetch_related(_shown_members())
    )
    return Prefetch("groups", queryset=groups[:OPEN_GROUPS_SHOWN], to_attr="open_groups")


def _campaigns(now: datetime) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(is_active=True, product__is_active=True, product__brand__is_active=True)
        .select_related("product__brand", "sku")
        .prefetch_related(
            Prefetch("product__images", queryset=ProductImage.objects.order_by("position", "id")),
            _open_groups(now),
        )
    )


def campaign_list(*, now: datetime | None = None) -> QuerySet[Campaign]:
    """Campaigns running now, the soonest to end first."""
    now = now or timezone.now()
    return _campaigns(now).filter(starts_at__lte=now, ends_at__gt=now).order_by("ends_at", "id")


def campaign_get(*, campaign_id: int, now: datetime | None = None) -> Campaign | None:
    """An active campaign, also before its start or after its end (a shared card still opens)."""
    return _campaigns(now or timezone.now()).filter(pk=campaign_id).first()


def group_get(*, group_id: int) -> Group | None:
    return Group.objects.prefetch_related(_shown_members()).filter(pk=group_id).first()


def live_campaign_summaries(product_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The catalogue hook: {product_id: {"campaign_id", "group_price_fen", "group_size"}} for the
    products of a page that have a running campaign (the cheapest, if several). One query."""
    now = timezone.now()
    rows = (
        Campaign.objects.filter(
            product_id__in=product_ids, is_active=True, starts_at__lte=now, ends_at__gt=now
        )
        .order_by("product_id", "group_price_fen", "id")
        .values("id", "product_id", "group_price_fen", "group_size")
    )
    summaries: dict[int, dict[str, Any]] = {}
    for row in rows:
        summaries.setdefault(
            row["product_id"],
            {
                "campaign_id": row["id"],
                "group_price_fen": row["group_price_fen"],
                "group_size": row["group_size"],
            },
        )
    return summaries


def live_campaign_window(
    product_ids: list[int], *, now: datetime | None = None
) -> tuple[dict[int, dict[str, Any]], datetime | None]:
    """The catalogue's window hook: `live_campaign_summaries`, and the next moment they change by
    themselves (the first end of a running campaign or start of a coming one), in the one query."""
    now = now or timezone.now()
    rows = (
        Campaign.objects.filter(product_id__in=product_ids, is_active=True, ends_at__gt=now)
        .order_by("product_id", "group_price_fen", "id")
        .values("id", "product_id", "group_price_fen", "group_size", "starts_at", "ends_at")
    )
    summaries: dict[int, dict[str, Any]] = {}
    until: datetime | None = None
    for row in rows:
        if row["starts_at"] <= now:
            summaries.setdefault(
                row["product_id"],
                {
                    "campaign_id": row["id"],
                    "group_price_fen": row["group_price_fen"],
                    "group_size": row["group_size"],
                },
            )
            edge = row["ends_at"]
        else:
            edge = row["starts_at"]
        until = edge if until is None else min(until, edge)
    return summaries, until


def campaigns_with_counts() -> QuerySet[Campaign]:
    """Campaigns with their groups counted by status, in one query (the admin's live counts)."""
    return Campaign.objects.annotate(
        forming_count=Count("groups", filter=Q(groups__status=Group.Status.FORMING)),
        succeeded_count=Count("groups", filter=Q(groups__status=Group.Status.SUCCEEDED)),
        failed_count=Count("groups", filter=Q(groups__status=Group.Status.FAILED)),
    )


def success_rate(*, succeeded: int, failed: int) -> float | None:
    """Succeeded out of closed groups (forming ones have no outcome yet); None before any closed."""
    closed = succeeded + failed
    return succeeded / closed if closed else None
