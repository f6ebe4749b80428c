"""Subscribe messages (订阅消息): `cgi-bin/message/subscribe/send` through the mini-program client.

wechatpy 1.8.18's `wxa.send_subscribe_message` sends neither `miniprogram_state` nor `lang`, so the
call is made here with the client's `post` (token, 40001 refetch and the sandbox included).
WeChat answers 43101 when the user has no quota left for the template (or refused it): that comes
out as `WeChatQuotaExhausted`; busy answers as `WeChatBusy`, after `call`'s short retries.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from . import conf
from .client import call, miniprogram_client

STATES = {"developer", "trial", "formal"}


def send_subscribe_message(
    *, openid: str, template_id: str, data: dict[str, Any], page: str | None = None, lang: str = "zh_CN"
) -> dict:
    """Send one subscribe message; answers WeChat's JSON ({"errcode": 0, "errmsg": "ok"}).

    `data` is {"thing1": "...", ...}: each value is wrapped as {"value": ...}, as WeChat wants.
    """
    state = settings.WECHAT_MINIPROGRAM_STATE if settings.WECHAT_MINIPROGRAM_STATE in STATES else "formal"
    body: dict[str, Any] = {
        "touser": openid,
        "template_id": template_id,
        "data": {key: {"value": str(value)} for key, value in data.items()},
        "miniprogram_state": state,
        "lang": lang,
    }
    if page:
        body["page"] = page
    client = miniprogram_client()
    return call(client.post, f"{conf.WECHAT_HOST}/cgi-bin/message/subscribe/send", data=body)
