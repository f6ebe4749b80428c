"""Error codes of the sharing app (clients switch on `code`)."""

from django.utils.translation import gettext_lazy as _

from apps.core.errors import NotFound


class ShareLinkNotFound(NotFound):
    default_message = _("The share link does not exist.")


class TargetNotFound(NotFound):
    default_message = _("The shared item does not exist or is no longer available.")
