"""The sandbox's merchant transfers (商家转账), behaving as WeChat Pay does towards the project.

- `POST v3/fund-app/mch-transfer/transfer-bills`: verifies the merchant's signature, checks the
  scene (1005 佣金报酬 needs its two report items), decrypts `user_name` with the platform private key
  (required from 2,000 yuan, and only if Wechatpay-Serial names the platform key) and answers
  `WAIT_USER_CONFIRM` with a `package_info`. The same out_bill_no answers the same bill.
- `GET v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}`: the bill, or 404 NOT_FOUND.
- `POST v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel`: revoke an
  unconfirmed bill (CANCELLED, notified).
- `POST transfer/confirm {"out_bill_no", "state"?}`: the user confirmed in the mini-program; the bill
  becomes SUCCESS (or the given FAIL / CANCELLED, to rehearse failures) and the signed
  MCHTRANSFER.BILL.FINISHED notification is sent to the bill's notify_url now.

State lives in Django's cache, like the sandbox's payments (sandbox/pay.py), whose signing,
verification and notification helpers are reused so the project's real verification code runs.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import faults, pay
from .keys import sandbox_keys

_BILL = "wechat-sandbox:transfer:{}"
# The payment sandbox's merchant-signature check (public under its newer name).
_verify_merchant = getattr(pay, "verify_merchant_request", None) or pay._verify_merchant
SCENE_REPORT_TYPES = {"1005": {"岗位类型", "报酬说明"}}
REAL_NAME_FROM_FEN = 200_000
MIN_TRANSFER_FEN = 10  # 0.1 yuan
_ALNUM = set(string.ascii_letters + string.digits)


def get_bill(out_bill_no: str) -> dict[str, Any] | None:
    return cache.get(_BILL.format(out_bill_no))


def _save(bill: dict[str, Any]) -> None:
    cache.set(_BILL.format(bill["out_bill_no"]), bill, pay.STATE_TTL)


def _decrypt(ciphertext: str) -> str | None:
    """RSA-OAEP (SHA-1), as WeChat Pay encrypts sensitive fields with its platform public key."""
    try:
        key = load_pem_private_key(sandbox_keys().platform_private_key.encode(), password=None)
        plain = key.decrypt(
            base64.b64decode(ciphertext),
            padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
        )
        return plain.decode()
    except (ValueError, TypeError):
        return None


def _answer(bill: dict[str, Any]) -> dict[str, Any]:
    answer = {
        "out_bill_no": bill["out_bill_no"],
        "transfer_bill_no": bill["transfer_bill_no"],
        "create_time": bill["create_time"],
        "state": bill["state"],
    }
    if bill["state"] == "WAIT_USER_CONFIRM":
        answer["package_info"] = bill["package_info"]
    return answer


def _resource(bill: dict[str, Any]) -> dict[str, Any]:
    resource = {
        "mch_id": bill["mch_id"],
        "out_bill_no": bill["out_bill_no"],
        "transfer_bill_no": bill["transfer_bill_no"],
        "appid": bill["appid"],
        "state": bill["state"],
        "transfer_amount": bill["transfer_amount"],
        "transfer_remark": bill["transfer_remark"],
        "openid": bill["openid"],
        "create_time": bill["create_time"],
        "update_time": bill["update_time"],
    }
    if bill.get("fail_reason"):
        resource["fail_reason"] = bill["fail_reason"]
    return resource


def transfer_notification(out_bill_no: str, *, timestamp: int | None = None) -> tuple[str, dict, bytes]:
    """(notify_url, headers, body) of a finished bill's notification."""
    bill = get_bill(out_bill_no)
    if bill is None:
        raise LookupError(out_bill_no)
    headers, body = pay.build_notification(
        event_type="MCHTRANSFER.BILL.FINISHED",
        summary="商家转账单据终态通知",
        original_type="mch_payment",
        resource=_resource(bill),
        timestamp=timestamp,
    )
    return bill["notify_url"], headers, body


