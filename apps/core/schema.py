"""OpenAPI helpers: every error answer is typed with the contract's error shape."""

from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
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


class AutoSchema(openapi.AutoSchema):
    """Names components after their qualified class name, so nested Input/OutputSerializers of
    different views (the house style) never collide: RefreshApi.InputSerializer -> RefreshApiInput."""

    def _is_list_view(self, serializer=None) -> bool:
        # drf-spectacular guesses "GET without a path variable = list" and wraps the answer in an
        # array; our views declare their answer exactly (many=True, or paginated()).
        from drf_spectacular.plumbing import is_list_serializer

        return serializer is not None and is_list_serializer(serializer)

    # Answers any operation can give, whatever the view declares: the edge refuses a malformed
    # request (a NUL in the path, query or a header; a body too large or unparsable) with 400, and
    # a lost database is 503 `service_unavailable` (apps/core/middleware.py).
    _ALWAYS = {
        "400": "malformed request (bad_request, parse_error, request_too_large) or invalid input",
        "503": "service_unavailable (the database) or WeChat busy",
    }

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._ALWAYS.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description),
                    code,
                    media_types=["application/json"],
                    direction=direction,
                )
        return responses

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        klass = serializer.__class__
        if "." in klass.__qualname__ and "<locals>" not in klass.__qualname__:
            qualified = klass.__qualname__.replace(".", "")
            if qualified.endswith("Serializer"):
                qualified = qualified[: -len("Serializer")]
            return qualified
        return name


PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="page number, from 1"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="items per page, 1 to 100 (more is capped)"),
]

_paginated_cache: dict[str, object] = {}


def paginated(serializer_class, *, name: str | None = None):
    """The list envelope of docs/api.md around `serializer_class`: {count, next, previous, results}."""
    component = (
        name or f"Paginated{serializer_class.__qualname__.replace('.', '').replace('Serializer', '')}List"
    )
    if component not in _paginated_cache:
        _paginated_cache[component] = inline_serializer(
            component,
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _paginated_cache[component]


def list_responses(serializer_class, *statuses: int) -> dict:
    """extend_schema kwargs for a paginated list: the page parameters, the envelope, a 400 for a bad
    page or page_size and a 404 for a page past the end (always possible), plus `statuses`."""
    return {
        "parameters": PAGE_PARAMETERS,
        "responses": {200: paginated(serializer_class), **error_responses(400, 404, *statuses)},
    }
