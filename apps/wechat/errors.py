"""WeChat's error codes, mapped to the project's API errors (never a 500)."""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from apps.core.errors import ApplicationError


class WeChatError(ApplicationError):
    status_code = 502
    code = "wechat_error"
    default_message = "微信接口调用失败"

    def __init__(self, message=None, *, errcode=None, **kwargs):
        self.errcode = errcode
        super().__init__(message, **kwargs)


class WeChatCodeInvalid(WeChatError):
    status_code = 400
    code = "wechat_code_invalid"
    default_message = "微信登录凭证无效或已使用，请重新登录"


class WeChatRateLimited(WeChatError):
    status_code = 429
    code = "wechat_rate_limited"
    default_message = "微信接口调用过于频繁，请稍后再试"


class WeChatBusy(WeChatError):
    status_code = 503
    code = "wechat_busy"
    default_message = "微信服务繁忙，请稍后再试"


class WeChatQuotaExhausted(WeChatError):
    """43101: the user has no subscribe-message quota left (or refused)."""

    status_code = 409
    code = "wechat_subscribe_refused"
    default_message = "用户未授权订阅消息"


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
    return WeChatError(f"微信接口错误 {errcode}: {message or ''}".strip(), errcode=errcode)
