from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "核心 Core"

    def ready(self) -> None:
        from . import strict_json

        strict_json.install()
