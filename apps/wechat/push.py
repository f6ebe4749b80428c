"""The mini-program's message push (消息推送): proving a request comes from WeChat, and reading it.

URL verification (GET): `signature` = sha1 of the sorted Token, `timestamp` and `nonce`; the answer
is `echostr`. Messages (POST) carry the same signature; in safe mode (`encrypt_type=aes`) the body
is `{"ToUserName", "Encrypt"}` (JSON) or `<xml><Encrypt>` (XML), `msg_signature` = sha1 of the
sorted Token, timestamp, nonce and Encrypt, and Encrypt is AES-256-CBC with the EncodingAESKey,
decrypted and checked against our appid by wechatpy's crypto. This project configures safe mode:
a plaintext message is refused, since anyone could post one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import xmltodict
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from apps.core.errors import ApplicationError


class PushRejected(ApplicationError):
    """Not provably from WeChat (signature), or too old: answered 403, nothing done."""

    status_code = 403
    code = "push_rejected"
    default_message = _("The pushed message's signature could not be verified.")


class PushInvalid(ApplicationError):
    status_code = 400
    code = "push_invalid"
    default_message = _("The pushed message's content is not valid.")


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's SHA-1)


def _check_signature(params: Mapping[str, str], now: float | None = None) -> None:
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    expected = _sha1(settings.WECHAT_MESSAGE_TOKEN, timestamp, nonce)
    if not hmac.compare_digest(expected.encode(), params.get("signature", "").encode()):
        raise PushRejected()
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise PushRejected("时间戳无效") from exc
    now = time.time() if now is None else now
    if abs(now - sent_at) > settings.WECHAT_MESSAGE_MAX_AGE_SECONDS:
        raise PushRejected("消息已过期")


def verify_url(params: Mapping[str, str]) -> str:
    """The echostr to answer WeChat's URL verification, or PushRejected."""
    _check_signature(params)
    return params.get("echostr", "")


def _parse(text: str) -> dict[str, Any]:
    text = text.strip()
    try:
        data = xmltodict.parse(text)["xml"] if text.startswith("<") else json.loads(text)
    except Exception as exc:  # xmltodict raises expat errors; json raises ValueError
        raise PushInvalid() from exc
    if not isinstance(data, dict):
        raise PushInvalid()
    return dict(data)


def parse_message(params: Mapping[str, str], body: bytes, *, now: float | None = None) -> dict[str, Any]:
    """A verified, decrypted message pushed by WeChat (a dict of its fields)."""
    _check_signature(params, now=now)
    if params.get("encrypt_type") != "aes":
        raise PushRejected("仅接受安全模式（加密）的消息")
    envelope = _parse(body.decode("utf-8", "replace"))
    if not envelope.get("Encrypt"):
        raise PushInvalid()
    crypto = WeChatCrypto(
        settings.WECHAT_MESSAGE_TOKEN, settings.WECHAT_MESSAGE_AES_KEY, settings.WECHAT_APPID
    )
    try:
        plaintext = crypto.decrypt_message(
            envelope, params.get("msg_signature", ""), params.get("timestamp", ""), params.get("nonce", "")
        )
    except InvalidSignatureException as exc:
        raise PushRejected() from exc
    except InvalidAppIdException as exc:
        raise PushRejected("appid 不符") from exc
    except Exception as exc:  # a body that does not decrypt: padding, base64
        raise PushInvalid() from exc
    if isinstance(plaintext, bytes):
        plaintext = plaintext.decode("utf-8")
    return _parse(plaintext)
