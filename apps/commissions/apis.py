"""The KOC money endpoints of docs/api.md and WeChat Pay's transfer notification: thin views."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.core.schema import PAGE_PARAMETERS, error_responses, list_responses, paginated
from apps.core.throttles import WithdrawalThrottle
from apps.wechat.apis import WeChatNotifyApi, notify_schema

from . import selectors, sources
from .errors import IdempotencyKeyRequired, NotAKoc
from .models import Commission
from .services import tax as tax_services
from .services import withdrawals as withdrawal_services


def _my_koc_id(request) -> int:
    koc = sources.koc_for_user(request.user)
    if koc is None:
        raise NotAKoc()
    return koc.pk


class CommissionListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Commission.Status.choices, required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        order_no = serializers.CharField(allow_blank=True)
        amount_fen = serializers.IntegerField(source="net_fen", help_text="accrued minus reversed")
        accrued_fen = serializers.IntegerField(source="amount_fen")
        reversed_fen = serializers.IntegerField()
        kind = serializers.CharField()
        level = serializers.IntegerField(allow_null=True)
        status = serializers.CharField()
        available_at = serializers.DateTimeField(allow_null=True)
        explanation = serializers.CharField()

    @extend_schema(
        operation_id="koc_commissions",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=[c for c, _ in Commission.Status.choices]),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(OutputSerializer), **error_responses(400, 401, 404)},
    )
    def get(self, request):
        koc_id = _my_koc_id(request)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.commission_list(koc_id=koc_id, status=filters.validated_data.get("status"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class WalletApi(APIView):
    class OutputSerializer(serializers.Serializer):
        pending_fen = serializers.IntegerField()
        frozen_fen = serializers.IntegerField()
        available_fen = serializers.IntegerField()
        withdrawing_fen = serializers.IntegerField()
        paid_fen = serializers.IntegerField()

    @extend_schema(operation_id="koc_wallet", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request):
        return Response(self.OutputSerializer(selectors.wallet(koc_id=_my_koc_id(request))).data)


class WithdrawalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    amount_fen = serializers.IntegerField()
    tax_fen = serializers.IntegerField()
    net_fen = serializers.IntegerField()
    package_info = serializers.CharField(allow_null=True)
    # WeChat's transfer bill number: what support staff quote to WeChat Pay (and the sandbox's
    # transfer/confirm takes).
    out_bill_no = serializers.CharField()
    fail_reason = serializers.CharField()


class WithdrawalsApi(APIView):
    throttle_classes = [WithdrawalThrottle]  # POST only, per user and per address

    class InputSerializer(serializers.Serializer):
        amount_fen = serializers.IntegerField(min_value=1, max_value=10**12)

    class ListOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        amount_fen = serializers.IntegerField()
        tax_fen = serializers.IntegerField()
        net_fen = serializers.IntegerField()
        package_info = serializers.SerializerMethodField()
        out_bill_no = serializers.CharField()
        fail_reason = serializers.CharField()
        created_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)

        def get_package_info(self, obj) -> str | None:
            return obj.package_info or None

    @extend_schema(
        operation_id="koc_withdrawals_list",
        **list_responses(ListOutputSerializer, 401),
    )
    def get(self, request):
        qs = selectors.withdrawal_list(koc_id=_my_koc_id(request))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(self.ListOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="koc_withdrawals_create",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=True,
                description="a fresh random key per withdrawal; a retry sends the same key and body",
            )
        ],
        request=InputSerializer,
        responses={201: WithdrawalOutputSerializer, **error_responses(400, 401, 404, 409, 429, 502, 503)},
    )
    def post(self, request):
        # The header first: a request without it is malformed whoever sends it (400 before 404).
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key or len(key) > 128:
            raise IdempotencyKeyRequired()
        koc_id = _my_koc_id(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = withdrawal_services.withdrawal_create(
            koc_id=koc_id,
            user_id=request.user.pk,
            amount_fen=data.validated_data["amount_fen"],
            idempotency_key=key,
        )
        return Response(answer.body, status=answer.status)


class WithdrawalCancelApi(APIView):
    """POST koc/withdrawals/{id}/cancel: revoke a transfer the KOC has not confirmed in WeChat."""

    @extend_schema(
        operation_id="koc_withdrawals_cancel",
        request=None,
        responses={200: WithdrawalOutputSerializer, **error_responses(401, 404, 409, 502, 503)},
    )
    def post(self, request, withdrawal_id: int):
        withdrawal = selectors.withdrawal_list(koc_id=_my_koc_id(request)).filter(pk=withdrawal_id).first()
        if withdrawal is None:
            raise Http404
        withdrawal = withdrawal_services.withdrawal_cancel(withdrawal=withdrawal, reason="KOC 撤销")
        return Response(withdrawal_services.answer_body(withdrawal))


class WithdrawalQuoteApi(APIView):
    """What a withdrawal would withhold and transfer, before the KOC confirms: nothing is written,
    and the same refusals as the request itself (identity_required, insufficient_balance, ...)."""

    class FilterSerializer(serializers.Serializer):
        amount_fen = serializers.IntegerField(min_value=1, max_value=10**12)

    class OutputSerializer(serializers.Serializer):
        amount_fen = serializers.IntegerField()
        tax_fen = serializers.IntegerField()
        net_fen = serializers.IntegerField(help_text="what the transfer sends: amount_fen - tax_fen")

    @extend_schema(
        operation_id="koc_withdrawals_quote",
        parameters=[OpenApiParameter("amount_fen", OpenApiTypes.INT, required=True)],
        responses={200: OutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def get(self, request):
        koc_id = _my_koc_id(request)
        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        quote = withdrawal_services.withdrawal_quote(
            koc_id=koc_id, amount_fen=data.validated_data["amount_fen"]
        )
        return Response(self.OutputSerializer(quote).data)


class TaxStatementApi(APIView):
    """The KOC's own tax statement: income recognised and tax withheld, per month of the year."""

    class FilterSerializer(serializers.Serializer):
        year = serializers.IntegerField(min_value=2000, max_value=2999)

    class OutputSerializer(serializers.Serializer):
        class MonthSerializer(serializers.Serializer):
            month = serializers.CharField(help_text="YYYY-MM")
            income_fen = serializers.IntegerField()
            withheld_fen = serializers.IntegerField()

        year = serializers.IntegerField()
        income_fen = serializers.IntegerField()
        withheld_fen = serializers.IntegerField()
        months = MonthSerializer(many=True)

    @extend_schema(
        operation_id="koc_tax",
        parameters=[OpenApiParameter("year", OpenApiTypes.INT, required=True)],
        responses={200: OutputSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request):
        koc_id = _my_koc_id(request)
        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        statement = tax_services.statement(koc_id=koc_id, year=data.validated_data["year"])
        return Response(self.OutputSerializer(statement).data)


class TransferNotifyApi(WeChatNotifyApi):
    """WeChat Pay's transfer callback."""

    @notify_schema("payments_wechat_transfer_notify")
    def post(self, request):
        from apps.wechat import transfers

        notice = transfers.parse_transfer_notification(headers=request.headers, body=request.body)
        bill = notice.bill
        withdrawal_services.transfer_notification_handle(
            out_bill_no=bill.out_bill_no,
            state=bill.state,
            amount_fen=bill.amount_fen,
            transfer_bill_no=bill.transfer_bill_no,
            fail_reason=bill.fail_reason,
            mch_id=notice.mch_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
