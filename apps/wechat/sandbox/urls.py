"""Mounted at /wechat-sandbox/ only when WECHAT_SANDBOX is on (see config/urls.py).

WeChat Pay's API v3 paths begin with /v3/, so they live here as /wechat-sandbox/v3/...
"""

from django.urls import path

from . import miniprogram, pay

app_name = "wechat_sandbox"

urlpatterns = [
    path("cgi-bin/stable_token", miniprogram.stable_token, name="stable_token"),
    path("sns/jscode2session", miniprogram.jscode2session, name="jscode2session"),
    path("wxa/business/getuserphonenumber", miniprogram.getuserphonenumber, name="getuserphonenumber"),
    path("wxa/getwxacodeunlimit", miniprogram.getwxacodeunlimit, name="getwxacodeunlimit"),
    path("wxa/generate_urllink", miniprogram.generate_urllink, name="generate_urllink"),
    # WeChat Pay API v3
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
    # The shopper's side: "I paid" in WeChat, and WeChat's retries of a payment notification.
    path("pay/confirm", pay.confirm, name="pay_confirm"),
    path("pay/renotify", pay.renotify, name="pay_renotify"),
]
