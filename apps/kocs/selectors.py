"""Reads of the KOC app, including the functions the commission engine relies on.

For the commission engine: `koc_for_user`, `parent_on`, `individual_uplines`,
`organisation_ancestors`, `team_sales_fen`. They answer from the parent history, so a question about
a past date gets the tree as it was then, not as it is now.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce

from apps.shop import selectors as shop_selectors
from apps.shop.models import Product, ProductImage

from .models import (
    BrandInvitation,
    Koc,
    KocOrderLine,
    KocParentHistory,
    KocProductPick,
    KocSale,
    Level,
    LevelHistory,
)

# A tree deeper than this is a bug; the recursive walk stops there rather than loop.
MAX_TREE_DEPTH = 64
# Walks down a subtree or up to a root stop here (a loop in the parent pointers is a bug, reported
# by check_team_tree; the walk must still end).
MAX_WALK = 256


def koc_for_user(user) -> Koc | None:
    """The user's KOC profile in any status, or None (anonymous users, shoppers)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Koc.objects.select_related("level", "parent__user", "user").filter(user_id=user.pk).first()


def approved_koc_by_invite_code(code: str) -> Koc | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    return Koc.objects.filter(invite_code=code, status=Koc.Status.APPROVED).first()


# --- the parent history ----------------------------------------------------------------------------


def parent_on(*, koc_id: int, on: datetime) -> Koc | None:
    """The parent `koc_id` had at instant `on` (None for a root, or before the KOC joined)."""
    row = (
        KocParentHistory.objects.filter(koc_id=koc_id, valid_from__lte=on)
        .exclude(valid_to__lte=on)
        .select_related("parent__level", "parent__user")
        .order_by("-valid_from")
        .first()
    )
    return row.parent if row else None


def ancestor_ids_on(*, koc_id: int, on: datetime, depth: int) -> list[int]:
    """Ancestor ids of `koc_id` at `on`, nearest first, at most `depth`: one query (for the engine)."""
    return _ancestor_ids_on(koc_id=koc_id, on=on, depth=depth)


