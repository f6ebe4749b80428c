from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "apps.shop"
    label = "shop"
    verbose_name = _("Shop")

    def ready(self) -> None:
        from . import read_cache  # noqa: F401  (connects the cached answers' invalidation)
