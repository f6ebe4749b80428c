"""`seed_demo`'s registry: each app contributes an idempotent `seed(stdout)` in its own `demo.py`."""

from importlib import import_module

from django.apps import apps


def seeders():
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        try:
            module = import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        yield config.label, getattr(module, "ORDER", 100), module.seed
