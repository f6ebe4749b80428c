"""OpenAPI helpers: every error answer is typed with the contract's error shape."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "invalid input",
    401: "not logged in or token invalid",
    403: "forbidden",
    404: "not_found",
    409: "a business rule refused",
    429: "throttled",
    502: "WeChat error",
    503: "WeChat busy",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS.get(s, "error")) for s in statuses}
