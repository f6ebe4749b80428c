"""The group-buy error codes (docs/api.md names the ones the mini-program switches on)."""

from apps.core.errors import ApplicationError


class GroupFull(ApplicationError):
    code = "group_full"
    default_message = "该团已满员"


class GroupClosed(ApplicationError):
    code = "group_closed"
    default_message = "该团已结束"


class AlreadyJoined(ApplicationError):
    code = "already_joined"
    default_message = "您已在该团中"


class LimitExceeded(ApplicationError):
    code = "limit_exceeded"
    default_message = "超出该活动的每人限购数量"


class CampaignClosed(ApplicationError):
    """Opening a group outside the campaign's window, or on a switched-off campaign."""

    code = "campaign_closed"
    default_message = "拼团活动未开始或已结束"