@csrf_exempt
@require_POST
def transfer_bills(request: HttpRequest) -> HttpResponse:
    refused = _verify_merchant(request)
    if refused is not None:
        return refused
    fault = faults.take("transfer")
    if refused := pay.refused_by_fault(fault):
        return refused
    data = pay._json(request)
    out_bill_no = str(data.get("out_bill_no") or "")
    amount = data.get("transfer_amount")
    if not out_bill_no or len(out_bill_no) > 32 or not set(out_bill_no) <= _ALNUM:
        return pay._error(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成，最多 32 位")
    if data.get("appid") != settings.WECHAT_APPID:
        return pay._error(400, "APPID_MCHID_NOT_MATCH", "appid 与商户号不匹配")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < MIN_TRANSFER_FEN:
        return pay._error(400, "PARAM_ERROR", "转账金额不能低于 0.1 元")
    scene = str(data.get("transfer_scene_id") or "")
    if scene not in SCENE_REPORT_TYPES:
        return pay._error(400, "PARAM_ERROR", "转账场景未开通")
    reported = {
        i.get("info_type") for i in data.get("transfer_scene_report_infos") or [] if isinstance(i, dict)
    }
    if not SCENE_REPORT_TYPES[scene] <= reported:
        return pay._error(400, "PARAM_ERROR", "转账场景报备信息不完整")
    if not data.get("openid") or not data.get("transfer_remark") or not data.get("notify_url"):
        return pay._error(400, "PARAM_ERROR", "缺少 openid、transfer_remark 或 notify_url")
    user_name = None
    if data.get("user_name"):
        if request.headers.get("Wechatpay-Serial") != sandbox_keys().platform_public_key_id:
            return pay._error(400, "PARAM_ERROR", "Wechatpay-Serial 与加密公钥不符")
        user_name = _decrypt(str(data["user_name"]))
        if not user_name:
            return pay._error(400, "PARAM_ERROR", "user_name 解密失败")
    if amount >= REAL_NAME_FROM_FEN and not user_name:
        return pay._error(400, "PARAM_ERROR", "转账金额 >= 2000 元时必须填写收款用户姓名")
    with pay._state_lock:
        bill = get_bill(out_bill_no)
        if bill is not None:
            if bill["transfer_amount"] != amount or bill["openid"] != data["openid"]:
                return pay._error(400, "INVALID_REQUEST", "单号已存在但信息不一致，请查单后比较确认")
            return pay.answered_with_fault(pay.signed_json(_answer(bill)), fault)
        now = pay._now_iso()
        bill = {
            "mch_id": settings.WECHATPAY_MCHID,
            "appid": data["appid"],
            "out_bill_no": out_bill_no,
            "transfer_bill_no": "1330" + "".join(secrets.choice(string.digits) for _ in range(36)),
            "transfer_scene_id": scene,
            "openid": data["openid"],
            "user_name": user_name,
            "transfer_amount": amount,
            "transfer_remark": str(data["transfer_remark"])[:32],
            "user_recv_perception": data.get("user_recv_perception") or "",
            "notify_url": data["notify_url"],
            "state": "WAIT_USER_CONFIRM",
            "package_info": "ABBQO+oYAAABAAAAAAA" + secrets.token_urlsafe(48),
            "fail_reason": "",
            "create_time": now,
            "update_time": now,
            # `expire`: the user never confirms; the next look at it finds it closed (OVERDUE_CLOSE),
            # as WeChat closes an unconfirmed bill after 24 hours.
            "expire": bool(fault and fault.kind == "expire"),
        }
        _save(bill)
    pay.index("transfer", out_bill_no)
    if fault is not None and fault.kind == "ambiguous_4xx":
        # The bill exists, but the answer is an error: only a query by out_bill_no tells.
        return pay._error(400, "INVALID_REQUEST", "请求处理异常，请使用原商户单号查询")
    return pay.answered_with_fault(pay.signed_json(_answer(bill)), fault)


@csrf_exempt
@require_GET
def transfer_bill(request: HttpRequest, out_bill_no: str) -> HttpResponse:
    refused = _verify_merchant(request)
    if refused is not None:
        return refused
    fault = faults.take("transfer_query")
    if refused := pay.refused_by_fault(fault):
        return refused
    bill = get_bill(out_bill_no)
    if bill is None:
        return pay._error(404, "NOT_FOUND", "记录不存在")
    if bill.get("expire") and bill["state"] == "WAIT_USER_CONFIRM":
        bill, _problem = _finish(out_bill_no, "FAIL", "OVERDUE_CLOSE")
        url, headers, body = transfer_notification(out_bill_no)
        pay.deliver("transfer_notify", url, headers, body)
    answer = (
        {**_resource(bill), "package_info": bill["package_info"]}
        if bill["state"] == "WAIT_USER_CONFIRM"
        else _resource(bill)
    )
    return pay.answered_with_fault(pay.signed_json(answer), fault)


def _finish(out_bill_no: str, state: str, fail_reason: str = "") -> tuple[dict | None, str]:
    with pay._state_lock:
        bill = get_bill(out_bill_no)
        if bill is None:
            return None, "NOT_FOUND"
        if bill["state"] in ("SUCCESS", "FAIL", "CANCELLED"):
            return bill, "ALREADY_FINISHED"
        bill["state"] = state
        bill["fail_reason"] = fail_reason
        bill["update_time"] = pay._now_iso()
        _save(bill)
    return bill, ""


@csrf_exempt
@require_POST
def cancel_bill(request: HttpRequest, out_bill_no: str) -> HttpResponse:
    refused = _verify_merchant(request)
    if refused is not None:
        return refused
    fault = faults.take("transfer_cancel")
    if refused := pay.refused_by_fault(fault):
        return refused
    bill = get_bill(out_bill_no)
    if bill is not None and bill["state"] != "WAIT_USER_CONFIRM":
        return pay._error(400, "INVALID_REQUEST", "当前状态不可撤销")
    # WeChat answers CANCELING (accepted) and finishes the cancel by itself: CANCELLED, notified.
    # Here it is finished at once, so the notification may reach the project before this answer.
    bill, _problem = _finish(out_bill_no, "CANCELLED", "MCH_CANCEL")
    if bill is None:
        return pay._error(404, "NOT_FOUND", "记录不存在")
    url, headers, body = transfer_notification(out_bill_no)
    pay.deliver("transfer_notify", url, headers, body)
    answer = {
        "out_bill_no": out_bill_no,
        "transfer_bill_no": bill["transfer_bill_no"],
        "state": "CANCELING",
        "update_time": bill["update_time"],
    }
    return pay.answered_with_fault(pay.signed_json(answer), fault)


@csrf_exempt
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    """The user confirmed the transfer in WeChat (or, with "state", it failed / expired): notify now."""
    data = pay._json(request)
    out_bill_no = str(data.get("out_bill_no") or "")
    state = str(data.get("state") or "SUCCESS")
    if state not in ("SUCCESS", "FAIL", "CANCELLED"):
        return pay._error(400, "PARAM_ERROR", "state 只能是 SUCCESS、FAIL 或 CANCELLED")
    reason = {"FAIL": "PAYEE_ACCOUNT_ABNORMAL", "CANCELLED": "MCH_CANCEL"}.get(state, "")
    existing = get_bill(out_bill_no)
    if existing is not None and existing.get("expire") and existing["state"] == "WAIT_USER_CONFIRM":
        return pay._error(400, "INVALID_REQUEST", "转账单已超时关闭")
    bill, problem = _finish(out_bill_no, state, reason)
    if bill is None:
        return pay._error(404, "NOT_FOUND", "转账单不存在")
    if problem:
        return pay._error(400, problem, "转账单已是终态")
    url, headers, body = transfer_notification(out_bill_no)
    return pay.signed_json(
        {"state": bill["state"], "notify_status": pay.deliver("transfer_notify", url, headers, body)}
    )
