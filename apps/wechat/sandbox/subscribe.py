"""The sandbox's `cgi-bin/message/subscribe/send`: checks what WeChat checks, keeps what was sent.

Answers errcode 0 and records the message, except: an invalid access token -> 40001; no touser ->
40003; no template_id -> 40037; data that is not {"key": {"value": ...}} -> 47003; and an openid
starting with "refuse" -> 43101 (the user has no quota / refused), so that path can be rehearsed.

Route (mounted by apps/wechat/sandbox/urls.py):
    path("cgi-bin/message/subscribe/send", subscribe.send, name="subscribe_send"),
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .miniprogram import _error, _json_body, _token_valid, fault_answer

_SENT_KEY = "wechat-sandbox:subscribe:sent"
_KEEP = 500
STATE_TTL = 7 * 24 * 3600


def sent_messages() -> list[dict]:
    """The messages the sandbox accepted, oldest first (the last 500)."""
    return list(cache.get(_SENT_KEY) or [])


@csrf_exempt
@require_POST
def send(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    if faulty := fault_answer("subscribe"):
        return faulty
    body = _json_body(request)
    touser = str(body.get("touser") or "")
    template_id = str(body.get("template_id") or "")
    data = body.get("data")
    if not touser:
        return _error(40003, "invalid openid")
    if not template_id:
        return _error(40037, "invalid template_id")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
        return _error(47003, "argument invalid! data.value invalid")
    if touser.startswith("refuse"):
        return _error(43101, "user refuse to accept the msg")
    sent = sent_messages()
    sent.append(
        {
            "touser": touser,
            "template_id": template_id,
            "page": body.get("page") or "",
            "data": data,
            "miniprogram_state": body.get("miniprogram_state") or "formal",
            "lang": body.get("lang") or "zh_CN",
        }
    )
    cache.set(_SENT_KEY, sent[-_KEEP:], STATE_TTL)
    return JsonResponse({"errcode": 0, "errmsg": "ok", "msgid": len(sent)})
