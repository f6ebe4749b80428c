"""The one application error: a code clients switch on, a message people read, and an HTTP status."""

from __future__ import annotations


class ApplicationError(Exception):
    """A business rule said no. Rendered as `{"error": {"code", "message"}}` with a 4xx status."""

    status_code = 409
    code = "conflict"
    default_message = "操作无法完成"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        self.message = message or self.default_message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields
        super().__init__(self.message)


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = "未找到"


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid_input"
    default_message = "输入无效"


class ServiceUnavailable(ApplicationError):
    """An upstream (WeChat) is busy or limiting us: try again later."""

    status_code = 503
    code = "upstream_unavailable"
    default_message = "微信服务繁忙，请稍后再试"
