"""WeChat's error codes, mapped to the project's API errors (never a 500)."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wechatpy.exceptions import WeChatClientException

from apps.core.errors import ApplicationError


class WeChatError(ApplicationError):
    status_code = 502
    code = "wechat_error"
    default_message = _("The call to WeChat failed.")

    def __init__(self, message=None, *, errcode=None, **kwargs):
        self.errcode = errcode
        super().__init__(message, **kwargs)


class WeChatCodeInvalid(WeChatError):
    status_code = 400
    code = "wechat_code_invalid"
    default_message = _("The WeChat login code is invalid or already used, please log in again.")


class WeChatRateLimited(WeChatError):
    status_code = 429
    code = "wechat_rate_limited"
    default_message = _("Too many calls to WeChat, please try again later.")


class WeChatBusy(WeChatError):
    status_code = 503
    code = "wechat_busy"
    default_message = _("WeChat's service is busy, please try again later.")


class WeChatQuotaExhausted(WeChatError):
    """43101: the user has no subscribe-message quota left (or refused)."""

    status_code = 409
    code = "wechat_subscribe_refused"
    default_message = _("The user has not allowed subscribe messages.")


INVALID_CODE = {40029, 40163, 40226}  # invalid code, code already used, risky user
RATE_LIMITED = {45011, 45009}  # per-minute quota of the login API; daily API limit
BUSY = {-1}


def translate(exc: WeChatClientException) -> WeChatError:
    errcode = exc.errcode
    try:
        errcode = int(errcode) if errcode is not None else None
    except (TypeError, ValueError):
        errcode = None
    message = f"{exc.errmsg}" if exc.errmsg else None
    if errcode in INVALID_CODE:
        return WeChatCodeInvalid(errcode=errcode)
    if errcode in RATE_LIMITED:
        return WeChatRateLimited(errcode=errcode)
    if errcode == 43101:
        return WeChatQuotaExhausted(errcode=errcode)
    if errcode in BUSY or errcode is None:
        return WeChatBusy(errcode=errcode)
    values = {"errcode": errcode, "message": message or ""}
    text = gettext("WeChat API error %(errcode)s: %(message)s") % values
    return WeChatError(text.strip(), errcode=errcode)
