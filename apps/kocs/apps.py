from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KocsConfig(AppConfig):
    name = "apps.kocs"
    label = "kocs"
    verbose_name = _("KOCs and teams")

    def ready(self):
        from . import handlers  # noqa: F401  (registers the order-event subscribers)
        from .pricing import tier_price_policy

        try:
            from apps.shop.pricing import register_price_policy
        except ImportError:  # the shop's pricing interface has not landed yet
            return
        register_price_policy(tier_price_policy)
