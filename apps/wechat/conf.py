"""Where the project's WeChat clients send their requests: WeChat itself, or the local sandbox."""

from django.conf import settings

WECHAT_HOST = "https://api.weixin.qq.com"
WECHATPAY_HOST = "https://api.mch.weixin.qq.com"


def sandbox_base_url() -> str:
    return getattr(settings, "WECHAT_SANDBOX_BASE_URL", "") or f"{settings.PUBLIC_BASE_URL}/wechat-sandbox"


def wechat_api_base() -> str:
    return sandbox_base_url() if settings.WECHAT_SANDBOX else settings.WECHAT_API_BASE_URL.rstrip("/")


def wechatpay_api_base() -> str:
    return sandbox_base_url() if settings.WECHAT_SANDBOX else settings.WECHATPAY_API_BASE_URL.rstrip("/")
