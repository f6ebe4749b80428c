from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "apps.commissions"
    label = "commissions"
    verbose_name = "分佣 Commissions"

    def ready(self):
        from . import (
            handlers,  # noqa: F401  (subscribes to the shop's order events)
            tasks,  # noqa: F401  (registers the Celery tasks in every process)
        )
