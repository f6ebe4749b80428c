"""The team tree page (团队树) of the KOC admin: lazy, one level at a time, and searchable.

- `tree/` shows the top-level nodes; `tree/?root=<id>` one node's subtree (its path above it); each
  row with members opens its children in place. `tree/?q=` finds nodes by name, phone or invite code
  (the KOC list's own search) and shows the path from the top to each match.
- `tree/children/?parent=<id>&offset=<n>` answers one page of a node's children as table rows (an
  HTML fragment the page inserts); no parent: the top-level nodes. Same checks as the page.

Nothing is capped: a level with more than a page of children ends in a "more" row. The platform's
structure is not a brand's business: brand operators are refused, as everyone without view permission.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from apps.core.money_admin import yuan_text
from apps.shop.brand_scope import brand_scope

from ..models import Koc
from . import tree_queries


def _int(value: str | None, default: int | None = None) -> int | None:
    return int(value) if value and value.isdigit() else default


class TeamTreeViewMixin:
    def get_urls(self):
        return [
            path("tree/", self.admin_site.admin_view(self.tree_view), name="kocs_koc_tree"),
            path(
                "tree/children/",
                self.admin_site.admin_view(self.tree_children_view),
                name="kocs_koc_tree_children",
            ),
            *super().get_urls(),
        ]

    def _check_tree_access(self, request) -> None:
        if brand_scope(request.user) is not None or not self.has_view_permission(request):
            raise PermissionDenied  # the platform's structure is not a brand's business

    def _rows(self, nodes: list[Koc], *, base: int) -> list[dict]:
        return [
            {
                "koc": n,
                "indent": (n.depth - base) * 1.5,
                "has_children": n.has_members,
                "own_sales": yuan_text(n.own_fen),
                "team_sales": yuan_text(n.team_fen),
            }
            for n in nodes
        ]

    def _children_context(self, parent: Koc | None, *, offset: int, base: int) -> dict:
        nodes, more = tree_queries.children_page(parent=parent, offset=offset)
        depth = (parent.depth + 1) if parent else 0
        return {
            "rows": self._rows(nodes, base=base),
            "more": more,
            "more_offset": offset + len(nodes),
            "more_parent": parent.pk if parent else "",
            "more_indent": (depth - base) * 1.5,
            "more_depth": depth,
            "base": base,
        }

    def tree_children_view(self, request):
        """One page of a node's children, as <tr> rows for the tree page to insert."""
        self._check_tree_access(request)
        parent_id = request.GET.get("parent", "")
        parent = None
        if parent_id:
            parent = Koc.objects.filter(pk=_int(parent_id, 0)).first()
            if parent is None:
                raise Http404
        context = self._children_context(
            parent, offset=_int(request.GET.get("offset"), 0), base=_int(request.GET.get("base"), 0)
        )
        return TemplateResponse(request, "admin/kocs/koc/tree_rows.html", context)

    def tree_view(self, request):
        self._check_tree_access(request)
        query = request.GET.get("q", "").strip()
        root = None
        if request.GET.get("root"):
            root = Koc.objects.select_related("user").filter(pk=_int(request.GET["root"], 0)).first()
            if root is None:
                raise Http404
        context = {
            **self.admin_site.each_context(request),
            "title": _("Team tree"),
            "opts": self.model._meta,
            "query": query,
            "root": root,
            "children_url": reverse("admin:kocs_koc_tree_children"),
            "renumbering_pending": tree_queries.renumbering_pending(),
        }
        if query:
            context.update(self._search_context(request, query))
        elif root is not None:
            context["path"] = tree_queries.ancestors(root)
            context["root_rows"] = [
                {**self._rows([tree_queries.with_sales(root)], base=root.depth)[0], "open": True}
            ]
            context.update(self._children_context(root, offset=0, base=root.depth))
        else:
            context.update(self._children_context(None, offset=0, base=0))
        return TemplateResponse(request, "admin/kocs/koc/tree.html", context)

    def _search_context(self, request, query: str) -> dict:
        queryset = Koc.objects.filter(status__in=tree_queries.IN_TEAMS).select_related("user", "level")
        queryset, duplicates = self.get_search_results(request, queryset, query)
        if duplicates:
            queryset = queryset.distinct()
        matches = list(queryset.order_by("pk")[: tree_queries.SEARCH_LIMIT + 1])
        more = len(matches) > tree_queries.SEARCH_LIMIT
        matches = matches[: tree_queries.SEARCH_LIMIT]
        paths = tree_queries.paths_of(matches)
        return {
            "matches": [{"koc": m, "path": paths[m.pk]} for m in matches],
            "matches_more": more,
            "search_limit": tree_queries.SEARCH_LIMIT,
        }
