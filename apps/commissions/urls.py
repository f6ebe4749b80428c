from django.urls import path

from . import apis

urlpatterns = [
    path("koc/commissions", apis.CommissionListApi.as_view(), name="koc-commissions"),
    path("koc/wallet", apis.WalletApi.as_view(), name="koc-wallet"),
    path("koc/withdrawals", apis.WithdrawalsApi.as_view(), name="koc-withdrawals"),
    path(
        "koc/withdrawals/<int:withdrawal_id>/cancel",
        apis.WithdrawalCancelApi.as_view(),
        name="koc-withdrawal-cancel",
    ),
    path("koc/withdrawals/quote", apis.WithdrawalQuoteApi.as_view(), name="koc-withdrawals-quote"),
    path("koc/tax", apis.TaxStatementApi.as_view(), name="koc-tax"),
    path("payments/wechat/transfer-notify", apis.TransferNotifyApi.as_view(), name="wechat-transfer-notify"),
]
