"""The team tree page (团队树) of the KOC admin."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.template.response import TemplateResponse
from django.urls import path

from apps.core.money import yuan
from apps.shop.brand_scope import brand_scope

from ..models import (
    Koc,
    KocSale,
)

TREE_VIEW_LIMIT = 2_000


class TeamTreeViewMixin:
    def get_urls(self):
        return [
            path("tree/", self.admin_site.admin_view(self.tree_view), name="kocs_koc_tree"),
            *super().get_urls(),
        ]

    def tree_view(self, request):
        """The team tree, indented, with team sizes and team sales: two queries for the whole view."""
        if brand_scope(request.user) is not None or not self.has_view_permission(request):
            raise PermissionDenied  # the platform's structure is not a brand's business
        nodes = Koc.objects.select_related("user", "level").order_by("tree_id", "lft")
        root_id = request.GET.get("root", "")
        root = Koc.objects.filter(pk=int(root_id)).first() if root_id.isdigit() else None
        if root is not None:
            nodes = nodes.filter(tree_id=root.tree_id, lft__gte=root.lft, lft__lte=root.rght)
        else:
            nodes = nodes.exclude(status__in=[Koc.Status.PENDING, Koc.Status.REJECTED])
        nodes = list(nodes[:TREE_VIEW_LIMIT])
        own = dict(
            KocSale.objects.filter(koc__in=[n.pk for n in nodes])
            .values_list("koc")
            .annotate(total=Sum("amount_fen"))
            .values_list("koc", "total")
        )
        # Team sales bottom-up over the nested set: a node's total is its own plus its children's.
        team = {n.pk: own.get(n.pk, 0) for n in nodes}
        for node in sorted(nodes, key=lambda n: n.depth, reverse=True):
            if node.parent_id in team:
                team[node.parent_id] += team[node.pk]
        rows = [
            {
                "koc": n,
                "indent": n.depth * 1.5,
                "team_size": n.team_size,
                "own_sales": yuan(own.get(n.pk, 0)),
                "team_sales": yuan(team[n.pk]),
            }
            for n in nodes
        ]
        return TemplateResponse(
            request,
            "admin/kocs/koc/tree.html",
            {
                **self.admin_site.each_context(request),
                "title": "团队树 Team tree",
                "opts": self.model._meta,
                "rows": rows,
                "root": root,
                "truncated": len(nodes) >= TREE_VIEW_LIMIT,
                "limit": TREE_VIEW_LIMIT,
            },
        )
