from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "apps.sharing"
    label = "sharing"
    verbose_name = _("Sharing and attribution")

    def ready(self) -> None:
        from apps.shop.attribution import set_attribution_resolver

        from . import (
            handlers,  # noqa: F401  (registers the event subscribers)
            read_cache,  # noqa: F401  (connects the cached answer's invalidation)
        )
        from .attribution import resolve_attribution
        from .shop_targets import resolve_product
        from .targets import register_target

        register_target("product", resolve_product)
        set_attribution_resolver(resolve_attribution)
