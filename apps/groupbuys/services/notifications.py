"""Subscribe messages about a group's outcome, within the quota each user granted.

WeChat's one-time subscribe messages: every "accept" in `wx.requestSubscribeMessage` allows one
message of that template. The mini-program reports the answers (`subscriptions_record`), and each
message spends one with a guarded UPDATE (`remaining > 0`) before WeChat is called: no quota, no
call. WeChat's 43101 (no quota on its side, or the user refused) sets ours to 0; any other error
gives the spent one back. A message is claimed (pending -> sending) before it is sent, so a
retried or duplicated task never sends it twice; the price is that a worker dying mid-call loses
that one message rather than sending it twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.core.deferred import send_on_commit
from apps.core.money import yuan
from apps.wechat import subscribe as wechat_subscribe
from apps.wechat.errors import WeChatBusy, WeChatError, WeChatQuotaExhausted, WeChatRateLimited

from .. import conf
from ..models import Group, GroupNotification, SubscriptionQuota

logger = logging.getLogger(__name__)

ACCEPT = "accept"


class NotificationRetry(Exception):
    """WeChat was busy: the message is pending again and its quota given back; try later."""


def _template_for(kind: str) -> str:
    return (
        conf.success_template_id() if kind == GroupNotification.Kind.SUCCEEDED else conf.failure_template_id()
    )


def queue_group_notifications(*, group: Group, kind: str, user_ids: list[int]) -> list[int]:
    """Queue one message per user about `group` (at most one per user and kind, ever); sent by Celery
    after the current transaction commits."""
    template_id = _template_for(kind)
    GroupNotification.objects.bulk_create(
        [
            GroupNotification(group=group, user_id=user_id, kind=kind, template_id=template_id)
            for user_id in sorted(set(user_ids))
        ],
        ignore_conflicts=True,
    )
    ids = list(
        GroupNotification.objects.filter(
            group=group, kind=kind, status=GroupNotification.Status.PENDING
        ).values_list("id", flat=True)
    )

    from ..tasks import send_group_notification

    for notification_id in ids:
        send_on_commit(send_group_notification, notification_id)
    return ids


@transaction.atomic
def notifications_send_pending(*, older_than_seconds: int = 300, limit: int = 500) -> int:
    """The sweep for notifications whose send task was never queued (broker down at commit) or
    lost: each pending one older than a few minutes is sent now, through the same service."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        GroupNotification.objects.filter(status=GroupNotification.Status.PENDING, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for notification_id in ids:
        try:
            notification_send(notification_id=notification_id)
        except NotificationRetry:
            continue  # WeChat busy: still pending, the next sweep tries again
    return len(ids)


def subscriptions_record(*, user: User, results: dict[str, str]) -> dict[str, int]:
    """Record the answers of `wx.requestSubscribeMessage` ({template_id: "accept"|"reject"|...}).

    Each "accept" of one of our templates adds one message to the user's quota; anything else
    (reject, ban, filter, unknown templates, the `errMsg` key) changes nothing. Answers the quotas.
    """
    ours = set(conf.templates().values())
    accepted = sorted(t for t, answer in results.items() if t in ours and answer == ACCEPT)
    if accepted:
        SubscriptionQuota.objects.bulk_create(
            [SubscriptionQuota(user=user, template_id=t) for t in accepted], ignore_conflicts=True
        )
        for template_id in accepted:
            SubscriptionQuota.objects.filter(user=user, template_id=template_id).update(
                remaining=F("remaining") + 1, granted_total=F("granted_total") + 1, updated_at=timezone.now()
            )
    return subscription_quotas(user=user)


def subscription_quotas(*, user: User) -> dict[str, int]:
    """template_id -> messages the user still allows us, for each of our templates."""
    rows = dict(
        SubscriptionQuota.objects.filter(user=user, template_id__in=conf.templates().values()).values_list(
            "template_id", "remaining"
        )
    )
    return {t: rows.get(t, 0) for t in conf.templates().values()}


