from django.contrib import admin

from .models import EventDelivery, OutboxEvent


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["handler", "delivered_at"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "key", "created_at", "dispatched_at", "attempts"]
    list_filter = ["type", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    readonly_fields = ["type", "key", "payload", "created_at", "dispatched_at", "attempts", "last_error"]
    inlines = [EventDeliveryInline]

    def has_add_permission(self, request):
        return False
