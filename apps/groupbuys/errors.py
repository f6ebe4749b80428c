"""The group-buy error codes (docs/api.md names the ones the mini-program switches on)."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError


class GroupFull(ApplicationError):
    code = "group_full"
    default_message = _("The group is full.")


class GroupClosed(ApplicationError):
    code = "group_closed"
    default_message = _("The group has ended.")


class AlreadyJoined(ApplicationError):
    code = "already_joined"
    default_message = _("You are already in this group.")


class LimitExceeded(ApplicationError):
    code = "limit_exceeded"
    default_message = _("This exceeds the campaign's limit per person.")


class CampaignClosed(ApplicationError):
    """Opening a group outside the campaign's window, or on a switched-off campaign."""

    code = "campaign_closed"
    default_message = _("The group-buy campaign has not started or has ended.")
