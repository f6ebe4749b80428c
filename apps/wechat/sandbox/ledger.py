"""`GET /wechat-sandbox/ledger`: every payment, refund and transfer as the sandbox (WeChat) holds it.

This is WeChat's side of the books: what a reconciliation or a simulation compares the project's
records with. Amounts in fen; states are WeChat's (trade_state, refund status, bill state).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from . import pay, transfers


def ledger() -> dict[str, list[dict]]:
    payments = []
    for out_trade_no in pay.indexed("tx"):
        tx = pay.get_transaction(out_trade_no)
        if tx is None:
            continue
        payments.append(
            {
                "out_trade_no": out_trade_no,
                "transaction_id": tx.get("transaction_id") or "",
                "amount": tx["total"],
                "state": tx["trade_state"],
                "success_time": tx.get("success_time") or "",
            }
        )
    refunds = []
    for out_refund_no in pay.indexed("refund"):
        refund = pay.get_refund(out_refund_no)
        if refund is None:
            continue
        refunds.append(
            {
                "out_refund_no": out_refund_no,
                "out_trade_no": refund["out_trade_no"],
                "refund_id": refund["refund_id"],
                "amount": refund["refund"],
                "state": refund["status"],
                "create_time": refund["create_time"],
                "success_time": refund.get("success_time") or "",
            }
        )
    bills = []
    for out_bill_no in pay.indexed("transfer"):
        bill = transfers.get_bill(out_bill_no)
        if bill is None:
            continue
        bills.append(
            {
                "out_bill_no": out_bill_no,
                "transfer_bill_no": bill["transfer_bill_no"],
                "amount": bill["transfer_amount"],
                "state": bill["state"],
                "create_time": bill["create_time"],
                "update_time": bill["update_time"],
            }
        )
    return {"payments": payments, "refunds": refunds, "transfers": bills}


@require_GET
def ledger_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(ledger(), json_dumps_params={"ensure_ascii": False})
