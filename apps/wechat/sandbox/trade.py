"""The sandbox's trade management (wxa/sec/order/*) and mini-program message push.

It checks what WeChat documents and answers WeChat's error codes:
- an invalid access token: 40001; a body that is not the documented shape (a missing or mistyped
  field, shipping_list not a list of 1 to 15 parcels, tracking_no or express_company not 1..128
  characters, item_desc not 1..120 characters, an express parcel without its carrier code or
  tracking number, SF without a contact, a contact whose last four digits are masked, an upload_time
  that is not RFC 3339): 47001 "data format error";
- no paid transaction for the order_key: 10060001; a payer openid that did not pay it: 10060031;
  unified delivery with more than one parcel: 268485228; an order already confirmed or settled:
  10060004; a second correction after the order was fully shipped: 10060003.

Trade state per transaction (in Django's cache, with the pay sandbox's transactions): order_state
1 waiting for shipment, 2 shipped (the upload said everything shipped), 3 the buyer confirmed, 4
the trade completed (settled), 5 refunded: derived, as WeChat does, from the pay sandbox's refunds
of the transaction - 5 once its SUCCESS refunds add up to the whole amount paid (a partial refund,
or one still PROCESSING or ABNORMAL, leaves the state as it was); `shipping` as get_order answers
it. The user's and WeChat's side:
- `POST trade/confirm-receive {"transaction_id", "settle"?: true, "times"?}`: the buyer confirms
  receipt in WeChat (state 3, confirm_receive_method 2); WeChat then settles the payment (state 4)
  and pushes trade_manage_order_settlement to the project by itself. `"settle": false` stops at 3
  (a settlement that lags the confirmation; `trade/settle` completes it later);
- `POST trade/auto-confirm {"now"?}`: time passes: every shipped payment whose buyer has not
  confirmed within AUTO_CONFIRM_SECONDS of its shipment is confirmed automatically
  (confirm_receive_method 1), settled and pushed;
- `POST trade/settle {"transaction_id", "confirm_receive_method"?: 1 auto | 2 manual, "times"?}`:
  WeChat settles a shipped (or confirmed) payment now, with the same push;
- `POST message-push/send {"Event", "transaction_id"?, "msg"?, "times"?}`: push a trade_manage_*
  event (reminders: trade_manage_remind_access_api, trade_manage_remind_shipping), `times` times
  with the same CreateTime, as WeChat retries a message it thinks undelivered.
WeChat pushes trade_manage_order_settlement ("the order will settle or has settled",
order-shipping.html, 相关消息推送) twice, and so does the sandbox: when a payment is first fully
shipped (from a task, after the upload's answer: transaction_id, merchant_id, sub_merchant_id,
merchant_trade_no, pay_time, shipped_time, estimated_settlement_time), and when it settles (the
same, without the estimate, with confirm_receive_method 1 auto | 2 manual, confirm_receive_time
and settlement_time; seconds).
Pushes are in safe mode (安全模式): JSON, AES-encrypted with the EncodingAESKey (wechatpy's crypto),
signed as WeChat signs them, to settings.WECHAT_MESSAGE_PUSH_URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import string
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from wechatpy.crypto import PrpCrypto

from apps.core.deferred import send_on_commit

from .miniprogram import _error, _json_body, _token_valid, fault_answer
from .pay import _TXID, get_transaction, indexed, refunded_fen

logger = logging.getLogger(__name__)

STATE_TTL = 30 * 24 * 3600
_TRADE = "wechat-sandbox:trade:{}"
_JUMP_PATH = "wechat-sandbox:trade:msg-jump-path"
_lock = threading.RLock()
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMAT_ERROR = (47001, "data format error")
SETTLEMENT = "trade_manage_order_settlement"
WAITING_SHIPMENT, SHIPPED, CONFIRMED, COMPLETED, REFUNDED = 1, 2, 3, 4, 5
CONFIRM_AUTO, CONFIRM_MANUAL = 1, 2  # confirm_receive_method
# The sandbox's automatic confirmation: a shipped payment the buyer has not confirmed is confirmed
# this long after its shipment (WeChat's window depends on the logistics; one value here).
AUTO_CONFIRM_SECONDS = 10 * 24 * 3600
EVENTS = {"trade_manage_remind_access_api", "trade_manage_remind_shipping", SETTLEMENT}


def _ok(**extra: Any) -> JsonResponse:
    return JsonResponse({"errcode": 0, "errmsg": "ok", **extra})


def trade_state(transaction_id: str) -> dict[str, Any] | None:
    """The sandbox's record of a paid transaction's trade management, or None if it was never paid."""
    out_trade_no = cache.get(_TXID.format(transaction_id)) if transaction_id else None
    tx = get_transaction(out_trade_no) if out_trade_no else None
    if tx is None or not tx.get("transaction_id"):
        return None
    state = cache.get(_TRADE.format(transaction_id))
    if state is None:
        state = {
            "transaction_id": transaction_id,
            "order_state": WAITING_SHIPMENT,
            "shipping": None,
            "reshipped": False,
            "uploads": [],
            "confirm_receive_time": 0,
            "settlement_time": 0,
            "shipped_time": 0,
        }
    state["tx"] = tx
    if state["order_state"] != REFUNDED and refunded_fen(tx["out_trade_no"]) >= tx["total"]:
        state["order_state"] = REFUNDED  # the whole payment went back to the buyer
    return state


def _save(state: dict[str, Any]) -> None:
    stored = {k: v for k, v in state.items() if k != "tx"}
    cache.set(_TRADE.format(state["transaction_id"]), stored, STATE_TTL)


def _transaction_id_for(order_key: dict) -> str:
    if order_key.get("order_number_type") == 2:
        return str(order_key.get("transaction_id") or "")
    if order_key.get("order_number_type") == 1:
        if str(order_key.get("mchid") or "") != settings.WECHATPAY_MCHID:
            return ""
        tx = get_transaction(str(order_key.get("out_trade_no") or ""))
        return str((tx or {}).get("transaction_id") or "")
    return ""


def _str_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def _parcel_error(parcel: Any, logistics_type: int) -> bool:
    if not isinstance(parcel, dict) or not _str_between(parcel.get("item_desc"), 1, 120):
        return True
    contact = parcel.get("contact")
    if contact is not None:
        if not isinstance(contact, dict):
            return True
        for name in ("consignor_contact", "receiver_contact"):
            value = contact.get(name)
            if value is None:
                continue
            # masked, but never the last four digits
            if not _str_between(value, 1, 1024) or not re.search(r"\d{4}$", value):
                return True
    if logistics_type == 1:
        if not _str_between(parcel.get("tracking_no"), 1, 128):
            return True
        if not _str_between(parcel.get("express_company"), 1, 128):
            return True
        if parcel["express_company"] == "SF" and not (
            contact and (contact.get("receiver_contact") or contact.get("consignor_contact"))
        ):
            return True
    return False


def _valid_shape(body: dict) -> bool:
    order_key, payer, parcels = body.get("order_key"), body.get("payer"), body.get("shipping_list")
    if not isinstance(order_key, dict) or order_key.get("order_number_type") not in (1, 2):
        return False
    if body.get("logistics_type") not in (1, 2, 3, 4) or body.get("delivery_mode") not in (1, 2):
        return False
    if not isinstance(parcels, list) or not 1 <= len(parcels) <= 15:
        return False
    if body["delivery_mode"] == 2 and not isinstance(body.get("is_all_delivered"), bool):
        return False  # required in split mode
    upload_time = body.get("upload_time")
    if (
        not isinstance(upload_time, str)
        or not RFC3339.match(upload_time)
        or parse_datetime(upload_time) is None
    ):
        return False
    if not isinstance(payer, dict) or not _str_between(payer.get("openid"), 1, 128):
        return False
    return not any(_parcel_error(p, body["logistics_type"]) for p in parcels)


@csrf_exempt
@require_POST
def upload_shipping_info(request: HttpRequest) -> JsonResponse:
    if faulty := fault_answer("shipping"):  # POST /wechat-sandbox/faults {"api": "shipping", ...}
        return faulty
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    body = _json_body(request)
    if not _valid_shape(body):
        return _error(*FORMAT_ERROR)
    with _lock:
        state = trade_state(_transaction_id_for(body["order_key"]))
        if state is None:
            return _error(10060001, "支付单不存在")
        if body["payer"]["openid"] != state["tx"]["openid"]:
            return _error(10060031, "该笔支付单不属于 openid 所指定的用户")
        if body["delivery_mode"] == 1 and len(body["shipping_list"]) != 1:
            return _error(268485228, "统一发货模式下，物流信息列表长度必须为1")
        if state["order_state"] in (CONFIRMED, COMPLETED, REFUNDED):
            return _error(10060004, "支付单处于不可发货的状态")
        previous = state["shipping"] or {}
        if previous.get("finish_shipping"):
            # re-shipping: WeChat allows it once per payment
            if state["reshipped"]:
                return _error(10060003, "支付单已使用重新发货机会")
            state["reshipped"] = True
        finished = body["delivery_mode"] == 1 or body["is_all_delivered"] is True
        uploaded_at = int(parse_datetime(body["upload_time"]).timestamp())
        state["shipping"] = {
            "delivery_mode": body["delivery_mode"],
            "logistics_type": body["logistics_type"],
            "finish_shipping": finished,
            "finish_shipping_count": previous.get("finish_shipping_count", 0) + (1 if finished else 0),
            "goods_desc": ";".join(p["item_desc"] for p in body["shipping_list"])[:120],
            "shipping_list": [
                {
                    "tracking_no": p.get("tracking_no", ""),
                    "express_company": p.get("express_company", ""),
                    "upload_time": uploaded_at,
                }
                for p in body["shipping_list"]
            ],
        }
        state["uploads"].append(body)
        notice = None
        if finished:
            state["order_state"] = SHIPPED
            if not state["shipped_time"]:  # first fully shipped (not a correction): WeChat says so
                state["shipped_time"] = int(time.time())
                notice = shipped_message(state)
        _save(state)
    if notice is not None:
        # WeChat pushes later, not within its answer: after this request, from a worker.
        send_on_commit(push_later, notice, countdown=1)
    return _ok()


def order_answer(state: dict[str, Any]) -> dict[str, Any]:
    tx = state["tx"]
    success = parse_datetime(tx.get("success_time") or "")
    return {
        "transaction_id": state["transaction_id"],
        "merchant_id": tx["mchid"],
        "sub_merchant_id": "",
        "merchant_trade_no": tx["out_trade_no"],
        "description": tx.get("description", ""),
        "paid_amount": tx["total"],
        "openid": tx["openid"],
        "trade_create_time": int(success.timestamp()) if success else 0,
        "pay_time": int(success.timestamp()) if success else 0,
        "in_complaint": False,
        "order_state": state["order_state"],
        "shipping": state["shipping"]
        or {
            "delivery_mode": 0,
            "logistics_type": 0,
            "finish_shipping": False,
            "finish_shipping_count": 0,
            "goods_desc": "",
            "shipping_list": [],
        },
    }


def _state_for(body: dict) -> dict[str, Any] | None:
    transaction_id = str(body.get("transaction_id") or "")
    if not transaction_id and body.get("merchant_trade_no"):
        if str(body.get("merchant_id") or "") != settings.WECHATPAY_MCHID:
            return None
        tx = get_transaction(str(body["merchant_trade_no"]))
        transaction_id = str((tx or {}).get("transaction_id") or "")
    return trade_state(transaction_id)


@csrf_exempt
@require_POST
def get_order(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    state = _state_for(_json_body(request))
    if state is None:
        return _error(10060001, "支付单不存在")
    return _ok(order=order_answer(state))


@csrf_exempt
@require_POST
def notify_confirm_receive(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    body = _json_body(request)
    received = body.get("received_time")
    if not isinstance(received, int) or isinstance(received, bool):
        return _error(*FORMAT_ERROR)
    state = _state_for(body)
    if state is None:
        return _error(10060001, "支付单不存在")
    if not state["shipped_time"] or not state["shipped_time"] <= received <= time.time() + 60:
        return _error(10060029, "签收时间不合理")
    return _ok()


@csrf_exempt
@require_POST
def set_msg_jump_path(request: HttpRequest) -> JsonResponse:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    path = _json_body(request).get("path")
    if not isinstance(path, str):
        return _error(*FORMAT_ERROR)
    cache.set(_JUMP_PATH, path, STATE_TTL)
    return _ok()


def msg_jump_path() -> str | None:
    return cache.get(_JUMP_PATH)


def _appid_checked(request: HttpRequest) -> JsonResponse | None:
    if not _token_valid(request):
        return _error(40001, "invalid credential, access_token is invalid or not latest")
    if _json_body(request).get("appid") != settings.WECHAT_APPID:
        return _error(40013, "invalid appid")
    return None


@csrf_exempt
@require_POST
def is_trade_managed(request: HttpRequest) -> JsonResponse:
    return _appid_checked(request) or _ok(is_trade_managed=settings.WECHAT_SANDBOX_TRADE_MANAGED)


@csrf_exempt
@require_POST
def is_trade_management_confirmation_completed(request: HttpRequest) -> JsonResponse:
    return _appid_checked(request) or _ok(completed=settings.WECHAT_SANDBOX_TRADE_MANAGED)


# --- WeChat's and the buyer's side --------------------------------------------------------------


def _complete(state: dict[str, Any], *, method: int, now: int) -> dict[str, Any]:
    """WeChat settles a shipped or confirmed payment (state 4): the settlement message to push.

    Called under _lock; the caller pushes after releasing it."""
    if not state["confirm_receive_time"]:
        state["confirm_receive_method"] = method
        state["confirm_receive_time"] = now
    state["order_state"] = COMPLETED
    state["settlement_time"] = now
    _save(state)
    return settlement_message(state)


def _pushed(message: dict[str, Any], body: dict) -> list[int]:
    return [push(message) for _ in range(_times(body))]


@csrf_exempt
@require_POST
def confirm_receive(request: HttpRequest) -> JsonResponse:
    """The buyer confirms receipt in WeChat's confirm-receipt component; WeChat then settles."""
    body = _json_body(request)
    with _lock:
        state = trade_state(str(body.get("transaction_id") or ""))
        if state is None:
            return _error(10060001, "支付单不存在")
        if state["order_state"] != SHIPPED:
            return _error(10060004, "支付单处于不可确认收货的状态")
        now = int(time.time())
        state["order_state"] = CONFIRMED
        state["confirm_receive_method"] = CONFIRM_MANUAL
        state["confirm_receive_time"] = now
        _save(state)
        settles = body.get("settle", True) is not False
        message = _complete(state, method=CONFIRM_MANUAL, now=now) if settles else None
    if message is None:
        return _ok(order=order_answer(state))
    return _ok(order=order_answer(state), push_status=_pushed(message, body), message=message)


