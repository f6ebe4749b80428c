from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "apps.console"
    label = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        from . import names
        from .roles import ensure_role_groups_after_migrate

        names.register()  # the admin shows KOCs, users and orders by name (apps/core/admin_names.py)

        # Sent once per app after migrate; this app is installed after the business apps, so their
        # permissions already exist (ensure_role_groups creates any that do not).
        post_migrate.connect(
            ensure_role_groups_after_migrate, sender=self, dispatch_uid="console_role_groups"
        )
