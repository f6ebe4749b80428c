"""The group-buy endpoints of docs/api.md ("Group buys"), plus the subscribe-message quota the
mini-program reports after `wx.requestSubscribeMessage`. Thin: parse, call, render."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors as account_selectors
from apps.core import readcache
from apps.core.errors import InvalidInput
from apps.core.pagination import PageNumberPagination
from apps.core.schema import error_responses, list_responses
from apps.shop import selectors as shop_selectors
from apps.shop.apis import OrderOutputSerializer
from apps.shop.errors import AddressNotFound

from . import conf, read_cache, selectors, services
from .models import Group

MAX_ID = 2**63 - 1


class GroupMemberOutputSerializer(serializers.Serializer):
    """Public: a member's nickname and avatar, nothing else."""

    nickname = serializers.CharField(source="user.display_name")
    avatar_url = serializers.CharField(source="user.avatar_url")
    is_leader = serializers.BooleanField()


class GroupOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Group.Status.choices)
    size = serializers.IntegerField()
    joined = serializers.IntegerField(help_text="held seats: members who ordered, paid or not yet")
    paid_count = serializers.IntegerField(help_text="paid seats")
    seats_left = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    members = GroupMemberOutputSerializer(source="shown_members", many=True, help_text="paid members only")


class ProductRefOutputSerializer(serializers.Serializer):
    class BrandSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()

    id = serializers.IntegerField()
    title = serializers.CharField()
    brand = BrandSerializer()
    cover_url = serializers.SerializerMethodField()

    def get_cover_url(self, product) -> str | None:
        cover = shop_selectors.product_cover(product)
        return shop_selectors.media_url(cover.display) if cover else None


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product = ProductRefOutputSerializer()
    sku_id = serializers.IntegerField()
    spec = serializers.CharField(source="sku.spec")
    price_fen = serializers.IntegerField(source="sku.price_fen", help_text="the SKU's list price")
    group_price_fen = serializers.IntegerField()
    leader_price_fen = serializers.IntegerField(allow_null=True)
    group_size = serializers.IntegerField()
    duration_minutes = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    per_user_limit = serializers.IntegerField(help_text="units one user may buy in this campaign")
    open_groups = GroupOutputSerializer(many=True)


class GroupWithOrderOutputSerializer(serializers.Serializer):
    group = GroupOutputSerializer()
    order = OrderOutputSerializer()


class SeatInputSerializer(serializers.Serializer):
    # Bounds are the service's (400 invalid_quantity, as for orders), not the serializer's.
    quantity = serializers.IntegerField()
    address_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    share_code = serializers.CharField(required=False, allow_blank=True, max_length=64)


def _group_out(group_id: int) -> dict:
    return GroupOutputSerializer(selectors.group_get(group_id=group_id)).data


def _seat_answer(group: Group, order) -> Response:
    body = {
        "group": _group_out(group.pk),
        "order": OrderOutputSerializer(shop_selectors.order_get_by_no(no=order.no)).data,
    }
    return Response(body, status=status.HTTP_201_CREATED)


def _seat_arguments(request) -> dict:
    data = SeatInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    payload = data.validated_data
    address = account_selectors.address_get(user=request.user, address_id=payload["address_id"])
    if address is None:
        raise AddressNotFound()
    return {
        "quantity": payload["quantity"],
        "address": address,
        "share_code": payload.get("share_code") or None,
    }


class CampaignListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="group_buys_list", **list_responses(CampaignOutputSerializer))
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.campaign_list(), request, view=self)
        return paginator.get_paginated_response(CampaignOutputSerializer(page, many=True).data)


class CampaignDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="group_buys_retrieve", responses={200: CampaignOutputSerializer, **error_responses(404)}
    )
    def get(self, request, campaign_id: int):
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        if campaign is None:
            raise Http404
        return Response(CampaignOutputSerializer(campaign).data)


class GroupOpenApi(APIView):
    @extend_schema(
        operation_id="group_buys_groups_create",
        request=SeatInputSerializer,
        responses={201: GroupWithOrderOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, campaign_id: int):
        campaign = selectors.campaign_get(campaign_id=campaign_id)
        if campaign is None:
            raise Http404
        group, order = services.group_open(campaign=campaign, leader=request.user, **_seat_arguments(request))
        return _seat_answer(group, order)


class GroupDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="groups_retrieve", responses={200: GroupOutputSerializer, **error_responses(404)}
    )
    def get(self, request, group_id: int):
        answer = readcache.api_answer(
            request,
            read_cache.group_detail_key(group_id),
            [read_cache.group_gen(group_id)],
            lambda: self.build(group_id),
        )
        if answer is None:
            raise Http404
        return answer

    @staticmethod
    def build(group_id: int) -> tuple[dict, float | None] | None:
        group = selectors.group_get(group_id=group_id)
        if group is None:
            return None
        # While forming, `seats_left` falls to 0 at the deadline by the clock alone.
        until = group.expires_at if group.status == Group.Status.FORMING else None
        return GroupOutputSerializer(group).data, readcache.seconds_until(until)


class GroupJoinApi(APIView):
    @extend_schema(
        operation_id="groups_join",
        request=SeatInputSerializer,
        responses={201: GroupWithOrderOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, group_id: int):
        group = Group.objects.filter(pk=group_id).first()
        if group is None:
            raise Http404
        group, order = services.group_join(group=group, buyer=request.user, **_seat_arguments(request))
        return _seat_answer(group, order)


class SubscriptionsApi(APIView):
    """The user's subscribe-message quota for our templates (one message per "accept")."""

    MAX_RESULTS = 20

    class InputSerializer(serializers.Serializer):
        results = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=200),
            help_text='the answer of wx.requestSubscribeMessage: {"<template id>": "accept" | "reject" | …}',
        )

    class OutputSerializer(serializers.Serializer):
        class QuotaSerializer(serializers.Serializer):
            purpose = serializers.ChoiceField(choices=[conf.SUCCEEDED, conf.FAILED])
            template_id = serializers.CharField()
            remaining = serializers.IntegerField()

        quotas = QuotaSerializer(many=True)

    def _answer(self, quotas: dict[str, int]) -> dict:
        rows = [
            {"purpose": purpose, "template_id": template_id, "remaining": quotas.get(template_id, 0)}
            for purpose, template_id in conf.templates().items()
        ]
        return self.OutputSerializer({"quotas": rows}).data

    @extend_schema(
        operation_id="subscriptions_retrieve", responses={200: OutputSerializer, **error_responses(401)}
    )
    def get(self, request):
        return Response(self._answer(services.subscription_quotas(user=request.user)))

    @extend_schema(
        operation_id="subscriptions_record",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = data.validated_data["results"]
        if len(results) > self.MAX_RESULTS:
            message = gettext("At most %(max)s templates.") % {"max": self.MAX_RESULTS}
            raise InvalidInput(message, code="validation_error", fields={"results": [message]})
        quotas = services.subscriptions_record(user=request.user, results=results)
        return Response(self._answer(quotas))
