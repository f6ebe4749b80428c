from django.contrib import admin, messages

from . import events
from .models import EventDelivery, OutboxEvent


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["handler", "delivered_at"]


class DeadLetterFilter(admin.SimpleListFilter):
    """The dead letters: events a subscriber failed MAX_ATTEMPTS times; read the error, fix, redeliver."""

    title = "死信"
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", "死信（已停止重试）"), ("retrying", "重试中")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(dead_at__isnull=False, dispatched_at__isnull=True)
        if self.value() == "retrying":
            return queryset.filter(dead_at__isnull=True, dispatched_at__isnull=True, attempts__gt=0)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "type",
        "key",
        "created_at",
        "dispatched_at",
        "attempts",
        "next_attempt_at",
        "dead_at",
    ]
    list_filter = [DeadLetterFilter, "type", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    readonly_fields = [
        "type",
        "key",
        "payload",
        "created_at",
        "dispatched_at",
        "attempts",
        "next_attempt_at",
        "dead_at",
        "last_error",
    ]
    inlines = [EventDeliveryInline]
    actions = ["redeliver"]

    @admin.action(description="重新投递（死信）")
    def redeliver(self, request, queryset):
        count = events.redeliver_dead(event_ids=queryset.values_list("pk", flat=True))
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"重新投递 {count} 个死信事件", level)

    def has_add_permission(self, request):
        return False
