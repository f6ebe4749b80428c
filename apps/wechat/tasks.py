"""Celery autodiscovers this module: with the sandbox on, it registers the sandbox's own tasks
(refund notifications and trade-management pushes are sent from tasks, as WeChat sends them
later), since a worker never loads URLconfs."""

from django.conf import settings

if settings.WECHAT_SANDBOX:
    from .sandbox import pay as _sandbox_pay  # noqa: F401
    from .sandbox import trade as _sandbox_trade  # noqa: F401