@csrf_exempt
@require_POST
def settle(request: HttpRequest) -> JsonResponse:
    """WeChat settles a shipped (or confirmed) payment and pushes trade_manage_order_settlement."""
    body = _json_body(request)
    with _lock:
        state = trade_state(str(body.get("transaction_id") or ""))
        if state is None:
            return _error(10060001, "支付单不存在")
        if state["order_state"] not in (SHIPPED, CONFIRMED):
            return _error(10060004, "支付单处于不可结算的状态")
        manual = body.get("confirm_receive_method", CONFIRM_AUTO) == CONFIRM_MANUAL
        method = CONFIRM_MANUAL if manual else CONFIRM_AUTO
        message = _complete(state, method=method, now=int(time.time()))
    return _ok(push_status=_pushed(message, body), message=message)


def auto_confirm_due(*, now: int | None = None) -> list[tuple[dict[str, Any], int]]:
    """Confirm, settle and push every shipped payment whose confirmation window has passed, as
    WeChat does by itself; [(message, the project's HTTP status)]."""
    now = int(time.time()) if now is None else now
    messages = []
    for out_trade_no in indexed("tx"):
        transaction_id = str((get_transaction(out_trade_no) or {}).get("transaction_id") or "")
        with _lock:
            state = trade_state(transaction_id) if transaction_id else None
            if state is None or state["order_state"] != SHIPPED:
                continue
            if state["shipped_time"] + AUTO_CONFIRM_SECONDS > now:
                continue
            messages.append(_complete(state, method=CONFIRM_AUTO, now=now))
    return [(message, push(message)) for message in messages]


