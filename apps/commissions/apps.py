from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class CommissionsConfig(AppConfig):
    name = "apps.commissions"
    label = "commissions"
    verbose_name = _("Commissions")

    def ready(self):
        from . import (
            handlers,  # noqa: F401  (subscribes to the shop's order events)
            tasks,  # noqa: F401  (registers the Celery tasks in every process)
        )
        from .models import Rule, RuleSet
        from .plans import forget_specs

        # The process cache of in-force rule sets (plans.in_force_spec) forgets on any change.
        for model in (Rule, RuleSet):
            post_save.connect(forget_specs, sender=model, dispatch_uid=f"forget_specs_save_{model.__name__}")
            post_delete.connect(forget_specs, sender=model, dispatch_uid=f"forget_specs_del_{model.__name__}")
