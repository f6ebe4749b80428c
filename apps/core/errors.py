"""The one application error: a code clients switch on, a message people read, and an HTTP status."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    """A business rule said no. Rendered as `{"error": {"code", "message"}}` with a 4xx status."""

    status_code = 409
    code = "conflict"
    default_message = _("The operation could not be completed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        # Resolved now, in the language active where it is raised (the request's, or LANGUAGE_CODE in
        # a worker): a plain str from here on, safe to slice, store and compare.
        self.message = str(message or self.default_message)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields
        super().__init__(self.message)


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = _("Nothing was found.")


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid_input"
    default_message = _("The input is not valid.")


class ServiceUnavailable(ApplicationError):
    """An upstream (WeChat) is busy or limiting us: try again later."""

    status_code = 503
    code = "upstream_unavailable"
    default_message = _("WeChat is busy, please try again later.")