@csrf_exempt
@require_POST
def auto_confirm(request: HttpRequest) -> JsonResponse:
    """Time passes (`now`, seconds; default: the clock): WeChat's automatic confirmations."""
    now = _json_body(request).get("now")
    if now is not None and (not isinstance(now, int) or isinstance(now, bool)):
        return _error(*FORMAT_ERROR)
    done = auto_confirm_due(now=now)
    return _ok(
        confirmed=[message["transaction_id"] for message, _ in done],
        push_status=[status for _, status in done],
    )


def _times(body: dict) -> int:
    times = body.get("times", 1)
    return times if isinstance(times, int) and 1 <= times <= 10 else 1


def _envelope(event: str) -> dict[str, Any]:
    return {
        "ToUserName": settings.WECHAT_SANDBOX_ORIGINAL_ID,
        "FromUserName": "o" + secrets.token_hex(13),  # WeChat's system account for these events
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": event,
    }


def _payment_fields(state: dict[str, Any]) -> dict[str, Any]:
    tx = state["tx"]
    success = parse_datetime(tx.get("success_time") or "")
    return {
        "transaction_id": state["transaction_id"],
        "merchant_id": tx["mchid"],
        "sub_merchant_id": "",
        "merchant_trade_no": tx["out_trade_no"],
        "pay_time": int(success.timestamp()) if success else 0,
    }


