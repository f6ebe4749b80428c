"""WeChat Pay API v3: the project's one gateway to it (wechatpayv3 in public-key mode).

Everything the project asks of api.mch.weixin.qq.com goes through here: JSAPI prepay and the
`wx.requestPayment` arguments, closing a transaction, refunds, and verifying notifications. Callers
get plain dataclasses and `ApplicationError`s; nothing from WeChat becomes a 500.

Keys: with WECHAT_SANDBOX on, the sandbox's generated keys (sandbox/keys.py) and its base URL;
otherwise settings.WECHATPAY_* and api.mch.weixin.qq.com.

Adding a call (e.g. merchant transfers): build it on `client()` and run it through `call()`, which
turns transport failures, WeChat's error answers and a bad answer signature into errors; add a
sandbox view under /wechat-sandbox/v3/... that signs its answer with `sandbox.pay.signed_json`.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wechatpayv3 import WeChatPay, WeChatPayType

from apps.core.errors import ApplicationError

from . import conf

logger = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


# --- errors -------------------------------------------------------------------------------------


class WeChatPayError(ApplicationError):
    """WeChat Pay refused or failed a call; `wechat_code` is its error code (e.g. NOT_ENOUGH)."""

    status_code = 502
    code = "wechatpay_error"
    default_message = _("The call to WeChat Pay failed.")

    def __init__(self, message=None, *, wechat_code: str = "", http_status: int | None = None, **kwargs):
        self.wechat_code = wechat_code
        self.http_status = http_status
        super().__init__(message, **kwargs)


class WeChatPayUnavailable(WeChatPayError):
    """No answer, or WeChat Pay's own failure (5xx, SYSTEM_ERROR): the outcome is unknown, retry later."""

    status_code = 503
    code = "wechatpay_unavailable"
    default_message = _("WeChat Pay is busy, please try again later.")


class AnswerNotVerified(WeChatPayUnavailable):
    """A 2xx answer whose signature does not verify: WeChat Pay probes merchants with these.

    Nothing in it can be believed, neither a success nor a failure, so the outcome is unknown:
    the caller resolves it by querying, exactly as after a timeout.
    """

    default_message = _(
        "WeChat Pay's answer failed signature verification; the outcome is unknown and will be queried later."
    )


class NotificationRejected(ApplicationError):
    """Not provably from WeChat Pay (signature, serial) or too old: answered 401, nothing done."""

    status_code = 401
    code = "notification_rejected"
    default_message = _("The notification's signature could not be verified.")


class NotificationInvalid(ApplicationError):
    """Signed, but unreadable (bad JSON, undecryptable resource): answered 400, nothing done."""

    status_code = 400
    code = "notification_invalid"
    default_message = _("The notification's content is not valid.")


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayConfig:
    appid: str
    mchid: str
    merchant_serial_no: str
    merchant_private_key: str
    apiv3_key: str
    platform_public_key: str
    platform_public_key_id: str
    api_base: str
    # PEM of the platform certificates still in use during a migration to the public key ("" if none)
    platform_certificates: str = ""


def pay_config() -> PayConfig:
    if settings.WECHAT_SANDBOX:
        from .sandbox.certs import sandbox_certificate
        from .sandbox.keys import sandbox_keys

        keys = sandbox_keys()
        return PayConfig(
            appid=settings.WECHAT_APPID,
            mchid=settings.WECHATPAY_MCHID,
            merchant_serial_no=keys.merchant_serial_no,
            merchant_private_key=keys.merchant_private_key,
            apiv3_key=keys.apiv3_key,
            platform_public_key=keys.platform_public_key,
            platform_public_key_id=keys.platform_public_key_id,
            api_base=conf.wechatpay_api_base(),
            platform_certificates=sandbox_certificate().certificate,
        )
    return PayConfig(
        appid=settings.WECHAT_APPID,
        mchid=settings.WECHATPAY_MCHID,
        merchant_serial_no=settings.WECHATPAY_CERT_SERIAL_NO,
        merchant_private_key=settings.WECHATPAY_PRIVATE_KEY,
        apiv3_key=settings.WECHATPAY_APIV3_KEY,
        platform_public_key=settings.WECHATPAY_PUBLIC_KEY,
        platform_public_key_id=settings.WECHATPAY_PUBLIC_KEY_ID,
        api_base=conf.wechatpay_api_base(),
        platform_certificates=settings.WECHATPAY_PLATFORM_CERTIFICATES,
    )


