"""The KOC admin: review, the list and its export, the change page with histories."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import mask_phone
from apps.core.exports import ExportMixin
from apps.core.money_admin import yuan_text
from apps.shop.brand_scope import BrandScopedAdminMixin, brand_scope

from .. import services
from ..models import (
    BrandInvitation,
    Koc,
    KocParentHistory,
    KocProductPick,
    LevelHistory,
)
from ..selectors import partnered_koc_ids
from .actions import KocActionsMixin
from .autocomplete import KocAutocompleteJsonView, KocAutocompleteSelect
from .common import BranchFilter, ReadOnlyInline
from .forms import PERSONAL_FIELDS, KocAddForm, KocChangeForm, KocChoiceField
from .tree import TeamTreeViewMixin

# Searching by these would let a brand operator probe personal data it is never shown.
BRAND_HIDDEN_SEARCH = PERSONAL_FIELDS | {"user__phone", "user__openid"}


class ParentHistoryInline(ReadOnlyInline):
    model = KocParentHistory
    fk_name = "koc"
    fields = ["parent", "valid_from", "valid_to", "reason", "changed_by"]
    readonly_fields = fields
    verbose_name_plural = _("Parent history (who was whose parent when)")


class LevelHistoryInline(ReadOnlyInline):
    model = LevelHistory
    fields = ["at", "from_level", "to_level", "automatic", "reason", "held_until", "changed_by", "figures"]
    readonly_fields = fields

    @admin.display(description=_("figures at the time"))
    def figures(self, entry: LevelHistory) -> str:
        """The figures the conditions were checked against, in words and yuan (not a JSON dump)."""
        stats = entry.stats or {}
        if not stats:
            return "—"
        return _("own sales %(own)s · team sales %(team)s · direct KOCs with a sale %(active)s") % {
            "own": yuan_text(stats.get("own_sales_fen")),
            "team": yuan_text(stats.get("team_sales_fen")),
            "active": stats.get("active_direct_kocs", "—"),
        }


class PickInline(ReadOnlyInline):
    model = KocProductPick
    fields = ["position", "product", "created_at"]
    readonly_fields = fields


class InvitationInline(ReadOnlyInline):
    model = BrandInvitation
    fields = ["brand", "status", "message", "affinity_score", "created_at", "responded_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        brands = brand_scope(request.user)
        queryset = super().get_queryset(request)
        return queryset if brands is None else queryset.filter(brand_id__in=brands)


@admin.register(Koc)
class KocAdmin(KocActionsMixin, TeamTreeViewMixin, BrandScopedAdminMixin, ExportMixin, admin.ModelAdmin):
    brand_fields = ()
    export_filename = "kocs"
    export_columns = [
        ("ID", "id"),
        (_("Name"), "display_name"),
        (_("Role"), "get_role_display"),
        (_("Status"), "get_status_display"),
        (_("Level"), "level__name"),
        (_("Parent"), lambda k: k.parent.display_name if k.parent_id else ""),
        (_("Parent ID"), "parent_id"),
        (_("Invite code"), "invite_code"),
        (_("Phone (masked)"), lambda k: mask_phone(k.user.phone) if k.user_id else ""),
        (_("Real name (masked)"), "real_name_masked"),
        (_("ID number (masked)"), "id_number_masked"),
        (_("Company name"), "legal_name"),
        (_("Applied at"), "applied_at"),
        (_("Approved at"), "approved_at"),
    ]
    list_display = [
        "id",
        "tree_name",
        "role",
        "status",
        "level",
        "parent",
        "team_size_display",
        "invite_code",
        "phone_masked",
        "real_name_masked",
        "id_number_masked",
        "applied_at",
    ]
    list_display_links = ["id", "tree_name"]
    list_filter = ["status", "role", "level", BranchFilter]
    list_select_related = ["user", "level", "parent__user"]
    # Also what every autocomplete to a KOC searches (other apps' admins, the move and add forms).
    search_fields = [
        "invite_code",
        "user__nickname",
        "user__phone",
        "legal_name",
        "=real_name",
        "=user__openid",
    ]
    ordering = ["tree_id", "lft"]
    actions = ["approve", "reject", "set_level", "move", "suspend", "reinstate"]
    inlines = [ParentHistoryInline, LevelHistoryInline, PickInline, InvitationInline]
    change_list_template = "admin/kocs/koc/change_list.html"
    readonly_fields = [
        "user",
        "role",
        "status",
        "parent",
        "sponsor",
        "level",
        "level_held_until",
        "level_below_since",
        "invite_code",
        "real_name_masked",
        "id_number_masked",
        "rejection_reason",
        "applied_at",
        "reviewed_at",
        "reviewed_by",
        "approved_at",
        "team_size_display",
    ]
    fieldsets = [
        (None, {"fields": ["user", "role", "status", "parent", "sponsor", "invite_code"]}),
        (_("Level"), {"fields": ["level", "level_held_until", "level_below_since"]}),
        (
            _("Individual (for tax withholding; masked in lists)"),
            {"fields": ["real_name_masked", "real_name", "id_number_masked", "new_id_number"]},
        ),
        (_("Organisation (a company, settled B2B)"), {"fields": ["legal_name", "registration_number"]}),
        (_("Profile"), {"fields": ["bio", "favorite_categories"]}),
        (
            _("Review"),
            {"fields": ["rejection_reason", "applied_at", "reviewed_at", "reviewed_by", "approved_at"]},
        ),
        (_("Team"), {"fields": ["team_size_display"]}),
    ]
    filter_horizontal = ["favorite_categories"]

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a node would restructure the tree outside the lock

    def scope_queryset(self, queryset, brands):
        return queryset.filter(pk__in=partnered_koc_ids(brands))

    def get_list_filter(self, request):
        if brand_scope(request.user) is not None:  # the branch names are the platform's, not the brand's
            return [f for f in self.list_filter if f is not BranchFilter]
        return self.list_filter

    def get_search_fields(self, request):
        if brand_scope(request.user) is not None:
            return [f for f in self.search_fields if f.lstrip("=") not in BRAND_HIDDEN_SEARCH]
        return self.search_fields

    def get_search_results(self, request, queryset, search_term):
        """The scope again, whoever calls: a brand operator's autocomplete finds partnered KOCs only."""
        brands = brand_scope(request.user)
        if brands is not None:
            queryset = self.scope_queryset(queryset, brands)
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        autocomplete = KocAutocompleteJsonView.as_view(admin_site=self.admin_site)
        return [
            path(
                "autocomplete/",
                self.admin_site.admin_view(autocomplete),
                name="kocs_koc_autocomplete",
            ),
            *super().get_urls(),
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("parent", "user"):
            kwargs["widget"] = KocAutocompleteSelect(
                db_field, self.admin_site, attrs={"style": "width: 36em"}
            )
            if db_field.name == "parent":
                kwargs["form_class"] = KocChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = KocAddForm
            kwargs["fields"] = KocAddForm.Meta.fields
        else:
            kwargs["form"] = KocChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": KocAddForm.Meta.fields})]
        fieldsets = super().get_fieldsets(request, obj)
        if brand_scope(request.user) is not None:
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f not in PERSONAL_FIELDS]})
                for name, opts in fieldsets
            ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if not change:
            data = form.cleaned_data
            created = services.koc_create(
                role=data["role"],
                parent=data.get("parent"),
                user=data.get("user"),
                legal_name=data.get("legal_name", ""),
                registration_number=data.get("registration_number", ""),
                real_name=data.get("real_name", ""),
                id_number=data.get("id_number", ""),
                bio=data.get("bio", ""),
                invite_code=data.get("invite_code") or "",
                by=request.user,
                reason="后台创建 created in the admin",
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()
            return
        # Only what the form changed, never the tree fields of a possibly stale instance.
        editable = {"real_name", "legal_name", "registration_number", "bio"}
        fields = [f for f in form.changed_data if f in editable]
        if fields:
            obj.save(update_fields=fields)
        if form.cleaned_data.get("new_id_number"):
            services.koc_identity_set(
                koc=obj,
                real_name=obj.real_name,
                id_number=form.cleaned_data["new_id_number"],
                by=request.user,
            )
            obj.refresh_from_db()

    @admin.display(description=_("Name (indented by depth)"))
    def tree_name(self, koc: Koc) -> str:
        return format_html('<span style="padding-left:{}em">{}</span>', koc.depth * 1.5, koc.display_name)

    @admin.display(description=_("Team size"))
    def team_size_display(self, koc: Koc) -> int:
        return koc.team_size

    @admin.display(description=_("Real name (masked)"))
    def real_name_masked(self, koc: Koc) -> str:
        return koc.real_name_masked

    @admin.display(description=_("ID number (masked)"))
    def id_number_masked(self, koc: Koc) -> str:
        return koc.id_number_masked

    @admin.display(description=_("Phone (masked)"))
    def phone_masked(self, koc: Koc) -> str:
        return mask_phone(koc.user.phone) if koc.user_id and koc.user.phone else "—"

    # --- actions ----------------------------------------------------------------------------------
