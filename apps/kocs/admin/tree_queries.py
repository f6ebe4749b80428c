"""Reads behind the team tree page (团队树): one level of children at a time, search with paths.

Every read is bounded by a page size, so the page costs the same with 100 or 100,000 KOCs.

The structure shown (who is under whom, the path to a node, whether a node has members) follows the
parent pointers, the tree's truth, so it is exact the moment a node is placed or moved. The team
figures (team size, team sales) are read from the nested set, one correlated subquery per row over
its lft range: for a large tree that numbering trails a move until the refresher has run
(services/tree.py), which `renumbering_pending` lets the page say.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Exists, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ..models import Koc, KocSale, KocTreeChange
from ..selectors import MAX_WALK, current_ancestor_ids

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
        has_members=Exists(Koc.objects.filter(parent=OuterRef("pk"))),
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


def renumbering_pending() -> bool:
    """Whether some placement or move still awaits the nested set's renumbering."""
    return KocTreeChange.objects.exists()


def _by_ids(ids) -> dict[int, Koc]:
    return {k.pk: k for k in Koc.objects.filter(pk__in=set(ids)).select_related("user")}


def ancestors(koc: Koc) -> list[Koc]:
    """From the top down to `koc`'s parent, through the parent pointers: two queries."""
    ids = current_ancestor_ids(koc_id=koc.pk)
    found = _by_ids(ids)
    return [found[i] for i in reversed(ids)]


def paths_of(matches: list[Koc]) -> dict[int, list[Koc]]:
    """Each match's ancestors, top first, through the parent pointers: two queries for all of them."""
    if not matches:
        return {}
    marks = ", ".join(["%s"] * len(matches))
    sql = f"""
        WITH RECURSIVE up(match_id, id, parent_id, steps) AS (
            SELECT id, id, parent_id, 0 FROM kocs_koc WHERE id IN ({marks})
            UNION ALL
            SELECT up.match_id, k.id, k.parent_id, up.steps + 1
            FROM kocs_koc k JOIN up ON k.id = up.parent_id
            WHERE up.steps < %s
        )
        SELECT match_id, id FROM up WHERE steps > 0 ORDER BY match_id, steps DESC
    """  # noqa: S608 - only placeholders are formatted in
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(m.pk for m in matches), MAX_WALK])
        rows = cursor.fetchall()
    found = _by_ids(i for _, i in rows)
    paths: dict[int, list[Koc]] = {m.pk: [] for m in matches}
    for match_id, koc_id in rows:
        paths[match_id].append(found[koc_id])
    return paths
