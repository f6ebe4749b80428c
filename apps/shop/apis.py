"""The shop's HTTP API (docs/api.md: Catalogue, Orders and payment, Operators). Thin: parse, call, render."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors as account_selectors
from apps.core import audit, readcache
from apps.core.pagination import PageNumberPagination
from apps.core.permissions import IsOperator
from apps.core.schema import PAGE_PARAMETERS, error_responses, paginated
from apps.core.throttles import RefundThrottle
from apps.wechat import pay as wechatpay
from apps.wechat import push as wechat_push
from apps.wechat.apis import WeChatNotifyApi, notify_schema

from . import operator_scope, read_cache, selectors, services
from .errors import AddressNotFound, OperatorForbidden, ShippingForbidden
from .models import Order, Product, Refund

MAX_ID = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class QuerySerializer(serializers.Serializer):
    """Query parameters. One given empty (`?status=`) is an error, as the schema says, not ignored.

    DRF skips an empty query value of an optional field; a client that sent it meant something.
    """

    def to_internal_value(self, data):
        blank = {
            name: [gettext("A value is required here.")]
            for name, field in self.fields.items()
            if data.get(name) == "" and not getattr(field, "allow_blank", False)
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


# --- catalogue ----------------------------------------------------------------------------------


class BrandOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    logo_url = serializers.SerializerMethodField()
    intro = serializers.CharField()

    def get_logo_url(self, brand) -> str | None:
        return selectors.media_url(brand.logo)


class BrandListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="brands_list",
        parameters=PAGE_PARAMETERS,
        responses={
            200: paginated(BrandOutputSerializer, name="PaginatedBrandList"),
            **error_responses(400, 404),
        },
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.brand_list(), request, view=self)
        return paginator.get_paginated_response(BrandOutputSerializer(page, many=True).data)


class BrandDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="brands_retrieve", responses={200: BrandOutputSerializer, **error_responses(404)}
    )
    def get(self, request, brand_id: int):
        brand = selectors.brand_get(brand_id=brand_id)
        if brand is None:
            raise Http404
        return Response(BrandOutputSerializer(brand).data)


_CATEGORY_CHILDREN_SCHEMA = {"type": "array", "items": {"$ref": "#/components/schemas/CategoryNode"}}


class CategoryNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    children = serializers.SerializerMethodField()

    class Meta:
        ref_name = "CategoryNode"

    @extend_schema_field(_CATEGORY_CHILDREN_SCHEMA)
    def get_children(self, category) -> list:
        return CategoryNodeSerializer(category.get_children(), many=True).data


class CategoryTreeApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="categories_list", responses={200: CategoryNodeSerializer(many=True)})
    def get(self, request):
        return Response(CategoryNodeSerializer(selectors.category_tree(), many=True).data)


class BrandRefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ShopBrandRef"

    id = serializers.IntegerField()
    name = serializers.CharField()


class GroupBuySummarySerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    group_price_fen = serializers.IntegerField()
    group_size = serializers.IntegerField()


class ProductOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    brand = BrandRefSerializer()
    cover_url = serializers.SerializerMethodField()
    price_fen = serializers.IntegerField()
    sales = serializers.IntegerField()
    group_buy = serializers.SerializerMethodField()

    def get_cover_url(self, product: Product) -> str | None:
        cover = selectors.product_cover(product)
        return selectors.media_url(cover.display) if cover else None

    @extend_schema_field(GroupBuySummarySerializer(allow_null=True))
    def get_group_buy(self, product: Product):
        summary = self.context.get("group_buys", {}).get(product.pk)
        return GroupBuySummarySerializer(summary).data if summary else None


class SkuOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    spec = serializers.CharField()
    price_fen = serializers.IntegerField()
    stock = serializers.IntegerField()


class ProductDetailOutputSerializer(ProductOutputSerializer):
    images = serializers.SerializerMethodField()
    share_cover_url = serializers.SerializerMethodField()
    description = serializers.CharField()
    skus = SkuOutputSerializer(many=True)

    def get_images(self, product: Product) -> list[str]:
        return [selectors.media_url(image.display) for image in product.images.all()]

    def get_share_cover_url(self, product: Product) -> str | None:
        cover = selectors.product_cover(product)
        return selectors.media_url(cover.share_cover) if cover else None


class ProductListApi(APIView):
    permission_classes = [AllowAny]
    CACHED_PARAMETERS = frozenset({"category", "brand", "q", "ordering", "page", "page_size"})

    class FilterSerializer(QuerySerializer):
        category = id_field(required=False)
        brand = id_field(required=False)
        q = serializers.CharField(required=False, allow_blank=True, max_length=64)
        ordering = serializers.ChoiceField(choices=["price_fen", "-price_fen", "-sales"], required=False)

    @extend_schema(
        operation_id="products_list",
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: paginated(ProductOutputSerializer, name="PaginatedProductList"),
            **error_responses(400, 404),
        },
    )
    def get(self, request):
        if not set(request.query_params) <= self.CACHED_PARAMETERS:
            # Any other parameter is echoed in the page's links: such URLs are not worth keeping.
            return Response(self.build(request)[0])
        # The whole URL is the key: equal URLs are equally valid, and a 400 or 404 is not stored.
        return readcache.api_answer(
            request,
            read_cache.product_list_key(request.build_absolute_uri()),
            [read_cache.CATALOGUE],
            lambda: self.build(request),
        )

    def build(self, request) -> tuple[dict, float | None]:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        qs = selectors.product_list(
            category_id=data.get("category"),
            brand_id=data.get("brand"),
            q=data.get("q", "").strip(),
            ordering=data.get("ordering", ""),
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        group_buys, until = selectors.group_buy_window(page)
        results = ProductOutputSerializer(page, many=True, context={"group_buys": group_buys}).data
        return paginator.get_paginated_response(results).data, readcache.seconds_until(until)


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_retrieve",
        responses={200: ProductDetailOutputSerializer, **error_responses(404)},
    )
    def get(self, request, product_id: int):
        answer = readcache.api_answer(
            request,
            read_cache.product_detail_key(product_id),
            [read_cache.product_gen(product_id)],
            lambda: self.build(product_id),
        )
        if answer is None:
            raise Http404
        return answer

    @staticmethod
    def build(product_id: int) -> tuple[dict, float | None] | None:
        product = selectors.product_get(product_id=product_id)
        if product is None:
            return None
        group_buys, until = selectors.group_buy_window([product])
        data = ProductDetailOutputSerializer(product, context={"group_buys": group_buys}).data
        return data, readcache.seconds_until(until)


class ProductImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    original_url = serializers.SerializerMethodField()
    thumb_url = serializers.SerializerMethodField()
    display_url = serializers.SerializerMethodField()
    share_cover_url = serializers.SerializerMethodField()

    def get_original_url(self, image) -> str | None:
        return selectors.media_url(image.original)

    def get_thumb_url(self, image) -> str | None:
        return selectors.media_url(image.thumb)

    def get_display_url(self, image) -> str | None:
        return selectors.media_url(image.display)

    def get_share_cover_url(self, image) -> str | None:
        return selectors.media_url(image.share_cover)


class ProductImageUploadApi(APIView):
    """Operators add a product picture (multipart `image`); it is validated and resized at upload."""

    permission_classes = [IsOperator]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(allow_empty_file=False)

    @extend_schema(
        operation_id="ops_product_images_create",
        request={"multipart/form-data": InputSerializer},
        responses={201: ProductImageOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request, product_id: int):
        operator_scope.require(request.user, *operator_scope.IMAGE_UPLOAD_PERMISSIONS)
        product = Product.objects.filter(pk=product_id).first()
        if product is None or not operator_scope.product_in_scope(request.user, product):
            raise Http404  # another brand's product is as invisible as a missing one
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.product_image_add(product=product, upload=data.validated_data["image"])
        return Response(ProductImageOutputSerializer(image).data, status=status.HTTP_201_CREATED)


# --- orders -------------------------------------------------------------------------------------


class OrderItemOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    title = serializers.CharField()
    spec = serializers.CharField()
    price_fen = serializers.IntegerField()
    quantity = serializers.IntegerField()
    line_fen = serializers.IntegerField()


class AddressSnapshotSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    detail = serializers.CharField()


class ShipmentItemOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    quantity = serializers.IntegerField()


class ShipmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    carrier = serializers.CharField()
    tracking_no = serializers.CharField()
    shipped_at = serializers.DateTimeField()
    items = ShipmentItemOutputSerializer(many=True)


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    no = serializers.CharField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    kind = serializers.CharField()
    items = OrderItemOutputSerializer(many=True)
    total_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    pay_deadline = serializers.DateTimeField()
    group_id = serializers.IntegerField(allow_null=True)
    address = AddressSnapshotSerializer()
    carrier = serializers.CharField()
    tracking_no = serializers.CharField()
    shipments = ShipmentOutputSerializer(many=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)


def _order_out(order: Order) -> dict:
    return OrderOutputSerializer(selectors.order_get_by_no(no=order.no)).data


class OrderListApi(APIView):
    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Order.Status.choices, required=False)

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku_id = id_field()
            # Bounds are the service's (400 invalid_quantity, docs/api.md), not the serializer's.
            quantity = serializers.IntegerField()

        items = ItemSerializer(many=True, allow_empty=False, max_length=50)
        address_id = id_field()
        share_code = serializers.CharField(required=False, allow_blank=True, max_length=64)

    @extend_schema(
        operation_id="orders_list",
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: paginated(OrderOutputSerializer, name="PaginatedOrderList"),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.order_list(buyer=request.user, status=filters.validated_data.get("status"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        request=InputSerializer,
        responses={201: OrderOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        address = account_selectors.address_get(user=request.user, address_id=payload["address_id"])
        if address is None:
            raise AddressNotFound()
        order = services.order_create(
            buyer=request.user,
            items=[(item["sku_id"], item["quantity"]) for item in payload["items"]],
            address=address,
            share_code=payload.get("share_code") or None,
        )
        return Response(_order_out(order), status=status.HTTP_201_CREATED)


class OrderApiMixin:
    def get_order(self, request, order_id: int) -> Order:
        order = selectors.order_get(buyer=request.user, order_id=order_id)
        if order is None:
            raise Http404
        return order


class OrderDetailApi(OrderApiMixin, APIView):
    @extend_schema(
        operation_id="orders_retrieve", responses={200: OrderOutputSerializer, **error_responses(401, 404)}
    )
    def get(self, request, order_id: int):
        return Response(OrderOutputSerializer(self.get_order(request, order_id)).data)


class OrderPayApi(OrderApiMixin, APIView):
    class OutputSerializer(serializers.Serializer):
        timeStamp = serializers.CharField()  # wx.requestPayment names these
        nonceStr = serializers.CharField()
        package = serializers.CharField()
        signType = serializers.CharField()
        paySign = serializers.CharField()

    @extend_schema(
        operation_id="orders_pay",
        request=None,
        responses={200: OutputSerializer, **error_responses(401, 404, 409, 502, 503)},
    )
    def post(self, request, order_id: int):
        order = self.get_order(request, order_id)
        params = services.order_pay(order=order, buyer=request.user)
        return Response(self.OutputSerializer(params).data)


class OrderCancelApi(OrderApiMixin, APIView):
    @extend_schema(
        operation_id="orders_cancel",
        request=None,
        responses={200: OrderOutputSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, order_id: int):
        order = services.order_cancel(order=self.get_order(request, order_id), reason="buyer")
        return Response(_order_out(order))


class OrderConfirmReceiptApi(OrderApiMixin, APIView):
    @extend_schema(
        operation_id="orders_confirm_receipt",
        request=None,
        responses={200: OrderOutputSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, order_id: int):
        order = services.order_confirm_receipt(order=self.get_order(request, order_id))
        return Response(_order_out(order))


class RefundItemOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField(source="order_item.sku_id")
    quantity = serializers.IntegerField()
    amount_fen = serializers.IntegerField()


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(source="api_status", help_text=" | ".join(Refund.API_STATUSES))
    amount_fen = serializers.IntegerField()
    items = RefundItemOutputSerializer(many=True, source="items.all")
    order_id = serializers.IntegerField()
    reason = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)


class OrderRefundsApi(OrderApiMixin, APIView):
    throttle_classes = [RefundThrottle]  # POST only: each request reaches WeChat Pay's refund API

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
            quantity = serializers.IntegerField(min_value=1, max_value=10_000)

        reason = serializers.CharField(max_length=200, allow_blank=True)
        amount_fen = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
        items = ItemSerializer(many=True, required=False, allow_empty=False, max_length=50)

    @extend_schema(
        operation_id="orders_refunds_list",
        responses={200: RefundOutputSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request, order_id: int):
        refunds = selectors.order_refunds(order=self.get_order(request, order_id))
        return Response(RefundOutputSerializer(refunds, many=True).data)

    @extend_schema(
        operation_id="orders_refunds_create",
        request=InputSerializer,
        responses={201: RefundOutputSerializer, **error_responses(400, 401, 404, 409, 429)},
    )
    def post(self, request, order_id: int):
        order = self.get_order(request, order_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.refund_create(
            order=order,
            amount_fen=data.validated_data.get("amount_fen"),
            reason=data.validated_data["reason"],
            requested_by=request.user,
            items=[dict(i) for i in data.validated_data.get("items", [])] or None,
        )
        return Response(RefundOutputSerializer(refund).data, status=status.HTTP_201_CREATED)


# --- WeChat Pay notifications -------------------------------------------------------------------


class PaymentNotifyApi(WeChatNotifyApi):
    @notify_schema("payments_wechat_notify")
    def post(self, request):
        notice = wechatpay.parse_payment_notification(headers=request.headers, body=request.body)
        services.payment_notification_handle(notice=notice)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RefundNotifyApi(WeChatNotifyApi):
    @notify_schema("payments_wechat_refund_notify")
    def post(self, request):
        notice = wechatpay.parse_refund_notification(headers=request.headers, body=request.body)
        services.refund_notification_handle(notice=notice)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- operators ----------------------------------------------------------------------------------


class OpsOrderOutputSerializer(OrderOutputSerializer):
    """The order as an operator may see it: a brand operator sees its own lines, parcels and
    amounts only; a mixed order's paid and refunded totals are not its business (null)."""

    total_fen = serializers.IntegerField(help_text="a brand operator: the sum of its own lines")
    paid_fen = serializers.IntegerField(allow_null=True)
    refunded_fen = serializers.IntegerField(allow_null=True)


