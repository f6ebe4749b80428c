"""The KOC endpoints of docs/api.md: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import InvalidInput, NotFound
from apps.core.pagination import PageNumberPagination
from apps.core.schema import PAGE_PARAMETERS, error_responses, list_responses
from apps.shop import selectors as shop_selectors

from . import selectors, services
from .errors import NotAKoc
from .models import BrandInvitation, Koc

# Ids beyond a bigint are no row (SQLite cannot even compare them): refused or answered 404.
MAX_ID = 2**63 - 1


def _my_koc(request) -> Koc:
    koc = selectors.koc_for_user(request.user)
    if koc is None:
        raise NotAKoc()
    return koc


def _approved_koc(request) -> Koc:
    koc = _my_koc(request)
    if not koc.is_approved:
        raise NotAKoc(gettext("Your KOC application has not been approved yet."))
    return koc


class LevelSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()


class KocApplyApi(APIView):
    class InputSerializer(serializers.Serializer):
        real_name = serializers.CharField(max_length=32)
        bio = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        favorite_category_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            max_length=20,
            required=False,
            default=list,
        )
        invite_code = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
        id_number = serializers.RegexField(
            r"^\d{17}[\dXx]$",
            required=False,
            allow_blank=True,
            default="",
            help_text="身份证号 (可选，用于报税)",
        )

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(
        operation_id="koc_apply",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401, 409)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        koc = services.koc_apply(user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(koc).data, status=status.HTTP_201_CREATED)


class KocIdentityApi(APIView):
    """The individual's real name and ID number, for tax withholding: needed before any withdrawal."""

    class InputSerializer(serializers.Serializer):
        real_name = serializers.CharField(max_length=32)
        # The checksum is the service's (400 invalid_id_number); the serializer only bounds the size.
        id_number = serializers.CharField(max_length=32, trim_whitespace=True)

    class OutputSerializer(serializers.Serializer):
        real_name = serializers.CharField()
        id_number_masked = serializers.CharField()

    @extend_schema(
        operation_id="koc_identity",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request):
        koc = _my_koc(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        koc = services.koc_identity_set(koc=koc, **data.validated_data)
        return Response(self.OutputSerializer(koc).data)


class KocMeApi(APIView):
    class InputSerializer(serializers.Serializer):
        bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
        favorite_category_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=20, required=False
        )

    class OutputSerializer(serializers.Serializer):
        class ParentSerializer(serializers.Serializer):
            nickname = serializers.CharField(source="display_name")

        class StatsSerializer(serializers.Serializer):
            own_sales_fen = serializers.IntegerField()
            team_sales_fen = serializers.IntegerField()
            direct_members = serializers.IntegerField()
            team_size = serializers.IntegerField()

        id = serializers.IntegerField()
        status = serializers.CharField()
        role = serializers.CharField()
        level = LevelSerializer(allow_null=True)
        invite_code = serializers.SerializerMethodField()
        parent = ParentSerializer(allow_null=True)
        real_name_masked = serializers.CharField()
        id_number_masked = serializers.CharField()
        bio = serializers.CharField()
        favorite_category_ids = serializers.SerializerMethodField()
        rejection_reason = serializers.CharField()
        stats = StatsSerializer()

        def get_favorite_category_ids(self, koc: Koc) -> list[int]:
            return sorted(c.pk for c in koc.favorite_categories.all())

        def get_invite_code(self, koc: Koc) -> str | None:
            # A code only works once its owner is approved; before that it is not handed out.
            return koc.invite_code if koc.is_approved else None

    @extend_schema(operation_id="koc_me", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request):
        return Response(self._render(_my_koc(request)))

    @extend_schema(
        operation_id="koc_me_update",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 404)},
    )
    def patch(self, request):
        koc = _my_koc(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        koc = services.koc_profile_update(koc=koc, **data.validated_data)
        return Response(self._render(koc))

    def _render(self, koc: Koc) -> dict:
        koc.stats = selectors.koc_stats(koc=koc)
        return self.OutputSerializer(koc).data


class KocTeamApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class MemberSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            nickname = serializers.CharField(source="display_name")
            avatar_url = serializers.SerializerMethodField()
            role = serializers.CharField()
            status = serializers.CharField()
            level = LevelSerializer(allow_null=True)
            own_sales_fen = serializers.IntegerField()
            team_size = serializers.IntegerField()

            def get_avatar_url(self, koc: Koc) -> str:
                return koc.user.avatar_url if koc.user_id else ""

        team_size = serializers.IntegerField()
        team_sales_fen = serializers.IntegerField()
        direct_members_count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        direct_members = MemberSerializer(many=True)

    @extend_schema(
        operation_id="koc_team",
        parameters=PAGE_PARAMETERS,
        responses={200: OutputSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request):
        koc = _approved_koc(request)
        paginator = PageNumberPagination()
        members = paginator.paginate_queryset(selectors.direct_members(koc=koc), request, view=self)
        body = {
            "team_size": koc.team_size,
            "team_sales_fen": selectors.team_sales_fen(koc=koc),
            "direct_members_count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "direct_members": members,
        }
        return Response(self.OutputSerializer(body).data)


# --- storefront (选品) -----------------------------------------------------------------------------


class BrandRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _cover_url(product) -> str | None:
    cover = shop_selectors.product_cover(product)
    return shop_selectors.media_url(cover.display) if cover else None


class StorefrontPicksApi(APIView):
    class InputSerializer(serializers.Serializer):
        product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    class OutputSerializer(serializers.Serializer):
        product_id = serializers.IntegerField()
        title = serializers.CharField(source="product.title")
        brand = BrandRefSerializer(source="product.brand")
        cover_url = serializers.SerializerMethodField()
        price_fen = serializers.IntegerField(allow_null=True)
        available = serializers.SerializerMethodField()
        position = serializers.IntegerField()

        def get_cover_url(self, pick) -> str | None:
            return _cover_url(pick.product)

        def get_available(self, pick) -> bool:
            product = pick.product
            return bool(product.is_active and product.brand.is_active and pick.price_fen is not None)

    @extend_schema(
        operation_id="koc_storefront_products_list",
        **list_responses(OutputSerializer, 401),
    )
    def get(self, request):
        koc = _approved_koc(request)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.storefront_picks(koc=koc), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="koc_storefront_products_add",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            201: OutputSerializer,
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request):
        koc = _approved_koc(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pick, created = services.storefront_pick_add(koc=koc, **data.validated_data)
        pick = selectors.storefront_picks(koc=koc).get(pk=pick.pk)
        return Response(
            self.OutputSerializer(pick).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class StorefrontPickDetailApi(APIView):
    @extend_schema(
        operation_id="koc_storefront_products_remove", responses={204: None, **error_responses(401, 404)}
    )
    def delete(self, request, product_id: int):
        koc = _approved_koc(request)
        if product_id > MAX_ID:
            raise NotFound(gettext("This product is not in the storefront."))
        services.storefront_pick_remove(koc=koc, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublicStorefrontApi(APIView):
    """A KOC's storefront for shoppers: who they are and what they picked. No login needed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class OutputSerializer(serializers.Serializer):
        class KocSerializer(serializers.Serializer):
            nickname = serializers.CharField(source="display_name")
            avatar_url = serializers.SerializerMethodField()
            bio = serializers.CharField()
            invite_code = serializers.CharField()

            def get_avatar_url(self, koc: Koc) -> str:
                return koc.user.avatar_url if koc.user_id else ""

        class ProductSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            title = serializers.CharField()
            brand = BrandRefSerializer()
            cover_url = serializers.SerializerMethodField()
            price_fen = serializers.IntegerField()
            sales = serializers.IntegerField()

            def get_cover_url(self, product) -> str | None:
                return _cover_url(product)

        koc = KocSerializer()
        products = ProductSerializer(many=True)

    @extend_schema(
        operation_id="storefront_retrieve", responses={200: OutputSerializer, **error_responses(404)}
    )
    def get(self, request, invite_code: str):
        koc = selectors.storefront_koc(invite_code=invite_code)
        if koc is None:
            raise NotFound(gettext("This shop does not exist."))
        products = list(selectors.storefront_products(koc=koc)[: services.MAX_PICKS])
        return Response(self.OutputSerializer({"koc": koc, "products": products}).data)


# --- brand partnerships ----------------------------------------------------------------------------


class PartnershipOutputSerializer(serializers.Serializer):
    class BrandSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        logo_url = serializers.SerializerMethodField()

        def get_logo_url(self, brand) -> str | None:
            return shop_selectors.media_url(brand.logo)

    id = serializers.IntegerField()
    brand = BrandSerializer()
    status = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)


class PartnershipListApi(APIView):
    @extend_schema(
        operation_id="koc_partnerships_list",
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in BrandInvitation.Status]),
            *PAGE_PARAMETERS,
        ],
        responses=list_responses(PartnershipOutputSerializer, 401)["responses"],
    )
    def get(self, request):
        koc = _approved_koc(request)
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in BrandInvitation.Status.values:
            message = gettext("The status is not valid.")
            raise InvalidInput(message, code="validation_error", fields={"status": [message]})
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.invitations_for(koc=koc, status=wanted), request, view=self
        )
        return paginator.get_paginated_response(PartnershipOutputSerializer(page, many=True).data)


class PartnershipRespondApi(APIView):
    accept = True

    @extend_schema(
        request=None,
        responses={200: PartnershipOutputSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, invitation_id: int):
        koc = _approved_koc(request)
        if invitation_id > MAX_ID:
            raise NotFound()
        invitation = selectors.invitations_for(koc=koc).filter(pk=invitation_id).first()
        if invitation is None:
            raise NotFound()
        invitation = services.brand_invitation_respond(invitation=invitation, accept=self.accept)
        return Response(PartnershipOutputSerializer(invitation).data)


class PartnershipAcceptApi(PartnershipRespondApi):
    accept = True


class PartnershipDeclineApi(PartnershipRespondApi):
    accept = False
