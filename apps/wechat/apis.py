"""The base of every WeChat Pay callback endpoint (payments, refunds, transfers)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from apps.core.schema import error_responses


class WeChatNotifyApi(APIView):
    """WeChat Pay's callbacks: no user, proven by signature; the raw body is what is verified.

    Subclasses parse with the gateway (bad signature or stale timestamp: 401; a mismatch: 400,
    nothing changed) and answer 204 for processed and for a duplicate alike.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'WECHATPAY2-SHA256-RSA2048 realm="notify"'


def notify_schema(operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        request=OpenApiTypes.OBJECT,
        responses={
            204: OpenApiResponse(description="processed, or a duplicate"),
            **error_responses(400, 401),
        },
    )
