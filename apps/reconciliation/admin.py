from django.contrib import admin, messages

from apps.core.money import yuan

from . import services
from .models import Difference, ReconciliationRun


class DifferenceInline(admin.TabularInline):
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
class ReconciliationRunAdmin(admin.ModelAdmin):
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
class DifferenceAdmin(admin.ModelAdmin):
    """Every difference finance has to look at: missing on either side, amount or state."""

    list_display = [
        "run",
        "kind",
        "reference",
        "problem",
        "wechat_yuan",
        "our_yuan",
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

    @admin.display(description="微信金额(元)")
    def wechat_yuan(self, d: Difference) -> str:
        return "" if d.wechat_amount_fen is None else yuan(d.wechat_amount_fen)

    @admin.display(description="本系统金额(元)")
    def our_yuan(self, d: Difference) -> str:
        return "" if d.our_amount_fen is None else yuan(d.our_amount_fen)

    @admin.action(description="标记为已处理")
    def resolve(self, request, queryset):
        for difference in queryset:
            services.difference_resolve(difference=difference, note=f"已处理 ({request.user})")
        self.message_user(request, f"{queryset.count()} 条差异已标记处理", messages.SUCCESS)
