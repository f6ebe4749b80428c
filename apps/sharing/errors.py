"""Error codes of the sharing app (clients switch on `code`)."""

from apps.core.errors import NotFound


class ShareLinkNotFound(NotFound):
    default_message = "分享链接不存在"


class TargetNotFound(NotFound):
    default_message = "分享的内容不存在或已下架"
