"""Celery autodiscovers this module: with the sandbox on, it registers the sandbox's own tasks
(refund notifications are sent from a task, as WeChat sends them later), since a worker never
loads URLconfs."""

from django.conf import settings

if settings.WECHAT_SANDBOX:
    from .sandbox import pay as _sandbox_pay  # noqa: F401