def _ancestor_ids_on(*, koc_id: int, on: datetime, depth: int) -> list[int]:
    """Ancestor ids of `koc_id` at `on`, nearest first, at most `depth` of them: one query.

    A recursive CTE over the parent history rows valid at `on` (valid_from <= on < valid_to), so a
    subtree moved after `on` still answers its old ancestors.
    """
    if depth <= 0:
        return []
    table = connection.ops.quote_name(KocParentHistory._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(on)
    sql = f"""
        WITH RECURSIVE chain(koc_id, depth) AS (
            SELECT h.parent_id, 1 FROM {table} h
            WHERE h.koc_id = %s AND h.parent_id IS NOT NULL
              AND h.valid_from <= %s AND (h.valid_to IS NULL OR h.valid_to > %s)
            UNION ALL
            SELECT h.parent_id, chain.depth + 1 FROM {table} h
            JOIN chain ON h.koc_id = chain.koc_id
            WHERE h.parent_id IS NOT NULL AND chain.depth < %s
              AND h.valid_from <= %s AND (h.valid_to IS NULL OR h.valid_to > %s)
        )
        SELECT koc_id FROM chain ORDER BY depth
    """  # noqa: S608 - the only interpolation is our own quoted table name
    with connection.cursor() as cursor:
        cursor.execute(sql, [koc_id, at, at, depth, at, at])
        return [row[0] for row in cursor.fetchall()]


def _kocs_in_order(ids: list[int]) -> list[Koc]:
    if not ids:
        return []
    by_id = Koc.objects.select_related("level", "user").in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


def individual_uplines(*, koc_id: int, on: datetime, levels: int) -> list[Koc]:
    """The individuals (leaders, KOCs) above `koc_id` at `on`, nearest first, at most `levels`.

    The walk stops at the first organisation node: a branch or an agency is never an individual
    upline, and nothing above it is either. Two queries whatever the depth.
    """
    uplines = []
    for koc in _kocs_in_order(_ancestor_ids_on(koc_id=koc_id, on=on, depth=levels)):
        if koc.is_organisation:
            break
        uplines.append(koc)
    return uplines


def organisation_ancestors(*, koc_id: int, on: datetime) -> list[Koc]:
    """The organisation nodes (agency, branch) above `koc_id` at `on`, nearest first. Two queries."""
    ancestors = _kocs_in_order(_ancestor_ids_on(koc_id=koc_id, on=on, depth=MAX_TREE_DEPTH))
    return [koc for koc in ancestors if koc.is_organisation]


def parent_history_over(
    *, koc_ids: list[int], start: datetime, end: datetime
) -> list[tuple[int, int | None, datetime, datetime | None]]:
    """(koc, parent, valid_from, valid_to) of every parent-history row in force at some instant of
    [start, end], for `koc_ids` and all their ancestors over that period: one query.

    For replaying many orders (the commission dry run): the caller walks these rows in memory to
    answer ancestor_ids_on() for any instant of the period, instead of one query per order. The
    recursive CTE follows the parents of every row valid during the period (UNION, not UNION ALL:
    a node reached twice, through a move, is walked once, and the walk ends).
    """
    ids = sorted({int(i) for i in koc_ids})
    if not ids:
        return []
    table = connection.ops.quote_name(KocParentHistory._meta.db_table)
    if connection.vendor == "postgresql":
        seeds, seeds_param = "SELECT unnest(%s::bigint[])", ids
    else:  # SQLite (and others with JSON1): one parameter however many ids
        seeds, seeds_param = "SELECT value FROM json_each(%s)", json.dumps(ids)
    sql = f"""
        WITH RECURSIVE nodes(koc_id) AS (
            {seeds}
            UNION
            SELECT h.parent_id FROM {table} h JOIN nodes ON h.koc_id = nodes.koc_id
            WHERE h.parent_id IS NOT NULL AND h.valid_from <= %s AND (h.valid_to IS NULL OR h.valid_to > %s)
        )
        SELECT koc_id FROM nodes
    """  # noqa: S608 - only our own quoted table name and fixed fragments are interpolated
    at = connection.ops.adapt_datetimefield_value
    nodes = RawSQL(sql, [seeds_param, at(end), at(start)])  # noqa: S611 - the values are parameters
    return list(
        KocParentHistory.objects.filter(koc_id__in=nodes, valid_from__lte=end)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        .order_by("koc_id", "valid_from")
        .values_list("koc_id", "parent_id", "valid_from", "valid_to")
    )


def level_history_of(*, koc_ids: list[int]) -> list[tuple[int, datetime, object, object]]:
    """(koc, at, bonus % of the level before, bonus % of the level after) of every level change of
    `koc_ids`, oldest first per KOC (None: no level): one query. The dry run reads a seller's tier
    as of an order's date from it."""
    ids = sorted({int(i) for i in koc_ids})
    if not ids:
        return []
    return list(
        LevelHistory.objects.filter(koc_id__in=ids)
        .order_by("koc_id", "at", "id")
        .values_list(
            "koc_id",
            "at",
            "from_level__commission_bonus_percent",
            "to_level__commission_bonus_percent",
        )
    )


# --- sales and the team ----------------------------------------------------------------------------


def own_sales_fen(*, koc: Koc) -> int:
    """Net amount of completed orders attributed to `koc` and bought by someone else (a KOC's own
    purchases are never recorded as her sales), refunds subtracted."""
    return KocSale.objects.filter(koc=koc).aggregate(total=Coalesce(Sum("amount_fen"), 0))["total"]


def _subtree_ids_sql() -> str:
    """SQL for the ids of a node and everything below it through the parent pointers (one
    parameter pair: the node's id, the depth limit)."""
    return """
        WITH RECURSIVE sub(id, steps) AS (
            SELECT id, 0 FROM kocs_koc WHERE id = %s
            UNION ALL
            SELECT k.id, sub.steps + 1 FROM kocs_koc k JOIN sub ON k.parent_id = sub.id
            WHERE sub.steps < %s
        )
        SELECT id FROM sub
    """


def team_sales_fen(*, koc: Koc) -> int:
    """Net completed sales of the whole subtree, `koc` included: one aggregate query.

    The subtree is walked through the parent pointers in the same statement, so it is exact at every
    moment: a member placed or moved a millisecond ago counts, whether or not the nested set has
    been renumbered since (services/tree.py), and a stale in-memory instance changes nothing.
    """
    subtree = RawSQL(_subtree_ids_sql(), [koc.pk, MAX_WALK])  # noqa: S611 - the values are parameters
    return KocSale.objects.filter(koc_id__in=subtree).aggregate(total=Coalesce(Sum("amount_fen"), 0))["total"]


def team_member_count(*, koc: Koc) -> int:
    """How many nodes are below `koc` now, through the parent pointers (exact, one query)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) - 1 FROM ({_subtree_ids_sql()}) s", [koc.pk, MAX_WALK])  # noqa: S608
        return cursor.fetchone()[0]


def current_ancestor_ids(*, koc_id: int) -> list[int]:
    """The ancestors of `koc_id` now, nearest first, through the parent pointers: one query."""
    sql = """
        WITH RECURSIVE up(id, parent_id, steps) AS (
            SELECT id, parent_id, 0 FROM kocs_koc WHERE id = %s
            UNION ALL
            SELECT k.id, k.parent_id, up.steps + 1 FROM kocs_koc k JOIN up ON k.id = up.parent_id
            WHERE up.steps < %s
        )
        SELECT id FROM up WHERE steps > 0 ORDER BY steps
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [koc_id, MAX_WALK])
        return [row[0] for row in cursor.fetchall()]


