from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.core.schema import error_responses, list_responses
from apps.core.throttles import LoginThrottle, PhoneThrottle

from . import selectors, services
from .models import Address, User


class UserOutputSerializer(serializers.ModelSerializer):
    is_koc = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "nickname", "avatar_url", "is_koc"]

    def get_is_koc(self, user: User) -> bool:
        return selectors.user_is_koc(user)


class WechatLoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]  # per address: each login spends a jscode2session call

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=64)  # wx.login() codes are 32 characters
        invite_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
        share_code = serializers.CharField(max_length=32, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()
        user = UserOutputSerializer()

    @extend_schema(
        operation_id="auth_wechat_login",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 429, 502, 503)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, tokens = services.wechat_login(**data.validated_data)
        return Response(self.OutputSerializer({**tokens, "user": user}).data)


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request):
        # Without an authenticator DRF would turn our 401 into a 403; a bad refresh token is a 401.
        return 'Bearer realm="api"'

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_refresh",
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "RefreshOutput",
                # rotation: the old refresh token is spent, the client keeps the new one
                {"access": serializers.CharField(), "refresh": serializers.CharField()},
            ),
            **error_responses(400, 401),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.token_refresh(refresh=data.validated_data["refresh"]))


class LogoutApi(APIView):
    """Revoke a refresh token (it is blacklisted); the access token dies at its own expiry."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_logout",
        request=InputSerializer,
        responses={204: None, **error_responses(400, 401)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhoneApi(APIView):
    throttle_classes = [PhoneThrottle]  # each lookup spends WeChat's getuserphonenumber quota

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=128)

    @extend_schema(
        operation_id="auth_phone",
        request=InputSerializer,
        responses={
            200: inline_serializer("PhoneOutput", {"phone_masked": serializers.CharField()}),
            **error_responses(400, 401, 429, 502, 503),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.bind_phone(user=request.user, code=data.validated_data["code"])
        return Response({"phone_masked": user.phone_masked})


class MeApi(APIView):
    class InputSerializer(serializers.Serializer):
        nickname = serializers.CharField(max_length=64, required=False, allow_blank=True)
        avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)

    @extend_schema(operation_id="me_retrieve", responses={200: UserOutputSerializer, **error_responses(401)})
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        operation_id="me_update",
        request=InputSerializer,
        responses={200: UserOutputSerializer, **error_responses(400, 401)},
    )
    def patch(self, request):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, **data.validated_data)
        return Response(UserOutputSerializer(user).data)


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "name", "phone", "province", "city", "district", "detail", "is_default"]
        read_only_fields = ["id"]


class AddressListApi(APIView):
    @extend_schema(
        operation_id="me_addresses_list",
        **list_responses(AddressSerializer, 401),
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.address_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(AddressSerializer(page, many=True).data)

    @extend_schema(
        operation_id="me_addresses_create",
        request=AddressSerializer,
        responses={201: AddressSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        data = AddressSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        address = services.address_create(user=request.user, data=data.validated_data)
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailApi(APIView):
    def _get(self, request, address_id: int) -> Address:
        return get_object_or_404(selectors.address_list(user=request.user), pk=address_id)

    @extend_schema(
        operation_id="me_addresses_retrieve", responses={200: AddressSerializer, **error_responses(401, 404)}
    )
    def get(self, request, address_id: int):
        return Response(AddressSerializer(self._get(request, address_id)).data)

    @extend_schema(
        operation_id="me_addresses_update",
        request=AddressSerializer,
        responses={200: AddressSerializer, **error_responses(400, 401, 404)},
    )
    def patch(self, request, address_id: int):
        address = self._get(request, address_id)
        data = AddressSerializer(address, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        address = services.address_update(address=address, data=data.validated_data)
        return Response(AddressSerializer(address).data)

    @extend_schema(operation_id="me_addresses_destroy", responses={204: None, **error_responses(401, 404)})
    def delete(self, request, address_id: int):
        services.address_delete(address=self._get(request, address_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
