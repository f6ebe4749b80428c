"""The edge: requests no view should see, and failures no view can answer, in the error shape.

- A NUL anywhere in the path, the query string or a header is refused with 400 before routing:
  PostgreSQL refuses NUL in text, so it would otherwise surface as a 500 from whatever query the
  value reached (a share code, an order number, an Idempotency-Key).
- A lost database (connection refused, dropped, or the server out of connections) answers 503
  `service_unavailable` with Retry-After: the client should retry, and it is not a bug in the request.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

from .exceptions import error_body

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def error_response(request, status: int, code: str, message: str, headers: dict | None = None):
    if is_api(request):
        return JsonResponse(error_body(code, message), status=status, headers=headers)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8", headers=headers)


def database_unavailable(request):
    return error_response(
        request, 503, "service_unavailable", "服务暂时不可用，请稍后再试", headers={"Retry-After": "5"}
    )


def _has_nul(request) -> bool:
    if "\x00" in request.path_info or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
        return True
    return any("\x00" in value for key, value in request.META.items() if key.startswith("HTTP_"))


class EdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return error_response(request, 400, "bad_request", "请求包含空字符 (NUL)")
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError | InterfaceError):
            logger.error("database unavailable: %s", exception.__class__.__name__, exc_info=exception)
            return database_unavailable(request)
        return None
