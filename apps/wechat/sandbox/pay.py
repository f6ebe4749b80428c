"""The sandbox's stand-in for api.mch.weixin.qq.com (WeChat Pay API v3), and the shopper's "I paid".

It behaves as WeChat Pay does towards the project: it verifies the merchant's request signatures
(Authorization: WECHATPAY2-SHA256-RSA2048 ...), signs every answer with the platform key
(Wechatpay-Signature/Timestamp/Nonce/Serial), and sends notifications whose resource is encrypted
with the APIv3 key, to the notify_url the project gave. So the project's real verification code runs.

- `POST v3/pay/transactions/jsapi`, `GET v3/pay/transactions/out-trade-no/{no}`,
  `POST v3/pay/transactions/out-trade-no/{no}/close`;
- `POST v3/refund/domestic/refunds`, `GET v3/refund/domestic/refunds/{out_refund_no}`: a refund is
  accepted as PROCESSING and its REFUND.SUCCESS notification follows from a Celery task, after the
  answer (as WeChat notifies later); each transaction's refunds are indexed (`refunds_of`), so
  trade management can tell a fully refunded payment (order_state 5);
- `POST pay/confirm {"prepay_id"}`: the shopper paid; the payment notification for the full amount
  is sent synchronously and the answer is `{"transaction_id", "notify_status"}` (the project's
  HTTP status); with `"notify": false` the notification is held back for `pay/renotify`;
- `POST pay/renotify {"out_trade_no"}`: WeChat's retry of a payment notification (replays).

State (transactions, refunds) lives in Django's cache, shared by the web server and the worker.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import string
import threading
import time
import uuid
from typing import Any

import requests
from celery import shared_task
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import faults
from .certs import platform_signer
from .keys import sandbox_keys

logger = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
STATE_TTL = 400 * 24 * 3600  # WeChat keeps a year of history; so do bills and queries here
MAX_CLOCK_SKEW = 300
_TX = "wechat-sandbox:pay:tx:{}"
_PREPAY = "wechat-sandbox:pay:prepay:{}"
_TXID = "wechat-sandbox:pay:txid:{}"
_REFUND = "wechat-sandbox:pay:refund:{}"
_TX_REFUNDS = "wechat-sandbox:pay:tx-refunds:{}"  # a transaction's out_refund_nos, by out_trade_no
_INDEX = "wechat-sandbox:index:{}"  # every out_trade_no / out_refund_no / out_bill_no, for the ledger
# Serialises read-modify-write of the sandbox's state within a process (the tests run threads).
_state_lock = threading.RLock()
_AUTH_RE = re.compile(r'(\w+)="([^"]*)"')
_ALNUM = string.ascii_letters + string.digits


# --- signing, as WeChat Pay does -----------------------------------------------------------------


def _now_iso() -> str:
    return timezone.localtime().isoformat(timespec="seconds")


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def sign(message: str) -> str:
    """RSA-SHA256 with the platform key it signs with now (certs.platform_signer), base64."""
    key = load_pem_private_key(platform_signer()[0].encode(), password=None)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_headers(body: str, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or _nonce()
    serial = platform_signer()[1]  # the public key's id, or the platform certificate's serial
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(f"{ts}\n{nonce}\n{body}\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def signed_json(data: dict[str, Any] | None, *, status: int = 200) -> HttpResponse:
    """An answer as WeChat Pay sends it: JSON signed in the Wechatpay-* headers (204: empty body)."""
    body = "" if data is None else json.dumps(data, ensure_ascii=False)
    response = HttpResponse(body, status=status, content_type="application/json; charset=utf-8")
    for name, value in {**signed_headers(body), "Request-ID": uuid.uuid4().hex}.items():
        response[name] = value
    return response


def _error(status: int, code: str, message: str) -> HttpResponse:
    return signed_json({"code": code, "message": message}, status=status)


# --- faults, as WeChat Pay plays them ---------------------------------------------------------------

TIMEOUT_HEADER = "X-Sandbox-Fault"


def refused_by_fault(fault: faults.Fault | None) -> HttpResponse | None:
    """The answer of a fault that stops the call before WeChat does anything, or None."""
    if fault is None:
        return None
    if fault.kind == "http_500":
        return HttpResponse("Internal Server Error", status=500, content_type="text/plain")
    if fault.kind == "system_error":
        return _error(500, "SYSTEM_ERROR", "系统错误")
    if fault.kind == "rate_limited":
        return _error(429, "FREQUENCY_LIMITED", "频率超限")
    return None


def answered_with_fault(response: HttpResponse, fault: faults.Fault | None) -> HttpResponse:
    """The answer of a call WeChat carried out, spoilt by a fault that strikes after the work.

    `timeout`: the caller never gets the answer. Over HTTP the sandbox answers 504 (a gateway
    timeout: no answer from WeChat); the in-process transport of the tests and the simulation
    turns the marked 504 into requests' ReadTimeout, as a real timeout looks to the client.
    `bad_signature`: WeChat's probe, a well-formed answer whose signature does not verify.
    """
    if fault is None:
        return response
    if fault.kind == "timeout":
        timed_out = HttpResponse("", status=504)
        timed_out[TIMEOUT_HEADER] = "timeout"
        return timed_out
    if fault.kind == "bad_signature":
        response["Wechatpay-Signature"] = probe_signature()
    return response


def probe_signature() -> str:
    """A valid-looking signature over something else: what WeChat sends to test verification."""
    return sign(f"probe\n{_nonce()}\n")


def deliver(api: str, url: str, headers: dict[str, str], body: bytes) -> int:
    """Send a notification as WeChat Pay does, unless a fault of `api` drops, doubles, delays or
    spoils it (the project's HTTP status; 0 when nothing reached it now)."""
    fault = faults.take(api)
    if fault is None:
        return send_notification(url, headers, body)
    if fault.kind == "drop":
        return 0
    if fault.kind == "bad_signature":
        return send_notification(url, {**headers, "Wechatpay-Signature": probe_signature()}, body)
    if fault.kind == "duplicate":
        send_notification(url, headers, body)
        return send_notification(url, headers, body)
    if fault.kind == "delay":
        # Re-signed when sent (a notification signed long ago would be rejected as a replay).
        send_later.apply_async((api, url, body.decode()), countdown=fault.seconds)
        return 0
    return send_notification(url, headers, body)


@shared_task(name="wechat_sandbox.send_later")
def send_later(api: str, url: str, body: str) -> int:
    headers = {"Content-Type": "application/json", **signed_headers(body)}
    return send_notification(url, headers, body.encode())


def index(kind: str, key: str) -> None:
    """Remember a payment, refund or transfer for the ledger and the bills (cache has no scan)."""
    with _state_lock:
        keys = cache.get(_INDEX.format(kind)) or []
        if key not in keys:
            keys.append(key)
            cache.set(_INDEX.format(kind), keys, STATE_TTL)


def indexed(kind: str) -> list[str]:
    return list(cache.get(_INDEX.format(kind)) or [])


def verify_merchant_request(request: HttpRequest) -> HttpResponse | None:
    """Check the merchant's Authorization header as WeChat Pay does; an error answer, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, params = header.partition(" ")
    fields = dict(_AUTH_RE.findall(params))
    keys = sandbox_keys()
    if scheme != SIGNATURE_TYPE or not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= set(
        fields
    ):
        return _error(401, "SIGN_ERROR", "Authorization 格式错误")
    if fields["mchid"] != settings.WECHATPAY_MCHID or fields["serial_no"] != keys.merchant_serial_no:
        return _error(401, "SIGN_ERROR", "商户号或证书序列号不符")
    try:
        skew = abs(time.time() - int(fields["timestamp"]))
    except ValueError:
        skew = MAX_CLOCK_SKEW + 1
    if skew > MAX_CLOCK_SKEW:
        return _error(401, "SIGN_ERROR", "请求时间戳过期")
    full_path = request.get_full_path()
    path = full_path[full_path.find("/v3/") :]
    message = (
        f"{request.method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n"
        f"{request.body.decode('utf-8', 'replace')}\n"
    )
    try:
        public_key = load_pem_public_key(keys.merchant_public_key.encode())
        public_key.verify(
            base64.b64decode(fields["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return _error(401, "SIGN_ERROR", "错误的签名，验签失败")
    return None


def _json(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- notifications ------------------------------------------------------------------------------


def encrypt_resource(resource: dict[str, Any], *, original_type: str, associated_data: str) -> dict[str, str]:
    nonce = _nonce(12)
    ciphertext = AESGCM(sandbox_keys().apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), associated_data.encode()
    )
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def build_notification(
    *,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and exact body WeChat Pay POSTs to a notify_url."""
    envelope = {
        "id": str(uuid.uuid4()),
        "create_time": _now_iso(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(resource, original_type=original_type, associated_data=original_type),
    }
    body = json.dumps(envelope, ensure_ascii=False)
    headers = {"Content-Type": "application/json", **signed_headers(body, timestamp=timestamp)}
    return headers, body.encode()


def send_notification(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST a notification as WeChat Pay does; the project's HTTP status (0 if unreachable)."""
    try:
        return requests.post(url, data=body, headers=headers, timeout=10).status_code
    except requests.RequestException:
        logger.warning("sandbox could not deliver a notification to %s", url, exc_info=True)
        return 0


def transaction_resource(tx: dict[str, Any]) -> dict[str, Any]:
    """A transaction as WeChat Pay describes it (query answers and the decrypted notification)."""
    resource = {
        "appid": tx["appid"],
        "mchid": tx["mchid"],
        "out_trade_no": tx["out_trade_no"],
        "trade_state": tx["trade_state"],
        "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭"}.get(
            tx["trade_state"], tx["trade_state"]
        ),
        "attach": tx.get("attach", ""),
        "payer": {"openid": tx["openid"]},
        "amount": {"total": tx["total"], "currency": "CNY"},
    }
    if tx.get("transaction_id"):
        resource.update(
            {
                "transaction_id": tx["transaction_id"],
                "trade_type": "JSAPI",
                "bank_type": "OTHERS",
                "success_time": tx["success_time"],
                "amount": {
                    "total": tx["total"],
                    "payer_total": tx["total"],
                    "currency": "CNY",
                    "payer_currency": "CNY",
                },
            }
        )
    return resource


def payment_notification(out_trade_no: str, *, timestamp: int | None = None) -> tuple[str, dict, bytes]:
    """(notify_url, headers, body) of a paid transaction's TRANSACTION.SUCCESS notification."""
    tx = get_transaction(out_trade_no)
    if tx is None or tx["trade_state"] != "SUCCESS":
        raise LookupError(f"no paid sandbox transaction {out_trade_no!r}")
    headers, body = build_notification(
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=transaction_resource(tx),
        timestamp=timestamp,
    )
    return tx["notify_url"], headers, body


def refund_resource(refund: dict[str, Any]) -> dict[str, Any]:
    return {
        "mchid": refund["mchid"],
        "out_trade_no": refund["out_trade_no"],
        "transaction_id": refund["transaction_id"],
        "out_refund_no": refund["out_refund_no"],
        "refund_id": refund["refund_id"],
        "refund_status": refund["status"],
        "success_time": refund.get("success_time") or "",
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": refund["total"],
            "refund": refund["refund"],
            "payer_total": refund["total"],
            "payer_refund": refund["refund"],
        },
    }


def refund_notification(out_refund_no: str, *, timestamp: int | None = None) -> tuple[str, dict, bytes]:
    refund = get_refund(out_refund_no)
    if refund is None:
        raise LookupError(f"no sandbox refund {out_refund_no!r}")
    headers, body = build_notification(
        event_type=f"REFUND.{refund['status']}",
        summary="退款成功" if refund["status"] == "SUCCESS" else "退款异常",
        original_type="refund",
        resource=refund_resource(refund),
        timestamp=timestamp,
    )
    return refund["notify_url"], headers, body


# --- state --------------------------------------------------------------------------------------


def get_transaction(out_trade_no: str) -> dict[str, Any] | None:
    return cache.get(_TX.format(out_trade_no))


def _save_transaction(tx: dict[str, Any]) -> None:
    cache.set(_TX.format(tx["out_trade_no"]), tx, STATE_TTL)


def get_refund(out_refund_no: str) -> dict[str, Any] | None:
    return cache.get(_REFUND.format(out_refund_no))


def _save_refund(refund: dict[str, Any]) -> None:
    cache.set(_REFUND.format(refund["out_refund_no"]), refund, STATE_TTL)


def _index_refund(refund: dict[str, Any]) -> None:
    with _state_lock:
        key = _TX_REFUNDS.format(refund["out_trade_no"])
        numbers = cache.get(key) or []
        if refund["out_refund_no"] not in numbers:
            cache.set(key, [*numbers, refund["out_refund_no"]], STATE_TTL)


def refunds_of(out_trade_no: str) -> list[dict[str, Any]]:
    """Every refund of a transaction, in the order they were asked (any status)."""
    refunds = (get_refund(n) for n in cache.get(_TX_REFUNDS.format(out_trade_no)) or [])
    return [r for r in refunds if r is not None]


def refunded_fen(out_trade_no: str) -> int:
    """What has gone back to the buyer: the transaction's SUCCESS refunds (not those in flight)."""
    return sum(r["refund"] for r in refunds_of(out_trade_no) if r["status"] == "SUCCESS")


def _expired(tx: dict[str, Any]) -> bool:
    expire = parse_datetime(tx.get("time_expire") or "")
    return bool(expire and timezone.now() > expire)


# --- WeChat Pay API v3 views ----------------------------------------------------------------------


@csrf_exempt
@require_POST
def jsapi(request: HttpRequest) -> HttpResponse:
    if denied := verify_merchant_request(request):
        return denied
    fault = faults.take("pay_jsapi")
    if refused := refused_by_fault(fault):
        return refused
    body = _json(request)
    amount = body.get("amount") or {}
    total = amount.get("total") if isinstance(amount, dict) else None
    openid = (body.get("payer") or {}).get("openid") if isinstance(body.get("payer"), dict) else None
    out_trade_no = str(body.get("out_trade_no") or "")
    if body.get("appid") != settings.WECHAT_APPID or body.get("mchid") != settings.WECHATPAY_MCHID:
        return _error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    if not re.fullmatch(r"[0-9A-Za-z_\-*|]{6,32}", out_trade_no):
        return _error(400, "PARAM_ERROR", "out_trade_no 格式错误")
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        return _error(400, "PARAM_ERROR", "amount.total 必须为正整数")
    if not openid or not body.get("description") or not body.get("notify_url"):
        return _error(400, "PARAM_ERROR", "缺少必填参数")
    with _state_lock:
        tx = get_transaction(out_trade_no)
        if tx is not None:
            if tx["trade_state"] == "SUCCESS":
                return _error(400, "ORDERPAID", "该订单已支付")
            if tx["trade_state"] == "CLOSED":
                return _error(400, "ORDER_CLOSED", "订单已关闭")
            if tx["total"] != total or tx["openid"] != openid:
                return _error(400, "INVALID_REQUEST", "201 商户订单号重复")
        tx = {
            **(tx or {}),
            "appid": body["appid"],
            "mchid": body["mchid"],
            "out_trade_no": out_trade_no,
            "description": body["description"],
            "total": total,
            "openid": openid,
            "notify_url": body["notify_url"],
            "attach": body.get("attach") or "",
            "time_expire": body.get("time_expire") or "",
            "trade_state": "NOTPAY",
            "refunded": (tx or {}).get("refunded", 0),
        }
        prepay_id = "wx" + timezone.localtime().strftime("%d%H%M%S") + secrets.token_hex(14)
        tx["prepay_id"] = prepay_id
        _save_transaction(tx)
        cache.set(_PREPAY.format(prepay_id), out_trade_no, STATE_TTL)
    index("tx", out_trade_no)
    return answered_with_fault(signed_json({"prepay_id": prepay_id}), fault)


@csrf_exempt
@require_GET
def transaction_by_out_trade_no(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    if denied := verify_merchant_request(request):
        return denied
    fault = faults.take("pay_query")
    if refused := refused_by_fault(fault):
        return refused
    tx = get_transaction(out_trade_no)
    if tx is None:
        return _error(404, "ORDER_NOT_EXIST", "订单不存在")
    return answered_with_fault(signed_json(transaction_resource(tx)), fault)


@csrf_exempt
@require_POST
def close_transaction(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    if denied := verify_merchant_request(request):
        return denied
    with _state_lock:
        tx = get_transaction(out_trade_no)
        if tx is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if tx["trade_state"] == "SUCCESS":
            return _error(400, "ORDERPAID", "订单已支付")
        tx["trade_state"] = "CLOSED"
        _save_transaction(tx)
    return signed_json(None, status=204)


@csrf_exempt
@require_POST
def refunds(request: HttpRequest) -> HttpResponse:
    if denied := verify_merchant_request(request):
        return denied
    fault = faults.take("refund")
    if refused := refused_by_fault(fault):
        return refused
    body = _json(request)
    amount = body.get("amount") if isinstance(body.get("amount"), dict) else {}
    out_refund_no = str(body.get("out_refund_no") or "")
    refund_fen, total_fen = amount.get("refund"), amount.get("total")
    if not re.fullmatch(r"[0-9A-Za-z_\-*|@]{1,64}", out_refund_no):
        return _error(400, "PARAM_ERROR", "out_refund_no 格式错误")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (refund_fen, total_fen)):
        return _error(400, "PARAM_ERROR", "amount.refund 和 amount.total 必须为正整数")
    with _state_lock:
        out_trade_no = str(body.get("out_trade_no") or "")
        if not out_trade_no and body.get("transaction_id"):
            out_trade_no = cache.get(_TXID.format(body["transaction_id"])) or ""
        tx = get_transaction(out_trade_no) if out_trade_no else None
        if tx is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if tx["trade_state"] != "SUCCESS":
            return _error(400, "INVALID_REQUEST", "订单未支付")
        if total_fen != tx["total"]:
            return _error(400, "PARAM_ERROR", "订单金额与原订单不符")
        existing = get_refund(out_refund_no)
        if existing is not None:
            if existing["refund"] != refund_fen or existing["out_trade_no"] != tx["out_trade_no"]:
                return _error(400, "INVALID_REQUEST", "退款单号已存在且参数不一致")
            return answered_with_fault(signed_json(_refund_answer(existing)), fault)
        if refund_fen > tx["total"] - tx.get("refunded", 0):
            return _error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if fault is not None and fault.kind == "not_enough":
            # Nothing is created: WeChat asks for a retry later with the same out_refund_no.
            return _error(403, "NOT_ENOUGH", "余额不足")
        refund = {
            "mchid": tx["mchid"],
            "out_trade_no": tx["out_trade_no"],
            "transaction_id": tx["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": "50" + "".join(secrets.choice(string.digits) for _ in range(27)),
            "refund": refund_fen,
            "total": tx["total"],
            "status": "PROCESSING",
            "create_time": _now_iso(),
            "success_time": "",
            "notify_url": str(body.get("notify_url") or ""),
            "reason": body.get("reason") or "",
            # `processing`: no notification, SUCCESS only at the second query; `abnormal`: ends
            # ABNORMAL (the user's account cannot take it; WeChat keeps the money aside).
            "hold": bool(fault and fault.kind == "processing"),
            "abnormal": bool(fault and fault.kind == "abnormal"),
            "queries": 0,
        }
        tx["refunded"] = tx.get("refunded", 0) + refund_fen
        _save_refund(refund)
        _index_refund(refund)
        _save_transaction(tx)
    index("refund", out_refund_no)
    if not refund["hold"]:
        # WeChat notifies later: after this answer is committed and sent (a worker picks it up).
        transaction.on_commit(lambda: send_refund_notification.apply_async((out_refund_no,), countdown=1))
    return answered_with_fault(signed_json(_refund_answer(refund)), fault)


def _refund_answer(refund: dict[str, Any]) -> dict[str, Any]:
    return {
        "refund_id": refund["refund_id"],
        "out_refund_no": refund["out_refund_no"],
        "transaction_id": refund["transaction_id"],
        "out_trade_no": refund["out_trade_no"],
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": refund["create_time"],
        "success_time": refund.get("success_time") or None,
        "status": refund["status"],
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund["total"],
            "refund": refund["refund"],
            "payer_total": refund["total"],
            "payer_refund": refund["refund"],
            "settlement_total": refund["total"],
            "settlement_refund": refund["refund"],
            "discount_refund": 0,
            "currency": "CNY",
        },
    }


@csrf_exempt
@require_GET
def refund_by_out_refund_no(request: HttpRequest, out_refund_no: str) -> HttpResponse:
    if denied := verify_merchant_request(request):
        return denied
    fault = faults.take("refund_query")
    if refused := refused_by_fault(fault):
        return refused
    with _state_lock:
        refund = get_refund(out_refund_no)
        if refund is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        if refund.get("hold") and refund["status"] == "PROCESSING":
            refund["queries"] = refund.get("queries", 0) + 1
            if refund["queries"] >= 2:
                refund["status"] = "SUCCESS"
                refund["success_time"] = _now_iso()
            _save_refund(refund)
    return answered_with_fault(signed_json(_refund_answer(refund)), fault)


@shared_task(name="wechat_sandbox.send_refund_notification", bind=True, max_retries=5)
def send_refund_notification(self, out_refund_no: str) -> int:
    """Complete a PROCESSING refund and tell the project, as WeChat Pay does a moment later."""
    with _state_lock:
        refund = get_refund(out_refund_no)
        if refund is None:
            return 0
        if refund["status"] == "PROCESSING":
            if refund.get("abnormal"):
                refund["status"] = "ABNORMAL"
            else:
                refund["status"] = "SUCCESS"
                refund["success_time"] = _now_iso()
            _save_refund(refund)
    url, headers, body = refund_notification(out_refund_no)
    if not url:  # no notify_url given: WeChat would use the merchant's configured one; we have none
        return 0
    if self.request.retries == 0:
        status = deliver("refund_notify", url, headers, body)
        if status == 0:
            return 0  # dropped or delayed on purpose
    else:
        status = send_notification(url, headers, body)
    if not 200 <= status < 300 and not self.request.is_eager:
        raise self.retry(countdown=min(60, 5 * 2**self.request.retries))
    return status


# --- the shopper's side ---------------------------------------------------------------------------


@csrf_exempt
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    """The shopper paid in WeChat: mark the transaction paid and notify the project now.

    `{"prepay_id", "notify": false}` pays without notifying (a notification WeChat delivers late:
    `pay/renotify` sends it), to rehearse a payment that races a cancellation.
    """
    body = _json(request)
    prepay_id = str(body.get("prepay_id") or "")
    out_trade_no = cache.get(_PREPAY.format(prepay_id)) if prepay_id else None
    with _state_lock:
        tx = get_transaction(out_trade_no) if out_trade_no else None
        if tx is None:
            return _error(404, "ORDER_NOT_EXIST", "prepay_id 不存在")
        if tx["trade_state"] == "SUCCESS":
            return _error(400, "ORDERPAID", "该订单已支付")
        if tx["trade_state"] == "CLOSED" or _expired(tx):
            tx["trade_state"] = "CLOSED"
            _save_transaction(tx)
            return _error(400, "ORDER_CLOSED", "订单已关闭")
        tx["trade_state"] = "SUCCESS"
        tx["transaction_id"] = "4200" + "".join(secrets.choice(string.digits) for _ in range(24))
        tx["success_time"] = _now_iso()
        _save_transaction(tx)
        cache.set(_TXID.format(tx["transaction_id"]), tx["out_trade_no"], STATE_TTL)
    status = None
    if body.get("notify", True) is not False:
        url, headers, notification = payment_notification(tx["out_trade_no"])
        status = deliver("pay_notify", url, headers, notification)
    return signed_json({"transaction_id": tx["transaction_id"], "notify_status": status})


@csrf_exempt
@require_POST
def renotify(request: HttpRequest) -> HttpResponse:
    """Send a paid transaction's notification again, as WeChat Pay retries it."""
    out_trade_no = str(_json(request).get("out_trade_no") or "")
    try:
        url, headers, body = payment_notification(out_trade_no)
    except LookupError:
        return _error(404, "ORDER_NOT_EXIST", "订单不存在或未支付")
    tx = get_transaction(out_trade_no) or {}
    return signed_json(
        {"transaction_id": tx.get("transaction_id"), "notify_status": send_notification(url, headers, body)}
    )


# --- history the sandbox did not see (the scale demo's seeded orders) ---------------------------------


def paid_transaction(
    *,
    out_trade_no: str,
    description: str,
    total: int,
    openid: str,
    notify_url: str,
    transaction_id: str,
    success_time: str,
    time_expire: str,
    refunded: int = 0,
) -> dict[str, Any]:
    """A transaction as `jsapi` then `confirm` leave it: paid, `refunded` fen of it refunded."""
    return {
        "appid": settings.WECHAT_APPID,
        "mchid": settings.WECHATPAY_MCHID,
        "out_trade_no": out_trade_no,
        "description": description,
        "total": total,
        "openid": openid,
        "notify_url": notify_url,
        "attach": "",
        "time_expire": time_expire,
        "trade_state": "SUCCESS",
        "refunded": refunded,
        "prepay_id": "wx" + secrets.token_hex(16),
        "transaction_id": transaction_id,
        "success_time": success_time,
    }


def succeeded_refund(
    tx: dict[str, Any],
    *,
    out_refund_no: str,
    refund_id: str,
    refund: int,
    create_time: str,
    success_time: str,
) -> dict[str, Any]:
    """A refund of `tx` as `refunds` then its notification leave it: SUCCESS."""
    return {
        "mchid": tx["mchid"],
        "out_trade_no": tx["out_trade_no"],
        "transaction_id": tx["transaction_id"],
        "out_refund_no": out_refund_no,
        "refund_id": refund_id,
        "refund": refund,
        "total": tx["total"],
        "status": "SUCCESS",
        "create_time": create_time,
        "success_time": success_time,
        "notify_url": "",
        "reason": "",
        "hold": False,
        "abnormal": False,
        "queries": 0,
    }


def record_history(transactions: list[dict[str, Any]], refunds: list[dict[str, Any]]) -> None:
    """Store paid transactions and succeeded refunds made before the sandbox knew of them, in bulk
    (one write per batch, the index extended once), so that queries, bills and later refunds of
    those payments answer as they would had they been paid here."""
    with _state_lock:
        cache.set_many(
            {_TX.format(tx["out_trade_no"]): tx for tx in transactions}
            | {_TXID.format(tx["transaction_id"]): tx["out_trade_no"] for tx in transactions}
            | {_REFUND.format(r["out_refund_no"]): r for r in refunds},
            STATE_TTL,
        )
        for kind, keys in (
            ("tx", [t["out_trade_no"] for t in transactions]),
            ("refund", [r["out_refund_no"] for r in refunds]),
        ):
            if keys:
                known = cache.get(_INDEX.format(kind)) or []
                seen = set(known)
                known.extend(k for k in keys if k not in seen)
                cache.set(_INDEX.format(kind), known, STATE_TTL)
