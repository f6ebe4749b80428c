from django.apps import AppConfig


class KocsConfig(AppConfig):
    name = "apps.kocs"
    label = "kocs"
    verbose_name = "KOC 与团队 KOCs"
