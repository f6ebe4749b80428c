"""The sandbox's bills (对账单), built from what the sandbox really did.

- `GET v3/bill/tradebill?bill_date=YYYY-MM-DD[&bill_type=ALL]` and
  `GET v3/bill/fundflowbill?bill_date=YYYY-MM-DD[&account_type=BASIC]`: signed JSON
  `{"hash_type": "SHA1", "hash_value", "download_url"}`, as WeChat Pay answers;
- `GET v3/billdownload/file?token=...`: the file itself (not signed, as WeChat's download is not).

The trade bill follows WeChat's documented layout: a header row, one row per payment (dated by its
success time) and per refund (dated by the time WeChat accepted it; its state is a snapshot taken
when the bill was made), then the summary header and the summary row. Every detail and summary
field starts with a backtick. Amounts are yuan with two decimals. The fund flow bill has one row
per movement of the merchant's balance: a payment in, a refund out when it succeeds, a transfer out
when it succeeds (业务凭证号 is the merchant's number: out_trade_no / out_refund_no / out_bill_no).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from . import pay, transfers

_FILE = "wechat-sandbox:bill-file:{}"
FILE_TTL = 30 * 60

TRADE_HEADER = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
TRADE_SUMMARY_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
FUND_HEADER = [
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额（元）",
    "账户结余（元）",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
]
FUND_SUMMARY_HEADER = ["资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额"]


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}" if fen >= 0 else f"-{yuan(-fen)}"


def _on(value: str, day: date) -> datetime | None:
    moment = parse_datetime(value or "")
    return moment if moment and timezone.localtime(moment).date() == day else None


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _line(fields: list) -> str:
    return ",".join(f"`{f}" for f in fields)


def trade_bill(day: date) -> str:
    rows: list[tuple[datetime, list]] = []
    paid_fen = refund_fen = 0
    for out_trade_no in pay.indexed("tx"):
        tx = pay.get_transaction(out_trade_no)
        when = _on(tx.get("success_time", ""), day) if tx and tx.get("transaction_id") else None
        if when is None:
            continue
        paid_fen += tx["total"]
        rows.append(
            (
                when,
                [_when(when), tx["appid"], tx["mchid"], "0", "", tx["transaction_id"], out_trade_no,
                 tx["openid"], "JSAPI", "SUCCESS", "OTHERS", "CNY", yuan(tx["total"]), "0.00", "0", "0",
                 "0.00", "0.00", "", "", tx.get("description", ""), tx.get("attach", ""), "0.00000",
                 "0.00%", yuan(tx["total"]), "0.00", ""],
            )
        )  # fmt: skip
    for out_refund_no in pay.indexed("refund"):
        refund = pay.get_refund(out_refund_no)
        when = _on(refund.get("create_time", ""), day) if refund else None
        if when is None:
            continue
        tx = pay.get_transaction(refund["out_trade_no"]) or {}
        refund_fen += refund["refund"]
        rows.append(
            (
                when,
                [_when(when), tx.get("appid", ""), refund["mchid"], "0", "", refund["transaction_id"],
                 refund["out_trade_no"], tx.get("openid", ""), "JSAPI", "REFUND", "OTHERS", "CNY", "0.00",
                 "0.00", refund["refund_id"], out_refund_no, yuan(refund["refund"]), "0.00", "ORIGINAL",
                 refund["status"], tx.get("description", ""), tx.get("attach", ""), "0.00000", "0.00%",
                 yuan(refund["total"]), yuan(refund["refund"]), ""],
            )
        )  # fmt: skip
    rows.sort(key=lambda r: r[0])
    lines = [",".join(TRADE_HEADER), *(_line(r) for _, r in rows), ",".join(TRADE_SUMMARY_HEADER)]
    summary = [
        len(rows),
        yuan(paid_fen),
        yuan(refund_fen),
        "0.00",
        "0.00000",
        yuan(paid_fen),
        yuan(refund_fen),
    ]
    lines.append(_line(summary))
    return "\r\n".join(lines) + "\r\n"


def fundflow_bill(day: date) -> str:
    moves: list[tuple[datetime, str, str, str, str, int, str]] = []
    for out_trade_no in pay.indexed("tx"):
        tx = pay.get_transaction(out_trade_no)
        when = _on(tx.get("success_time", ""), day) if tx and tx.get("transaction_id") else None
        if when is not None:
            moves.append((when, tx["transaction_id"], "交易", "交易", "收入", tx["total"], out_trade_no))
    for out_refund_no in pay.indexed("refund"):
        refund = pay.get_refund(out_refund_no)
        when = _on(refund.get("success_time", ""), day) if refund and refund["status"] == "SUCCESS" else None
        if when is not None:
            moves.append((when, refund["refund_id"], "退款", "退款", "支出", refund["refund"], out_refund_no))
    for out_bill_no in pay.indexed("transfer"):
        bill = transfers.get_bill(out_bill_no)
        when = _on(bill.get("update_time", ""), day) if bill and bill["state"] == "SUCCESS" else None
        if when is not None:
            moves.append(
                (
                    when,
                    bill["transfer_bill_no"],
                    "商家转账",
                    "商家转账",
                    "支出",
                    bill["transfer_amount"],
                    out_bill_no,
                )
            )
    moves.sort(key=lambda m: m[0])
    balance = 0
    lines = [",".join(FUND_HEADER)]
    income = [m for m in moves if m[4] == "收入"]
    expense = [m for m in moves if m[4] == "支出"]
    for when, wechat_no, name, kind, direction, amount, voucher in moves:
        balance += amount if direction == "收入" else -amount
        flow_no = f"{timezone.localtime(when):%Y%m%d}{secrets.randbelow(10**16):016d}"
        lines.append(
            _line([_when(when), wechat_no, flow_no, name, kind, direction, yuan(amount), yuan(balance),
                   "system", "", voucher])
        )  # fmt: skip
    lines.append(",".join(FUND_SUMMARY_HEADER))
    lines.append(
        _line([len(moves), len(income), yuan(sum(m[5] for m in income)), len(expense),
               yuan(sum(m[5] for m in expense))])
    )  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def _bill_answer(request: HttpRequest, content: str) -> HttpResponse:
    token = secrets.token_urlsafe(24)
    cache.set(_FILE.format(token), content, FILE_TTL)
    base = request.build_absolute_uri("/")[:-1] + request.path.split("/v3/")[0]
    return pay.signed_json(
        {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(content.encode()).hexdigest(),  # noqa: S324 - WeChat's choice
            "download_url": f"{base}/v3/billdownload/file?token={token}",
        }
    )


def _bill_date(request: HttpRequest) -> date | None:
    day = parse_date(request.GET.get("bill_date", ""))
    if day is None or day > timezone.localdate():
        return None
    # WeChat makes a day's bill the next morning; the sandbox also serves today's so far, so a test
    # or a simulated run can reconcile the day it ran.
    return day


@require_GET
def tradebill(request: HttpRequest) -> HttpResponse:
    if denied := pay.verify_merchant_request(request):
        return denied
    day = _bill_date(request)
    if day is None:
        return pay._error(400, "INVALID_REQUEST", "账单日期格式错误或账单尚未生成")
    return _bill_answer(request, trade_bill(day))


@require_GET
def fundflowbill(request: HttpRequest) -> HttpResponse:
    if denied := pay.verify_merchant_request(request):
        return denied
    day = _bill_date(request)
    if day is None:
        return pay._error(400, "INVALID_REQUEST", "账单日期格式错误或账单尚未生成")
    return _bill_answer(request, fundflow_bill(day))


@require_GET
def download(request: HttpRequest) -> HttpResponse:
    if denied := pay.verify_merchant_request(request):
        return denied
    content = cache.get(_FILE.format(request.GET.get("token", "")))
    if content is None:
        return pay._error(404, "RESOURCE_NOT_EXISTS", "账单文件不存在或已过期")
    return HttpResponse(content.encode(), content_type="application/octet-stream")
