from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import events
from .models import EventDelivery, OutboxEvent


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows rows written elsewhere (histories, lines, payments): nothing to add, change
    or delete from the page that holds it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["handler", "delivered_at"]


class DeadLetterFilter(admin.SimpleListFilter):
    """The dead letters: events a subscriber failed MAX_ATTEMPTS times; read the error, fix, redeliver."""

    title = _("dead letters")
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", _("Dead (no more retries)")), ("retrying", _("Retrying"))]

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

    @admin.action(description=_("Deliver again (dead letters)"))
    def redeliver(self, request, queryset):
        count = events.redeliver_dead(event_ids=queryset.values_list("pk", flat=True))
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(
            request,
            ngettext("Delivering %(count)d dead event again", "Delivering %(count)d dead events again", count)
            % {"count": count},
            level,
        )

    def has_add_permission(self, request):
        return False