def _spend_quota(*, user_id: int, template_id: str) -> bool:
    return bool(
        SubscriptionQuota.objects.filter(user_id=user_id, template_id=template_id, remaining__gt=0).update(
            remaining=F("remaining") - 1, updated_at=timezone.now()
        )
    )


def _give_back_quota(*, user_id: int, template_id: str) -> None:
    SubscriptionQuota.objects.filter(user_id=user_id, template_id=template_id).update(
        remaining=F("remaining") + 1, updated_at=timezone.now()
    )


def _clip(text: str, limit: int = 20) -> str:
    """WeChat's `thing` values take at most 20 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_data(notification: GroupNotification) -> dict[str, str]:
    """The template's fields. The keys follow the templates chosen in the mini-program's admin:
    thing1 商品名称, amount2 金额, phrase3 拼团状态, thing4 温馨提示."""
    group = notification.group
    campaign = group.campaign
    if notification.kind == GroupNotification.Kind.SUCCEEDED:
        return {
            "thing1": _clip(campaign.product.title),
            "amount2": f"{yuan(campaign.group_price_fen)}元",
            "phrase3": "拼团成功",
            "thing4": _clip(f"{group.size}人团已成团，我们将尽快发货"),
        }
    return {
        "thing1": _clip(campaign.product.title),
        "amount2": f"{yuan(campaign.group_price_fen)}元",
        "phrase3": "拼团失败",
        "thing4": _clip("未在时限内成团，已付款项将全额原路退回"),
    }


def _finish(notification_id: int, status: str, **fields) -> str:
    GroupNotification.objects.filter(pk=notification_id, status=GroupNotification.Status.SENDING).update(
        status=status, **fields
    )
    return status


def notification_send(*, notification_id: int) -> str:
    """Send one queued message (outside any transaction); answers its final status.

    A message that is not pending (already sent, refused, being sent by another worker) is left
    alone.
    """
    claimed = GroupNotification.objects.filter(
        pk=notification_id, status=GroupNotification.Status.PENDING
    ).update(status=GroupNotification.Status.SENDING, attempts=F("attempts") + 1)
    notification = GroupNotification.objects.select_related("group__campaign__product", "user").get(
        pk=notification_id
    )
    if not claimed:
        return notification.status
    user, template_id = notification.user, notification.template_id
    if not user.openid:
        return _finish(notification_id, GroupNotification.Status.NO_QUOTA, error="no openid")
    if not _spend_quota(user_id=user.pk, template_id=template_id):
        return _finish(notification_id, GroupNotification.Status.NO_QUOTA)
    try:
        wechat_subscribe.send_subscribe_message(
            openid=user.openid,
            template_id=template_id,
            data=message_data(notification),
            page=f"{conf.group_page()}?id={notification.group_id}",
        )
    except WeChatQuotaExhausted as exc:
        SubscriptionQuota.objects.filter(user_id=user.pk, template_id=template_id).update(
            remaining=0, last_errcode=exc.errcode, updated_at=timezone.now()
        )
        return _finish(notification_id, GroupNotification.Status.REFUSED, errcode=exc.errcode)
    except (WeChatBusy, WeChatRateLimited) as exc:
        _give_back_quota(user_id=user.pk, template_id=template_id)
        _finish(
            notification_id, GroupNotification.Status.PENDING, errcode=exc.errcode, error=exc.message[:500]
        )
        raise NotificationRetry(exc.message) from exc
    except WeChatError as exc:
        _give_back_quota(user_id=user.pk, template_id=template_id)
        logger.warning("subscribe message %s failed: %s %s", notification_id, exc.errcode, exc.message)
        return _finish(
            notification_id, GroupNotification.Status.FAILED, errcode=exc.errcode, error=exc.message[:500]
        )
    return _finish(notification_id, GroupNotification.Status.SENT, sent_at=timezone.now(), errcode=None)
