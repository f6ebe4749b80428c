"""The sandbox's stand-in for api.weixin.qq.com: the calls the project makes, answered as WeChat does."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets

import qrcode
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

TOKEN_TTL = 7200
_TOKEN_KEY = "wechat-sandbox:token:{}"
_CURRENT_TOKEN_KEY = "wechat-sandbox:current-token"
# WeChat's rule for a getwxacodeunlimit scene: at most 32 visible characters from this set.
SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")


def _error(errcode: int, errmsg: str) -> JsonResponse:
    return JsonResponse({"errcode": errcode, "errmsg": errmsg})


def fault_answer(api: str) -> HttpResponse | None:
    """The answer of a queued or chaos fault of a mini-program API (WeChat's own errcodes), or None.

    WeChat answers HTTP 200 with an errcode: 45011 (API minute quota), -1 (system busy), 40001
    (access token invalid or not the latest); an `http_500` is the front end failing outright.
    """
    from .faults import take

    fault = take(api)
    if fault is None:
        return None
    if fault.kind == "http_500":
        return HttpResponse("Internal Server Error", status=500, content_type="text/plain")
    if fault.kind == "rate_limited":
        return _error(45011, "api minute-quota reach limit  mustslower  retry next minute")
    if fault.kind == "busy":
        return _error(-1, "system error")
    if fault.kind == "token_expired":
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    return None


def _json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_valid(request: HttpRequest) -> bool:
    token = request.GET.get("access_token", "")
    return bool(token) and cache.get(_TOKEN_KEY.format(token)) is not None


def _issue_token() -> str:
    token = "sandbox-token-" + secrets.token_urlsafe(24)
    cache.set(_TOKEN_KEY.format(token), 1, TOKEN_TTL)
    cache.set(_CURRENT_TOKEN_KEY, token, TOKEN_TTL)
    return token


@csrf_exempt
@require_POST
def stable_token(request: HttpRequest) -> JsonResponse:
    if faulty := fault_answer("stable_token"):
        return faulty
    body = _json_body(request)
    if body.get("grant_type") != "client_credential":
        return _error(40002, "invalid grant_type")
    if body.get("appid") != settings.WECHAT_APPID:
        return _error(40013, "invalid appid")
    if body.get("secret") != settings.WECHAT_SECRET:
        return _error(40125, "invalid appsecret")
    current = cache.get(_CURRENT_TOKEN_KEY)
    if body.get("force_refresh") or not current or cache.get(_TOKEN_KEY.format(current)) is None:
        if current:
            cache.delete(_TOKEN_KEY.format(current))
        current = _issue_token()
    return JsonResponse({"access_token": current, "expires_in": TOKEN_TTL})


def invalidate_tokens() -> None:
    """Make every issued token answer 40001, as WeChat does after a forced refresh elsewhere."""
    current = cache.get(_CURRENT_TOKEN_KEY)
    if current:
        cache.delete(_TOKEN_KEY.format(current))
    cache.delete(_CURRENT_TOKEN_KEY)


@require_GET
def jscode2session(request: HttpRequest) -> JsonResponse:
    if faulty := fault_answer("jscode2session"):
        return faulty
    code = request.GET.get("js_code", "")
    if (
        request.GET.get("appid") != settings.WECHAT_APPID
        or request.GET.get("secret") != settings.WECHAT_SECRET
    ):
        return _error(40125, "invalid appsecret")
    if not code or code.startswith("bad"):
        return _error(40029, "invalid code")
    openid = f"sandbox-{code}"
    return JsonResponse(
        {
            "openid": openid,
            "session_key": hashlib.sha256(f"session:{code}".encode()).hexdigest()[:24],
            "unionid": f"sandbox-union-{code}",
        }
    )


def sandbox_phone(code: str) -> str:
    """The phone number the sandbox answers for a getPhoneNumber code: stable per code."""
    digits = re.sub(r"\D", "", code)
    if len(digits) == 11 and digits.startswith("1"):
        return digits
    return "138" + str(int(hashlib.sha256(code.encode()).hexdigest(), 16))[:8]


@csrf_exempt
@require_POST
def getuserphonenumber(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    code = str(_json_body(request).get("code", ""))
    if not code or code.startswith("bad"):
        return _error(40029, "invalid code")
    phone = sandbox_phone(code)
    return JsonResponse(
        {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": phone,
                "purePhoneNumber": phone,
                "countryCode": "86",
                "watermark": {"timestamp": 0, "appid": settings.WECHAT_APPID},
            },
        }
    )


def qr_png(text: str, *, box_size: int = 10) -> bytes:
    image = qrcode.make(text, box_size=box_size, border=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@csrf_exempt
@require_POST
def getwxacodeunlimit(request: HttpRequest) -> HttpResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    body = _json_body(request)
    scene = str(body.get("scene", ""))
    if not SCENE_RE.match(scene):
        return _error(40169, "invalid length for scene, or the data is not json string")
    page = str(body.get("page") or "pages/index/index")
    if page.startswith("/") or "?" in page:
        return _error(41030, "invalid page rule")
    width = body.get("width", 430)
    if not isinstance(width, int) or not 280 <= width <= 1280:
        width = 430
    # The real code is a round "mini-program code"; ours is a QR code of the same information so
    # that anyone (and the tests) can scan it: the page and its scene.
    return HttpResponse(
        qr_png(f"{page}?scene={scene}", box_size=max(4, width // 50)), content_type="image/png"
    )


@csrf_exempt
@require_POST
def generate_urllink(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    body = _json_body(request)
    path = str(body.get("path") or "")
    query = str(body.get("query") or "")
    digest = hashlib.sha256(f"{path}?{query}".encode()).hexdigest()[:12]
    return JsonResponse({"errcode": 0, "errmsg": "ok", "url_link": f"https://wxaurl.cn/{digest}"})