@functools.lru_cache(maxsize=8)
def _client_for(config: PayConfig) -> WeChatPay:
    missing = [
        name for name, value in config.__dict__.items() if not value and name != "platform_certificates"
    ]
    if missing:
        # Without the platform public key wechatpayv3 would quietly fall back to downloading
        # platform certificates; public-key mode is the only mode this project supports.
        raise ImproperlyConfigured(f"WeChat Pay is not configured: {', '.join(missing)} empty (WECHATPAY_*)")
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=config.mchid,
        private_key=config.merchant_private_key,
        cert_serial_no=config.merchant_serial_no,
        appid=config.appid,
        apiv3_key=config.apiv3_key,
        public_key=config.platform_public_key,
        public_key_id=config.platform_public_key_id,
        timeout=(5, 15),
        logger=logger,
    )
    # wechatpayv3 has no setting for its host; the sandbox (or a proxy) is reached through this.
    client._core._gate_way = config.api_base.rstrip("/")
    # During a migration answers may be signed with a platform certificate: wechatpayv3 picks the
    # key by Wechatpay-Serial among these (it would otherwise try to download certificates).
    client._core._certificates = platform_certificates(config)
    return client


@functools.lru_cache(maxsize=8)
def _load_certificates(pem: str) -> tuple[x509.Certificate, ...]:
    if not pem.strip():
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError as exc:
        raise ImproperlyConfigured("WECHATPAY_PLATFORM_CERTIFICATES is not PEM certificates") from exc


def platform_certificates(config: PayConfig) -> list[x509.Certificate]:
    return list(_load_certificates(config.platform_certificates))


def _platform_key_for(serial: str, config: PayConfig, *, now: datetime | None = None):
    """The key WeChat Pay signed with, chosen by Wechatpay-Serial, or None for a serial we do not hold.

    PUB_KEY_ID_... names the WeChat Pay public key (it must be ours); anything else is a platform
    certificate's serial number in hex, which must be one of ours and within its validity.
    """
    if serial == config.platform_public_key_id:
        return load_pem_public_key(config.platform_public_key.encode())
    if serial.startswith("PUB_KEY_ID_"):
        return None
    try:
        number = int(serial, 16)
    except ValueError:
        return None
    now = now or timezone.now()
    for cert in platform_certificates(config):
        if cert.serial_number == number and cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return cert.public_key()
    return None


def client() -> WeChatPay:
    return _client_for(pay_config())


