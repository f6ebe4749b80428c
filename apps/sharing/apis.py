"""The share-link endpoints of docs/api.md: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import readcache
from apps.core.pagination import PageNumberPagination
from apps.core.schema import ErrorSerializer, error_responses, list_responses
from apps.core.throttles import ShareLinkThrottle, client_ip
from apps.kocs.errors import NotAKoc

from . import read_cache, selectors, services
from .errors import ShareLinkNotFound
from .models import ShareLink
from .services import visits
from .targets import KNOWN_TARGETS

MAX_ID = 2**63 - 1


def _link_or_404(code: str) -> ShareLink:
    link = selectors.link_by_code(code)
    if link is None:
        raise ShareLinkNotFound()
    return link


class ShareLinkCreateApi(APIView):
    throttle_classes = [ShareLinkThrottle]  # a new link may call WeChat's getwxacodeunlimit

    class InputSerializer(serializers.Serializer):
        target = serializers.ChoiceField(choices=KNOWN_TARGETS)
        target_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        scene = serializers.CharField(max_length=32, help_text="getwxacodeunlimit 的 scene，不超过 32 个字符")
        path = serializers.CharField(help_text="小程序页面路径，query 中带 share_code")
        title = serializers.CharField()
        image_url = serializers.CharField(help_text="5:4 分享卡片图片，可能为空")
        qr_url = serializers.URLField()
        poster_url = serializers.URLField()

    @extend_schema(
        operation_id="share_links_create",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401, 404, 429)},
        description=(
            "Share a target. The same sharer sharing the same target again gets the same link "
            "(still 201). Anyone logged in may share; only approved KOCs' links bind and earn."
        ),
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link, _info, _created = services.share_link_get_or_create(sharer=request.user, **data.validated_data)
        return Response(self.OutputSerializer(self._render(link)).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _render(link: ShareLink) -> dict:
        return {
            "code": link.code,
            "scene": link.scene,
            "path": selectors.share_path(link),
            "title": link.title,
            "image_url": link.image_url,
            "qr_url": selectors.qr_url(link),
            "poster_url": selectors.poster_url(link),
        }


class ShareLinkDetailApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class SharerSerializer(serializers.Serializer):
            nickname = serializers.CharField(source="display_name")
            avatar_url = serializers.CharField()

        code = serializers.CharField()
        target = serializers.ChoiceField(choices=KNOWN_TARGETS)
        target_id = serializers.IntegerField()
        sharer = SharerSerializer()
        title = serializers.CharField()
        image_url = serializers.CharField()
        path = serializers.SerializerMethodField()

        def get_path(self, link: ShareLink) -> str:
            return selectors.share_path(link)

    @extend_schema(
        operation_id="share_links_retrieve",
        responses={200: OutputSerializer, **error_responses(401, 404)},
        description="Resolve a code (auth optional): records a visit; a logged-in viewer is bound "
        "to the sharing KOC as the binding policy says.",
    )
    def get(self, request, code: str):
        viewer = request.user if request.user.is_authenticated else None
        key = services.visitor_key(
            user=viewer, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
        # The viewer's mark for today is read with the answer (one round trip): a repeat visitor
        # costs nothing more; a new one is counted by share_link_open.
        seen_key = visits.seen_key(code, key, timezone.localdate())
        peeked: dict = {}
        answer = readcache.api_answer_with(
            request,
            read_cache.link_detail_key(code),
            [read_cache.link_gen(code)],
            lambda: self.build(code),
            peek=[seen_key],
            peeked=peeked,
        )
        if answer is None:
            raise ShareLinkNotFound()
        response, (link_id, sharer_id, target, target_id) = answer
        seen = bool(peeked.get(seen_key))
        if viewer is None and seen:
            return response  # an anonymous repeat visit: nothing to count, nobody to bind
        # The visit and the binding need the link's ids only, kept beside the answer.
        link = ShareLink(pk=link_id, code=code, sharer_id=sharer_id, target=target, target_id=target_id)
        link._state.adding, link._state.db = False, "default"
        services.share_link_open(link=link, viewer=viewer, visitor_key=key, channel="api", seen=seen)
        return response

    @classmethod
    def build(cls, code: str) -> tuple[dict, None, tuple] | None:
        link = selectors.link_by_code(code)
        if link is None:
            return None
        return cls.OutputSerializer(link).data, None, (link.pk, link.sharer_id, link.target, link.target_id)


class PngRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _png_responses() -> dict:
    return {
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG"),
        **{
            (status_code, "application/json"): OpenApiResponse(ErrorSerializer, description=description)
            for status_code, description in (
                (404, "not_found"),
                (429, "WeChat rate limit"),
                (502, "WeChat error"),
                (503, "WeChat busy"),
            )
        },
    }


class _PngApi(APIView):
    """Public images (a code is unguessable, and a mini-program <image> sends no token)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    renderer_classes = [JSONRenderer, PngRenderer]
    max_age = 3600

    def handle_exception(self, exc):
        # Errors are JSON whatever the client accepted (an <image> asks for image/*).
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    def png(self, content: bytes) -> HttpResponse:
        response = HttpResponse(content, content_type="image/png")
        response["Cache-Control"] = f"public, max-age={self.max_age}"
        return response


class ShareLinkQrApi(_PngApi):
    max_age = 30 * 24 * 3600  # a link's code never changes

    @extend_schema(operation_id="share_links_qr", responses=_png_responses())
    def get(self, request, code: str):
        """The link's mini-program code: fetched from WeChat on the first request only, then stored."""
        link = _link_or_404(code)
        return self.png(services.qr_png(link_id=link.pk))


class ShareLinkPosterApi(_PngApi):
    max_age = 600  # redrawn when the price or title changes

    @extend_schema(operation_id="share_links_poster", responses=_png_responses())
    def get(self, request, code: str):
        """The link's poster. Usually drawn by the Celery task sent when the link was made; if that
        has not run yet (or the content changed), it is drawn in this request by the same service,
        under the same lock, so concurrent first requests draw it once."""
        link = _link_or_404(code)
        return self.png(services.poster_png(link_id=link.pk))


class KocShareLinkListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        target = serializers.ChoiceField(choices=KNOWN_TARGETS)
        target_id = serializers.IntegerField()
        title = serializers.CharField()
        image_url = serializers.CharField()
        path = serializers.SerializerMethodField()
        qr_url = serializers.SerializerMethodField()
        poster_url = serializers.SerializerMethodField()
        visits = serializers.IntegerField()
        orders = serializers.IntegerField(help_text="经此链接归因的已支付订单数，不含已全额退款的订单")
        gmv_fen = serializers.IntegerField(help_text="经此链接归因的订单实付金额减去退款 (分)")
        created_at = serializers.DateTimeField()

        def get_path(self, link: ShareLink) -> str:
            return selectors.share_path(link)

        def get_qr_url(self, link: ShareLink) -> str:
            return selectors.qr_url(link)

        def get_poster_url(self, link: ShareLink) -> str:
            return selectors.poster_url(link)

    @extend_schema(operation_id="koc_share_links_list", **list_responses(OutputSerializer, 401))
    def get(self, request):
        if selectors.approved_koc_of(user_id=request.user.pk) is None:
            raise NotAKoc()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.links_of(user=request.user), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