def _ops_order_out(order: Order, user) -> dict:
    order = selectors.order_get_by_no(no=order.no)
    data = dict(OrderOutputSerializer(order).data)
    brands = operator_scope.brand_ids_for(user)
    if brands is None:
        return data
    own = [item for item in order.items.all() if item.brand_id in brands]
    own_skus = {item.sku_id for item in own}
    data["items"] = [item for item in data["items"] if item["sku_id"] in own_skus]
    data["total_fen"] = sum(item.line_fen for item in own)
    if len(own) != len(order.items.all()):  # a mixed order: other brands' money is hidden
        data["paid_fen"] = data["refunded_fen"] = None
    shipments = []
    for shipment in data["shipments"]:
        lines = [line for line in shipment["items"] if line["sku_id"] in own_skus]
        if lines:
            shipments.append({**shipment, "items": lines})
    data["shipments"] = shipments
    return data


class OpsOrderShipApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku_id = id_field()
            quantity = serializers.IntegerField(min_value=1, max_value=999)

        carrier = serializers.CharField(max_length=32)
        tracking_no = serializers.CharField(max_length=64)
        items = ItemSerializer(many=True, required=False, allow_empty=False, max_length=50)

    @extend_schema(
        operation_id="ops_orders_ship",
        request=InputSerializer,
        responses={200: OpsOrderOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, no: str):
        operator_scope.require_ship(request.user)
        order = selectors.order_get_by_no(no=no)
        if order is None or not operator_scope.order_in_scope(request.user, order):
            raise Http404  # another brand's order is as invisible to a brand operator as a missing one
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        items = payload.get("items")
        order = services.order_ship(
            order=order,
            carrier=payload["carrier"],
            tracking_no=payload["tracking_no"],
            items=[(item["sku_id"], item["quantity"]) for item in items] if items is not None else None,
            brand_ids=operator_scope.brand_ids_for(request.user),
            user=request.user,
        )
        audit.record(
            actor=request.user,
            obj=order,
            message=f"发货（运营接口）: {payload['carrier']} {payload['tracking_no']}",
        )
        return Response(_ops_order_out(order, request.user))


class OpsShipmentApi(APIView):
    """Correct a parcel's carrier or tracking number; WeChat gets the corrected information."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        carrier = serializers.CharField(max_length=32, required=False)
        tracking_no = serializers.CharField(max_length=64, required=False)

    @extend_schema(
        operation_id="ops_orders_shipments_partial_update",
        request=InputSerializer,
        responses={200: OpsOrderOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request, no: str, shipment_id: int):
        operator_scope.require_ship(request.user)
        order = selectors.order_get_by_no(no=no)
        if order is None or not operator_scope.order_in_scope(request.user, order):
            raise Http404
        shipment = order.shipments.filter(pk=shipment_id).first()
        if shipment is None:
            raise Http404
        brands = operator_scope.brand_ids_for(request.user)
        if brands is not None and not set(
            shipment.items.values_list("order_item__brand_id", flat=True)
        ) <= set(brands):
            raise ShippingForbidden(gettext("You may not change another brand's parcel."))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shipment_correct(shipment=shipment, **data.validated_data)
        audit.record(
            actor=request.user,
            obj=order,
            message=f"修改包裹 {shipment_id}（运营接口）: {dict(data.validated_data)}",
        )
        return Response(_ops_order_out(order, request.user))


class OpsRefundOutputSerializer(RefundOutputSerializer):
    order_no = serializers.CharField(source="order.no")
    kind = serializers.CharField()
    out_refund_no = serializers.CharField()


class _OpsRefundDecisionApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def decide(self, request, refund_id: int, service, verb: str):
        operator_scope.require(request.user, operator_scope.REFUND_DECISION_PERMISSION)
        refund = selectors.refund_get(refund_id=refund_id)
        if refund is None or not operator_scope.order_in_scope(request.user, refund.order):
            raise Http404
        if not operator_scope.refund_wholly_in_scope(request.user, refund):
            raise OperatorForbidden(
                gettext("The refund involves another brand's items; the platform must handle it.")
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = service(refund=refund, note=data.validated_data.get("note", ""))
        if decided.status != refund.status:  # a repeated decision changes nothing: no entry
            audit.record(
                actor=request.user,
                obj=decided,
                message=f"{verb}退款（运营接口）: {refund.status} → {decided.status}",
            )
        return Response(OpsRefundOutputSerializer(selectors.refund_get(refund_id=refund_id)).data)


class OpsRefundApproveApi(_OpsRefundDecisionApi):
    @extend_schema(
        operation_id="ops_refunds_approve",
        request=_OpsRefundDecisionApi.InputSerializer,
        responses={200: OpsRefundOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, refund_id: int):
        return self.decide(request, refund_id, services.refund_approve, "已同意")


class OpsRefundRejectApi(_OpsRefundDecisionApi):
    @extend_schema(
        operation_id="ops_refunds_reject",
        request=_OpsRefundDecisionApi.InputSerializer,
        responses={200: OpsRefundOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, refund_id: int):
        return self.decide(request, refund_id, services.refund_reject, "已拒绝")


class OpsRefundRetryApi(_OpsRefundDecisionApi):
    @extend_schema(
        operation_id="ops_refunds_retry",
        request=_OpsRefundDecisionApi.InputSerializer,
        responses={200: OpsRefundOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request, refund_id: int):
        return self.decide(request, refund_id, services.refund_retry, "重试")


# --- the mini-program's message push (WeChat's trade management) --------------------------------


class WeChatMessagePushApi(APIView):
    """WeChat's message push: GET verifies the URL (echostr), POST delivers a safe-mode message.

    No user: proven by signature (a forged one answers 403 and changes nothing). Every message is
    answered "success" once verified, also one seen before, so WeChat stops resending it.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="wechat_message_push_verify",
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("signature", "timestamp", "nonce", "echostr")
        ],
        responses={200: OpenApiTypes.STR, **error_responses(403)},
    )
    def get(self, request):
        echostr = wechat_push.verify_url(request.query_params)
        return HttpResponse(echostr, content_type="text/plain; charset=utf-8")

    @extend_schema(
        operation_id="wechat_message_push",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.STR, **error_responses(400, 403)},
    )
    def post(self, request):
        message = wechat_push.parse_message(request.query_params, request.body)
        services.trade_event_handle(message=message)
        return HttpResponse("success", content_type="text/plain; charset=utf-8")
