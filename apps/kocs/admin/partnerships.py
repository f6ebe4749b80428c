"""Brand partnerships (品牌合作): invitations from a brand to KOCs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.errors import ApplicationError
from apps.core.money_admin import yuan_text
from apps.shop.brand_scope import BrandScopedAdminMixin, brand_scope
from apps.shop.models import Brand

from .. import selectors, services
from ..models import (
    BrandInvitation,
)
from .common import error_text
from .forms import InviteForm


@admin.register(BrandInvitation)
class BrandInvitationAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "brand", "koc", "status", "affinity_score", "message", "created_at", "responded_at"]
    list_filter = ["status", "brand"]
    list_select_related = ["brand", "koc__user"]
    search_fields = ["koc__invite_code", "koc__user__nickname", "koc__legal_name", "brand__name"]
    readonly_fields = [
        "brand",
        "koc",
        "status",
        "message",
        "affinity_score",
        "invited_by",
        "created_at",
        "responded_at",
    ]
    change_list_template = "admin/kocs/brandinvitation/change_list.html"

    def has_add_permission(self, request):
        return False  # invitations are made from the affinity ranking

    def get_urls(self):
        return [
            path("affinity/", self.admin_site.admin_view(self.affinity_view), name="kocs_brand_affinity"),
            *super().get_urls(),
        ]

    def affinity_view(self, request):
        """KOCs ranked by affinity to a brand, with the parts of the score; invite the chosen ones."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and not request.user.has_perm("kocs.add_brandinvitation"):
            raise PermissionDenied
        scope = brand_scope(request.user)
        brands = Brand.objects.order_by("name")
        if scope is not None:  # a brand operator ranks and invites for its own brand only
            brands = brands.filter(pk__in=scope)
        brand_id = request.POST.get("brand") or request.GET.get("brand") or ""
        brand = brands.filter(pk=int(brand_id)).first() if str(brand_id).isdigit() else None
        if brand is None and scope is not None:
            brand = brands.first()
        form = InviteForm(request.POST or None, initial={"brand": brand})
        form.fields["brand"].queryset = brands
        if request.method == "POST" and form.is_valid():
            brand = form.cleaned_data["brand"]
            ranked = {k.pk: k for k in selectors.brand_affinity(brand_id=brand.pk, limit=500)}
            invited, failed = 0, []
            for koc_id in request.POST.getlist("koc"):
                koc = ranked.get(int(koc_id)) if koc_id.isdigit() else None
                if koc is None:
                    continue
                try:
                    services.brand_invitation_create(
                        brand=brand,
                        koc=koc,
                        message=form.cleaned_data["message"],
                        by=request.user,
                        affinity_score=koc.affinity_score,
                    )
                    invited += 1
                except ApplicationError as exc:
                    failed.append(f"{koc.display_name}: {error_text(exc)}")
            if invited:
                self.message_user(
                    request,
                    ngettext("Invited %(count)d KOC", "Invited %(count)d KOCs", invited) % {"count": invited},
                    messages.SUCCESS,
                )
            for line in failed:
                self.message_user(request, line, messages.ERROR)
            return HttpResponseRedirect(f"{reverse('admin:kocs_brand_affinity')}?brand={brand.pk}")
        rows = selectors.brand_affinity(brand_id=brand.pk) if brand else []
        for koc in rows:
            koc.bought_yuan = yuan_text(koc.bought_fen)
            koc.sold_yuan = yuan_text(koc.sold_fen)
        return TemplateResponse(
            request,
            "admin/kocs/brandinvitation/affinity.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Find KOCs by affinity to a brand"),
                "opts": self.model._meta,
                "form": form,
                "brand": brand,
                "brands": brands,
                "rows": rows,
                "explanation": _(
                    "%(bought)s points per ¥10 of the brand bought; %(category)s per favourite category "
                    "matching the brand's; %(sold)s per ¥10 of the brand sold"
                )
                % {
                    "bought": selectors.AFFINITY_POINTS_PER_10_YUAN_BOUGHT,
                    "category": selectors.AFFINITY_POINTS_PER_FAVOURITE_CATEGORY,
                    "sold": selectors.AFFINITY_POINTS_PER_10_YUAN_SOLD,
                },
            },
        )
