"""Reads behind the team tree page (团队树): one level of children at a time, search with paths.

Every read is bounded by a page size, so the page costs the same with 100 or 100,000 KOCs. Team
sizes come from the nested set; own and team sales are correlated subqueries over a child's lft range
(the kocs_koc_tree_lft index), one query for a whole page of children.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ..models import Koc, KocSale

PAGE = 100  # children (or roots) per request
SEARCH_LIMIT = 50
IN_TEAMS = [Koc.Status.APPROVED, Koc.Status.SUSPENDED]  # applicants are in nobody's team


def _with_sales(queryset: QuerySet) -> QuerySet:
    own = (
        KocSale.objects.filter(koc=OuterRef("pk"))
        .order_by()
        .values("koc")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    team = (
        KocSale.objects.filter(
            koc__tree_id=OuterRef("tree_id"), koc__lft__gte=OuterRef("lft"), koc__lft__lte=OuterRef("rght")
        )
        .order_by()
        .values("koc__tree_id")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    zero = Value(0, output_field=IntegerField())
    return queryset.select_related("user", "level").annotate(
        own_fen=Coalesce(Subquery(own, output_field=IntegerField()), zero),
        team_fen=Coalesce(Subquery(team, output_field=IntegerField()), zero),
    )


def children_page(*, parent: Koc | None, offset: int = 0, limit: int | None = None) -> tuple[list[Koc], bool]:
    """`parent`'s children (None: the top-level nodes) in tree order, a page; and whether more follow."""
    limit = limit or PAGE
    if parent is None:
        queryset = Koc.objects.filter(parent__isnull=True, status__in=IN_TEAMS).order_by("tree_id")
    else:
        queryset = Koc.objects.filter(parent=parent).order_by("lft")
    rows = list(_with_sales(queryset)[offset : offset + limit + 1])
    return rows[:limit], len(rows) > limit


def with_sales(koc: Koc) -> Koc:
    """One node with its own and team sales (the root row of a subtree page)."""
    return _with_sales(Koc.objects.filter(pk=koc.pk)).get()


def ancestors(koc: Koc) -> list[Koc]:
    return list(
        Koc.objects.filter(tree_id=koc.tree_id, lft__lt=koc.lft, rght__gt=koc.rght)
        .select_related("user")
        .order_by("lft")
    )


def paths_of(matches: list[Koc]) -> dict[int, list[Koc]]:
    """Each match's ancestors, root first: one query for all of them."""
    if not matches:
        return {}
    condition = reduce(or_, (Q(tree_id=m.tree_id, lft__lt=m.lft, rght__gt=m.rght) for m in matches))
    found = list(Koc.objects.filter(condition).select_related("user").order_by("tree_id", "lft"))
    return {
        m.pk: [a for a in found if a.tree_id == m.tree_id and a.lft < m.lft and a.rght > m.rght]
        for m in matches
    }
