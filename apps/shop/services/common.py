from django.conf import settings
from django.urls import reverse


def notify_url(name: str) -> str:
    """The absolute URL WeChat Pay notifies (PUBLIC_BASE_URL + the named route)."""
    return f"{settings.PUBLIC_BASE_URL}{reverse(name)}"
