"""WeChat Pay's bills (对账单): the trade bill and the fund flow bill of a day, fetched and parsed.

`GET /v3/bill/tradebill` and `/v3/bill/fundflowbill` answer (signed) a download_url and the file's
SHA1; the file itself is not signed, so its hash is checked against the signed answer. Rows follow
the documented layout: a header, detail rows whose every field starts with a backtick, then a
summary header and row. Amounts are yuan with two decimals, read here into integer fen.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import requests
from django.utils import timezone

from . import pay


@dataclass(frozen=True)
class TradeRow:
    """One line of the trade bill: a payment (trade_state SUCCESS) or a refund (REFUND)."""

    at: datetime | None
    transaction_id: str
    out_trade_no: str
    trade_state: str
    amount_fen: int  # 应结订单金额 for a payment
    refund_id: str
    out_refund_no: str
    refund_fen: int
    refund_state: str  # a snapshot taken when the bill was made


@dataclass(frozen=True)
class FundRow:
    at: datetime | None
    wechat_no: str
    business: str  # 业务名称
    kind: str  # 业务类型
    direction: str  # 收入 / 支出
    amount_fen: int
    voucher: str  # 业务凭证号: out_trade_no, out_refund_no or out_bill_no


def fen(text: str) -> int:
    try:
        value = Decimal(text or "0")
    except InvalidOperation as exc:
        raise pay.WeChatPayError(f"账单金额无法解析: {text!r}") from exc
    return int((value * 100).to_integral_value())


def _at(text: str) -> datetime | None:
    try:
        return timezone.make_aware(datetime.strptime(text, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


def _rows(content: str) -> list[dict[str, str]]:
    """The detail rows as {header: value}, backticks stripped, summary left out."""
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    rows = []
    for line in lines[1:]:
        if not line.startswith("`"):
            break  # the summary header: detail rows are over
        values = [v.removeprefix("`") for v in next(csv.reader(io.StringIO(line)))]
        rows.append(dict(zip(header, values, strict=False)))
    return rows


def _download(kind: str, bill_date: date, extra: str) -> str:
    wxpay = pay.client()
    answer = pay.call(wxpay._core.request, f"/v3/bill/{kind}?bill_date={bill_date.isoformat()}{extra}")
    url = str(answer.get("download_url") or "")
    gate = wxpay._core._gate_way
    path = url[len(gate) :] if url.startswith(gate) else url
    try:
        status, content = wxpay._core.request(path, skip_verify=True)
    except requests.RequestException as exc:
        raise pay.WeChatPayUnavailable() from exc
    if not 200 <= status < 300:
        raise pay.WeChatPayUnavailable(http_status=status)
    data = content if isinstance(content, bytes) else str(content).encode()
    if hashlib.sha1(data).hexdigest() != answer.get("hash_value"):  # noqa: S324 - WeChat's choice
        raise pay.WeChatPayUnavailable("账单文件校验失败", wechat_code="BAD_HASH")
    return data.decode("utf-8-sig")


def trade_bill(*, bill_date: date) -> list[TradeRow]:
    rows = _rows(_download("tradebill", bill_date, "&bill_type=ALL"))
    return [
        TradeRow(
            at=_at(r.get("交易时间", "")),
            transaction_id=r.get("微信订单号", ""),
            out_trade_no=r.get("商户订单号", ""),
            trade_state=r.get("交易状态", ""),
            amount_fen=fen(r.get("应结订单金额", "0")),
            refund_id=r.get("微信退款单号", "") if r.get("微信退款单号", "0") != "0" else "",
            out_refund_no=r.get("商户退款单号", "") if r.get("商户退款单号", "0") != "0" else "",
            refund_fen=fen(r.get("退款金额", "0")),
            refund_state=r.get("退款状态", ""),
        )
        for r in rows
    ]


def fundflow_bill(*, bill_date: date) -> list[FundRow]:
    rows = _rows(_download("fundflowbill", bill_date, "&account_type=BASIC"))
    return [
        FundRow(
            at=_at(r.get("记账时间", "")),
            wechat_no=r.get("微信支付业务单号", ""),
            business=r.get("业务名称", ""),
            kind=r.get("业务类型", ""),
            direction=r.get("收支类型", ""),
            amount_fen=fen(r.get("收支金额（元）", "0")),
            voucher=r.get("业务凭证号", ""),
        )
        for r in rows
    ]
