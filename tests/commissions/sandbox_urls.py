"""The project's URLconf plus the sandbox's transfer routes, for tests only.

apps/wechat/sandbox/urls.py belongs to the shop's engineer; until it mounts
apps/wechat/sandbox/transfers.py, the transfer tests run against this URLconf (the same views at the
same paths). Once mounted there, these extra lines simply shadow identical routes.
"""

from django.urls import path

from apps.wechat.sandbox import transfers
from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("wechat-sandbox/v3/fund-app/mch-transfer/transfer-bills", transfers.transfer_bills),
    path(
        "wechat-sandbox/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<str:out_bill_no>",
        transfers.transfer_bill,
    ),
    path(
        "wechat-sandbox/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<str:out_bill_no>/cancel",
        transfers.cancel_bill,
    ),
    path("wechat-sandbox/transfer/confirm", transfers.confirm),
    *project_urlpatterns,
]
