"""WeChat's trade management for mini-programs (小程序发货信息管理服务, wxa/sec/order/*).

A mini-program under settlement management has its buyers' money frozen until the merchant uploads
the shipping information and the buyer confirms (or the window passes). These are the calls the
project makes; field names and rules are WeChat's (order-shipping.html):

- `upload_shipping_info`: order_key (order_number_type 1 = mchid + out_trade_no, 2 = transaction_id),
  logistics_type (1 express, 2 same-city, 3 virtual, 4 pick-up), delivery_mode (1 unified: exactly
  one parcel; 2 split: up to 15 parcels, with is_all_delivered), shipping_list [{tracking_no,
  express_company (a code from get_delivery_list), item_desc (120 characters at most), contact
  {receiver_contact, masked except its last four digits; required by SF}}], upload_time (RFC 3339,
  newer than the previous upload), payer {openid}. Once an order is fully shipped WeChat allows one
  more upload (a correction): a second correction answers 10060003.
- `get_order`, `notify_confirm_receive`, `set_msg_jump_path`, `is_trade_managed`,
  `is_trade_management_confirmation_completed`.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from . import conf
from .client import call, miniprogram_client

LOGISTICS_EXPRESS, LOGISTICS_SAME_CITY, LOGISTICS_VIRTUAL, LOGISTICS_PICKUP = 1, 2, 3, 4
UNIFIED_DELIVERY, SPLIT_DELIVERY = 1, 2
ORDER_NUMBER_OUT_TRADE_NO, ORDER_NUMBER_TRANSACTION_ID = 1, 2
MAX_PARCELS = 15
ITEM_DESC_MAX = 120

# get_order's order_state
WAITING_SHIPMENT, SHIPPED, CONFIRMED, SETTLED, REFUNDED = 1, 2, 3, 4, 5

# WeChat's carrier codes (get_delivery_list's delivery_id) for the carriers the console offers,
# with the names operators type. A name not here is refused at shipping time: WeChat would refuse
# the upload, and the buyer's money would stay frozen.
CARRIERS: dict[str, tuple[str, ...]] = {
    "SF": ("顺丰", "顺丰速运", "顺丰快递"),
    "ZTO": ("中通", "中通快递"),
    "YTO": ("圆通", "圆通速递", "圆通快递"),
    "STO": ("申通", "申通快递"),
    "YD": ("韵达", "韵达速递", "韵达快递"),
}
# Carriers whose uploads need a contact (WeChat: 顺丰 requires the receiver's or sender's contact).
CONTACT_REQUIRED = {"SF"}

# Errors that sending again cannot fix (WeChat refused the content or the order's state); others
# (busy, rate limited, token, network) are retried with backoff.
PERMANENT_ERRCODES = {47001, 10060001, 10060003, 10060004, 10060031, 268485228}


def carrier_code(carrier: str) -> str | None:
    """WeChat's code of a carrier given by name or by code, or None."""
    value = (carrier or "").strip()
    if value.upper() in CARRIERS:
        return value.upper()
    for code, names in CARRIERS.items():
        if value in names:
            return code
    return None


def mask_phone(phone: str) -> str:
    """WeChat's masked contact: the last four digits stay readable ("139****2901")."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return ""
    return f"{digits[:3]}****{digits[-4:]}"


def upload_time(moment: datetime | None = None) -> str:
    """RFC 3339 with milliseconds, as WeChat's example (2022-12-15T13:29:35.120+08:00)."""
    return timezone.localtime(moment or timezone.now()).isoformat(timespec="milliseconds")


def _post(path: str, data: dict) -> dict:
    client = miniprogram_client()
    return call(client.post, f"{conf.WECHAT_HOST}/{path}", data=data)


def upload_shipping_info(payload: dict) -> dict:
    return _post("wxa/sec/order/upload_shipping_info", payload)


def get_order(*, transaction_id: str = "", merchant_trade_no: str = "") -> dict:
    data = (
        {"transaction_id": transaction_id}
        if transaction_id
        else {"merchant_id": settings.WECHATPAY_MCHID, "merchant_trade_no": merchant_trade_no}
    )
    return _post("wxa/sec/order/get_order", data)["order"]


def notify_confirm_receive(*, transaction_id: str, received_time: int) -> dict:
    return _post(
        "wxa/sec/order/notify_confirm_receive",
        {"transaction_id": transaction_id, "received_time": received_time},
    )


def set_msg_jump_path(path: str) -> dict:
    return _post("wxa/sec/order/set_msg_jump_path", {"path": path})


def is_trade_managed() -> bool:
    return bool(_post("wxa/sec/order/is_trade_managed", {"appid": settings.WECHAT_APPID})["is_trade_managed"])


def is_trade_management_confirmation_completed() -> bool:
    answer = _post(
        "wxa/sec/order/is_trade_management_confirmation_completed", {"appid": settings.WECHAT_APPID}
    )
    return bool(answer["completed"])