def shipped_message(state: dict[str, Any]) -> dict[str, Any]:
    """trade_manage_order_settlement as WeChat pushes it when a payment is fully shipped: the
    settlement it expects (the automatic confirmation's), no confirmation or settlement yet."""
    return {
        **_envelope(SETTLEMENT),
        **_payment_fields(state),
        "shipped_time": state["shipped_time"],
        "estimated_settlement_time": state["shipped_time"] + AUTO_CONFIRM_SECONDS,
    }


@shared_task(name="wechat_sandbox.push_later")
def push_later(message: dict[str, Any]) -> int:
    return push(message)


def settlement_message(state: dict[str, Any]) -> dict[str, Any]:
    """trade_manage_order_settlement as WeChat pushes it at settlement."""
    return {
        **_envelope(SETTLEMENT),
        **_payment_fields(state),
        "shipped_time": state["shipped_time"],
        "confirm_receive_method": state.get("confirm_receive_method", 0),
        "confirm_receive_time": state["confirm_receive_time"],
        "settlement_time": state["settlement_time"],
    }


@csrf_exempt
@require_POST
def push_send(request: HttpRequest) -> JsonResponse:
    """Push one trade_manage_* event (`times` times, the same message: WeChat's retries)."""
    body = _json_body(request)
    event = str(body.get("Event") or "")
    if event not in EVENTS:
        return _error(*FORMAT_ERROR)
    if event == SETTLEMENT:
        state = trade_state(str(body.get("transaction_id") or ""))
        if state is None:
            return _error(10060001, "支付单不存在")
        message = settlement_message(state)
    else:
        message = {**_envelope(event), "msg": str(body.get("msg") or "")}
        state = trade_state(str(body.get("transaction_id") or ""))
        if state is not None:
            tx = state["tx"]
            message.update(
                {
                    "transaction_id": state["transaction_id"],
                    "merchant_id": tx["mchid"],
                    "sub_merchant_id": "",
                    "merchant_trade_no": tx["out_trade_no"],
                    "pay_time": int(parse_datetime(tx["success_time"]).timestamp()),
                }
            )
    return _ok(push_status=[push(message) for _ in range(_times(body))], message=message)


