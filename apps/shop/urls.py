from django.urls import path

from . import apis

urlpatterns = [
    # catalogue
    path("brands", apis.BrandListApi.as_view(), name="shop-brand-list"),
    path("brands/<int:brand_id>", apis.BrandDetailApi.as_view(), name="shop-brand-detail"),
    path("categories", apis.CategoryTreeApi.as_view(), name="shop-category-tree"),
    path("products", apis.ProductListApi.as_view(), name="shop-product-list"),
    path("products/<int:product_id>", apis.ProductDetailApi.as_view(), name="shop-product-detail"),
    # orders
    path("orders", apis.OrderListApi.as_view(), name="shop-order-list"),
    path("orders/<int:order_id>", apis.OrderDetailApi.as_view(), name="shop-order-detail"),
    path("orders/<int:order_id>/pay", apis.OrderPayApi.as_view(), name="shop-order-pay"),
    path("orders/<int:order_id>/cancel", apis.OrderCancelApi.as_view(), name="shop-order-cancel"),
    path(
        "orders/<int:order_id>/confirm-receipt",
        apis.OrderConfirmReceiptApi.as_view(),
        name="shop-order-confirm-receipt",
    ),
    path("orders/<int:order_id>/refunds", apis.OrderRefundsApi.as_view(), name="shop-order-refunds"),
    # WeChat Pay
    path("payments/wechat/notify", apis.PaymentNotifyApi.as_view(), name="shop-payment-notify"),
    path("payments/wechat/refund-notify", apis.RefundNotifyApi.as_view(), name="shop-refund-notify"),
    path("wechat/message-push", apis.WeChatMessagePushApi.as_view(), name="wechat-message-push"),
    # operators
    path("ops/orders/<str:no>/ship", apis.OpsOrderShipApi.as_view(), name="shop-ops-order-ship"),
    path(
        "ops/orders/<str:no>/shipments/<int:shipment_id>",
        apis.OpsShipmentApi.as_view(),
        name="shop-ops-order-shipment",
    ),
    path(
        "ops/refunds/<int:refund_id>/approve",
        apis.OpsRefundApproveApi.as_view(),
        name="shop-ops-refund-approve",
    ),
    path(
        "ops/refunds/<int:refund_id>/reject", apis.OpsRefundRejectApi.as_view(), name="shop-ops-refund-reject"
    ),
    path("ops/refunds/<int:refund_id>/retry", apis.OpsRefundRetryApi.as_view(), name="shop-ops-refund-retry"),
    path(
        "ops/products/<int:product_id>/images",
        apis.ProductImageUploadApi.as_view(),
        name="shop-ops-product-images",
    ),
]
