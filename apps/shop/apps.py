from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "apps.shop"
    label = "shop"
    verbose_name = "商城 Shop"

    def ready(self) -> None:
        from . import read_cache  # noqa: F401  (connects the cached answers' invalidation)
