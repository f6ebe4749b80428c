"""WeChat's `wxa/generate_urllink`: a https link that opens the mini-program from outside WeChat.

wechatpy 1.8.18 has no method for it, so it is a raw post through the project's client (token,
sandbox and error mapping included), with `env_version` chosen like the QR code's.
"""

from __future__ import annotations

from django.conf import settings
from wechatpy.exceptions import WeChatClientException

from apps.wechat import client as wechat
from apps.wechat import conf
from apps.wechat.errors import translate

# WeChat's longest validity for a URL link (expire_type 1: expire_interval in days, at most 30).
MAX_DAYS = 30


def env_version() -> str:
    return {"formal": "release", "trial": "trial"}.get(settings.WECHAT_MINIPROGRAM_STATE, "develop")


def generate_url_link(*, page: str, query: str, days: int = MAX_DAYS) -> str:
    """A URL link to `page` with `query`, valid `days` days (WeChat errors raise WeChatError)."""
    client = wechat.miniprogram_client()
    data = {
        "path": page.strip("/"),
        "query": query,
        "env_version": env_version(),
        "expire_type": 1,
        "expire_interval": max(1, min(days, MAX_DAYS)),
    }
    result = wechat.call(client.post, f"{conf.WECHAT_HOST}/wxa/generate_urllink", data=data)
    url = result.get("url_link") if isinstance(result, dict) else None
    if not url:
        raise translate(WeChatClientException(None, "generate_urllink answered no url_link"))
    return url