def call(fn: Callable[..., tuple[int, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one wechatpayv3 call and answer WeChat Pay's JSON, or raise a WeChatPayError.

    wechatpayv3 verifies each 2xx answer's signature with the platform public key and raises a bare
    Exception when it does not match; it also raises bare Exceptions for missing arguments.
    """
    try:
        status, body = fn(*args, **kwargs)
    except requests.RequestException as exc:
        logger.warning("WeChat Pay unreachable: %r", exc)
        raise WeChatPayUnavailable() from exc
    except Exception as exc:
        if "verify the signature" in str(exc):  # wechatpayv3's words for an answer that fails it
            logger.warning("WeChat Pay answer failed signature verification: outcome unknown")
            raise AnswerNotVerified(wechat_code="BAD_SIGNATURE") from exc
        logger.exception("WeChat Pay call failed")
        raise WeChatPayError(gettext("The call to WeChat Pay failed: %(error)s") % {"error": exc}) from exc
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {"message": str(body)[:200]}
    if 200 <= status < 300:
        return data
    wechat_code = str(data.get("code") or "")
    message = str(data.get("message") or "")
    if status >= 500 or status == 429 or wechat_code in {"SYSTEM_ERROR", "FREQUENCY_LIMITED"}:
        raise WeChatPayUnavailable(wechat_code=wechat_code, http_status=status)
    raise WeChatPayError(
        (gettext("WeChat Pay: %(code)s %(message)s") % {"code": wechat_code, "message": message}).strip(),
        wechat_code=wechat_code,
        http_status=status,
    )


def _rfc3339(value: datetime) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


# --- payments -----------------------------------------------------------------------------------


def jsapi_prepay(
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    openid: str,
    notify_url: str,
    time_expire: datetime | None = None,
    attach: str = "",
) -> str:
    """Create (or re-create) the JSAPI transaction of an order; answers its prepay_id."""
    wxpay = client()
    data = call(
        wxpay.pay,
        description=description[:127],
        out_trade_no=out_trade_no,
        amount={"total": int(amount_fen), "currency": "CNY"},
        payer={"openid": openid},
        time_expire=_rfc3339(time_expire) if time_expire else None,
        attach=attach or None,
        notify_url=notify_url,
        pay_type=WeChatPayType.JSAPI,
    )
    prepay_id = data.get("prepay_id")
    if not prepay_id:
        raise WeChatPayError(gettext("WeChat Pay returned no prepay_id."))
    return str(prepay_id)


def jsapi_payment_params(*, prepay_id: str) -> dict[str, str]:
    """The arguments of `wx.requestPayment`, signed with the merchant key (RSA over appId...package)."""
    config = pay_config()
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = client().sign([config.appid, timestamp, nonce, package])
    return {
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign,
    }


def close_transaction(*, out_trade_no: str) -> None:
    """Close an unpaid transaction so it can no longer be paid (after an order is cancelled)."""
    call(client().close, out_trade_no=out_trade_no)


def query_transaction(*, out_trade_no: str) -> dict[str, Any]:
    return call(client().query, out_trade_no=out_trade_no)


# --- refunds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundAnswer:
    """WeChat's answer to a refund request: status is SUCCESS, PROCESSING, CLOSED or ABNORMAL."""

    refund_id: str
    out_refund_no: str
    status: str
    raw: dict = field(default_factory=dict, compare=False)


def refund_create(
    *,
    out_refund_no: str,
    out_trade_no: str,
    amount_fen: int,
    total_fen: int,
    reason: str,
    notify_url: str,
) -> RefundAnswer:
    """Ask for a refund. WeChat treats a repeated out_refund_no as the same refund."""
    data = call(
        client().refund,
        out_refund_no=out_refund_no,
        amount={"refund": int(amount_fen), "total": int(total_fen), "currency": "CNY"},
        out_trade_no=out_trade_no,
        reason=(reason or "")[:80] or None,
        notify_url=notify_url,
    )
    return RefundAnswer(
        refund_id=str(data.get("refund_id", "")),
        out_refund_no=str(data.get("out_refund_no", out_refund_no)),
        status=str(data.get("status", "PROCESSING")),
        raw=data,
    )


def refund_query(*, out_refund_no: str) -> RefundAnswer:
    """The refund as WeChat Pay holds it; WeChatPayError with wechat_code RESOURCE_NOT_EXISTS if
    WeChat never accepted it (then it is safe to send it again under the same out_refund_no)."""
    data = call(client().query_refund, out_refund_no=out_refund_no)
    return RefundAnswer(
        refund_id=str(data.get("refund_id", "")),
        out_refund_no=str(data.get("out_refund_no", out_refund_no)),
        status=str(data.get("status", "")),
        raw=data,
    )


# Refusals WeChat documents as "try again later with the same out_refund_no".
RETRYABLE_REFUND_CODES = frozenset({"NOT_ENOUGH"})


# --- notifications ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    resource: dict


def verify_notification(*, headers: Mapping[str, str], body: bytes, now: float | None = None) -> Notification:
    """Prove a notification comes from WeChat Pay, now; answer its decrypted resource.

    The signature is RSA-SHA256 (PKCS#1 v1.5) over "timestamp\\nnonce\\nbody\\n" with the platform
    key, on the raw body exactly as received (re-serialising JSON would change it). The serial
    chooses the key: our WeChat Pay public key, or one of our platform certificates. A timestamp
    more than five minutes from now is a replay. Only then is the resource decrypted with the
    APIv3 key (AES-256-GCM).
    """
    config = pay_config()
    signature = headers.get("Wechatpay-Signature", "")
    timestamp = headers.get("Wechatpay-Timestamp", "")
    nonce = headers.get("Wechatpay-Nonce", "")
    serial = headers.get("Wechatpay-Serial", "")
    signature_type = headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE)
    if not (signature and timestamp and nonce and serial):
        raise NotificationRejected("缺少微信支付签名头")
    if signature_type != SIGNATURE_TYPE:
        raise NotificationRejected("不支持的签名类型")
    public_key = _platform_key_for(serial, config)
    if public_key is None:
        raise NotificationRejected("微信支付公钥 ID 或平台证书序列号不符")
    try:
        text = body.decode("utf-8")
        raw_signature = base64.b64decode(signature, validate=True)
        public_key.verify(
            raw_signature,
            f"{timestamp}\n{nonce}\n{text}\n".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError, UnicodeDecodeError) as exc:
        raise NotificationRejected() from exc
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise NotificationRejected("时间戳无效") from exc
    now = time.time() if now is None else now
    if abs(now - sent_at) > settings.WECHATPAY_NOTIFY_MAX_AGE_SECONDS:
        raise NotificationRejected("通知已过期")
    try:
        envelope = json.loads(text)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationInvalid("不支持的加密算法")
        plaintext = AESGCM(config.apiv3_key.encode()).decrypt(
            resource["nonce"].encode(),
            base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode(),
        )
        decrypted = json.loads(plaintext)
    except NotificationInvalid:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, InvalidTag) as exc:
        raise NotificationInvalid() from exc
    if not isinstance(decrypted, dict):
        raise NotificationInvalid()
    return Notification(
        id=str(envelope.get("id", "")), event_type=str(envelope.get("event_type", "")), resource=decrypted
    )


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotificationInvalid("金额无效")
    return value


def _time(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class PaymentNotice:
    event_type: str
    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount_total: int
    payer_total: int
    payer_openid: str
    success_time: datetime | None
    raw: dict = field(compare=False)


def payment_from_transaction(resource: dict[str, Any], *, event_type: str = "") -> PaymentNotice:
    """A transaction as WeChat Pay describes it (decrypted notification or query answer)."""
    try:
        amount = resource["amount"]
        return PaymentNotice(
            event_type=event_type,
            appid=str(resource.get("appid", "")),
            mchid=str(resource.get("mchid", "")),
            out_trade_no=str(resource["out_trade_no"]),
            transaction_id=str(resource.get("transaction_id", "")),
            trade_state=str(resource.get("trade_state", "")),
            amount_total=_int(amount["total"]),
            payer_total=_int(amount.get("payer_total", amount["total"])),
            payer_openid=str((resource.get("payer") or {}).get("openid", "")),
            success_time=_time(resource.get("success_time")),
            raw=resource,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise NotificationInvalid() from exc


def parse_payment_notification(
    *, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> PaymentNotice:
    notification = verify_notification(headers=headers, body=body, now=now)
    notice = payment_from_transaction(notification.resource, event_type=notification.event_type)
    if not notice.transaction_id:
        raise NotificationInvalid()
    return notice


def query_payment(*, out_trade_no: str) -> PaymentNotice:
    """The transaction's state at WeChat Pay (an answer whose signature wechatpayv3 has checked)."""
    return payment_from_transaction(query_transaction(out_trade_no=out_trade_no))


@dataclass(frozen=True)
class RefundNotice:
    event_type: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund_status: str
    amount_refund: int
    amount_total: int
    success_time: datetime | None
    raw: dict = field(compare=False)


def parse_refund_notification(
    *, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> RefundNotice:
    notification = verify_notification(headers=headers, body=body, now=now)
    r = notification.resource
    try:
        amount = r["amount"]
        return RefundNotice(
            event_type=notification.event_type,
            mchid=str(r.get("mchid", "")),
            out_trade_no=str(r.get("out_trade_no", "")),
            transaction_id=str(r.get("transaction_id", "")),
            out_refund_no=str(r["out_refund_no"]),
            refund_id=str(r.get("refund_id", "")),
            refund_status=str(r.get("refund_status", "")),
            amount_refund=_int(amount["refund"]),
            amount_total=_int(amount["total"]),
            success_time=_time(r.get("success_time")),
            raw=r,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise NotificationInvalid() from exc
