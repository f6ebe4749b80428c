"""Mounted at /wechat-sandbox/ only when WECHAT_SANDBOX is on (see config/urls.py).

WeChat Pay's API v3 paths begin with /v3/, so they live here as /wechat-sandbox/v3/...
"""

from django.urls import path

from . import bills, faults, ledger, miniprogram, pay, subscribe, trade, transfers

app_name = "wechat_sandbox"

urlpatterns = [
    path("cgi-bin/stable_token", miniprogram.stable_token, name="stable_token"),
    path("sns/jscode2session", miniprogram.jscode2session, name="jscode2session"),
    path("wxa/business/getuserphonenumber", miniprogram.getuserphonenumber, name="getuserphonenumber"),
    path("wxa/getwxacodeunlimit", miniprogram.getwxacodeunlimit, name="getwxacodeunlimit"),
    path("wxa/generate_urllink", miniprogram.generate_urllink, name="generate_urllink"),
    path("cgi-bin/message/subscribe/send", subscribe.send, name="subscribe_send"),
    # trade management (发货信息管理) and the message push
    path("wxa/sec/order/upload_shipping_info", trade.upload_shipping_info, name="upload_shipping_info"),
    path("wxa/sec/order/get_order", trade.get_order, name="trade_get_order"),
    path("wxa/sec/order/notify_confirm_receive", trade.notify_confirm_receive, name="notify_confirm_receive"),
    path("wxa/sec/order/set_msg_jump_path", trade.set_msg_jump_path, name="set_msg_jump_path"),
    path("wxa/sec/order/is_trade_managed", trade.is_trade_managed, name="is_trade_managed"),
    path(
        "wxa/sec/order/is_trade_management_confirmation_completed",
        trade.is_trade_management_confirmation_completed,
        name="is_trade_management_confirmation_completed",
    ),
    path("trade/confirm-receive", trade.confirm_receive, name="trade_confirm_receive"),
    path("trade/settle", trade.settle, name="trade_settle"),
    path("trade/auto-confirm", trade.auto_confirm, name="trade_auto_confirm"),
    path("message-push/send", trade.push_send, name="message_push_send"),
    # WeChat Pay API v3: payments and refunds
    path("v3/pay/transactions/jsapi", pay.jsapi, name="pay_jsapi"),
    path(
        "v3/pay/transactions/out-trade-no/<str:out_trade_no>",
        pay.transaction_by_out_trade_no,
        name="pay_transaction",
    ),
    path(
        "v3/pay/transactions/out-trade-no/<str:out_trade_no>/close",
        pay.close_transaction,
        name="pay_close",
    ),
    path("v3/refund/domestic/refunds", pay.refunds, name="pay_refunds"),
    path("v3/refund/domestic/refunds/<str:out_refund_no>", pay.refund_by_out_refund_no, name="pay_refund"),
    # WeChat Pay API v3: merchant transfers (商家转账)
    path("v3/fund-app/mch-transfer/transfer-bills", transfers.transfer_bills, name="transfer_bills"),
    path(
        "v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<str:out_bill_no>",
        transfers.transfer_bill,
        name="transfer_bill",
    ),
    path(
        "v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<str:out_bill_no>/cancel",
        transfers.cancel_bill,
        name="transfer_cancel",
    ),
    # WeChat Pay API v3: bills (对账单)
    path("v3/bill/tradebill", bills.tradebill, name="bill_trade"),
    path("v3/bill/fundflowbill", bills.fundflowbill, name="bill_fundflow"),
    path("v3/billdownload/file", bills.download, name="bill_download"),
    # The user's side: "I paid" / "I confirmed the transfer" in WeChat, and WeChat's notify retries.
    path("pay/confirm", pay.confirm, name="pay_confirm"),
    path("pay/renotify", pay.renotify, name="pay_renotify"),
    path("transfer/confirm", transfers.confirm, name="transfer_confirm"),
    # Rehearsing WeChat's failures, and WeChat's side of the books.
    path("faults", faults.faults, name="faults"),
    path("ledger", ledger.ledger_view, name="ledger"),
]
