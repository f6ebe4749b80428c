"""Settings read by group buys, with the sandbox's defaults.

- `GROUPBUY_SUCCESS_TEMPLATE_ID`, `GROUPBUY_FAILURE_TEMPLATE_ID`: the subscribe-message templates
  (chosen in the mini-program's admin, 订阅消息) for a group's success and failure.
- `GROUPBUY_GROUP_PAGE`: the mini-program page that shows a group (its id goes in the query).
"""

from django.conf import settings

SUCCEEDED = "group_succeeded"
FAILED = "group_failed"


def success_template_id() -> str:
    return getattr(settings, "GROUPBUY_SUCCESS_TEMPLATE_ID", "") or "sandbox-groupbuy-succeeded"


def failure_template_id() -> str:
    return getattr(settings, "GROUPBUY_FAILURE_TEMPLATE_ID", "") or "sandbox-groupbuy-failed"


def templates() -> dict[str, str]:
    """purpose -> template id, for the mini-program's wx.requestSubscribeMessage."""
    return {SUCCEEDED: success_template_id(), FAILED: failure_template_id()}


def group_page() -> str:
    return getattr(settings, "GROUPBUY_GROUP_PAGE", "") or "pages/group/index"
