"""Renders every API error in the contract's shape: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from .errors import ApplicationError
from .masking import mask_text

_CODES: list[tuple[type[Exception], str, object]] = [
    (InvalidToken, "token_invalid", _("Your session has expired, please log in again.")),
    (drf.NotAuthenticated, "not_authenticated", _("Please log in first.")),
    (drf.AuthenticationFailed, "authentication_failed", _("Authentication failed.")),
    (drf.PermissionDenied, "permission_denied", _("Permission denied.")),
    (drf.NotFound, "not_found", _("Nothing was found.")),
    (drf.MethodNotAllowed, "method_not_allowed", _("This request method is not supported.")),
    (drf.NotAcceptable, "not_acceptable", _("This format cannot be provided.")),
    (drf.UnsupportedMediaType, "unsupported_media_type", _("Unsupported content type.")),
    (drf.Throttled, "throttled", _("Too many requests, please try again later.")),
    (drf.ParseError, "parse_error", _("The request body could not be parsed.")),
]


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The error shape. Messages that echo input ('"13912345678" is not a valid choice') never
    repeat a phone or ID number in full: what a client sees can end up in its logs and screenshots."""
    error: dict = {"code": code, "message": mask_text(message)}
    if fields:
        error["fields"] = {
            name: [mask_text(str(m)) for m in messages] if isinstance(messages, list) else messages
            for name, messages in fields.items()
        }
    return {"error": error}


def _flatten_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF nests errors for nested serializers and lists; clients get one flat `field.sub` map."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten_fields(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            out[prefix or "non_field_errors"] = [str(v) for v in detail]
        else:
            for index, value in enumerate(detail):
                if value:
                    out.update(_flatten_fields(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, TokenError):
        exc = InvalidToken(exc.args[0] if exc.args else None)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if isinstance(exc, drf.ValidationError):
        set_rollback()
        fields = _flatten_fields(exc.detail)
        return Response(error_body("validation_error", "输入有误", fields), status=400)

    if isinstance(exc, RequestDataTooBig):
        # DRF reads request.body for JSON, where Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE.
        return Response(error_body("request_too_large", "请求体过大"), status=400)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is gone (refused, dropped, out of connections): the client should retry.
        set_rollback()
        return Response(
            error_body("service_unavailable", "服务暂时不可用，请稍后再试"),
            status=503,
            headers={"Retry-After": "5"},
        )
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let Django answer 500 and log it

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    code, message = "error", str(exc.detail)
    for klass, klass_code, klass_message in _CODES:
        if isinstance(exc, klass):
            code, message = klass_code, str(klass_message)
            break
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed) and not isinstance(exc, InvalidToken):
        detail = exc.detail if isinstance(exc.detail, str) else None
        message = detail or message
    set_rollback()
    return Response(error_body(code, message), status=exc.status_code, headers=headers)
