from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupbuysConfig(AppConfig):
    name = "apps.groupbuys"
    label = "groupbuys"
    verbose_name = _("Group buys")

    def ready(self) -> None:
        from . import (
            handlers,  # noqa: F401  (registers the order-event subscribers)
            read_cache,  # noqa: F401  (connects the cached answers' invalidation)
        )
        from .hooks import register

        register()
