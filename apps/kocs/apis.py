"""The KOC endpoints of API.md: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.core.schema import error_responses

from . import selectors, services
from .errors import NotAKoc
from .models import Koc


def _my_koc(request) -> Koc:
    koc = selectors.koc_for_user(request.user)
    if koc is None:
        raise NotAKoc()
    return koc


def _approved_koc(request) -> Koc:
    koc = _my_koc(request)
    if not koc.is_approved:
        raise NotAKoc("您的 KOC 申请尚未通过")
    return koc


class LevelSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()


class KocApplyApi(APIView):
    class InputSerializer(serializers.Serializer):
        real_name = serializers.CharField(max_length=32)
        bio = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        favorite_category_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), max_length=20, required=False, default=list
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


class KocMeApi(APIView):
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
        rejection_reason = serializers.CharField()
        stats = StatsSerializer()

        def get_invite_code(self, koc: Koc) -> str | None:
            # A code only works once its owner is approved; before that it is not handed out.
            return koc.invite_code if koc.is_approved else None

    @extend_schema(operation_id="koc_me", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request):
        koc = _my_koc(request)
        koc.stats = selectors.koc_stats(koc=koc)
        return Response(self.OutputSerializer(koc).data)


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
        parameters=[
            OpenApiParameter("page", int, description="page of direct members"),
            OpenApiParameter("page_size", int, description="direct members per page (at most 100)"),
        ],
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
