from django.apps import AppConfig


class GroupbuysConfig(AppConfig):
    name = "apps.groupbuys"
    label = "groupbuys"
    verbose_name = "拼团 Group buys"

    def ready(self) -> None:
        from . import (
            handlers,  # noqa: F401  (registers the order-event subscribers)
            read_cache,  # noqa: F401  (connects the cached answers' invalidation)
        )
        from .hooks import register

        register()
