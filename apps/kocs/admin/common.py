"""Pieces the KOC app's admin pages share: the branch filter and read-only inlines."""

from __future__ import annotations

from django.contrib import admin

from ..models import (
    Koc,
)


class BranchFilter(admin.SimpleListFilter):
    """Everything under one branch (分公司): a range of its nested set."""

    title = "分公司"
    parameter_name = "branch"

    def lookups(self, request, model_admin):
        branches = Koc.objects.filter(role=Koc.Role.BRANCH).order_by("tree_id")
        return [(str(b.pk), b.legal_name) for b in branches]

    def queryset(self, request, queryset):
        if not self.value() or not self.value().isdigit():
            return queryset
        branch = Koc.objects.filter(pk=int(self.value()), role=Koc.Role.BRANCH).first()
        if branch is None:
            return queryset.none()
        return queryset.filter(tree_id=branch.tree_id, lft__gte=branch.lft, lft__lte=branch.rght)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
