from django.apps import AppConfig


class KocsConfig(AppConfig):
    name = "apps.kocs"
    label = "kocs"
    verbose_name = "KOC 与团队 KOCs"

    def ready(self):
        from . import handlers  # noqa: F401  (registers the order-event subscribers)
        from .pricing import tier_price_policy

        try:
            from apps.shop.pricing import register_price_policy
        except ImportError:  # the shop's pricing interface has not landed yet
            return
        register_price_policy(tier_price_policy)
