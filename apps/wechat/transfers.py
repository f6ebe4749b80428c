"""WeChat Pay merchant transfers (商家转账, the 2025 flow): commission payouts to a KOC's WeChat change.

Built on the shop's gateway (`pay.client()` / `pay.call()` / `pay.verify_notification()`), so keys,
the sandbox switch, answer-signature checks and error mapping are the same as for payments.

The flow: `transfer_create` answers `WAIT_USER_CONFIRM` and a `package_info`, which the mini-program
hands to `wx.requestMerchantTransfer`; the user confirms; WeChat Pay then notifies
(`MCHTRANSFER.BILL.FINISHED`, state SUCCESS / FAIL / CANCELLED) and `transfer_query` answers the same
state for a poll. `out_bill_no` is our idempotency key at WeChat: creating the same bill again
answers the first bill.

Scene 1005 (佣金报酬) requires two report items (岗位类型, 报酬说明); the user sees "劳务报酬".
From 2,000 yuan the payee's real name is required; wechatpayv3 encrypts it with the platform public
key (RSA-OAEP) and sends the key's id in Wechatpay-Serial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext

from . import pay

SCENE_COMMISSION = "1005"  # 佣金报酬
USER_RECV_PERCEPTION = "劳务报酬"
REPORT_INFOS = [
    {"info_type": "岗位类型", "info_content": "推广员"},
    {"info_type": "报酬说明", "info_content": "佣金"},
]
REAL_NAME_FROM_FEN = 200_000  # 2,000 yuan

FINAL_STATES = frozenset({"SUCCESS", "FAIL", "CANCELLED"})
FAILED_STATES = frozenset({"FAIL", "CANCELLED"})


@dataclass(frozen=True)
class TransferBill:
    out_bill_no: str
    transfer_bill_no: str
    state: str
    package_info: str = ""
    fail_reason: str = ""
    amount_fen: int | None = None
    openid: str = ""
    raw: dict = field(default_factory=dict, compare=False)


def _bill(data: Mapping[str, Any], out_bill_no: str = "") -> TransferBill:
    amount = data.get("transfer_amount")
    return TransferBill(
        out_bill_no=str(data.get("out_bill_no") or out_bill_no),
        transfer_bill_no=str(data.get("transfer_bill_no") or ""),
        state=str(data.get("state") or ""),
        package_info=str(data.get("package_info") or ""),
        fail_reason=str(data.get("fail_reason") or ""),
        amount_fen=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        openid=str(data.get("openid") or ""),
        raw=dict(data),
    )


def transfer_create(
    *,
    out_bill_no: str,
    openid: str,
    amount_fen: int,
    remark: str,
    notify_url: str,
    user_name: str | None = None,
) -> TransferBill:
    """Start a transfer of `amount_fen` to `openid`. `user_name` is sent (encrypted) from 2,000 yuan."""
    if amount_fen >= REAL_NAME_FROM_FEN and not user_name:
        raise pay.WeChatPayError(
            gettext("A transfer of 2,000 yuan or more needs the payee's real name."),
            code="real_name_required",
            status_code=409,
        )
    data = pay.call(
        pay.client().mch_transfer_bills,
        out_bill_no=out_bill_no,
        transfer_scene_id=SCENE_COMMISSION,
        openid=openid,
        transfer_amount=int(amount_fen),
        transfer_remark=remark[:32],
        user_name=user_name if amount_fen >= REAL_NAME_FROM_FEN else None,
        user_recv_perception=USER_RECV_PERCEPTION,
        transfer_scene_report_infos=REPORT_INFOS,
        notify_url=notify_url,
    )
    return _bill(data, out_bill_no)


def transfer_query(*, out_bill_no: str) -> TransferBill:
    """The bill as WeChat Pay knows it; WeChatPayError with wechat_code NOT_FOUND if it never got it."""
    return _bill(pay.call(pay.client().mch_transfer_bills_query, out_bill_no=out_bill_no), out_bill_no)


def transfer_cancel(*, out_bill_no: str) -> TransferBill:
    """撤销转账: revoke a bill the user has not confirmed. WeChat answers CANCELING (accepted) and
    finishes it by itself (CANCELLED, notified); only the bill's final state moves money."""
    return _bill(pay.call(pay.client().mch_transfer_bills_cancel, out_bill_no=out_bill_no), out_bill_no)


@dataclass(frozen=True)
class TransferNotice:
    event_type: str
    mch_id: str
    bill: TransferBill


def parse_transfer_notification(
    *, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> TransferNotice:
    """Verify a transfer notification exactly like a payment notification, then read the bill."""
    notification = pay.verify_notification(headers=headers, body=body, now=now)
    r = notification.resource
    if not r.get("out_bill_no") or not r.get("state"):
        raise pay.NotificationInvalid()
    amount = r.get("transfer_amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise pay.NotificationInvalid("金额无效")
    return TransferNotice(
        event_type=notification.event_type, mch_id=str(r.get("mch_id") or r.get("mchid") or ""), bill=_bill(r)
    )
