"""Celery tasks of group buys: each takes ids, calls a service, and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="groupbuys.expire_group", acks_late=True)
def expire_group(group_id: int) -> bool:
    """Scheduled at opening for the group's deadline; checks the deadline and status itself, so an
    early, late or repeated run (Redis redelivers long ETAs) changes nothing wrongly."""
    return services.group_expire(group_id=group_id)


@shared_task(name="groupbuys.expire_groups")
def expire_groups() -> int:
    """Beat's sweeper: every forming group past its deadline (catches lost per-group tasks)."""
    return services.groups_expire()


@shared_task(name="groupbuys.send_pending_notifications")
def send_pending_notifications() -> int:
    """Beat's sweep of notifications whose send task never reached the broker."""
    from .services.notifications import notifications_send_pending

    return notifications_send_pending()


@shared_task(name="groupbuys.send_group_notification", bind=True, max_retries=5, acks_late=True)
def send_group_notification(self, notification_id: int) -> str:
    try:
        return services.notification_send(notification_id=notification_id)
    except services.NotificationRetry as exc:
        if self.request.is_eager:
            logger.warning("subscribe message %s not sent: WeChat busy", notification_id)
            return "pending"
        raise self.retry(exc=exc, countdown=min(600, 30 * 2**self.request.retries)) from exc
