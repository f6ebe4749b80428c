"""Brand scoping: a brand operator (品牌运营) sees and changes only its brand's data.

`brand_scope(user)` answers which brands a user is limited to: None for everyone unrestricted
(superusers, platform admins, finance: their groups' permissions decide what they see), else a
list of brand ids. It fails closed: a member of the 品牌运营 group with no brand link gets an empty
list, so sees nothing, rather than everything.

`BrandScopedAdminMixin` applies the scope to a ModelAdmin: its queryset (so changelists, change and
history pages, actions and exports, which all start from `get_queryset`), and the choices of its
brand-bearing foreign keys (an operator cannot file a product under another brand).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet

from apps.accounts.roles import BRAND_OPERATOR, PLATFORM_ADMIN

from .models import Brand, BrandOperator, OrderItem

_CACHE = "_brand_scope"


def brand_scope(user) -> list[int] | None:
    """The brand ids `user` is limited to, or None when unrestricted. Cached on the user object."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        return None
    if hasattr(user, _CACHE):
        return getattr(user, _CACHE)
    group_names = set(user.groups.values_list("name", flat=True))
    brands = list(BrandOperator.objects.filter(user=user).values_list("brand_id", flat=True))
    if PLATFORM_ADMIN in group_names:
        scope = None
    elif brands or BRAND_OPERATOR in group_names:
        scope = brands
    else:
        scope = None
    setattr(user, _CACHE, scope)
    return scope


def order_ids_of(brands: list[int]):
    """The orders holding at least one item of `brands`, as a subquery (no DISTINCT on the orders)."""
    return OrderItem.objects.filter(brand_id__in=brands).values("order_id")


class BrandScopedAdminMixin(admin.ModelAdmin):
    """Limit an admin to the user's brands.

    `brand_path` is the lookup from the model to a brand id ("brand", "product__brand"); admins
    whose link is not a plain path (an order's brands are its items') override `scope_queryset`.
    `brand_fields` are the foreign keys to Brand whose choices are limited to the user's brands.
    """

    brand_path: str = "brand"
    brand_fields: tuple[str, ...] = ("brand",)

    def scope_queryset(self, queryset: QuerySet, brands: list[int]) -> QuerySet:
        return queryset.filter(**{f"{self.brand_path}__in": brands})

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        return queryset if brands is None else self.scope_queryset(queryset, brands)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        brands = brand_scope(request.user)
        if brands is not None and db_field.name in self.brand_fields:
            kwargs["queryset"] = Brand.objects.filter(pk__in=brands)
            if len(brands) == 1:
                kwargs["initial"] = brands[0]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class BrandScopedInlineMixin:
    """The same scope for an inline whose rows may belong to other brands (a mixed order's items)."""

    brand_path: str = "brand_id"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        brands = brand_scope(request.user)
        return queryset if brands is None else queryset.filter(**{f"{self.brand_path}__in": brands})