# --- message push, as WeChat sends it ----------------------------------------------------------


def _signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's SHA-1)


def signed_push(message: dict[str, Any], *, timestamp: int | None = None) -> tuple[str, bytes]:
    """(query string, body) of a push in safe mode: the message encrypted, both signatures."""
    token = settings.WECHAT_MESSAGE_TOKEN
    key = base64.b64decode(settings.WECHAT_MESSAGE_AES_KEY + "=")
    plaintext = json.dumps(message, ensure_ascii=False)
    encrypt = PrpCrypto(key).encrypt(plaintext, settings.WECHAT_APPID)
    encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
    ts = str(timestamp or int(time.time()))
    nonce = "".join(secrets.choice(string.digits) for _ in range(10))
    query = urlencode(
        {
            "signature": _signature(token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": message.get("FromUserName", ""),
            "encrypt_type": "aes",
            "msg_signature": _signature(token, ts, nonce, encrypt),
        }
    )
    body = json.dumps({"ToUserName": message["ToUserName"], "Encrypt": encrypt}).encode()
    return query, body


def push_url() -> str:
    return settings.WECHAT_MESSAGE_PUSH_URL or f"{settings.PUBLIC_BASE_URL}/api/v1/wechat/message-push"


def push(message: dict[str, Any]) -> int:
    """Deliver one message to the project; its HTTP status (0: unreachable)."""
    query, body = signed_push(message)
    try:
        response = requests.post(
            f"{push_url()}?{query}", data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
    except requests.RequestException:
        logger.warning("sandbox could not push a message to %s", push_url(), exc_info=True)
        return 0
    return response.status_code
