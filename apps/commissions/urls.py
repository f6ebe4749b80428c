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
    path("payments/wechat/transfer-notify", apis.TransferNotifyApi.as_view(), name="wechat-transfer-notify"),
]
