"""Group-buy writes: keyword-only, typed, each in its own transaction (see the modules' notes)."""

from .groups import group_join, group_open, seat_release
from .lifecycle import group_expire, groups_expire, member_paid, member_refunded
from .notifications import (
    NotificationRetry,
    notification_send,
    queue_group_notifications,
    subscription_quotas,
    subscriptions_record,
)

__all__ = [
    "NotificationRetry",
    "group_expire",
    "group_join",
    "group_open",
    "groups_expire",
    "member_paid",
    "member_refunded",
    "notification_send",
    "queue_group_notifications",
    "seat_release",
    "subscription_quotas",
    "subscriptions_record",
]