def active_direct_kocs(*, koc: Koc) -> int:
    """Direct individual members who have themselves at least one completed, not refunded sale."""
    return (
        Koc.objects.filter(parent=koc, role__in=Koc.INDIVIDUAL_ROLES, status=Koc.Status.APPROVED)
        .filter(Exists(KocSale.objects.filter(koc=OuterRef("pk"), amount_fen__gt=0)))
        .count()
    )


def direct_members(*, koc: Koc) -> QuerySet[Koc]:
    """Direct members with their own net sales annotated (`own_sales_fen`)."""
    sales = (
        KocSale.objects.filter(koc=OuterRef("pk"))
        .order_by()
        .values("koc")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    return (
        Koc.objects.filter(parent=koc)
        .select_related("user", "level")
        .annotate(
            own_sales_fen=Cast(
                Coalesce(Subquery(sales, output_field=BigIntegerField()), Value(0)),
                output_field=BigIntegerField(),
            )
        )
        .order_by("pk")  # joining order, stable while the nested set is renumbered
    )


def koc_stats(*, koc: Koc) -> dict[str, int]:
    return {
        "own_sales_fen": own_sales_fen(koc=koc),
        "team_sales_fen": team_sales_fen(koc=koc),
        "direct_members": Koc.objects.filter(parent=koc).count(),
        "team_size": koc.team_size,
    }


def levels_above(*, rank: int | None) -> list[Level]:
    qs = Level.objects.order_by("-rank")
    return list(qs if rank is None else qs.filter(rank__gt=rank))


# --- the tree's health -----------------------------------------------------------------------------


def team_tree_problems() -> list[str]:
    """Everything wrong with the tree (empty when valid): nested sets that differ from the parent
    pointers (trees awaiting the refresher excepted), roots sharing a tree, nodes no root reaches,
    open parent history that disagrees with the pointers. See `tree_check`."""
    from .tree_check import team_tree_problems as problems

    return problems()


# --- storefronts and partnerships ------------------------------------------------------------------


def storefront_koc(*, invite_code: str) -> Koc | None:
    """The approved individual whose public storefront this is, by invite code."""
    return (
        Koc.objects.select_related("user")
        .filter(
            invite_code=(invite_code or "").strip().upper(),
            status=Koc.Status.APPROVED,
            role__in=Koc.INDIVIDUAL_ROLES,
        )
        .first()
    )


def storefront_products(*, koc: Koc) -> QuerySet[Product]:
    """The KOC's picks that can be bought now, in the KOC's order, with price and images: 2 queries."""
    picks = KocProductPick.objects.filter(koc=koc, product=OuterRef("pk"))
    return (
        shop_selectors.product_list()
        .filter(Exists(picks))
        .annotate(pick_position=Subquery(picks.values("position")[:1]))
        .order_by("pick_position", "id")
    )


def storefront_picks(*, koc: Koc) -> QuerySet[KocProductPick]:
    """The KOC's own list of picks, unavailable ones included (`price_fen` None when unbuyable)."""
    return (
        KocProductPick.objects.filter(koc=koc)
        .select_related("product__brand")
        .annotate(
            price_fen=Min("product__skus__price_fen", filter=Q(product__skus__is_active=True)),
        )
        .prefetch_related(
            Prefetch("product__images", queryset=ProductImage.objects.order_by("position", "id"))
        )
        .order_by("position", "id")
    )


def invitations_for(*, koc: Koc, status: str | None = None) -> QuerySet[BrandInvitation]:
    qs = BrandInvitation.objects.filter(koc=koc).select_related("brand")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


# Brand affinity: a transparent, integer score. Preference first, money second (docs/domain.md): what a
# KOC buys of the brand with its own money and the categories it says it likes weigh more than
# what it sold of the brand.
AFFINITY_POINTS_PER_10_YUAN_BOUGHT = 3
AFFINITY_POINTS_PER_FAVOURITE_CATEGORY = 20
AFFINITY_POINTS_PER_10_YUAN_SOLD = 1
AFFINITY_EXPLANATION = (
    f"自购该品牌每 10 元 {AFFINITY_POINTS_PER_10_YUAN_BOUGHT} 分；"
    f"每个与该品牌商品类目相符的喜欢类目 {AFFINITY_POINTS_PER_FAVOURITE_CATEGORY} 分；"
    f"带货该品牌每 10 元 {AFFINITY_POINTS_PER_10_YUAN_SOLD} 分"
)


def brand_affinity(*, brand_id: int, limit: int = 100) -> list[Koc]:
    """Approved individual KOCs ranked by affinity to a brand, best first, with the parts of the score.

    Each KOC carries `bought_fen` (own completed purchases of the brand's products, not refunded),
    `matched_categories` (favourite categories whose subtree holds one of the brand's active
    products), `sold_fen` (completed sales of the brand's products) and `affinity_score`, plus
    `open_invitation` (True when an invitation awaits an answer). One query.
    """

    def lines(kind: str):
        # Cast: PostgreSQL's SUM(bigint) is numeric, and numeric / 1000 would not be whole tens.
        return Cast(
            Coalesce(
                Subquery(
                    KocOrderLine.objects.filter(
                        koc=OuterRef("pk"), kind=kind, brand_id=brand_id, refunded=False
                    )
                    .order_by()
                    .values("koc")
                    .annotate(total=Sum("line_fen"))
                    .values("total"),
                    output_field=BigIntegerField(),
                ),
                Value(0),
            ),
            output_field=BigIntegerField(),
        )

    favourites = Koc.favorite_categories.through.objects.filter(koc_id=OuterRef("pk")).filter(
        Exists(
            Product.objects.filter(
                brand_id=brand_id,
                is_active=True,
                category__tree_id=OuterRef("category__tree_id"),
                category__lft__gte=OuterRef("category__lft"),
                category__lft__lte=OuterRef("category__rght"),
            )
        )
    )
    matched = Cast(
        Coalesce(
            Subquery(
                favourites.order_by().values("koc_id").annotate(n=Count("pk")).values("n"),
                output_field=IntegerField(),
            ),
            Value(0),
        ),
        output_field=BigIntegerField(),
    )
    qs = (
        Koc.objects.filter(status=Koc.Status.APPROVED, role__in=Koc.INDIVIDUAL_ROLES)
        .select_related("user", "level")
        .annotate(bought_fen=lines(KocOrderLine.Kind.PURCHASE), sold_fen=lines(KocOrderLine.Kind.SALE))
        .annotate(matched_categories=matched)
        .annotate(
            affinity_score=F("bought_fen") / 1000 * AFFINITY_POINTS_PER_10_YUAN_BOUGHT
            + F("matched_categories") * AFFINITY_POINTS_PER_FAVOURITE_CATEGORY
            + F("sold_fen") / 1000 * AFFINITY_POINTS_PER_10_YUAN_SOLD,
            open_invitation=Exists(
                BrandInvitation.objects.filter(
                    brand_id=brand_id, koc=OuterRef("pk"), status=BrandInvitation.Status.INVITED
                )
            ),
        )
        .filter(Q(bought_fen__gt=0) | Q(sold_fen__gt=0) | Q(matched_categories__gt=0))
        .order_by("-affinity_score", "-bought_fen", "-matched_categories", "-sold_fen", "pk")
    )
    return list(qs[:limit])


def partnered_koc_ids(brands: list[int]):
    """KOCs who accepted a partnership (品牌合作) with one of `brands`, as a subquery."""
    return BrandInvitation.objects.filter(brand_id__in=brands, status=BrandInvitation.Status.ACCEPTED).values(
        "koc_id"
    )
