"""Admin: share links with their statistics, bindings with their history, the binding policy (which
also decides attribution: protection, and whether an explicit share code beats an unprotected binding)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin_names import ReadOnlyPageMixin
from apps.core.money_admin import YuanAdminMixin, yuan_text

from . import selectors, services
from .models import BindingChange, BindingPolicy, CustomerBinding, ShareLink


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyMixin, YuanAdminMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "sharer",
        "target",
        "target_id",
        "title",
        "visits",
        "orders",
        "gmv_yuan",
        "created_at",
    ]
    list_filter = ["target", "created_at"]
    search_fields = ["=code", "sharer__nickname", "sharer__username", "title"]
    list_select_related = ["sharer"]
    ordering = ["-id"]
    readonly_fields = [
        "code",
        "scene",
        "sharer",
        "target",
        "target_id",
        "title",
        "page",
        "path",
        "visits",
        "orders",
        "gmv_yuan",
        "qr_preview",
        "poster_preview",
        "url_link",
        "url_link_expires_at",
        "created_at",
    ]
    fields = readonly_fields

    @admin.display(description=_("sales"), ordering="gmv_fen")
    def gmv_yuan(self, link: ShareLink) -> str:
        return yuan_text(link.gmv_fen)

    @admin.display(description=_("mini-program path"))
    def path(self, link: ShareLink) -> str:
        return selectors.share_path(link)

    @admin.display(description=_("mini-program code"))
    def qr_preview(self, link: ShareLink) -> str:
        if not link.qr:
            return _("Not made yet (made at the first request)")
        return format_html('<img src="{}" width="160" height="160" alt="">', link.qr.url)

    @admin.display(description=_("poster"))
    def poster_preview(self, link: ShareLink) -> str:
        if not link.poster:
            return _("Not made yet")
        return format_html('<img src="{}" width="225" alt="">', link.poster.url)


class BindingChangeInline(admin.TabularInline):
    model = BindingChange
    fk_name = "binding"
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]
    fields = ["at", "reason", "from_koc", "to_koc", "link", "via", "expires_at", "protected_until", "note"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CustomerBinding)
class CustomerBindingAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = ["customer", "koc", "link", "bound_at", "expires_at", "protected_until", "is_current"]
    list_select_related = ["customer", "koc__user", "link"]
    search_fields = ["customer__nickname", "customer__username", "koc__invite_code", "koc__user__nickname"]
    list_filter = [("expires_at", admin.DateFieldListFilter)]
    readonly_fields = [
        "customer",
        "koc",
        "link",
        "bound_at",
        "touched_at",
        "expires_at",
        "protected_until",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [BindingChangeInline]
    actions = ["release"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("in force"), boolean=True)
    def is_current(self, binding: CustomerBinding) -> bool:
        return binding.expires_at > timezone.now() and binding.koc.is_approved

    @admin.action(description=_("Release the selected bindings (reason: released by an operator)"))
    def release(self, request, queryset):
        released = 0
        for binding in queryset:
            if binding.expires_at > timezone.now():
                services.binding_release(
                    binding=binding, by=request.user, note=str(_("Released by an operator in the admin"))
                )
                released += 1
        self.message_user(
            request,
            ngettext("Released %(count)d binding", "Released %(count)d bindings", released)
            % {"count": released},
            messages.SUCCESS,
        )


@admin.register(BindingChange)
class BindingChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "customer", "reason", "from_koc", "to_koc", "link", "via", "note"]
    list_filter = ["reason", "via"]
    list_select_related = ["customer", "from_koc__user", "to_koc__user", "link"]
    search_fields = ["customer__nickname", "customer__username", "link__code"]
    date_hierarchy = "at"


@admin.register(BindingPolicy)
class BindingPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "mode",
        "validity_days",
        "protection_days",
        "share_code_wins_unprotected",
        "updated_at",
    ]
    fields = ["mode", "validity_days", "protection_days", "share_code_wins_unprotected", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return not BindingPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        policy = BindingPolicy.load()
        return HttpResponseRedirect(reverse("admin:sharing_bindingpolicy_change", args=[policy.pk]))
