from django.contrib import admin, messages
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin_names import ReadOnlyPageMixin
from apps.core.money_admin import YuanAdminMixin

from . import services
from .models import Difference, ReconciliationRun


class DifferenceInline(YuanAdminMixin, admin.TabularInline):
    model = Difference
    extra = 0
    can_delete = False
    fields = [
        "kind",
        "reference",
        "problem",
        "wechat_amount_fen",
        "our_amount_fen",
        "wechat_state",
        "our_state",
        "explanation",
        "resolved_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = [
        "bill_date",
        "status",
        "payments",
        "refunds",
        "transfers",
        "differences_count",
        "finished_at",
    ]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
    inlines = [DifferenceInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Difference)
class DifferenceAdmin(YuanAdminMixin, admin.ModelAdmin):
    """Every difference finance has to look at: missing on either side, amount or state."""

    list_display = [
        "run",
        "kind",
        "reference",
        "problem",
        "wechat_amount_fen",
        "our_amount_fen",
        "wechat_state",
        "our_state",
        "explanation",
        "resolved_at",
    ]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "kind", "problem", "run__bill_date"]
    search_fields = ["reference"]
    readonly_fields = [f.name for f in Difference._meta.fields if f.name != "resolved_note"]
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark as handled"))
    def resolve(self, request, queryset):
        count = 0
        for difference in queryset:
            services.difference_resolve(
                difference=difference, note=gettext_now("Handled (%(user)s)") % {"user": request.user}
            )
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d difference marked handled", "%(count)d differences marked handled", count)
            % {"count": count},
            messages.SUCCESS,
        )
